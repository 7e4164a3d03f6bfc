"""The card the wire benchmark serves, and the fixed answers the floor responder replays.

:func:`bench_card` is the one place that decides which card object is measured; switch
it to the real simulator (``cardsim``) there. Until then :class:`BenchCard` answers the
benchmark's mix byte-exactly, with social-security data from ssse.md (MF, the SSSE
application ``sx1.sh.社会保障`` and its EF05 issuer records in SFI 5):

>>> card = bench_card()
>>> card.power_on().hex().upper()
'3BED0000800100814A444686605199000001AC26'
>>> def tx(hex_apdu): return card.transmit(bytes.fromhex(hex_apdu)).hex().upper()
>>> tx("00A4000C023F00"), tx("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")[:8]
('9000', '6F1C840F')
>>> tx("00B2072C00"), tx("00B2072C05"), tx("00B2082C00")
('07094841313034363932349000', '6C0B', '6A83')
>>> tx("00B0850000"), tx("00B0000000"), tx("0002000000"), tx("80A4000000"), tx("00A4")
('6981', '6986', '6D00', '6E00', '6700')
"""
from __future__ import annotations

from typing import Callable, Sequence

from apdu.atr import build_atr
from apdu.command import CommandAPDU
from apdu.errors import APDUError
from apdu.sw import SW
from apdu.transport.base import Card

#: historical bytes of a real social-security card (apdu.atr's doctest); T=0 and T=1 are offered,
#: so pcsc-lite picks T=1 and the card answers FCI and data directly (no 61xx)
ATR = build_atr(bytes.fromhex("00814A444686605199000001AC"), protocols=("T=0", "T=1"))

MF_FID = bytes.fromhex("3F00")
MF_FCI = bytes.fromhex("6F10840E315041592E5359532E4444463031")  # TR4: the MF names 1PAY.SYS.DDF01
SSSE_AID = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")  # "sx1.sh." + GBK 社会保障
SSSE_FCI = bytes.fromhex("6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103")  # TR1/TR2
EF05_SFI = 5
#: EF05 (issuer data): record number = tag, 0x40 bytes in all (ssse.md §2, examples from TR1-TR3)
EF05_RECORDS = {tlv[0]: tlv for tlv in map(bytes.fromhex, (
    "0110519900D15600000510000B26FFFFFFFF", "020133", "0304332E3030", "040C9156000002511300511300DB",
    "050420180403", "060420280403", "0709484131303436393234"))}


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


_OK = _sw(SW.OK)


class BenchCard:
    """A small stateful card: SELECT (MF, SSSE), READ RECORD of EF05, READ BINARY errors, 6D00 otherwise."""

    def __init__(self) -> None:
        self.in_ssse = False  # the current DF: the SSSE application or the MF
        self._handlers: dict[int, Callable[[CommandAPDU], bytes]] = {
            0xA4: self._select, 0xB2: self._read_record, 0xB0: self._read_binary}

    def power_on(self) -> bytes:
        self.in_ssse = False
        return ATR

    def power_off(self) -> None:
        self.in_ssse = False

    def reset(self) -> bytes:
        return self.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        try:
            command = CommandAPDU.parse(apdu)
        except APDUError:
            return _sw(SW.WRONG_LENGTH)
        if command.cla != 0x00:
            return _sw(SW.CLA_NOT_SUPPORTED)
        handler = self._handlers.get(command.ins)
        return handler(command) if handler else _sw(SW.INS_NOT_SUPPORTED)

    def _select(self, command: CommandAPDU) -> bytes:
        if command.p2 not in (0x00, 0x0C):  # first occurrence; FCI or no response data
            return _sw(SW.INCORRECT_P1P2)
        if command.p1 == 0x00 and command.data == MF_FID:
            self.in_ssse, fci = False, MF_FCI
        elif command.p1 == 0x04 and command.data == SSSE_AID:
            self.in_ssse, fci = True, SSSE_FCI
        else:
            return _sw(SW.FILE_NOT_FOUND)
        return _OK if command.p2 == 0x0C else fci + _OK

    def _read_record(self, command: CommandAPDU) -> bytes:
        sfi, mode = command.p2 >> 3, command.p2 & 0x07
        if sfi == 0:
            return _sw(SW.NO_CURRENT_EF)
        if mode not in (0b000, 0b100):  # by record id (= tag) or by number: the same in EF05
            return _sw(SW.INCORRECT_P1P2)
        if sfi != EF05_SFI or not self.in_ssse:
            return _sw(SW.FILE_NOT_FOUND)
        record = EF05_RECORDS.get(command.p1)
        if record is None:
            return _sw(SW.RECORD_NOT_FOUND)
        if command.le not in (None, 0, len(record)):
            return bytes((0x6C, len(record)))
        return record + _OK

    def _read_binary(self, command: CommandAPDU) -> bytes:
        if not command.p1 & 0x80:
            return _sw(SW.NO_CURRENT_EF)
        if command.p1 & 0x1F == EF05_SFI and self.in_ssse:
            return _sw(SW.COMMAND_INCOMPATIBLE)  # EF05 holds records, not a transparent body
        return _sw(SW.FILE_NOT_FOUND)


def bench_card() -> Card:
    """The card object every in-process and vpcd target serves (one line to switch to cardsim)."""
    return BenchCard()


def fixed_answers(card: Card, apdus: Sequence[bytes]) -> dict[bytes, bytes]:
    """What ``card`` answers to each APDU of the cyclic mix, in its steady state.

    Runs the mix twice from power-on; the floor responder can replay the answers only
    if both cycles agree and each APDU has one answer.

    >>> fixed_answers(bench_card(), [bytes.fromhex("0002000000")])
    {b'\\x00\\x02\\x00\\x00\\x00': b'm\\x00'}
    """
    card.power_on()
    first = [card.transmit(apdu) for apdu in apdus]
    second = [card.transmit(apdu) for apdu in apdus]
    card.power_off()
    answers: dict[bytes, bytes] = {}
    for apdu, a, b in zip(apdus, first, second):
        if a != b or answers.setdefault(apdu, b) != b:
            raise ValueError(f"the card answers {apdu.hex().upper()} differently from one cycle to the next "
                             f"({a.hex().upper()}, {b.hex().upper()}): a fixed-answer floor cannot replay it")
    return answers
