"""In-process transport around any card object (no pcscd involved), and :class:`StubCard`,
the smallest such object, for examples and for tests of code above the wire.

>>> transport = VirtualTransport(StubCard(answer=bytes.fromhex("6982")))
>>> transport.connect().hex().upper(), transport.transmit(bytes.fromhex("00B0000000")).hex().upper()
('3B00', '6982')
"""
from __future__ import annotations

import logging

from ..errors import TransportError
from .base import Card, Transport

log = logging.getLogger(__name__)


class StubCard:
    """A card that answers every command with one fixed response (``answer``)."""

    def __init__(self, atr: bytes = b"\x3B\x00", answer: bytes = b"\x90\x00") -> None:
        self.atr, self.answer = atr, answer

    def power_on(self) -> bytes:
        return self.atr

    def power_off(self) -> None:
        """Nothing to do: the answers do not depend on power."""

    def reset(self) -> bytes:
        return self.atr

    def transmit(self, apdu: bytes) -> bytes:
        return self.answer


class VirtualTransport(Transport):
    """Drive a card object directly: the fastest path, used by tests and batch runs."""

    protocol = "virtual"

    def __init__(self, card: Card, name: str = "virtual card") -> None:
        self.card = card
        self.description = name
        self._atr: bytes | None = None

    def connect(self) -> bytes:
        self._atr = self.card.power_on()
        return self._atr

    @property
    def atr(self) -> bytes:
        if self._atr is None:
            raise TransportError(f"{self.description}: not connected")
        return self._atr

    def reset(self) -> bytes:
        self._atr = self.card.reset()
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        if self._atr is None:
            raise TransportError(f"{self.description}: not connected")
        response = self.card.transmit(bytes(apdu))
        if len(response) < 2:
            raise TransportError(f"{self.description}: card answered {len(response)} bytes, SW1 SW2 need 2")
        return response

    def disconnect(self) -> None:
        if self._atr is not None:
            self.card.power_off()
            self._atr = None
