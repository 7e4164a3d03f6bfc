"""Validators of single cardholder values: each parses one text value or raises
:class:`FieldError` whose message is the reason only (the caller names the row and field).

Social-security number (GB 11643): region (6 digits) ‖ birth date (8) ‖ sequence (3, odd
for men) ‖ ISO 7064 MOD 11-2 check character.

>>> ssn = parse_ssn("11010519491231002X", today=date(2025, 1, 1)); ssn.birth_date, ssn.sex
(datetime.date(1949, 12, 31), '2')
>>> parse_ssn("110105194912310025", today=date(2025, 1, 1))
Traceback (most recent call last):
personalize.validate.FieldError: check character is '5', expected 'X'
>>> parse_name("欧阳" + "娜" * 16)
('欧阳娜娜娜娜娜娜娜娜娜娜娜娜娜', '娜娜娜')
>>> parse_pan("6228481234567890128"), luhn_check_digit("622848123456789012")
('6228481234567890128', '8')
>>> parse_card_number("HA1046924"), parse_card_number("A21472424")[1]
(('HA1046924', None), "check character is '4', expected '1' (kept: real cards break V2 appendix A)")
>>> parse_month_end("2912"), parse_month_end("2028-02")
(datetime.date(2029, 12, 31), datetime.date(2028, 2, 29))
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from apdu.errors import SSCardError
from cardspec.records import FieldValueError, card_number_check, split_name, ssn_check
from cardspec.records.ssse import NAME, NAME_EXT

__all__ = ["FieldError", "Ssn", "PROVINCES", "ETHNICITIES", "PHOTO_MAX", "parse_ssn", "parse_region",
           "parse_name", "parse_sex", "parse_ethnicity", "parse_date", "parse_month_end",
           "parse_card_number", "new_card_number", "MAX_SERIAL", "parse_card_type", "parse_pan", "luhn_check_digit",
           "parse_digits", "parse_name_latin", "load_photo"]


class FieldError(SSCardError, ValueError):
    """One value that breaks its rule; the message is the reason, without the field name."""


#: GB/T 2260 province-level codes: the first 2 digits of every region code.
PROVINCES = frozenset({"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36",
                       "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62",
                       "63", "64", "65", "71", "81", "82"})
#: GB 3304 ethnicity codes: 01 (Han) to 56, 97 other, 98 foreign origin.
ETHNICITIES = frozenset({f"{n:02d}" for n in range(1, 57)} | {"97", "98"})
#: Largest photo that fits SSSE EF08 (0x1000 bytes, ssse.md §1).
PHOTO_MAX = 0x1000
#: Bytes of records 09 + 4E that hold the name (ssse.md §2).
NAME_MAX = NAME.length + NAME_EXT.length
_LATIN = re.compile(r"[A-Z0-9 ./'-]+")


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_digits(text: str, count: int) -> str:
    """Exactly ``count`` ASCII digits."""
    if len(text) != count or not _is_digits(text):
        raise FieldError(f"{text!r} is not {count} digits")
    return text


def parse_region(text: str) -> str:
    """A GB/T 2260 region code: 6 digits whose first 2 are a province code."""
    parse_digits(text, 6)
    if text[:2] not in PROVINCES:
        raise FieldError(f"{text!r}: {text[:2]} is not a province code (GB/T 2260)")
    return text


@dataclass(frozen=True)
class Ssn:
    """A checked GB 11643 number and what it encodes."""

    number: str
    birth_date: date
    sex: str  #: '1' male (odd 17th digit) or '2' female (even)


def parse_ssn(text: str, *, today: date) -> Ssn:
    """Check an 18-character citizen identity number; a lower-case 'x' is taken as 'X'."""
    s = text.upper()
    if len(s) != 18:
        raise FieldError(f"{text!r} has {len(s)} characters, not 18")
    bad = next((i for i, c in enumerate(s[:17]) if not (c.isascii() and c.isdigit())), None)
    if bad is not None:
        raise FieldError(f"character {s[bad]!r} at position {bad + 1} is not a digit")
    if s[:2] not in PROVINCES:
        raise FieldError(f"region {s[:6]}: {s[:2]} is not a province code (GB/T 2260)")
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        raise FieldError(f"birth date {s[6:14]} (positions 7-14) is not a valid date") from None
    if born > today:
        raise FieldError(f"birth date {born.isoformat()} (positions 7-14) is in the future")
    expected = ssn_check(s[:17])
    if s[17] != expected:
        raise FieldError(f"check character is {s[17]!r}, expected {expected!r}")
    return Ssn(s, born, "1" if int(s[16]) % 2 else "2")


def parse_name(text: str) -> tuple[str, str]:
    """A GBK name of at most 50 bytes, split over record 09 (30 bytes) and 4E (20 bytes)."""
    if not text:
        raise FieldError("is empty")
    for i, ch in enumerate(text):
        if not ch.isprintable():
            raise FieldError(f"control character U+{ord(ch):04X} at position {i + 1}")
        try:
            ch.encode("gbk")
        except UnicodeEncodeError:
            raise FieldError(f"character {ch!r} is not in GBK") from None
    size = len(text.encode("gbk"))
    if size > NAME_MAX:
        raise FieldError(f"is {size} bytes in GBK; records 09 and 4E hold {NAME_MAX}")
    head, tail = split_name(text)  # every character is in GBK by now
    if len(tail.encode("gbk")) > NAME_EXT.length:
        raise FieldError(f"does not split at a character boundary into {NAME.length} + {NAME_EXT.length} bytes")
    return head, tail


_SEX_WORDS = {"1": "male", "2": "female", "9": "unstated"}


def parse_sex(text: str, ssn: Ssn | None) -> str:
    """GB/T 2261.1 '1', '2' or '9'; '1'/'2' must match the SSN's 17th digit."""
    if text not in _SEX_WORDS:
        raise FieldError(f"{text!r} is not a GB/T 2261.1 code ('1' male, '2' female, '9' unstated)")
    if ssn is not None and text != "9" and text != ssn.sex:
        parity = "odd (male)" if ssn.sex == "1" else "even (female)"
        raise FieldError(f"is {text!r} ({_SEX_WORDS[text]}) but the social security number's "
                         f"17th digit {ssn.number[16]} is {parity}")
    return text


