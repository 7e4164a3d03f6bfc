"""A tiny test card for the vpcd tests (until the real simulator in ``cardsim/`` is served).

It answers a few fixed commands byte-exactly:

>>> card = MiniCard()
>>> card.power_on().hex().upper()
'3B6D000000814A444686605199000001AC'
>>> card.transmit(bytes.fromhex("00B2070400")).hex().upper()
'07094841313034363932349000'
>>> card.transmit(bytes.fromhex("00CA000003")).hex().upper()
'0001029000'
>>> card.transmit(bytes.fromhex("00DA000000")).hex().upper()
'6D00'
>>> card.transmit(bytes.fromhex("00A4")).hex().upper()
'6700'
"""
from __future__ import annotations

from apdu.command import CommandAPDU
from apdu.errors import APDUError
from apdu.sw import SW

#: T=0 only (no TD1), 13 historical bytes
ATR_T0 = bytes.fromhex("3B6D000000814A444686605199000001AC")
#: TD1=80 offers T=0, TD2=01 offers T=1 (pcsc-lite then prefers T=1)
ATR_T0_T1 = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")

AID = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
FCI = bytes.fromhex("6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103")
RECORD_7 = bytes.fromhex("0709484131303436393234")
INS_FAULT = 0xEE  # test hook: the card raises, the vpcd server must answer 6F00

_OK = SW.OK.to_bytes(2, "big")


def _sw(sw: SW) -> bytes:
    return sw.to_bytes(2, "big")


class MiniCard:
    """T=0-only test card; records every C-APDU it receives in :attr:`received`."""

    atr = ATR_T0

    def __init__(self) -> None:
        self.powered = False
        self.received: list[bytes] = []
        self.power_ons = 0
        self.power_offs = 0
        self.resets = 0

    def power_on(self) -> bytes:
        self.powered = True
        self.power_ons += 1
        return self.atr

    def power_off(self) -> None:
        self.powered = False
        self.power_offs += 1

    def reset(self) -> bytes:
        self.powered = True
        self.resets += 1
        return self.atr

    def transmit(self, apdu: bytes) -> bytes:
        self.received.append(bytes(apdu))
        try:
            command = CommandAPDU.parse(apdu)
        except APDUError:
            return _sw(SW.WRONG_LENGTH)
        if command.ins == INS_FAULT:
            raise RuntimeError("MiniCard: fault requested by the test (INS EE)")
        if command.ins == 0xA4 and command.p1 == 0x04:
            if command.data != AID:
                return _sw(SW.FILE_NOT_FOUND)
            return _OK if command.p2 & 0x0C == 0x0C else FCI + _OK
        if command.ins == 0xB2:
            if command.p1 == 0x07 and command.p2 in (0x00, 0x04):
                return RECORD_7 + _OK
            return _sw(SW.RECORD_NOT_FOUND)
        if command.ins == 0xCA and command.p1 == 0x00 and command.p2 == 0x00 and command.ne is not None:
            size = min(command.ne, 0xFFFF - 2)  # vpcd frames stop at 65535 bytes
            return bytes(i & 0xFF for i in range(size)) + _OK
        return _sw(SW.INS_NOT_SUPPORTED)


class DualProtocolMiniCard(MiniCard):
    """The same card with an ATR offering T=0 and T=1."""

    atr = ATR_T0_T1
