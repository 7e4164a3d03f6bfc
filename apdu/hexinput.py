"""Forgiving hex input, as engineers type it.

Accepted: ``00A4 0400``, ``00:A4:04:00``, ``0x00 0xA4``, ``00-a4``, tabs and
newlines. Every token must hold whole bytes; the error names the position (1-based
column) of the first bad character.

>>> parse_hex("00A4 0400")
b'\\x00\\xa4\\x04\\x00'
>>> parse_hex("00:A4:04:00") == parse_hex("0x00 0xA4 0x04 0x00") == bytes.fromhex("00a40400")
True
>>> parse_hex("00A4 04G0")
Traceback (most recent call last):
apdu.errors.HexError: bad hex character 'G' at position 8 in '00A4 04G0'
"""
from __future__ import annotations

from .errors import HexError

_SEPARATORS = " \t\r\n:-,;"
_HEXDIGITS = "0123456789abcdefABCDEF"


def parse_hex(text: str, *, what: str = "") -> bytes:
    """Parse forgiving hex text into bytes; raise :class:`HexError` with the position."""
    label = f"{what}: " if what else ""
    digits: list[str] = []
    i, n = 0, len(text)
    token_start_digits = 0
    while i < n:
        ch = text[i]
        if ch in _SEPARATORS:
            if (len(digits) - token_start_digits) % 2:
                raise HexError(f"{label}odd number of hex digits before position {i + 1} in {text!r}")
            token_start_digits = len(digits)
            i += 1
            continue
        if ch == "0" and i + 1 < n and text[i + 1] in "xX" and (i == 0 or text[i - 1] in _SEPARATORS):
            if (len(digits) - token_start_digits) % 2:
                raise HexError(f"{label}odd number of hex digits before position {i + 1} in {text!r}")
            token_start_digits = len(digits)
            i += 2
            if i >= n or text[i] not in _HEXDIGITS:
                raise HexError(f"{label}'0x' without digits at position {i - 1} in {text!r}")
            continue
        if ch not in _HEXDIGITS:
            raise HexError(f"{label}bad hex character {ch!r} at position {i + 1} in {text!r}")
        digits.append(ch)
        i += 1
    if len(digits) % 2:
        raise HexError(f"{label}odd number of hex digits ({len(digits)}) in {text!r}")
    return bytes.fromhex("".join(digits))


def parse_hex_args(parts: tuple[str, ...] | list[str], *, what: str = "") -> bytes:
    """Join command-line words (``sscard apdu 00A4 0400 ...``) and parse them."""
    return parse_hex(" ".join(parts), what=what)


def to_hex(data: bytes, sep: str = "") -> str:
    """Upper-case hex, the one output form used at the edges.

    >>> to_hex(b"\\x00\\xa4", " ")
    '00 A4'
    """
    return data.hex(sep).upper() if sep else data.hex().upper()
