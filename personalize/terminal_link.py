"""What the card operations after issuance share (:mod:`personalize.terminal`): their
errors, the channel wrapper that names each command, and PIN digits checked without
ever showing them.

>>> from apdu.transport.channel import Channel
>>> from apdu.transport.virtual import StubCard, VirtualTransport
>>> channel = Channel(VirtualTransport(StubCard(answer=bytes.fromhex("63C2")))); _ = channel.connect()
>>> with Link(channel, "pin change (ssse)") as link:
...     link.command(bytes.fromhex("805E010007123456FF654321"), "CHANGE PIN")
Traceback (most recent call last):
personalize.terminal_link.CardOperationError: pin change (ssse): CHANGE PIN: 805E010007****** (7 secret bytes)
answered 63C2 (verification failed, 2 tries left)
>>> check_pin("12a456", "new PIN", range(4, 13))
Traceback (most recent call last):
personalize.terminal_link.PinInputError: the new PIN must be 4-12 decimal digits (got 6 characters)
"""
from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from apdu.command import CommandAPDU
from apdu.errors import APDUError, SSCardError, TransportError
from apdu.response import ResponseAPDU
from apdu.transport.channel import Channel

from .session import answer, shown_apdu

__all__ = ["Zone", "ZONES", "CardOperationError", "WrongPinError", "PinInputError", "PinStatus", "Link",
           "apdu", "check_pin", "pin_status_of", "send_verify"]

Zone = Literal["ssse", "pboc"]
#: The two zones of the card: the social-security application and the financial (debit) one.
ZONES: tuple[Zone, ...] = ("ssse", "pboc")


class CardOperationError(SSCardError):
    """A card operation failed: the message names the operation, the command (secret data
    redacted, as in traces) and the card's status word; ``sw`` is None when the failure
    is not a status word (a malformed answer, keys that do not fit the card)."""

    def __init__(self, operation: str, message: str, *, apdu: str | None = None, sw: int | None = None) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.apdu = apdu
        self.sw = sw


class WrongPinError(CardOperationError):
    """The card refused a PIN (63Cx) or the PIN is blocked (6983): ``tries_left`` is 0 then."""

    def __init__(self, operation: str, message: str, *, apdu: str | None, sw: int, tries_left: int) -> None:
        super().__init__(operation, message, apdu=apdu, sw=sw)
        self.tries_left = tries_left


class PinInputError(SSCardError, ValueError):
    """PIN digits the card cannot take; the message gives the length, never a digit."""


@dataclass(frozen=True)
class PinStatus:
    """A PIN's state as the card reports it. ``verified`` is None when the query does not
    tell (GET DATA 9F17); ``tries_left`` is None when the card does not tell (a VERIFY
    that succeeds, or an SSSE PIN already verified in this session, answers 9000)."""

    zone: Zone
    verified: bool | None
    tries_left: int | None
    blocked: bool

    def __str__(self) -> str:
        if self.blocked:
            return "blocked"
        parts = [] if self.verified is None else ["verified" if self.verified else "not verified"]
        parts += [] if self.tries_left is None else [f"{self.tries_left} tries left"]
        return ", ".join(parts)


def pin_status_of(zone: Zone, sw: int) -> PinStatus | None:
    """The PIN state a VERIFY status word means (9000, 63Cx, 6983), or None for another SW."""
    if sw == 0x9000:
        return PinStatus(zone, True, None, False)
    if sw & 0xFFF0 == 0x63C0:
        return PinStatus(zone, False, sw & 0x0F, sw & 0x0F == 0)
    if sw == 0x6983:
        return PinStatus(zone, False, 0, True)
    return None


def send_verify(link: Link, zone: Zone, command: bytes, what: str) -> PinStatus:
    """Send a VERIFY (the application selected) and read the PIN state from its status
    word; another status word is refused naming ``what``."""
    response = link.exchange(command)
    status = pin_status_of(zone, response.sw)
    if status is None:
        raise link.refused(command, what, response.sw)
    return status


def apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    """A short command APDU."""
    return CommandAPDU(cla, ins, p1, p2, data, le).to_bytes()


def check_pin(digits: str, what: str, lengths: range) -> str:
    """``digits`` if they are ``lengths`` decimal digits, else :class:`PinInputError`."""
    if not (isinstance(digits, str) and digits.isascii() and digits.isdigit() and len(digits) in lengths):
        got = f"{len(digits)} characters" if isinstance(digits, str) else type(digits).__name__
        raise PinInputError(f"the {what} must be {lengths.start}-{lengths.stop - 1} decimal digits (got {got})")
    return digits


class Link:
    """A channel used for one named operation: every command is named, failures raise
    :class:`CardOperationError`, and traces show the operation as the step."""

    def __init__(self, channel: Channel, operation: str) -> None:
        self.channel = channel
        self.operation = operation
        self._previous_step = ""

    def __enter__(self) -> Link:
        self._previous_step = self.channel.step
        self.channel.step = self.operation
        if self.channel.tracer is not None:
            self.channel.tracer.note(f"operation: {self.operation}")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.channel.step = self._previous_step

    def fail(self, message: str, *, command: bytes | None = None, sw: int | None = None) -> CardOperationError:
        """A :class:`CardOperationError` of this operation (to raise)."""
        return CardOperationError(self.operation, message, apdu=shown_apdu(command) if command is not None else None,
                                  sw=sw)

    def refused(self, command: bytes, what: str, sw: int, hint: str = "") -> CardOperationError:
        """``<what>: <APDU> answered <SW> (<meaning>)<hint>``."""
        return self.fail(f"{what}: {shown_apdu(command)} answered {answer(sw)}{hint}", command=command, sw=sw)

    def exchange(self, command: bytes) -> ResponseAPDU:
        """Send ``command``; the whole response, whatever its status word. A transport
        failure (card removed, reader gone) becomes a :class:`CardOperationError` that
        names the operation and the command; the transport's error is its ``__cause__``."""
        try:
            return self.channel.send(command)
        except (TransportError, APDUError) as exc:
            raise self.fail(f"{shown_apdu(command)}: {exc}", command=command) from exc

    def command(self, command: bytes, what: str, ok: tuple[int, ...] = (0x9000,), hint: str = "") -> bytes:
        """Send ``command``; its data when the status word is in ``ok``, else raise."""
        response = self.exchange(command)
        if response.sw not in ok:
            raise self.refused(command, what, response.sw, hint)
        return response.data

    def pin_command(self, command: bytes, what: str) -> None:
        """A command that presents a PIN: 63Cx and 6983 raise :class:`WrongPinError`."""
        response = self.exchange(command)
        if response.sw == 0x9000:
            return
        if response.sw & 0xFFF0 != 0x63C0 and response.sw != 0x6983:
            raise self.refused(command, what, response.sw)
        tries = response.sw & 0x0F if response.sw != 0x6983 else 0
        raise WrongPinError(self.operation, f"{what}: {shown_apdu(command)} answered {answer(response.sw)}",
                            apdu=shown_apdu(command), sw=response.sw, tries_left=tries)
