"""READ/UPDATE/APPEND RECORD and READ/UPDATE BINARY (ISO 7816-4 §11.3-11.4; S5 §6.10,
§6.12, §6.13) over the file model.

Record commands: P2 = SFI << 3 | mode (:class:`~cardsim.fs.RecordRef`). SFI 0 is the
current EF; another SFI names an EF of the current DF, which becomes the current EF
once the access check passes (ISO 7816-4 §7.2.2). By-number reads and writes leave the
current record where it is; by-identifier ones, and APPEND, move it to the record used.

Binary commands: P1 b8 = 0: offset = P1 P2 (15 bits) in the current EF; P1 = 100xxxxx:
SFI xxxxx, offset P2.

Status words: 6986 no current EF, 6A82 SFI not in the current DF, 6981 wrong structure,
6982 access rule not met (also for ``never``), 6A83 no such record, 6A84 EF full,
6A85 record data that is not one simple TLV, 6A80 tag other than the P1 identifier (or
00/FF), 6700 data missing or of a length the EF cannot hold, 6B00 offset outside the
EF, 6A86 P1/P2 values that are reserved, 6E00 a proprietary class.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from apdu.command import CommandAPDU
from apdu.sw import SW, SWError

from .application import Handler, Shape, shaped
from .fs import EF, CyclicEF, LinearVariableEF, RecordEF, RecordRef, TransparentEF

if TYPE_CHECKING:
    from .runtime import CardOS

_SFI_RFU = 31
_RECORD_REFS = {ref.value: ref for ref in RecordRef}  # RecordRef(mode) without the Enum call


def interindustry(cmd: CommandAPDU) -> None:
    """ISO file commands exist in the interindustry class only: 6E00 for CLA 8x/9x."""
    if cmd.cla & 0x80:
        raise SWError(SW.CLA_NOT_SUPPORTED)


def _record_p2(p2: int) -> tuple[int, RecordRef]:
    sfi, mode = p2 >> 3, p2 & 0x07
    if mode == 0b111 or sfi == _SFI_RFU:
        raise SWError(SW.INCORRECT_P1P2)
    return sfi, _RECORD_REFS[mode]


def _binary_p1p2(p1: int, p2: int) -> tuple[int, int]:
    """(SFI or 0, offset) of READ/UPDATE BINARY."""
    if not p1 & 0x80:
        return 0, (p1 << 8) | p2
    sfi = p1 & 0x1F
    if p1 & 0x60 or sfi in (0, _SFI_RFU):
        raise SWError(SW.INCORRECT_P1P2)
    return sfi, p2


class FileCommands:
    """The record and binary handlers of a :class:`~cardsim.runtime.CardOS`."""

    def __init__(self, card: CardOS) -> None:
        self.card = card

    @property
    def handlers(self) -> dict[int, Handler]:
        return {0xB0: self.read_binary, 0xB2: self.read_record, 0xD6: self.update_binary,
                0xDC: self.update_record, 0xE2: self.append_record}

    # --- file resolution ------------------------------------------------------
    def _ef(self, sfi: int) -> EF:
        if sfi == 0:
            if self.card.current_ef is None:
                raise SWError(SW.NO_CURRENT_EF)
            return self.card.current_ef
        ef = self.card.current_df.ef_by_sfi(sfi)
        if ef is None:
            raise SWError(SW.FILE_NOT_FOUND)
        return ef

    def _record_ef(self, sfi: int, *, write: bool, command: str) -> RecordEF:
        ef = self._ef(sfi)
        if not isinstance(ef, RecordEF):
            raise SWError(SW.COMMAND_INCOMPATIBLE)
        self.card.check_access(ef.write if write else ef.read, command, ef)
        self.card.make_current(ef)
        return ef

    def _transparent_ef(self, sfi: int, *, write: bool, command: str) -> TransparentEF:
        ef = self._ef(sfi)
        if not isinstance(ef, TransparentEF):
            raise SWError(SW.COMMAND_INCOMPATIBLE)
        self.card.check_access(ef.write if write else ef.read, command, ef)
        self.card.make_current(ef)
        return ef

    # --- records ---------------------------------------------------------------
    @shaped(Shape.EXACT)
    def read_record(self, cmd: CommandAPDU) -> bytes:
        """``00B2 P1 P2 Le``; modes 101/110 concatenate whole records while they fit in
        one response (256 bytes, or 65536 with extended Le)."""
        interindustry(cmd)
        sfi, ref = _record_p2(cmd.p2)
        if cmd.data:
            raise SWError(SW.WRONG_LENGTH)
        ef = self._record_ef(sfi, write=False, command="READ RECORD")
        card = self.card
        number = ef.locate(cmd.p1, ref, card.record_pointer)
        if ref in (RecordRef.FROM_P1, RecordRef.TO_P1):
            count = len(ef.records)
            numbers = range(number, count + 1) if ref is RecordRef.FROM_P1 else range(count, number - 1, -1)
            limit = 65536 if cmd.is_extended else 256
            out = b""
            for n in numbers:
                record = ef.record(n)
                if len(out) + len(record) > limit:
                    break
                out += record
            return out
        if ref is not RecordRef.NUMBER:
            card.record_pointer = number
        return ef.record(number)

    def update_record(self, cmd: CommandAPDU) -> bytes:
        """``00DC P1 P2 Lc record``. In a linear variable EF a missing record is appended:
        by number when P1 is one past the last record, by identifier (first/last
        occurrence) when no record has that tag (S5 §6.13.1). In a cyclic EF, P1 = 00 with
        mode 011 (previous) writes the oldest record, which becomes record 1."""
        interindustry(cmd)
        sfi, ref = _record_p2(cmd.p2)
        if ref in (RecordRef.FROM_P1, RecordRef.TO_P1):
            raise SWError(SW.INCORRECT_P1P2)
        if not cmd.data:
            raise SWError(SW.WRONG_LENGTH)
        ef = self._record_ef(sfi, write=True, command="UPDATE RECORD")
        card, data, p1 = self.card, cmd.data, cmd.p1
        ef.check_record(data)
        if isinstance(ef, CyclicEF) and ref is RecordRef.PREVIOUS and p1 == 0:
            number = ef.append(data)
            card.record_pointer = number
        elif ref is RecordRef.NUMBER:
            number = p1 or card.record_pointer or 0
            ef.update(number, data)
        else:
            if p1 and data[0] != p1:
                raise SWError(SW.WRONG_DATA)
            try:
                number = ef.locate(p1, ref, card.record_pointer)
            except SWError as exc:
                appendable = isinstance(ef, LinearVariableEF) and p1 and ref in (RecordRef.FIRST, RecordRef.LAST)
                if exc.sw != SW.RECORD_NOT_FOUND or not appendable:
                    raise
                number = ef.append(data)
            else:
                ef.update(number, data)
            card.record_pointer = number
        card.durable(f"UPDATE RECORD {ef.label} record {number}")
        return b""

    def append_record(self, cmd: CommandAPDU) -> bytes:
        """``00E2 00 P2 Lc record`` with P2 = SFI << 3; the new record becomes current
        (the last one in a linear EF, record 1 in a cyclic EF)."""
        interindustry(cmd)
        if cmd.p1 or cmd.p2 & 0x07 or cmd.p2 >> 3 == _SFI_RFU:
            raise SWError(SW.INCORRECT_P1P2)
        if not cmd.data:
            raise SWError(SW.WRONG_LENGTH)
        ef = self._record_ef(cmd.p2 >> 3, write=True, command="APPEND RECORD")
        number = ef.append(cmd.data)
        self.card.record_pointer = number
        self.card.durable(f"APPEND RECORD {ef.label} record {number}")
        return b""

    # --- binary -----------------------------------------------------------------
    @shaped(Shape.TRUNCATE)
    def read_binary(self, cmd: CommandAPDU) -> bytes:
        """``00B0 P1 P2 Le``: the data from the offset to the end, cut to Le by the runtime."""
        interindustry(cmd)
        sfi, offset = _binary_p1p2(cmd.p1, cmd.p2)
        if cmd.data:
            raise SWError(SW.WRONG_LENGTH)
        ef = self._transparent_ef(sfi, write=False, command="READ BINARY")
        return ef.read_from(offset)

    def update_binary(self, cmd: CommandAPDU) -> bytes:
        """``00D6 P1 P2 Lc data``: 6B00 for an offset outside the EF, 6700 past its end."""
        interindustry(cmd)
        sfi, offset = _binary_p1p2(cmd.p1, cmd.p2)
        if not cmd.data:
            raise SWError(SW.WRONG_LENGTH)
        ef = self._transparent_ef(sfi, write=True, command="UPDATE BINARY")
        ef.write_at(offset, cmd.data)
        self.card.durable(f"UPDATE BINARY {ef.label} offset {offset:04X} length {len(cmd.data)}")
        return b""
