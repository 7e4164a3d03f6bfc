"""Data object lists (EMV Book 3 §5.4): (tag, length) lists with no values — PDOL, CDOL1,
CDOL2, DDOL — and the data a terminal builds from them (padded by each element's format)
or a card cuts back into values. Tags are BER tags (:mod:`apdu.tlv`); malformed input
raises :class:`~apdu.errors.TLVError` naming the offset or the tag.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .errors import TLVError
from .tlv import _Malformed, _is_constructed, _read_tag, _tag_hex, encode_tag

__all__ = ["Dol", "parse_dol", "build_dol", "dol_length", "build_dol_data", "split_dol_data", "TAG_FORMAT", "FORMATS"]

FORMATS = frozenset({"n", "cn", "b", "a", "an", "ans"})
"""EMV data formats (Book 3 §4.3); DOL padding distinguishes n, cn and the rest."""

TAG_FORMAT: dict[int, str] = {
    # terminal data elements with format n (EMV Book 3 Annex A1)
    0x9F02: "n", 0x9F03: "n", 0x5F2A: "n", 0x5F36: "n", 0x5F57: "n", 0x9A: "n", 0x9C: "n", 0x9F01: "n",
    0x9F15: "n", 0x9F1A: "n", 0x9F21: "n", 0x9F35: "n", 0x9F39: "n", 0x9F3C: "n", 0x9F3D: "n", 0x9F41: "n",
    0x9F7B: "n",  # PBOC electronic-cash terminal transaction limit, n12
    # card data elements seen in DOLs
    0x5A: "cn", 0x5F34: "n", 0x5F24: "n", 0x5F25: "n", 0x5F28: "n", 0x9F42: "n",
    # alphanumeric
    0x8A: "an", 0x9F1C: "an", 0x9F1E: "an", 0x9F16: "ans", 0x9F4E: "ans",
    # binary
    0x95: "b", 0x9B: "b", 0x9F37: "b", 0x9F33: "b", 0x9F40: "b", 0x9F34: "b", 0x9F09: "b", 0x9F66: "b",
    0x9F7A: "b", 0x82: "b", 0x9F36: "b", 0x91: "b", 0x98: "b", 0x9F45: "b", 0x9F4C: "b",
}
"""Formats of common EMV/PBOC data elements; tags absent here are treated as ``b``."""

Dol = bytes | Sequence[tuple[int, int]]


def parse_dol(data: bytes) -> list[tuple[int, int]]:
    """Parse a DOL: BER tags, each followed by a one-byte length.

    >>> [(f"{t:X}", n) for t, n in parse_dol(bytes.fromhex("9F7A019F02065F2A02"))]
    [('9F7A', 1), ('9F02', 6), ('5F2A', 2)]
    >>> parse_dol(bytes.fromhex("9F7A019F02"))
    Traceback (most recent call last):
    apdu.errors.TLVError: DOL at offset 3: tag 9F02 has no length byte
    """
    data = bytes(data)
    out: list[tuple[int, int]] = []
    pos = 0
    while pos < len(data):
        try:
            tag, p = _read_tag(data, pos, len(data))
            if p >= len(data):
                raise _Malformed(f"tag {_tag_hex(tag)} has no length byte")
        except _Malformed as exc:
            raise TLVError(f"DOL at offset {pos}: {exc}") from None
        out.append((tag, data[p]))
        pos = p + 1
    return out


def _check_entry(tag: int, length: int) -> bytes:
    raw = encode_tag(tag)
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= 0xFF:
        raise TLVError(f"DOL entry {raw.hex().upper()}: length {length!r} does not fit in one byte")
    return raw


def _entries(dol: Dol) -> list[tuple[int, int]]:
    if isinstance(dol, (bytes, bytearray, memoryview)):
        return parse_dol(dol)
    entries = [(tag, length) for tag, length in dol]
    for tag, length in entries:
        _check_entry(tag, length)
    return entries


def build_dol(entries: Iterable[tuple[int, int]]) -> bytes:
    """Encode (tag, length) pairs as a DOL.

    >>> build_dol([(0x9F37, 4)]).hex().upper()
    '9F3704'
    """
    return b"".join(_check_entry(tag, length) + bytes((length,)) for tag, length in entries)


def dol_length(dol: Dol) -> int:
    """Number of data bytes the DOL asks for (CDOL1 of pboc.md §2.2: 52).

    >>> dol_length(bytes.fromhex("9F02069F03069F1A0295055F2A029A039F21039C019F37049F4E14"))
    52
    """
    return sum(length for _, length in _entries(dol))


def _fit(value: bytes, length: int, fmt: str) -> bytes:
    """Truncate or pad one value to ``length`` bytes (EMV Book 3 §5.4 c and d)."""
    if len(value) >= length:
        return value[len(value) - length:] if fmt == "n" else value[:length]
    pad = length - len(value)
    if fmt == "n":
        return bytes(pad) + value
    return value + (b"\xff" if fmt == "cn" else b"\x00") * pad


def build_dol_data(dol: Dol, values: Mapping[int, bytes], *,
                   formats: Mapping[int, str] = TAG_FORMAT) -> bytes:
    """Concatenate the values the DOL asks for, fitted by EMV Book 3 §5.4.

    Too long: format n keeps the rightmost bytes, others the leftmost. Too short: n is
    left-padded with 00, cn right-padded with FF, others right-padded with 00. Tags
    missing from ``values`` and constructed tags give zeros. ``formats`` maps tags to
    ``FORMATS``; tags it lacks count as ``b``.

    >>> ac_dol = bytes.fromhex("9F02069F03069F1A0295055F2A029A039C019F3704")
    >>> values = {0x9F02: b"\\x01", 0x9F1A: b"\\x01\\x56", 0x95: bytes.fromhex("0080046000"),
    ...           0x5F2A: b"\\x01\\x56", 0x9A: bytes.fromhex("140701"), 0x9C: b"\\x00",
    ...           0x9F37: bytes.fromhex("1E78EEBC")}
    >>> build_dol_data(ac_dol, values).hex().upper()  # pboc.md §4.3 vector B
    '000000000001000000000000015600800460000156140701001E78EEBC'
    """
    out = bytearray()
    for tag, length in _entries(dol):
        value = values.get(tag)
        if value is None or _is_constructed(tag):
            out += bytes(length)
            continue
        fmt = formats.get(tag, "b")
        if fmt not in FORMATS:
            known = ", ".join(sorted(FORMATS))
            raise TLVError(f"tag {_tag_hex(tag)}: unknown data format {fmt!r} (one of {known})")
        out += _fit(bytes(value), length, fmt)
    return bytes(out)


def split_dol_data(dol: Dol, data: bytes) -> dict[int, bytes]:
    """Cut DOL-related data (e.g. the CDOL1 data of GENERATE AC) into values by tag.

    >>> pdol = bytes.fromhex("9F7A019F02065F2A02")
    >>> values = split_dol_data(pdol, bytes.fromhex("01" "000000001000" "0156"))
    >>> {f"{t:X}": v.hex().upper() for t, v in values.items()}
    {'9F7A': '01', '9F02': '000000001000', '5F2A': '0156'}
    >>> split_dol_data(pdol, bytes(8))
    Traceback (most recent call last):
    apdu.errors.TLVError: DOL data is 8 bytes, the DOL expects 9
    """
    entries = _entries(dol)
    data = bytes(data)
    expected = sum(length for _, length in entries)
    if len(data) != expected:
        raise TLVError(f"DOL data is {len(data)} bytes, the DOL expects {expected}")
    out: dict[int, bytes] = {}
    pos = 0
    for tag, length in entries:
        if tag in out:
            raise TLVError(f"DOL lists tag {_tag_hex(tag)} twice; its data cannot be split by tag")
        out[tag] = data[pos:pos + length]
        pos += length
    return out
