"""TLV codecs of the wire: BER-TLV and SIMPLE-TLV.

* BER-TLV (ISO/IEC 7816-4 §5.2.2, EMV Book 3 Annex B): tags of one to three bytes,
  kept as ``int`` (``0x9F38``); definite lengths ``00``-``7F`` and ``81``-``84``;
  constructed objects (b6 of the first tag byte) are checked recursively; ``00``/``FF``
  padding may sit before, between and after objects.
* SIMPLE-TLV (ISO/IEC 7816-4 §5.2.1): tag ``01``-``FE``, length ``00``-``FE`` or
  ``FF`` plus two bytes. The records of the social-security EFs use it.

Data object lists (EMV Book 3 §5.4) are in :mod:`apdu.dol`.

Malformed input raises :class:`~apdu.errors.TLVError`, and the message names the offset.

>>> fci = bytes.fromhex("6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103")
>>> print(format_tree(fci))
6F 1C
  84 0F 7378312E73682EC9E7BBE1B1A3D5CF
  A5 09
    88 01 1E
    9F0C 03 860103
"""
from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from construct import Bytes, Construct, ConstructError, Int8ub, IntegerError, Rebuild, Struct, len_, this
from construct.core import stream_read, stream_write

from .errors import TLVError

__all__ = [
    "TLV", "parse_ber", "parse_one", "build_ber", "encode_tag", "encode_length", "find", "to_dict",
    "format_tree", "SimpleLength", "SimpleTLV", "parse_simple", "build_simple",
]

MAX_TAG_BYTES = 3  # ISO/IEC 7816-4 §5.2.2.1
MAX_LENGTH_BYTES = 4  # long form '84' plus four bytes, ISO/IEC 7816-4 §5.2.2.2
MAX_DEPTH = 32  # nesting levels of constructed objects the parser accepts
_PADDING = (0x00, 0xFF)

# --- tags and lengths ---------------------------------------------------------------


class _Malformed(Exception):
    """Internal: a reason without its location; callers add 'at offset N'."""


def _left(n: int) -> str:
    return f"{n} byte left" if n == 1 else f"{n} bytes left"


def _tag_hex(tag: int) -> str:
    return f"{tag:0{2 * max(1, (tag.bit_length() + 7) // 8)}X}"


