"""The financial zone's EFs: record files whose storage is the zone's persistent state.

EMV data lives in records read with READ RECORD by SFI (EMV Book 3 §5.3); the zone
keeps them as ISO record EFs in the file tree, so the OS's READ RECORD (and UPDATE
RECORD from an issuer script) serve them, with FID ``EF`` ‖ SFI. Each EF stores its
records in a list owned by :class:`~cardsim.pboc.state.PbocState` (the same list object),
so the state is the single truth and images need nothing else.

>>> storage = [bytes.fromhex("7003880101")]
>>> ef = TemplateRecordEF(sfi=1, storage=storage)
>>> ef.update(1, bytes.fromhex("7003880102")); storage[0].hex().upper()
'7003880102'
>>> ef.append(bytes.fromhex("6103880101"))
Traceback (most recent call last):
apdu.sw.SWError: 6A80 incorrect parameters in the data field
"""
from __future__ import annotations

from apdu.dol import dol_length
from apdu.errors import TLVError
from apdu.sw import SW, SWError
from apdu.tlv import find, parse_one
from cardspec.access import FREE, NEVER, AccessRule
from cardspec.pboc import PbocDataError, record_fid

from ..fs import MAX_RECORDS, DF, CyclicEF, RecordEF

__all__ = ["TemplateRecordEF", "LogEF", "MAX_RECORD_LENGTH", "log_geometry", "record_ef", "put_record"]

MAX_RECORD_LENGTH = 0xFE  #: a record READ RECORD can return in one short response with its SW


class TemplateRecordEF(RecordEF):
    """Variable-length records, each one BER-TLV ``70`` template (EMV Book 3 §5.3.2.1)."""

    structure = "linear_variable"

    def __init__(self, *, sfi: int, storage: list[bytes], write: AccessRule = NEVER) -> None:
        super().__init__(record_fid(sfi), max_records=MAX_RECORDS, sfi=sfi, read=FREE, write=write,
                         records=storage)
        self._records = storage  # the state's own list: every change lands in the state

    def check_record(self, data: bytes) -> None:
        """6700 above 254 bytes, 6A85 when not exactly one BER-TLV, 6A80 when it is not a 70."""
        if len(data) > MAX_RECORD_LENGTH:
            raise SWError(SW.WRONG_LENGTH)
        try:
            parse_one(data, allow_padding=False)
        except TLVError:
            raise SWError(SW.LC_INCONSISTENT_WITH_TLV) from None
        if data[0] != 0x70:
            raise SWError(SW.WRONG_DATA)


class LogEF(CyclicEF):
    """The transaction log (SFI and size from FCI 9F4D, record layout from 9F4F): record 1
    is the newest; only the card writes it."""

    def __init__(self, *, sfi: int, record_length: int, max_records: int, storage: list[bytes]) -> None:
        super().__init__(record_fid(sfi), record_length=record_length, max_records=max_records, sfi=sfi,
                         read=FREE, write=NEVER, records=storage)
        self._records = storage


def record_ef(df: DF, sfi: int, storage: list[bytes], write: AccessRule = NEVER) -> TemplateRecordEF:
    """The record EF of ``sfi`` in ``df``, created on first use over ``storage``."""
    existing = df.ef_by_sfi(sfi)
    if existing is not None:
        if not isinstance(existing, TemplateRecordEF):
            raise PbocDataError(f"{existing.label}: SFI {sfi} is not a record file of 70 templates")
        return existing
    return df.add(TemplateRecordEF(sfi=sfi, storage=storage, write=write))


def put_record(ef: RecordEF, number: int, data: bytes, where: str) -> None:
    """Personalize record ``number``: replace it, or append it as the next one."""
    try:
        if number <= len(ef.records):
            ef.update(number, bytes(data))
        elif number == len(ef.records) + 1:
            ef.append(bytes(data))
        else:
            raise PbocDataError(f"{where}: record {number} before record {len(ef.records) + 1}")
    except SWError as exc:
        raise PbocDataError(f"{where}: not a record of at most {MAX_RECORD_LENGTH} bytes holding one "
                            f"70 template ({exc})") from None


def log_geometry(fci: bytes, log_format: bytes | None) -> tuple[int, int, int] | None:
    """(SFI, record count, record length) of the log an FCI announces in BF0C 9F4D, or
    None when there is no log entry or no log format 9F4F."""
    if not fci or not log_format:
        return None
    try:
        entry = find(fci, 0x9F4D)
        length = dol_length(log_format)
    except TLVError as exc:
        raise PbocDataError(f"log entry or format: {exc}") from None
    if entry is None:
        return None
    if len(entry.value) != 2 or not 1 <= entry.value[0] <= 30 or entry.value[1] == 0 or not 1 <= length <= 0xFF:
        raise PbocDataError(f"log entry 9F4D {entry.value.hex().upper()} with a {length}-byte record: "
                            "needs SFI 1-30, at least one record, 1-255 bytes each")
    return entry.value[0], entry.value[1], length
