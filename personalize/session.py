"""One personalization run on one card: named steps, timed, and commands that either
succeed or raise a :class:`PersoError` naming the step, the APDU and the status word.

>>> from apdu.transport.channel import Channel
>>> from apdu.transport.virtual import StubCard, VirtualTransport
>>> channel = Channel(VirtualTransport(StubCard(answer=bytes.fromhex("6982")))); _ = channel.connect()
>>> session = CardSession(channel)
>>> with session.step("write EF06"):
...     session.command(bytes.fromhex("00DC093020091E") + bytes(30), "UPDATE RECORD tag 09")
Traceback (most recent call last):
personalize.session.PersoError: step 'write EF06': UPDATE RECORD tag 09: 00DC093020091E00000000000000000000000000… answered 6982 (security status not satisfied)
>>> session.steps[0].name, session.steps[0].apdus, channel.step
('write EF06', 1, 'write EF06')
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from apdu.errors import APDUError, CardRemoved, NoCard, SSCardError, TransportError
from apdu.redact import command_hex
from apdu.response import ResponseAPDU
from apdu.sw import describe
from apdu.transport.channel import Channel

__all__ = ["PersoError", "StepTiming", "CardSession", "OnStep", "shown_apdu", "answer"]

OnStep = Callable[[str], None]
#: bytes of a command shown in an error before it is cut with "…"
_SHOWN_BYTES = 20


class PersoError(SSCardError):
    """A personalization step failed. ``step`` names it; ``apdu`` is the command as the
    trace shows it (hex text, secret data redacted), ``sw`` the card's status word (None
    when the card never answered); ``card_removed`` tells a pulled card from a refusing
    one; ``fatal`` marks failures every further card would repeat (wrong keys)."""

    def __init__(self, step: str, message: str, *, apdu: str | None = None, sw: int | None = None,
                 card_removed: bool = False, fatal: bool = False) -> None:
        super().__init__(f"step '{step}': {message}")
        self.step = step
        self.apdu = apdu
        self.sw = sw
        self.card_removed = card_removed
        self.fatal = fatal


@dataclass(frozen=True)
class StepTiming:
    """How one step went: its name, wall time and the number of commands it sent."""

    name: str
    seconds: float
    apdus: int


def answer(sw: int) -> str:
    """``'6982 (security status not satisfied)'``."""
    return f"{sw:04X} ({describe(sw)})"


def shown_apdu(apdu: bytes) -> str:
    """A command for an error message: redacted like traces, cut after 20 bytes."""
    text = command_hex(apdu)
    return text if len(apdu) <= _SHOWN_BYTES or "*" in text else text[:2 * _SHOWN_BYTES] + "…"


class CardSession:
    """A channel plus the current step: every command goes through :meth:`command`."""

    def __init__(self, channel: Channel, on_step: OnStep | None = None) -> None:
        self.channel = channel
        self.on_step = on_step
        self.steps: list[StepTiming] = []
        self.current = ""
        self._count = 0

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run the body as step ``name``: traces name it, ``on_step(name)`` hears of it
        first, and its timing is kept (also when it fails)."""
        self.current, self._count = name, 0
        self.channel.step = name
        if self.channel.tracer is not None:
            self.channel.tracer.note(f"step: {name}")
        start = time.perf_counter()
        try:
            if self.on_step is not None:
                self.on_step(name)
            yield
        finally:
            self.steps.append(StepTiming(name, time.perf_counter() - start, self._count))

    def fail(self, message: str, *, apdu: bytes | None = None, sw: int | None = None,
             fatal: bool = False) -> PersoError:
        """A :class:`PersoError` for the current step (to raise)."""
        return PersoError(self.current, message, apdu=shown_apdu(apdu) if apdu is not None else None, sw=sw,
                          fatal=fatal)

    def reset(self) -> bytes:
        """Warm-reset the card (a fresh session for the terminal-side reading); its ATR."""
        try:
            return self.channel.reset()
        except (CardRemoved, NoCard) as exc:
            raise PersoError(self.current, f"reset: card removed ({exc})", card_removed=True) from None
        except TransportError as exc:
            raise PersoError(self.current, f"reset: {exc}") from None

    def exchange(self, apdu: bytes, what: str) -> ResponseAPDU:
        """Send one command (``what`` names it in errors) and return the whole response,
        whatever its status word; transport failures become :class:`PersoError` (``card
        removed`` when the card left the reader)."""
        self._count += 1
        try:
            return self.channel.send(apdu)
        except (CardRemoved, NoCard) as exc:
            raise PersoError(self.current, f"{what}: card removed ({exc})", apdu=shown_apdu(apdu),
                             card_removed=True) from None
        except TransportError as exc:
            raise PersoError(self.current, f"{what}: {exc}", apdu=shown_apdu(apdu)) from None
        except APDUError as exc:
            raise PersoError(self.current, f"{what}: {shown_apdu(apdu)}: {exc}", apdu=shown_apdu(apdu)) from None

    def raw(self, apdu: bytes, what: str) -> bytes:
        """:meth:`exchange` for code that wants data ‖ SW as bytes (the SCP02 host)."""
        return self.exchange(apdu, what).to_bytes()

    def command(self, apdu: bytes, what: str) -> bytes:
        """Send ``apdu``; return its data when the card answers 9000, else raise
        ``step '…': <what>: <APDU> answered <SW> (<meaning>)``."""
        response = self.exchange(apdu, what)
        if response.sw != 0x9000:
            raise PersoError(self.current, f"{what}: {shown_apdu(apdu)} answered {answer(response.sw)}",
                             apdu=shown_apdu(apdu), sw=response.sw)
        return response.data