def parse_ethnicity(text: str) -> str:
    """A GB 3304 code: two digits 01-56, 97 or 98."""
    if text not in ETHNICITIES:
        raise FieldError(f"{text!r} is not a GB 3304 code (two digits 01-56, 97 other, 98 foreign origin)")
    return text


_DATE = re.compile(r"([0-9]{4})-?([0-9]{2})-?([0-9]{2})")


def parse_date(text: str) -> date:
    """A date as YYYY-MM-DD or YYYYMMDD."""
    m = _DATE.fullmatch(text)
    if m is None or text.count("-") == 1:
        raise FieldError(f"{text!r} is not a date (YYYY-MM-DD or YYYYMMDD)")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as e:
        raise FieldError(f"{text!r} is not a valid date ({e})") from None


def parse_month_end(text: str) -> date:
    """A card expiry month, YYMM or YYYY-MM, as the last day of that month (tag 5F24)."""
    m = re.fullmatch(r"([0-9]{2})([0-9]{2})|([0-9]{4})-([0-9]{2})", text)
    if m is None:
        raise FieldError(f"{text!r} is not a month (YYMM or YYYY-MM)")
    year, month = (2000 + int(m[1]), int(m[2])) if m[1] else (int(m[3]), int(m[4]))
    if not 1 <= month <= 12:
        raise FieldError(f"{text!r}: month {month:02d} is not 01-12")
    return date(year, month, calendar.monthrange(year, month)[1])


