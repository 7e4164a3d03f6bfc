"""A pyscard ``CardConnection`` backed by an in-process card object.

Code written against pyscard (including its observers, such as
``ConsoleCardConnectionObserver``, and its error-checking chains) drives the virtual
card without pcscd:

>>> from apdu.transport.virtual import StubCard
>>> card = StubCard(atr=bytes.fromhex("3B6D000000814A44468660519900000001AC"))
>>> conn = VirtualCardConnection(card)
>>> conn.connect()
>>> conn.transmit([0x00, 0xA4, 0x04, 0x00])
([], 144, 0)
>>> toHexString(conn.getATR()[:4]), conn.getProtocol() == CardConnection.T0_protocol
('3B 6D 00 00', True)
>>> reader = VirtualReader("bench reader", card)
>>> other = reader.createConnection(); other.connect(); other.transmit([0x00, 0xB0, 0x00, 0x00, 0x00])
([], 144, 0)
>>> VirtualReader("empty reader").createConnection()  # doctest: +ELLIPSIS
Traceback (most recent call last):
smartcard.Exceptions.NoCardException: no card in empty reader...
"""
from __future__ import annotations

from smartcard.CardConnection import CardConnection
from smartcard.Exceptions import CardConnectionException, NoCardException
from smartcard.util import toHexString  # noqa: F401  (re-exported for convenience and the doctest)

from ..atr import protocols_of
from .base import Card


class VirtualReader:
    """Just enough of a pyscard reader for ``CardConnection`` and its observers; with a
    ``card`` in it, ``createConnection()`` gives a connection to that card, as pyscard's
    readers do."""

    def __init__(self, name: str = "sscard virtual reader", card: Card | None = None) -> None:
        self.name, self.card = name, card

    def __str__(self) -> str:
        return self.name

    def createConnection(self) -> CardConnection:  # noqa: N802 (pyscard's naming)
        if self.card is None:
            raise NoCardException(f"no card in {self.name}", 0)
        return VirtualCardConnection(self.card, self)


class VirtualCardConnection(CardConnection):
    """pyscard-compatible connection to an in-process card."""

    def __init__(self, card: Card, reader: VirtualReader | None = None) -> None:
        super().__init__(reader or VirtualReader(card=card))
        self.card = card
        self._atr: bytes | None = None
        self._protocol = CardConnection.T1_protocol

    def connect(self, protocol=None, mode=None, disposition=None) -> None:  # noqa: D102 (pyscard API)
        atr = self.card.power_on()
        offered = _offered(atr)
        if protocol is not None and not protocol & offered:
            self.card.power_off()
            raise CardConnectionException("Unable to connect with protocol: card protocol mismatch")
        wanted = protocol if protocol is not None else offered
        self._protocol = CardConnection.T1_protocol if wanted & CardConnection.T1_protocol else CardConnection.T0_protocol
        self._atr = atr

    def reconnect(self, protocol=None, mode=None, disposition=None) -> None:  # noqa: D102
        if self._atr is None:
            raise NoCardException("not connected", 0)
        self._atr = self.card.reset()

    def disconnect(self) -> None:  # noqa: D102
        if self._atr is not None:
            self.card.power_off()
            self._atr = None

    def release(self) -> None:  # noqa: D102
        self.disconnect()

    def getATR(self) -> list[int]:  # noqa: N802,D102
        if self._atr is None:
            raise CardConnectionException("not connected")
        return list(self._atr)

    def getProtocol(self) -> int:  # noqa: N802,D102
        return self._protocol

    def doTransmit(self, command, protocol=None):  # noqa: N802,D102
        if self._atr is None:
            raise CardConnectionException("Card not connected")
        response = self.card.transmit(bytes(command))
        return list(response[:-2]), response[-2], response[-1]


def _offered(atr: bytes) -> int:
    try:
        protocols = protocols_of(atr)
    except Exception:  # an unusual ATR: offer both rather than refuse to connect
        protocols = {0, 1}
    mask = 0
    if 0 in protocols:
        mask |= CardConnection.T0_protocol
    if 1 in protocols:
        mask |= CardConnection.T1_protocol
    return mask or CardConnection.T0_protocol
