"""Field types of social-security records as construct Adapters (V2 §7, S10 §5.4.1).

* ``an``: text, left-aligned, right-padded with ``00`` (GBK for Chinese, else ASCII).
* ``cn``: packed BCD digits, right-padded with ``F``; all ``F`` means unknown (``None``).
* ``b``: binary.

Decoding strips trailing ``00`` and ``FF`` (one issuer tool pads ``an`` with ``FF``,
ssse.md §2 ⚠); encoding pads with ``00`` unless the build parameter ``an_pad`` says
otherwise.

>>> GbkPadded(6).build("李磊").hex().upper()
'C0EEC0DA0000'
>>> GbkPadded(6).build("李磊", an_pad=0xFF).hex().upper()
'C0EEC0DAFFFF'
>>> GbkPadded(6).parse(bytes.fromhex("C0EEC0DAFFFF"))
'李磊'
>>> GbkPadded(4).build("李磊雷")
Traceback (most recent call last):
cardspec.records.errors.FieldValueError: '李磊雷' is 6 bytes in GBK; the field holds 4
>>> GbkPadded(8).build("李😀")
Traceback (most recent call last):
cardspec.records.errors.FieldValueError: character '😀' (U+1F600) at position 2 of '李😀' is not in GBK
>>> BcdPadded(3).build("51130").hex().upper(), BcdPadded(3).parse(b"\\x51\\x13\\x0f")
('51130F', '51130')
>>> BcdPadded(1).parse(b"\\xff") is None, BcdPadded(2).build(None).hex()
(True, 'ffff')
>>> Date8.parse(bytes.fromhex("20180403")), Date8.build(date(2028, 4, 3)).hex()
(datetime.date(2018, 4, 3), '20280403')
>>> Date8.parse(bytes.fromhex("20180231"))
Traceback (most recent call last):
cardspec.records.errors.RecordFormatError: 20180231 is not a valid date (day is out of range for month)
"""
from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

from construct import Adapter, Bytes, Construct

from .errors import FieldValueError, RecordFormatError

__all__ = ["FieldType", "GbkPadded", "AsciiPadded", "BcdPadded", "Binary", "Date8", "DateTime7",
           "ConstBytes", "an_pad_of"]


class FieldType(str, Enum):
    """Data type of a record value (V2 §7)."""

    AN = "an"  #: text, 00-padded
    CN = "cn"  #: packed BCD, F-padded
    B = "b"  #: binary


def an_pad_of(context: Any, default: int = 0x00) -> int:
    """The ``an_pad`` build parameter (``build(v, an_pad=0xFF)``), else ``default``."""
    params = getattr(context, "_params", None) or {}
    pad = params.get("an_pad", default)
    if pad not in (0x00, 0xFF):
        raise FieldValueError(f"an padding byte {pad!r} must be 0x00 or 0xFF")
    return int(pad)


def _strip_padding(raw: bytes) -> bytes:
    return raw.rstrip(b"\x00\xff")


class _Text(Adapter):  # type: ignore[misc]
    """Fixed-length text padded on the right; subclasses pick the codec."""

    codec = ""
    codec_label = ""

    def __init__(self, length: int) -> None:
        super().__init__(Bytes(length))
        self.length = length

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        body = _strip_padding(obj)
        if b"\x00" in body:
            raise RecordFormatError(f"NUL byte inside the text at offset {body.index(0)} of {obj.hex().upper()}")
        try:
            return body.decode(self.codec)
        except UnicodeDecodeError as e:
            raise RecordFormatError(f"bytes {body[e.start:e.end].hex().upper()} at offset {e.start} "
                                    f"are not {self.codec_label}") from None

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        if not isinstance(obj, str):
            raise FieldValueError(f"expected text, got {type(obj).__name__} {obj!r}")
        if "\x00" in obj:
            raise FieldValueError(f"NUL character at position {obj.index(chr(0)) + 1} of {obj!r}")
        try:
            raw = obj.encode(self.codec)
        except UnicodeEncodeError as e:
            ch = obj[e.start]
            raise FieldValueError(f"character {ch!r} (U+{ord(ch):04X}) at position {e.start + 1} of {obj!r} "
                                  f"is not in {self.codec_label}") from None
        if len(raw) > self.length:
            raise FieldValueError(f"{obj!r} is {len(raw)} bytes in {self.codec_label}; the field holds {self.length}")
        return raw + bytes((an_pad_of(context),)) * (self.length - len(raw))


class GbkPadded(_Text):
    """``an`` text in GBK (names, addresses), padded to ``length`` bytes."""

    codec = "gbk"
    codec_label = "GBK"


class AsciiPadded(_Text):
    """``an`` text restricted to ASCII (versions, numbers, codes), padded to ``length`` bytes."""

    codec = "ascii"
    codec_label = "ASCII"


