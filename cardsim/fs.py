"""The card's file model (ISO 7816-4 §5.3, §7.3): the MF, DFs, and EFs of four structures.

The model holds only persistent content (the "EEPROM"); what is selected lives in the
runtime. Building a tree that cannot exist raises :class:`FileSystemError`; operations a
command performs raise :class:`~apdu.sw.SWError` with the status word the card answers.

>>> ssse = DF(0xDDF1, name=bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF"),
...           proprietary=bytes.fromhex("88011E9F0C03860103"))
>>> ssse.fci().hex().upper()
'6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103'
>>> ef05 = ssse.add(LinearVariableEF(0xEF05, sfi=5, records=[bytes.fromhex("020133")]))
>>> mf = MF(children=[ssse])
>>> ef05.label, ef05.records
('3F00/DDF1/EF05', (b'\\x02\\x013',))
>>> ef05.update(2, bytes.fromhex("0304332E3030"))  # a missing record appends (S5 §6.13.1)
>>> ef05.locate(0x03, RecordRef.FIRST, None)
2
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from enum import IntEnum
from typing import TYPE_CHECKING, ClassVar, Iterable, Iterator, TypeVar

from apdu.errors import SSCardError
from apdu.sw import SW, SWError, describe
from cardspec.access import FREE, AccessRule

if TYPE_CHECKING:
    from .application import Application

MF_FID = 0x3F00
_RESERVED_FIDS = (0x3FFF, 0xFFFF)  # 3FFF: "current DF" in paths; FFFF: RFU (ISO 7816-4 §7.1.1)
MAX_RECORDS = 254  # record numbers 01-FE; FF is RFU
MAX_DF_NAME = 16
MAX_TRANSPARENT_SIZE = 0x8000  # READ BINARY offsets are 15 bits


class FileSystemError(SSCardError, ValueError):
    """A file tree that cannot exist (duplicate FID or SFI, malformed record, ...)."""


class RecordRef(IntEnum):
    """Bits b3-b1 of P2 in READ/UPDATE RECORD (ISO 7816-4 table 48; S5 table 32)."""

    FIRST = 0b000  # first occurrence of record identifier P1
    LAST = 0b001
    NEXT = 0b010
    PREVIOUS = 0b011
    NUMBER = 0b100  # record number P1 (00: current record)
    FROM_P1 = 0b101  # records P1 .. last, concatenated
    TO_P1 = 0b110  # records last .. P1, concatenated


def _tlv(tag: int, value: bytes) -> bytes:
    """One BER-TLV with a one-byte tag (lengths up to 0xFFFF)."""
    n = len(value)
    if n < 0x80:
        length = bytes((n,))
    elif n < 0x100:
        length = bytes((0x81, n))
    else:
        length = b"\x82" + n.to_bytes(2, "big")
    return bytes((tag,)) + length + value


class File:
    """Anything with a file identifier; ``parent`` is set when the file is added to a DF."""

    def __init__(self, fid: int) -> None:
        if not 0 <= fid <= 0xFFFF:
            raise FileSystemError(f"file identifier {fid!r} is not two bytes")
        if fid in _RESERVED_FIDS:
            raise FileSystemError(f"file identifier {fid:04X} is reserved (ISO 7816-4 §7.1.1)")
        self.fid = fid
        self.parent: DF | None = None

    @property
    def path(self) -> tuple[int, ...]:
        """FIDs from the MF (included) down to this file."""
        up = self.parent.path if self.parent is not None else ()
        return (*up, self.fid)

    @property
    def label(self) -> str:
        """Where the file is, for messages: ``3F00/DDF1/EF05``."""
        return "/".join(f"{fid:04X}" for fid in self.path)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


_FileT = TypeVar("_FileT", bound=File)


class DF(File):
    """A dedicated file: children, an optional DF name (AID) and an optional application.

    The FCI answered to SELECT is, in this order: the application's (``application.fci(df)``)
    when it builds one; ``fci``, the exact bytes declared for the DF; or
    ``6F [84 name | 83 FID] [A5 proprietary]``, where ``proprietary`` is the content of the
    proprietary template (e.g. ``88 01 1E`` for the DIR SFI and ``9F0C`` issuer data, S5
    table 36).
    """

    def __init__(self, fid: int, *, name: bytes | None = None, proprietary: bytes | None = None,
                 fci: bytes | None = None, application: Application | None = None,
                 children: Iterable[File] = ()) -> None:
        super().__init__(fid)
        if name is not None and not 1 <= len(name) <= MAX_DF_NAME:
            raise FileSystemError(f"DF {fid:04X}: DF name of {len(name)} bytes (1 to {MAX_DF_NAME} allowed)")
        if fci is not None and proprietary is not None:
            raise FileSystemError(f"DF {fid:04X}: give the whole FCI or its proprietary template, not both")
        self.name = bytes(name) if name is not None else None
        self.proprietary = bytes(proprietary) if proprietary is not None else None
        self.static_fci = bytes(fci) if fci is not None else None
        self.application = application
        self._children: list[File] = []
        self._dfs: list[DF] = []  # the DFs among the children, in order (for walk)
        for child in children:
            self.add(child)

    @property
    def children(self) -> tuple[File, ...]:
        return tuple(self._children)

    def add(self, child: _FileT) -> _FileT:
        """Attach ``child`` under this DF and return it; refuse clashing identifiers."""
        where = f"{child!r} under {self.label}"
        if isinstance(child, MF):
            raise FileSystemError(f"{where}: the MF cannot be a child")
        if child.parent is not None:
            raise FileSystemError(f"{where}: already a child of {child.parent.label}")
        if child.fid == self.fid or self.child(child.fid) is not None:
            raise FileSystemError(f"{where}: file identifier {child.fid:04X} already used here")
        if isinstance(child, EF) and child.sfi is not None and self.ef_by_sfi(child.sfi) is not None:
            raise FileSystemError(f"{where}: SFI {child.sfi:02X} already used here")
        if isinstance(child, DF):
            taken = {df.name for df in self.root.walk() if df.name is not None}
            for df in child.walk():
                if df.name is not None and df.name in taken:
                    raise FileSystemError(f"{where}: DF name {df.name.hex().upper()} already on the card")
        child.parent = self
        self._children.append(child)
        if isinstance(child, DF):
            self._dfs.append(child)
        return child

    @property
    def root(self) -> DF:
        df: DF = self
        while df.parent is not None:
            df = df.parent
        return df

    def child(self, fid: int) -> File | None:
        return next((c for c in self._children if c.fid == fid), None)

    def ef_by_sfi(self, sfi: int) -> EF | None:
        return next((c for c in self._children if isinstance(c, EF) and c.sfi == sfi), None)

    def walk(self) -> Iterator[DF]:
        """This DF and every DF below it, in pre-order (the DF-name search order)."""
        stack: list[DF] = [self]  # an explicit stack: nested generators cost a frame per level
        while stack:
            df = stack.pop()
            yield df
            stack.extend(reversed(df._dfs))

    def application_owner(self) -> DF | None:
        """The nearest DF, this one or above, that carries an application."""
        df: DF | None = self
        while df is not None and df.application is None:
            df = df.parent
        return df

    def fci(self) -> bytes:
        """The FCI answered to SELECT with P2 = 00 (S5 table 36)."""
        if self.application is not None:
            built = self.application.fci(self)
            if built is not None:
                return built
        if self.static_fci is not None:
            return self.static_fci
        body = _tlv(0x84, self.name) if self.name is not None else _tlv(0x83, self.fid.to_bytes(2, "big"))
        if self.proprietary is not None:
            body += _tlv(0xA5, self.proprietary)
        return _tlv(0x6F, body)


class MF(DF):
    """The master file, 3F00; on some cards it carries a DF name (TR4: 1PAY.SYS.DDF01)."""

    def __init__(self, *, name: bytes | None = None, proprietary: bytes | None = None, fci: bytes | None = None,
                 application: Application | None = None, children: Iterable[File] = ()) -> None:
        super().__init__(MF_FID, name=name, proprietary=proprietary, fci=fci, application=application,
                         children=children)


class EF(File):
    """An elementary file: optional SFI (1-30) and read/write access rules."""

    structure: ClassVar[str] = ""

    def __init__(self, fid: int, *, sfi: int | None = None, read: AccessRule = FREE, write: AccessRule = FREE) -> None:
        super().__init__(fid)
        if fid == MF_FID:
            raise FileSystemError("an EF cannot have the MF identifier 3F00")
        if sfi is not None and not 1 <= sfi <= 30:
            raise FileSystemError(f"EF {fid:04X}: SFI {sfi} outside 1-30")
        self.sfi = sfi
        self.read = read
        self.write = write


class TransparentEF(EF):
    """A transparent EF of fixed ``size``; unwritten bytes hold 00."""

    structure = "transparent"

    def __init__(self, fid: int, *, size: int, data: bytes = b"", sfi: int | None = None,
                 read: AccessRule = FREE, write: AccessRule = FREE) -> None:
        super().__init__(fid, sfi=sfi, read=read, write=write)
        if not 1 <= size <= MAX_TRANSPARENT_SIZE:
            raise FileSystemError(f"EF {fid:04X}: size {size} outside 1-{MAX_TRANSPARENT_SIZE}")
        if len(data) > size:
            raise FileSystemError(f"EF {fid:04X}: {len(data)} bytes of content exceed the size {size}")
        self._data = bytearray(data) + bytearray(size - len(data))

    @property
    def size(self) -> int:
        return len(self._data)

    @property
    def content(self) -> bytes:
        return bytes(self._data)

    def read_from(self, offset: int) -> bytes:
        """Everything from ``offset`` to the end; 6B00 when the offset is outside the EF."""
        if offset >= self.size:
            raise SWError(SW.WRONG_P1P2)
        return bytes(self._data[offset:])

    def write_at(self, offset: int, data: bytes) -> None:
        """Overwrite bytes; 6B00 for an offset outside the EF, 6700 for a write past its end."""
        if offset >= self.size:
            raise SWError(SW.WRONG_P1P2)
        if offset + len(data) > self.size:
            raise SWError(SW.WRONG_LENGTH)
        self._data[offset:offset + len(data)] = data


class RecordEF(EF, ABC):
    """An EF of records, numbered from 1. The record identifier is a record's first byte,
    i.e. the tag of its simple TLV (S3 §5.3.1)."""

    def __init__(self, fid: int, *, max_records: int, sfi: int | None, read: AccessRule, write: AccessRule,
                 records: Iterable[bytes]) -> None:
        super().__init__(fid, sfi=sfi, read=read, write=write)
        if not 1 <= max_records <= MAX_RECORDS:
            raise FileSystemError(f"EF {fid:04X}: {max_records} records (1 to {MAX_RECORDS} allowed)")
        self.max_records = max_records
        self._records: list[bytes] = []
        for number, record in enumerate(records, 1):
            if number > max_records:
                raise FileSystemError(f"EF {fid:04X}: more than {max_records} records")
            try:
                self.check_record(bytes(record))
            except SWError as exc:
                raise FileSystemError(f"EF {fid:04X} record {number} {bytes(record).hex().upper()}: "
                                      f"{describe(exc.sw)}") from None
            self._records.append(bytes(record))

    @property
    def records(self) -> tuple[bytes, ...]:
        return tuple(self._records)

    @abstractmethod
    def check_record(self, data: bytes) -> None:
        """Raise the SWError a write of ``data`` as one record answers (6700, 6A85, 6A80)."""

    def record(self, number: int) -> bytes:
        if not 1 <= number <= len(self._records):
            raise SWError(SW.RECORD_NOT_FOUND)
        return self._records[number - 1]

    def locate(self, p1: int, ref: RecordRef, current: int | None) -> int:
        """The record number that P1 and the P2 mode designate (6A83 when there is none).

        By identifier, P1 = 00 matches any record (ISO 7816-4 §7.3.1); NEXT without a
        current record acts as FIRST and PREVIOUS as LAST.
        """
        count = len(self._records)
        if ref in (RecordRef.NUMBER, RecordRef.FROM_P1, RecordRef.TO_P1):
            number = current if p1 == 0 else p1
            if number is None or not 1 <= number <= count:
                raise SWError(SW.RECORD_NOT_FOUND)
            return number
        if ref is RecordRef.FIRST or (ref is RecordRef.NEXT and current is None):  # the first hit will do
            for number, record in enumerate(self._records, 1):
                if p1 == 0 or record[0] == p1:
                    return number
            raise SWError(SW.RECORD_NOT_FOUND)
        hits = [n for n in range(1, count + 1) if p1 == 0 or self._records[n - 1][0] == p1]
        if ref is RecordRef.NEXT and current is not None:
            hits = [n for n in hits if n > current]
        elif ref is RecordRef.PREVIOUS and current is not None:
            hits = [n for n in hits if n < current]
        if not hits:
            raise SWError(SW.RECORD_NOT_FOUND)
        return hits[0] if ref in (RecordRef.FIRST, RecordRef.NEXT) else hits[-1]

    def update(self, number: int, data: bytes) -> None:
        """Replace record ``number`` (checked with :meth:`check_record` first)."""
        self.check_record(data)
        if not 1 <= number <= len(self._records):
            raise SWError(SW.RECORD_NOT_FOUND)
        self._records[number - 1] = bytes(data)

    def append(self, data: bytes) -> int:
        """Add a record after the last one and return its number; 6A84 when the EF is full."""
        self.check_record(data)
        if len(self._records) >= self.max_records:
            raise SWError(SW.NOT_ENOUGH_SPACE)
        self._records.append(bytes(data))
        return len(self._records)


class LinearVariableEF(RecordEF):
    """Records of different lengths, each one simple TLV ``tag len value`` (SSSE EF05/EF06)."""

    structure = "linear_variable"

    def __init__(self, fid: int, *, max_records: int = MAX_RECORDS, max_record_length: int = 0xFF,
                 sfi: int | None = None, read: AccessRule = FREE, write: AccessRule = FREE,
                 records: Iterable[bytes] = ()) -> None:
        if not 2 <= max_record_length <= 0xFF:
            raise FileSystemError(f"EF {fid:04X}: maximum record length {max_record_length} outside 2-255")
        self.max_record_length = max_record_length
        super().__init__(fid, max_records=max_records, sfi=sfi, read=read, write=write, records=records)

    def check_record(self, data: bytes) -> None:
        """6A85 when the TLV length disagrees with the data, 6A80 for tag 00/FF, 6700 when too long."""
        if len(data) < 2:
            raise SWError(SW.LC_INCONSISTENT_WITH_TLV)
        if data[1] == 0xFF:  # three-byte length: FF hi lo
            header, length = 4, int.from_bytes(data[2:4], "big") if len(data) >= 4 else -1
        else:
            header, length = 2, data[1]
        if length < 0 or header + length != len(data):
            raise SWError(SW.LC_INCONSISTENT_WITH_TLV)
        if data[0] in (0x00, 0xFF):  # invalid simple-TLV tags (ISO 7816-4 §5.2.1)
            raise SWError(SW.WRONG_DATA)
        if len(data) > self.max_record_length:
            raise SWError(SW.WRONG_LENGTH)

    def update(self, number: int, data: bytes) -> None:
        """Replace a record; writing the record just after the last one appends it (S5 §6.13.1)."""
        if number == len(self._records) + 1:
            self.append(data)
        else:
            super().update(number, data)


class LinearFixedEF(RecordEF):
    """Records of exactly ``record_length`` bytes, up to ``max_records`` of them."""

    structure = "linear_fixed"

    def __init__(self, fid: int, *, record_length: int, max_records: int, sfi: int | None = None,
                 read: AccessRule = FREE, write: AccessRule = FREE, records: Iterable[bytes] = ()) -> None:
        if not 1 <= record_length <= 0xFF:
            raise FileSystemError(f"EF {fid:04X}: record length {record_length} outside 1-255")
        self.record_length = record_length
        super().__init__(fid, max_records=max_records, sfi=sfi, read=read, write=write, records=records)

    def check_record(self, data: bytes) -> None:
        if len(data) != self.record_length:
            raise SWError(SW.WRONG_LENGTH)


class CyclicEF(LinearFixedEF):
    """Fixed-length records in a ring: record 1 is always the newest, and a write beyond
    ``max_records`` drops the oldest (ISO 7816-4 §7.3.1; medical EF08 transaction log)."""

    structure = "cyclic"

    def append(self, data: bytes) -> int:
        """Write ``data`` as the new record 1; returns 1."""
        self.check_record(data)
        self._records.insert(0, bytes(data))
        del self._records[self.max_records:]
        return 1
