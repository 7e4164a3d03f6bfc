"""Check characters: the card number (V2 appendix A) and the GB 11643 social security number.

Card number: 8 body characters (a capital letter for the district, then letters or
digits) and a check character. Letters count A=10 ... Z=35; with weights 3 7 9 10 5 8 4 2,
C9 = 11 - (sum mod 11), written 'X' for 10 and '0' for 11.

>>> [card_number_valid(n) for n in ("B00000131", "X00000019", "HA1046924", "ET000077X")]
[True, True, True, True]

Real cards do not all follow it (ssse.md §2 ⚠), so never reject a card on it:

>>> card_number_valid("A21472424"), card_number_valid("AI666666X")
(False, False)
>>> card_number_check("HA104692"), card_number_check("ET000077")
('4', 'X')
>>> card_number_check("1A104692")
Traceback (most recent call last):
cardspec.records.errors.FieldValueError: card number body '1A104692': the first character must be a capital letter
>>> ssn_valid("11010519491231002X"), ssn_valid("110105194912310021")
(True, False)
"""
from __future__ import annotations

from .errors import FieldValueError

__all__ = ["card_number_check", "card_number_valid", "ssn_check", "ssn_valid"]

_CARD_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # index = value (A=10 ... Z=35)
_SSN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_SSN_CHECK = "10X98765432"  # indexed by sum mod 11 (GB 11643-1999, ISO 7064 MOD 11-2)


def card_number_check(body8: str) -> str:
    """The check character of an 8-character card-number body."""
    if len(body8) != 8:
        raise FieldValueError(f"card number body {body8!r} has {len(body8)} characters, not 8")
    if not ("A" <= body8[0] <= "Z"):
        raise FieldValueError(f"card number body {body8!r}: the first character must be a capital letter")
    bad = [c for c in body8 if c not in _ALNUM]
    if bad:
        raise FieldValueError(f"card number body {body8!r}: {bad[0]!r} is neither a digit nor a capital letter")
    total = sum(_ALNUM.index(c) * w for c, w in zip(body8, _CARD_WEIGHTS))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def card_number_valid(number9: str) -> bool:
    """True when ``number9`` is a well-formed card number with the right check character."""
    if len(number9) != 9:
        return False
    try:
        return card_number_check(number9[:8]) == number9[8]
    except FieldValueError:
        return False


def ssn_check(body17: str) -> str:
    """The GB 11643 check character of a 17-digit body."""
    if len(body17) != 17 or not (body17.isascii() and body17.isdigit()):
        raise FieldValueError(f"social security number body {body17!r} must be 17 digits")
    return _SSN_CHECK[sum(int(c) * w for c, w in zip(body17, _SSN_WEIGHTS)) % 11]


def ssn_valid(ssn18: str) -> bool:
    """True when ``ssn18`` is 17 digits plus the right check character (upper-case X)."""
    if len(ssn18) != 18:
        return False
    try:
        return ssn_check(ssn18[:17]) == ssn18[17]
    except FieldValueError:
        return False