class BcdPadded(Adapter):  # type: ignore[misc]
    """``cn`` digits string <-> packed BCD right-padded with F; all F <-> ``None``."""

    def __init__(self, length: int) -> None:
        super().__init__(Bytes(length))
        self.length = length

    def _decode(self, obj: bytes, context: Any, path: str) -> str | None:
        nibbles = obj.hex().upper()
        digits = nibbles.rstrip("F")
        if not digits:
            return None
        if not digits.isdigit():
            bad = next(i for i, c in enumerate(digits) if not c.isdigit())
            raise RecordFormatError(f"BCD {nibbles} has non-digit nibble {digits[bad]} at position {bad + 1}")
        return digits

    def _encode(self, obj: str | None, context: Any, path: str) -> bytes:
        if obj is None:
            return b"\xff" * self.length
        if not isinstance(obj, str):
            raise FieldValueError(f"expected a digit string or None, got {type(obj).__name__} {obj!r}")
        if not obj:
            raise FieldValueError("empty digit string (use None for unknown)")
        if not (obj.isascii() and obj.isdigit()):
            bad = next(i for i, c in enumerate(obj) if not (c.isascii() and c.isdigit()))
            raise FieldValueError(f"{obj!r} has non-digit {obj[bad]!r} at position {bad + 1}")
        if len(obj) > 2 * self.length:
            raise FieldValueError(f"{obj!r} has {len(obj)} digits; the field holds {2 * self.length} "
                                  f"({self.length} bytes)")
        return bytes.fromhex(obj.ljust(2 * self.length, "F"))


class _DateBcd(Adapter):  # type: ignore[misc]
    """A date (YYYYMMDD) or timestamp (YYYYMMDDhhmmss) in BCD; all F <-> ``None``."""

    def __init__(self, with_time: bool) -> None:
        self.with_time = with_time
        self.digits = 14 if with_time else 8
        super().__init__(Bytes(self.digits // 2))

    @property
    def _kind(self) -> str:
        return "timestamp" if self.with_time else "date"

    def _decode(self, obj: bytes, context: Any, path: str) -> date | datetime | None:
        text = obj.hex().upper()
        if text == "F" * self.digits:
            return None
        if not text.isdigit():
            layout = "YYYYMMDDhhmmss" if self.with_time else "YYYYMMDD"
            raise RecordFormatError(f"{text} is not a BCD {self._kind} ({layout})")
        parts = [int(text[0:4]), int(text[4:6]), int(text[6:8])]
        if self.with_time:
            parts += [int(text[8:10]), int(text[10:12]), int(text[12:14])]
        try:
            return datetime(*parts) if self.with_time else date(*parts)
        except ValueError as e:
            raise RecordFormatError(f"{text} is not a valid {self._kind} ({e})") from None

    def _encode(self, obj: date | datetime | None, context: Any, path: str) -> bytes:
        if obj is None:
            return b"\xff" * (self.digits // 2)
        if self.with_time != isinstance(obj, datetime) or not isinstance(obj, date):
            want = "datetime.datetime" if self.with_time else "datetime.date"
            raise FieldValueError(f"expected a {want} or None, got {type(obj).__name__} {obj!r}")
        text = f"{obj.year:04d}{obj.month:02d}{obj.day:02d}"
        if isinstance(obj, datetime):
            text += f"{obj.hour:02d}{obj.minute:02d}{obj.second:02d}"
        return bytes.fromhex(text)


#: ``cn`` 4: YYYYMMDD <-> :class:`datetime.date`; ``FFFFFFFF`` <-> ``None``.
Date8: Construct = _DateBcd(with_time=False)
#: ``cn`` 7: YYYYMMDDhhmmss <-> :class:`datetime.datetime`; all F <-> ``None``.
DateTime7: Construct = _DateBcd(with_time=True)


class Binary(Adapter):  # type: ignore[misc]
    """``b`` field: exactly ``length`` bytes (no integer or text coercion)."""

    def __init__(self, length: int) -> None:
        super().__init__(Bytes(length))
        self.length = length

    def _decode(self, obj: bytes, context: Any, path: str) -> bytes:
        return bytes(obj)

    def _encode(self, obj: bytes, context: Any, path: str) -> bytes:
        if not isinstance(obj, (bytes, bytearray)):
            raise FieldValueError(f"expected bytes, got {type(obj).__name__} {obj!r}")
        if len(obj) != self.length:
            raise FieldValueError(f"{bytes(obj).hex().upper()} is {len(obj)} bytes; the field holds {self.length}")
        return bytes(obj)


class ConstBytes(Adapter):  # type: ignore[misc]
    """A fixed byte string (a RID, a prefix): builds itself, rejects anything else."""

    def __init__(self, value: bytes, label: str) -> None:
        super().__init__(Bytes(len(value)))
        self.value, self.label = value, label
        self.flagbuildnone = True

    def _decode(self, obj: bytes, context: Any, path: str) -> None:
        if obj != self.value:
            raise RecordFormatError(f"expected {self.label} {self.value.hex().upper()}, found {obj.hex().upper()}")
        return None

    def _encode(self, obj: Any, context: Any, path: str) -> bytes:
        if obj not in (None, self.value):
            raise FieldValueError(f"{self.label} is fixed to {self.value.hex().upper()}")
        return self.value
