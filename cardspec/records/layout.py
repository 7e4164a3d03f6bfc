"""Record layouts and their registry; a record is the simple TLV ``tag len value`` (S3 §5.3.1).

A :class:`RecordLayout` describes one record identifier (tag) of one file: names, the
value length, the field type and the construct for the value. The card uses it to
check a written record (strict profiles), the host to encode and decode cardholder
data. Layouts register themselves in :data:`LAYOUTS`, keyed by ``(file path, tag)``.

>>> decode_record(bytes.fromhex("0A0132"))
(10, '2')
>>> from datetime import date
>>> encode_record(0x05, date(2018, 4, 3)).hex().upper()
'050420180403'
>>> decode_record(bytes.fromhex("0A023200"))
Traceback (most recent call last):
cardspec.records.errors.RecordFormatError: SSSE/EF06 tag 0A (性别 sex): length 02 but the layout needs 01
>>> encode_record(0x09, "李" * 16)
Traceback (most recent call last):
cardspec.records.errors.FieldValueError: SSSE/EF06 tag 09 (姓名 name): '李李李李李李李李李李李李李李李李' is 32 bytes in GBK; the field holds 30
>>> decode_record(bytes.fromhex("7701 00"))
Traceback (most recent call last):
cardspec.records.errors.UnknownRecordError: no record layout for tag 77
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from construct import Construct, ConstructError

from apdu.errors import TLVError
from apdu.tlv import parse_simple

from .errors import FieldValueError, RecordError, RecordFormatError, UnknownRecordError
from .fields import FieldType

__all__ = ["RecordLayout", "LAYOUTS", "register", "layout_for", "layouts_in", "encode_record",
           "decode_record", "split_record", "max_record_length"]


@dataclass(frozen=True, eq=False)
class RecordLayout:
    """One record identifier of one file: ``tag`` and a ``length``-byte value."""

    file: str  #: path of the EF, e.g. ``"SSSE/EF05"`` or ``"SSSE/DF01/EF05"``
    tag: int
    name_zh: str
    name_en: str
    length: int  #: value length in bytes (the spec-length the value is padded to)
    kind: FieldType
    value: Construct  #: construct of the value (Adapters give Python values)
    test_vectors: tuple[tuple[str, Any], ...] = ()  #: (whole record hex, decoded value)
    record_no: int | None = None  #: position in the file when the spec fixes it
    provisional_name: bool = False  #: True when no source names the field (only tag/type/length)
    note: str = ""

    def __post_init__(self) -> None:
        if not 0x01 <= self.tag <= 0xFE:
            raise ValueError(f"{self.file}: tag {self.tag:#x} is not a simple-TLV tag (01..FE)")
        if not 0x01 <= self.length <= 0xFE:
            raise ValueError(f"{self.file} tag {self.tag:02X}: length {self.length} outside 1..254")
        size = self.value.sizeof()
        if size != self.length:
            raise ValueError(f"{self.file} tag {self.tag:02X}: construct is {size} bytes, layout says {self.length}")

    @property
    def key(self) -> tuple[str, int]:
        return (self.file, self.tag)

    @property
    def label(self) -> str:
        return f"{self.file} tag {self.tag:02X} ({self.name_zh} {self.name_en})"

    @property
    def record_length(self) -> int:
        """Length of the whole TLV record."""
        return 2 + self.length

    def encode_value(self, value: Any, *, an_pad: int = 0x00) -> bytes:
        try:
            return bytes(self.value.build(value, an_pad=an_pad))
        except RecordError as e:
            raise type(e)(f"{self.label}: {e}") from None
        except ConstructError as e:
            raise FieldValueError(f"{self.label}: cannot encode {value!r} ({e})") from None

    def decode_value(self, raw: bytes) -> Any:
        if len(raw) != self.length:
            raise RecordFormatError(f"{self.label}: value is {len(raw)} bytes, the layout needs {self.length}")
        try:
            return self.value.parse(raw)
        except RecordError as e:
            raise type(e)(f"{self.label}: {e}") from None
        except ConstructError as e:
            raise RecordFormatError(f"{self.label}: cannot decode {raw.hex().upper()} ({e})") from None

    def encode(self, value: Any, *, an_pad: int = 0x00) -> bytes:
        """The whole record ``tag len value``."""
        return bytes((self.tag, self.length)) + self.encode_value(value, an_pad=an_pad)


LAYOUTS: dict[tuple[str, int], RecordLayout] = {}
_BY_TAG: dict[int, list[RecordLayout]] = {}


def register(*layouts: RecordLayout) -> tuple[RecordLayout, ...]:
    """Add layouts to :data:`LAYOUTS`; a second layout for the same (file, tag) is a bug."""
    for lay in layouts:
        if lay.key in LAYOUTS:
            raise ValueError(f"duplicate record layout {lay.label}")
        LAYOUTS[lay.key] = lay
        _BY_TAG.setdefault(lay.tag, []).append(lay)
    return layouts


def layout_for(tag: int, file: str | None = None) -> RecordLayout:
    """The layout of ``tag`` in ``file``; without ``file`` the tag must be unique."""
    if file is not None:
        lay = LAYOUTS.get((file, tag))
        if lay is None:
            raise UnknownRecordError(f"no record layout for tag {tag:02X} in {file}")
        return lay
    found = _BY_TAG.get(tag, [])
    if not found:
        raise UnknownRecordError(f"no record layout for tag {tag:02X}")
    if len(found) > 1:
        raise UnknownRecordError(f"tag {tag:02X} is declared in {', '.join(x.file for x in found)}; name the file")
    return found[0]


def layouts_in(file: str) -> list[RecordLayout]:
    """Layouts of one file, in record order where the spec gives it."""
    found = [lay for lay in LAYOUTS.values() if lay.file == file]
    return sorted(found, key=lambda x: (x.record_no is None, x.record_no or 0, x.tag))


def max_record_length(file: str) -> int:
    """Longest declared TLV record of ``file`` (sizes the record EF)."""
    found = layouts_in(file)
    if not found:
        raise UnknownRecordError(f"no record layouts declared for {file}")
    return max(lay.record_length for lay in found)


def split_record(raw: bytes) -> tuple[int, bytes]:
    """Split one record into (tag, value); it must hold exactly one SIMPLE-TLV object.

    >>> split_record(bytes.fromhex("020133"))
    (2, b'3')
    >>> split_record(bytes.fromhex("0204 33"))
    Traceback (most recent call last):
    cardspec.records.errors.RecordFormatError: record 020433: SIMPLE-TLV at offset 0: tag 02 length 0x04 runs past the end (1 byte left)
    """
    try:
        objects = parse_simple(raw)
    except TLVError as e:
        raise RecordFormatError(f"record {bytes(raw).hex().upper()}: {e}") from None
    if len(objects) != 1:
        raise RecordFormatError(f"record {bytes(raw).hex().upper() or '(empty)'} holds {len(objects)} "
                                f"SIMPLE-TLV objects; a record is one")
    return objects[0]


def encode_record(tag: int, value: Any, *, file: str | None = None, an_pad: int = 0x00) -> bytes:
    """Encode the whole record ``tag len value`` through the registered layout."""
    return layout_for(tag, file).encode(value, an_pad=an_pad)


def decode_record(raw: bytes, *, file: str | None = None) -> tuple[int, Any]:
    """Decode one whole record into ``(tag, value)``; the length must be the layout's."""
    tag, body = split_record(raw)
    lay = layout_for(tag, file)
    if len(body) != lay.length:
        raise RecordFormatError(f"{lay.label}: length {len(body):02X} but the layout needs {lay.length:02X}")
    return tag, lay.decode_value(body)