def parse_card_number(text: str) -> tuple[str, str | None]:
    """A 9-character card number and a warning when its check character is wrong.

    Real cards break the V2 appendix A check (ssse.md §2 ⚠), so that is not an error.
    """
    s = text.upper()
    if len(s) != 9:
        raise FieldError(f"{text!r} has {len(s)} characters, not 9")
    try:
        expected = card_number_check(s[:8])
    except FieldValueError as e:
        raise FieldError(str(e).replace(f"card number body {s[:8]!r}: ", "")) from None
    if not (s[8].isascii() and (s[8].isdigit() or s[8] == "X")):
        raise FieldError(f"check character {s[8]!r} is neither a digit nor X")
    if s[8] != expected:
        return s, f"check character is {s[8]!r}, expected {expected!r} (kept: real cards break V2 appendix A)"
    return s, None


MAX_SERIAL = 9_999_999  #: a card number's serial has 7 digits


def new_card_number(district_letter: str, serial: int) -> str:
    """A card number: district letter ‖ 7-digit serial ‖ check character (V2 appendix A).

    >>> new_card_number("K", 8036215)
    'K80362153'
    """
    if len(district_letter) != 1 or not ("A" <= district_letter <= "Z"):
        raise FieldError(f"district letter {district_letter!r} must be one capital letter A-Z")
    if not isinstance(serial, int) or not 0 <= serial <= MAX_SERIAL:
        raise FieldError(f"card number serial {serial!r} must be 0-9999999 (7 digits)")
    body = f"{district_letter}{serial:07d}"
    return body + card_number_check(body)


def parse_card_type(text: str) -> str:
    """Card type '1'-'4' (EF05 tag 02, V2 table 11)."""
    if text not in ("1", "2", "3", "4"):
        raise FieldError(f"{text!r} is not a card type '1'-'4'")
    return text


def luhn_check_digit(body: str) -> str:
    """The ISO/IEC 7812 (Luhn) check digit that completes ``body``."""
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def parse_pan(text: str) -> str:
    """A PAN: 16-19 digits with a valid Luhn check digit (tag 5A)."""
    if not _is_digits(text) or not 16 <= len(text) <= 19:
        raise FieldError(f"{text!r} is not 16-19 digits")
    expected = luhn_check_digit(text[:-1])
    if text[-1] != expected:
        raise FieldError(f"Luhn check digit is {text[-1]!r}, expected {expected!r}")
    return text


def parse_name_latin(text: str) -> str:
    """Cardholder name for tag 5F20: ISO 7813 characters, upper-cased, 2-26 long."""
    s = text.upper()
    if not 2 <= len(s) <= 26:
        raise FieldError(f"{text!r} has {len(s)} characters; tag 5F20 holds 2-26")
    if not _LATIN.fullmatch(s):
        bad = next(c for c in s if not _LATIN.fullmatch(c))
        raise FieldError(f"character {bad!r} is not allowed (A-Z, 0-9, space, . / ' -)")
    return s


def load_photo(path: Path) -> bytes:
    """A JPEG (SOI FFD8 ... EOI FFD9) that fits EF08."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FieldError(f"cannot read {str(path)!r} ({e.strerror})") from None
    if not data.startswith(b"\xff\xd8"):
        raise FieldError(f"{str(path)!r} is not a JPEG: it starts with {data[:2].hex(' ').upper() or 'nothing'}, "
                         f"not FF D8 (SOI)")
    if not data.endswith(b"\xff\xd9"):
        raise FieldError(f"{str(path)!r} is not a whole JPEG: it ends with {data[-2:].hex(' ').upper()}, "
                         f"not FF D9 (EOI)")
    if len(data) > PHOTO_MAX:
        raise FieldError(f"{str(path)!r} is {len(data)} bytes; EF08 holds {PHOTO_MAX} (0x{PHOTO_MAX:X})")
    return data