def _is_constructed(tag: int) -> bool:
    """b6 of the first tag byte."""
    return bool(tag >> (8 * ((tag.bit_length() - 1) // 8)) & 0x20)


def _tag_problem(raw: bytes) -> str | None:
    """Why ``raw`` is not one complete tag field, or None if it is one."""
    first = raw[0]
    if first in _PADDING:
        return f"is invalid: first byte {first:02X} is reserved for padding"
    if first & 0x1F != 0x1F:
        return None if len(raw) == 1 else f"is invalid: first byte {first:02X} makes a one-byte tag"
    if len(raw) == 1:
        return f"is incomplete: first byte {first:02X} announces a subsequent byte"
    if raw[1] & 0x7F == 0:
        return f"is invalid: subsequent byte {raw[1]:02X} has b7-b1 all zero"
    if len(raw) > MAX_TAG_BYTES:
        return f"is longer than {MAX_TAG_BYTES} bytes"
    for b in raw[1:-1]:
        if not b & 0x80:
            return f"is invalid: subsequent byte {b:02X} ends the tag before its last byte"
    if raw[-1] & 0x80:
        return f"is incomplete: byte {raw[-1]:02X} announces another byte"
    return None


def encode_tag(tag: int) -> bytes:
    """The tag field of ``tag``; raise :class:`TLVError` if it is not a valid tag.

    >>> encode_tag(0x9F38).hex().upper(), encode_tag(0x6F).hex().upper()
    ('9F38', '6F')
    >>> encode_tag(0x9F)
    Traceback (most recent call last):
    apdu.errors.TLVError: tag 9F is incomplete: first byte 9F announces a subsequent byte
    """
    if isinstance(tag, bool) or not isinstance(tag, int) or tag <= 0:
        raise TLVError(f"tag {tag!r} is not a positive integer")
    raw = tag.to_bytes((tag.bit_length() + 7) // 8, "big")
    problem = _tag_problem(raw)
    if problem:
        raise TLVError(f"tag {raw.hex().upper()} {problem}")
    return raw


def encode_length(n: int) -> bytes:
    """The shortest definite length field for ``n`` value bytes (ISO/IEC 7816-4 §5.2.2.2).

    >>> [encode_length(n).hex().upper() for n in (0x1C, 0x7F, 0x80, 0x100, 0x10000)]
    ['1C', '7F', '8180', '820100', '83010000']
    """
    if not 0 <= n <= 0xFFFFFFFF:
        raise TLVError(f"length {n} cannot be encoded (0 to 4294967295)")
    if n < 0x80:
        return bytes((n,))
    size = (n.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


def _read_tag(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode the tag at ``data[pos]``; return (tag, position after it)."""
    p = pos + 1
    if data[pos] & 0x1F == 0x1F and data[pos] not in _PADDING:
        while p < end and p - pos <= MAX_TAG_BYTES:
            p += 1
            if not data[p - 1] & 0x80:
                break
    raw = data[pos:p]
    problem = _tag_problem(raw)
    if problem:
        raise _Malformed(f"tag {raw.hex().upper()} {problem}")
    return int.from_bytes(raw, "big"), p


def _read_length(data: bytes, p: int, end: int, tag_number: int) -> tuple[int, int]:
    """Decode the length field at ``data[p]``; return (length, position of the value)."""
    if p < end and data[p] < 0x80:
        return data[p], p + 1  # the short form, which cannot be wrong
    tag = _tag_hex(tag_number)
    if p >= end:
        raise _Malformed(f"tag {tag} has no length field")
    first = data[p]
    if first == 0x80:
        raise _Malformed(f"tag {tag} uses the indefinite length form 80 (ISO/IEC 7816-4 and EMV forbid it)")
    count = first & 0x7F
    if count > MAX_LENGTH_BYTES:
        raise _Malformed(f"tag {tag} has length byte {first:02X}, reserved (the longest form is 84)")
    if end - p - 1 < count:
        left = _left(end - p - 1)
        raise _Malformed(f"tag {tag} length field {first:02X} needs {count} more bytes ({left})")
    return int.from_bytes(data[p + 1:p + 1 + count], "big"), p + 1 + count


# --- BER-TLV ------------------------------------------------------------------------


@dataclass(frozen=True)
class TLV:
    """One BER-TLV data object. For a constructed object, ``value`` is the children's encoding.

    >>> TLV.template(0xA5, TLV(0x88, b"\\x01"), TLV(0x5F2D, b"zh")).to_bytes().hex().upper()
    'A5088801015F2D027A68'
    """

    tag: int
    value: bytes = b""

    def __post_init__(self) -> None:
        encode_tag(self.tag)
        if not isinstance(self.value, bytes):
            object.__setattr__(self, "value", bytes(self.value))

    @classmethod
    def template(cls, tag: int, *children: TLV) -> TLV:
        """A constructed object holding ``children`` in order."""
        encode_tag(tag)
        if not _is_constructed(tag):
            raise TLVError(f"tag {_tag_hex(tag)} is primitive; a template needs a constructed tag")
        return cls(tag, b"".join(child.to_bytes() for child in children))

    @property
    def constructed(self) -> bool:
        """True when b6 of the first tag byte is set (the value holds data objects)."""
        return _is_constructed(self.tag)

    def children(self) -> list[TLV]:
        """The data objects inside a constructed object (padding skipped)."""
        name = _tag_hex(self.tag)
        if not self.constructed:
            raise TLVError(f"tag {name} is primitive; it has no children")
        try:
            return _parse(self.value, 0, len(self.value), True, ())
        except TLVError as exc:
            raise TLVError(f"value of {name}: {exc}") from None

    def to_bytes(self) -> bytes:
        return build_ber(self.tag, self.value)

    __bytes__ = to_bytes

    def __repr__(self) -> str:
        return f"TLV(tag=0x{_tag_hex(self.tag)}, value=bytes.fromhex('{self.value.hex().upper()}'))"


def _parsed_tlv(tag: int, value: bytes) -> TLV:
    """A TLV whose tag the parser has just read (valid already): built without checking it again."""
    tlv = object.__new__(TLV)
    object.__setattr__(tlv, "tag", tag)
    object.__setattr__(tlv, "value", value)
    return tlv


def _where(pos: int, path: tuple[str, ...]) -> str:
    shown = path if len(path) <= 4 else (path[0], "...", *path[-2:])
    return f"BER-TLV at offset {pos}" + (f" (inside {' > '.join(shown)})" if path else "")


def _parse(data: bytes, start: int, end: int, allow_padding: bool, path: tuple[str, ...]) -> list[TLV]:
    """Parse ``data[start:end]`` completely; offsets in errors are offsets into ``data``."""
    out: list[TLV] = []
    pos = start
    while pos < end:
        if allow_padding and data[pos] in _PADDING:
            pos += 1
            continue
        try:
            tag, p = _read_tag(data, pos, end)
            n, p = _read_length(data, p, end, tag)
            if n > end - p:
                limit = f" of {path[-1]}" if path else ""
                raise _Malformed(f"tag {_tag_hex(tag)} length 0x{n:02X} runs past the end{limit} ({_left(end - p)})")
        except _Malformed as exc:
            raise TLVError(f"{_where(pos, path)}: {exc}") from None
        if _is_constructed(tag):
            if len(path) >= MAX_DEPTH:
                raise TLVError(f"{_where(pos, path)}: tag {_tag_hex(tag)} nests deeper than {MAX_DEPTH} levels")
            _parse(data, p, p + n, allow_padding, path + (_tag_hex(tag),))
        out.append(_parsed_tlv(tag, data[p:p + n]))
        pos = p + n
    return out


def parse_ber(data: bytes, *, allow_padding: bool = True) -> list[TLV]:
    """Parse a sequence of BER-TLV objects; the whole input must be consumed.

    Constructed values are checked recursively. With ``allow_padding`` (the default),
    ``00`` and ``FF`` bytes around objects are skipped (ISO/IEC 7816-4, EMV Book 3 Annex B).

    >>> pse = bytes.fromhex("6F26840E315041592E5359532E4444463031"
    ...                     "A5148801015F2D027A689F110101BF0C059F4D020B0A")
    >>> [fci] = parse_ber(pse)
    >>> fci.constructed, [f"{child.tag:X}" for child in fci.children()]
    (True, ['84', 'A5'])
    >>> parse_ber(pse[:-1])
    Traceback (most recent call last):
    apdu.errors.TLVError: BER-TLV at offset 0: tag 6F length 0x26 runs past the end (37 bytes left)
    >>> parse_ber(bytes.fromhex("6F04A5048801"))
    Traceback (most recent call last):
    apdu.errors.TLVError: BER-TLV at offset 2 (inside 6F): tag A5 length 0x04 runs past the end of 6F (2 bytes left)
    """
    data = bytes(data)
    return _parse(data, 0, len(data), allow_padding, ())


def parse_one(data: bytes, *, tag: int | None = None, allow_padding: bool = True) -> TLV:
    """Parse input that must hold exactly one object (with ``tag``, if given).

    >>> parse_one(bytes.fromhex("9F3602000E")).value.hex().upper()
    '000E'
    >>> parse_one(bytes.fromhex("7003880101"), tag=0x6F)
    Traceback (most recent call last):
    apdu.errors.TLVError: expected tag 6F, found 70
    """
    objects = parse_ber(data, allow_padding=allow_padding)
    if len(objects) != 1:
        raise TLVError(f"expected one BER-TLV object, found {len(objects)}")
    if tag is not None and objects[0].tag != tag:
        raise TLVError(f"expected tag {_tag_hex(tag)}, found {_tag_hex(objects[0].tag)}")
    return objects[0]


def build_ber(tag: int, value: bytes) -> bytes:
    """Encode one object: tag, shortest length field, value (not checked, even if constructed).

    >>> build_ber(0x9F38, bytes.fromhex("9F7A019F02065F2A02")).hex().upper()
    '9F38099F7A019F02065F2A02'
    >>> build_ber(0x90, bytes(176))[:4].hex().upper()
    '9081B000'
    """
    value = bytes(value)
    return encode_tag(tag) + encode_length(len(value)) + value


def _objects(tlvs: bytes | Iterable[TLV]) -> Iterable[TLV]:
    return parse_ber(tlvs) if isinstance(tlvs, (bytes, bytearray, memoryview)) else tlvs


def find(tlvs: bytes | Iterable[TLV], tag: int) -> TLV | None:
    """The first object with ``tag``, searching depth first (an object before its children).

    >>> pse = bytes.fromhex("6F26840E315041592E5359532E4444463031"
    ...                     "A5148801015F2D027A689F110101BF0C059F4D020B0A")
    >>> find(pse, 0x9F4D)
    TLV(tag=0x9F4D, value=bytes.fromhex('0B0A'))
    >>> find(pse, 0x9F38) is None
    True
    """
    for obj in _objects(tlvs):
        if obj.tag == tag:
            return obj
        if obj.constructed:
            hit = find(obj.children(), tag)
            if hit is not None:
                return hit
    return None


def to_dict(tlvs: bytes | Iterable[TLV]) -> dict[int, bytes]:
    """Map every primitive tag, at any depth, to its value; a repeated tag is an error.

    >>> gpo = bytes.fromhex("770E82027D0094080801020010010500")
    >>> {f"{t:X}": v.hex().upper() for t, v in to_dict(gpo).items()}
    {'82': '7D00', '94': '0801020010010500'}
    """
    out: dict[int, bytes] = {}

    def walk(objects: Iterable[TLV]) -> None:
        for obj in objects:
            if obj.constructed:
                walk(obj.children())
            elif obj.tag in out:
                raise TLVError(f"tag {_tag_hex(obj.tag)} occurs more than once")
            else:
                out[obj.tag] = obj.value

    walk(_objects(tlvs))
    return out


def _printable(value: bytes) -> str:
    """`` "text"`` when a value of 2+ bytes is all printable ASCII (labels, names, languages)."""
    return f' "{value.decode("ascii")}"' if len(value) >= 2 and all(0x20 <= b < 0x7F for b in value) else ""


def format_tree(tlvs: bytes | Iterable[TLV]) -> str:
    """Indented lines ``TAG LEN [VALUE]``, two spaces per level; printable values are quoted.

    >>> print(format_tree(bytes.fromhex("6F26840E315041592E5359532E4444463031"
    ...                                 "A5148801015F2D027A689F110101BF0C059F4D020B0A")))
    6F 26
      84 0E 315041592E5359532E4444463031 "1PAY.SYS.DDF01"
      A5 14
        88 01 01
        5F2D 02 7A68 "zh"
        9F11 01 01
        BF0C 05
          9F4D 02 0B0A
    """
    lines: list[str] = []

    def walk(objects: Iterable[TLV], indent: str) -> None:
        for obj in objects:
            head = f"{indent}{_tag_hex(obj.tag)} {encode_length(len(obj.value)).hex().upper()}"
            if obj.constructed:
                lines.append(head)
                walk(obj.children(), indent + "  ")
            elif obj.value:
                lines.append(f"{head} {obj.value.hex().upper()}{_printable(obj.value)}")
            else:
                lines.append(head)

    walk(_objects(tlvs), "")
    return "\n".join(lines)


# --- SIMPLE-TLV ---------------------------------------------------------------------


class _SimpleLength(Construct):
    """SIMPLE-TLV length (ISO/IEC 7816-4 §5.2.1): one byte 00-FE, or FF and two bytes.

    DGI lengths in STORE DATA (EMV CPS) use the same coding.

    >>> SimpleLength.build(0x12), SimpleLength.build(300), SimpleLength.parse(b"\\xff\\x01\\x2c")
    (b'\\x12', b'\\xff\\x01,', 300)
    """

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> int:
        first = stream_read(stream, 1, path)[0]
        return first if first != 0xFF else int.from_bytes(stream_read(stream, 2, path), "big")

    def _build(self, obj: int, stream: BinaryIO, context: Any, path: str) -> int:
        if not 0 <= obj <= 0xFFFF:
            raise IntegerError(f"SIMPLE-TLV length {obj} is not in 0..65535", path=path)
        raw = bytes((obj,)) if obj < 0xFF else b"\xff" + obj.to_bytes(2, "big")
        stream_write(stream, raw, len(raw), path)
        return obj


SimpleLength = _SimpleLength()  # construct field for a SIMPLE-TLV (or DGI) length

# One SIMPLE-TLV object; tag validity (01-FE) is checked by parse_simple / build_simple.
SimpleTLV = Struct(
    "tag" / Int8ub,
    "length" / Rebuild(SimpleLength, len_(this.value)),
    "value" / Bytes(this.length),
)


def _simple_truncated(data: bytes, pos: int) -> str:
    tag, left = data[pos], len(data) - pos - 1
    if left == 0:
        return f"tag {tag:02X} has no length byte"
    if data[pos + 1] == 0xFF:
        if left < 3:
            return f"tag {tag:02X} length field FF needs 2 more bytes ({_left(left - 1)})"
        n, left = int.from_bytes(data[pos + 2:pos + 4], "big"), left - 3
    else:
        n, left = data[pos + 1], left - 1
    return f"tag {tag:02X} length 0x{n:02X} runs past the end ({_left(left)})"


def parse_simple(data: bytes) -> list[tuple[int, bytes]]:
    """Parse concatenated SIMPLE-TLV objects, e.g. SSSE EF05 records (ssse.md §2).

    >>> parse_simple(bytes.fromhex("020133" "0304332E3030" "0709484131303436393234"))
    [(2, b'3'), (3, b'3.00'), (7, b'HA1046924')]
    >>> parse_simple(bytes.fromhex("0709484131"))
    Traceback (most recent call last):
    apdu.errors.TLVError: SIMPLE-TLV at offset 0: tag 07 length 0x09 runs past the end (3 bytes left)
    """
    data = bytes(data)
    stream = io.BytesIO(data)
    out: list[tuple[int, bytes]] = []
    while (pos := stream.tell()) < len(data):
        if data[pos] in _PADDING:
            raise TLVError(f"SIMPLE-TLV at offset {pos}: tag {data[pos]:02X} is invalid (tags are 01 to FE)")
        try:
            obj = SimpleTLV.parse_stream(stream)
        except ConstructError:
            raise TLVError(f"SIMPLE-TLV at offset {pos}: {_simple_truncated(data, pos)}") from None
        out.append((obj.tag, obj.value))
    return out


def build_simple(tag: int, value: bytes) -> bytes:
    """Encode one SIMPLE-TLV object; values of 255 bytes or more get the ``FF xx xx`` length.

    >>> build_simple(0x0A, b"2").hex().upper()
    '0A0132'
    >>> build_simple(0x00, b"")
    Traceback (most recent call last):
    apdu.errors.TLVError: SIMPLE-TLV tag 00 is invalid (tags are 01 to FE)
    """
    if not 0x01 <= tag <= 0xFE:
        raise TLVError(f"SIMPLE-TLV tag {tag:02X} is invalid (tags are 01 to FE)")
    if len(value) > 0xFFFF:
        raise TLVError(f"SIMPLE-TLV value of {len(value)} bytes exceeds 65535")
    return SimpleTLV.build({"tag": tag, "value": bytes(value)})
