"""The card interface and the transport protocol."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable


@runtime_checkable
class Card(Protocol):
    """What a card object offers (the virtual card, a test double, a relay)."""

    def power_on(self) -> bytes: ...
    def power_off(self) -> None: ...
    def reset(self) -> bytes: ...
    def transmit(self, apdu: bytes) -> bytes: ...


class Transport(ABC):
    """A connection to one card: raw bytes in, raw bytes (data ‖ SW1 SW2) out."""

    #: human description, e.g. "PC/SC reader 'Virtual PCD 00 00' (T=1)"
    description: str = "transport"
    #: negotiated protocol: "T=0", "T=1" or "virtual"
    protocol: str = "virtual"

    @abstractmethod
    def connect(self) -> bytes:
        """Power the card and return its ATR."""

    @property
    @abstractmethod
    def atr(self) -> bytes:
        """The ATR of the current session."""

    @abstractmethod
    def reset(self) -> bytes:
        """Warm-reset the card; returns the ATR."""

    @abstractmethod
    def transmit(self, apdu: bytes) -> bytes:
        """Send one C-APDU exactly as given; return the R-APDU."""

    @abstractmethod
    def disconnect(self) -> None:
        """Release the card (power off for a virtual card)."""

    def __enter__(self) -> "Transport":
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()
