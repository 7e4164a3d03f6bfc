"""A card channel: a transport plus composable processors and tracing.

Processors wrap the exchange one inside the other, like yubikit's ApduProcessors.
Each APDU a processor adds (GET RESPONSE, a resend with corrected Le, a chained
block) goes through the tracer with the processor's name as its origin, so traces
show exactly what crossed the wire.

>>> from apdu.transport.virtual import VirtualTransport
>>> class Card:
...     def power_on(self): return bytes.fromhex("3B00")
...     def power_off(self): pass
...     def reset(self): return self.power_on()
...     def transmit(self, apdu):
...         if apdu == bytes.fromhex("00B2010C00"): return bytes.fromhex("6C03")
...         if apdu == bytes.fromhex("00B2010C03"): return bytes.fromhex("700101611E")
...         if apdu == bytes.fromhex("00C000001E"): return bytes(range(30)) + b"\\x90\\x00"
...         return b"\\x6D\\x00"
>>> ch = Channel(VirtualTransport(Card()), processors=[GetResponse(), LeCorrection()])
>>> _ = ch.connect()
>>> r = ch.send(bytes.fromhex("00B2010C00"))
>>> r.data[:3].hex().upper(), len(r.data), hex(r.sw)
('700101', 33, '0x9000')
"""
from __future__ import annotations

from typing import Callable, Sequence

from ..command import CommandAPDU
from ..errors import APDUError
from ..response import ResponseAPDU
from ..trace import Exchange, Tracer, timed
from .base import Transport

Send = Callable[[bytes, str], bytes]  # (apdu, origin) -> response bytes


class Processor:
    """A layer around the exchange; override :meth:`process`."""

    name = "processor"

    def process(self, apdu: bytes, send: Send) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError


class GetResponse(Processor):
    """T=0 style: on 61xx fetch the rest with GET RESPONSE and join the data."""

    name = "GET RESPONSE"

    def __init__(self, max_rounds: int = 64) -> None:
        self.max_rounds = max_rounds

    def process(self, apdu: bytes, send: Send) -> bytes:
        response = send(apdu, "")
        data = bytearray()
        rounds = 0
        while len(response) >= 2 and response[-2] == 0x61 and rounds < self.max_rounds:
            data += response[:-2]
            cla = apdu[0] & 0x03 if apdu and apdu[0] & 0x40 == 0 else 0  # keep the logical channel
            response = send(bytes((cla, 0xC0, 0x00, 0x00, response[-1])), "auto GET RESPONSE")
            rounds += 1
        return bytes(data) + response if data else response


class LeCorrection(Processor):
    """On 6Cxx resend with Le = xx — never for a command that carries data."""

    name = "Le correction"

    def process(self, apdu: bytes, send: Send) -> bytes:
        response = send(apdu, "")
        if len(response) == 2 and response[0] == 0x6C and len(apdu) == 5:
            return send(apdu[:4] + response[1:2], "Le correction")
        return response


class CommandChaining(Processor):
    """Split commands whose data exceeds ``block`` bytes into an ISO command chain (CLA b5)."""

    name = "command chaining"

    def __init__(self, block: int = 255) -> None:
        if not 1 <= block <= 255:
            raise ValueError("chaining block size must be 1..255")
        self.block = block

    def process(self, apdu: bytes, send: Send) -> bytes:
        try:
            cmd = CommandAPDU.parse(apdu)
        except APDUError:
            return send(apdu, "")
        if len(cmd.data) <= self.block:
            return send(apdu, "")
        chunks = [cmd.data[i:i + self.block] for i in range(0, len(cmd.data), self.block)]
        response = b""
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            part = cmd.replace(cla=cmd.cla if last else cmd.cla | 0x10, data=chunk,
                               le=cmd.le if last else None, extended=False)
            response = send(part.to_bytes(), "" if last else f"command chaining {index + 1}/{len(chunks)}")
            if not last and response[-2:] != b"\x90\x00":
                return response
        return response


class Channel:
    """Send APDUs to a card through processors, with optional tracing."""

    def __init__(self, transport: Transport, processors: Sequence[Processor] = (), tracer: Tracer | None = None) -> None:
        self.transport = transport
        self.processors = list(processors)
        self.tracer = tracer
        self.step = ""

    # transport pass-through ----------------------------------------------
    def connect(self) -> bytes:
        atr = self.transport.connect()
        if self.tracer:
            self.tracer.note(f"connected: {self.transport.description}, ATR {atr.hex(' ').upper()}")
        return atr

    def reset(self) -> bytes:
        atr = self.transport.reset()
        if self.tracer:
            self.tracer.note(f"reset, ATR {atr.hex(' ').upper()}")
        return atr

    def disconnect(self) -> None:
        self.transport.disconnect()

    @property
    def atr(self) -> bytes:
        return self.transport.atr

    def __enter__(self) -> "Channel":
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    # exchange ----------------------------------------------------------------
    def _wire(self, apdu: bytes, origin: str) -> bytes:
        response, start, duration = timed(self.transport.transmit, apdu)
        if self.tracer:
            self.tracer.record(Exchange(start, duration, bytes(apdu), response, origin, self.step))
        return response

    def transmit(self, apdu: bytes) -> bytes:
        """Raw bytes through all processors; returns data ‖ SW."""
        send: Send = self._wire
        for processor in reversed(self.processors):
            send = _bind(processor, send)
        return send(bytes(apdu), "")

    def send(self, command: CommandAPDU | bytes) -> ResponseAPDU:
        raw = command.to_bytes() if isinstance(command, CommandAPDU) else bytes(command)
        return ResponseAPDU.parse(self.transmit(raw))


def _bind(processor: Processor, inner: Send) -> Send:
    def send(apdu: bytes, origin: str) -> bytes:
        if origin:  # APDUs added by an outer processor pass straight through
            return inner(apdu, origin)
        return processor.process(apdu, inner)
    return send


def default_processors() -> list[Processor]:
    """What high-level commands use: GET RESPONSE on 61xx, Le correction on 6Cxx."""
    return [GetResponse(), LeCorrection()]
