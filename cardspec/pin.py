"""The social-security PIN as the card carries it (S5 §6.14): packed BCD, the last nibble
F-padded when the number of digits is odd. Shared by the card (VERIFY, SET PIN) and the
host (SET PIN during pre-personalization, VERIFY when checking a card).

>>> encode_pin("123456").hex().upper(), encode_pin("12345").hex().upper()
('123456', '12345F')
>>> [pin_wellformed(bytes.fromhex(h)) for h in ("123456", "12345F", "12F456", "1A3456", "FF")]
[True, True, False, False, False]
>>> encode_pin("12a4")
Traceback (most recent call last):
cardspec.pin.PinFormatError: PIN of 4 characters: a PIN is one or more decimal digits
"""
from __future__ import annotations

from apdu.errors import SSCardError

__all__ = ["PinFormatError", "encode_pin", "pin_wellformed"]


class PinFormatError(SSCardError, ValueError):
    """PIN digits that cannot be stored (not decimal, or empty); never shows the digits."""


def encode_pin(digits: str) -> bytes:
    """A PIN as VERIFY carries it: packed BCD, the last nibble F-padded when the count is odd (S5 §6.14)."""
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise PinFormatError(f"PIN of {len(digits)} characters: a PIN is one or more decimal digits")
    return bytes.fromhex(digits + "F" * (len(digits) % 2))


def pin_wellformed(value: bytes) -> bool:
    """Packed BCD with at least one digit, where only the very last nibble may be F."""
    nibbles = value.hex().upper()
    body = nibbles[:-1] if nibbles.endswith("F") else nibbles
    return bool(body) and body.isdigit()
