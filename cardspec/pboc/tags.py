"""Data elements of the financial (PBOC debit) application: names, formats, lengths.

The tags of pboc.md §1-§5 (EMV 4.3 Book 3 Annex A; JR/T 0025 for the 9F5x-9F7x
PBOC elements), declared once. Formats are EMV's: ``b`` binary, ``n`` packed BCD
right-aligned, ``cn`` packed BCD left-aligned and F-padded, ``an``/``ans`` text,
``t`` a template (constructed), ``dol`` a data object list, ``var`` issuer-defined.

>>> TAGS[0x9F36].name, TAGS[0x9F36].lengths
('Application Transaction Counter (ATC)', (2, 2))
>>> tag_name(0x9F79), tag_name(0xDF7F)
('Electronic Cash Balance', 'tag DF7F')
>>> check_value(0x9F02, bytes(6)).hex()
'000000000000'
>>> check_value(0x9F36, b"\\x01")
Traceback (most recent call last):
cardspec.pboc.tags.PbocDataError: tag 9F36 (Application Transaction Counter (ATC)): 1 byte, must be 2
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

from apdu.errors import SSCardError

__all__ = ["PbocDataError", "TagInfo", "TAGS", "tag_name", "check_value", "Format", "GET_DATA_TAGS", "EC_TAGS",
           "PUT_DATA_TAGS"]

Format = Literal["b", "n", "cn", "an", "ans", "t", "dol", "var"]


class PbocDataError(SSCardError, ValueError):
    """Financial-zone data that cannot be on a card: a value of the wrong length or
    format, a DGI the application does not know, a record that is not a 70 template."""


@dataclass(frozen=True)
class TagInfo:
    """One data element: EMV name, format and the allowed value lengths in bytes."""

    tag: int
    name: str
    format: Format
    lengths: tuple[int, int]  #: (minimum, maximum) value length in bytes


def _t(tag: int, name: str, fmt: Format, lo: int, hi: int | None = None) -> TagInfo:
    return TagInfo(tag, name, fmt, (lo, lo if hi is None else hi))


_TABLE = (
    # selection (pboc.md §1)
    _t(0x4F, "Application Identifier (AID)", "b", 5, 16),
    _t(0x50, "Application Label", "ans", 1, 16),
    _t(0x61, "Application Template", "t", 0, 252),
    _t(0x6F, "File Control Information (FCI) Template", "t", 0, 252),
    _t(0x84, "Dedicated File (DF) Name", "b", 5, 16),
    _t(0x87, "Application Priority Indicator", "b", 1),
    _t(0x88, "Short File Identifier (SFI)", "b", 1),
    _t(0xA5, "FCI Proprietary Template", "t", 0, 252),
    _t(0xBF0C, "FCI Issuer Discretionary Data", "t", 0, 222),
    _t(0x5F2D, "Language Preference", "an", 2, 8),
    _t(0x9F11, "Issuer Code Table Index", "n", 1),
    _t(0x9F12, "Application Preferred Name", "ans", 1, 16),
    _t(0x9F38, "Processing Options Data Object List (PDOL)", "dol", 0, 252),
    _t(0x9F4D, "Log Entry", "b", 2),
    _t(0xDF4D, "Load Log Entry", "b", 2),
    # GPO and records (§2)
    _t(0x70, "READ RECORD Response Message Template", "t", 0, 252),
    _t(0x77, "Response Message Template Format 2", "t", 0, 252),
    _t(0x80, "Response Message Template Format 1", "var", 0, 252),
    _t(0x82, "Application Interchange Profile (AIP)", "b", 2),
    _t(0x83, "Command Template", "var", 0, 252),
    _t(0x94, "Application File Locator (AFL)", "var", 4, 252),
    _t(0x57, "Track 2 Equivalent Data", "b", 1, 19),
    _t(0x5A, "Application PAN", "cn", 1, 10),
    _t(0x5F20, "Cardholder Name", "ans", 2, 26),
    _t(0x9F0B, "Cardholder Name Extended", "ans", 27, 45),
    _t(0x9F61, "Cardholder ID Number", "an", 1, 40),
    _t(0x9F62, "Cardholder ID Type", "cn", 1),
    _t(0x5F24, "Application Expiration Date", "n", 3),
    _t(0x5F25, "Application Effective Date", "n", 3),
    _t(0x5F28, "Issuer Country Code", "n", 2),
    _t(0x5F30, "Service Code", "n", 2),
    _t(0x5F34, "PAN Sequence Number", "n", 1),
    _t(0x8C, "CDOL1", "dol", 0, 252),
    _t(0x8D, "CDOL2", "dol", 0, 252),
    _t(0x8E, "Cardholder Verification Method (CVM) List", "b", 10, 252),
    _t(0x9F07, "Application Usage Control", "b", 2),
    _t(0x9F08, "Application Version Number", "b", 2),
    _t(0x9F0D, "Issuer Action Code - Default", "b", 5),
    _t(0x9F0E, "Issuer Action Code - Denial", "b", 5),
    _t(0x9F0F, "Issuer Action Code - Online", "b", 5),
    _t(0x9F42, "Application Currency Code", "n", 2),
    _t(0x9F4A, "Static Data Authentication Tag List", "var", 0, 252),
    # offline data authentication (§4.5)
    _t(0x8F, "Certification Authority Public Key Index", "b", 1),
    _t(0x90, "Issuer Public Key Certificate", "b", 1, 248),
    _t(0x92, "Issuer Public Key Remainder", "b", 1, 248),
    _t(0x93, "Signed Static Application Data", "b", 1, 248),
    _t(0x9F32, "Issuer Public Key Exponent", "b", 1, 3),
    _t(0x9F45, "Data Authentication Code", "b", 2),
    _t(0x9F46, "ICC Public Key Certificate", "b", 1, 248),
    _t(0x9F47, "ICC Public Key Exponent", "b", 1, 3),
    _t(0x9F48, "ICC Public Key Remainder", "b", 1, 248),
    _t(0x9F49, "Dynamic Data Authentication Data Object List (DDOL)", "dol", 0, 252),
    # internal data, GET DATA (§3.1, DGIs 0D01/0E01)
    _t(0x9F13, "Last Online ATC Register", "b", 2),
    _t(0x9F17, "PIN Try Counter", "b", 1),
    _t(0x9F36, "Application Transaction Counter (ATC)", "b", 2),
    _t(0x9F4F, "Log Format", "dol", 0, 252),
    _t(0xDF4F, "Load Log Format", "dol", 0, 252),
    _t(0x9F51, "Application Currency Code (PBOC)", "n", 2),
    _t(0x9F52, "Application Default Action (ADA)", "b", 2),
    _t(0x9F53, "Consecutive Transaction Limit (International)", "b", 1),
    _t(0x9F54, "Cumulative Total Transaction Amount Limit", "n", 6),
    _t(0x9F56, "Issuer Authentication Indicator", "b", 1),
    _t(0x9F58, "Lower Consecutive Offline Limit", "b", 1),
    _t(0x9F59, "Upper Consecutive Offline Limit", "b", 1),
    _t(0x9F5C, "Cumulative Total Transaction Amount Upper Limit", "n", 6),
    _t(0x9F5D, "Available Offline Spending Amount", "n", 6),
    # electronic cash (§5)
    _t(0x9F6D, "Electronic Cash Reset Threshold", "n", 6),
    _t(0x9F74, "Electronic Cash Issuer Authorization Code", "an", 6),
    _t(0x9F77, "Electronic Cash Balance Limit", "n", 6),
    _t(0x9F78, "Electronic Cash Single Transaction Limit", "n", 6),
    _t(0x9F79, "Electronic Cash Balance", "n", 6),
    _t(0x9F7A, "Electronic Cash Terminal Support Indicator", "b", 1),
    _t(0x9F7B, "Electronic Cash Terminal Transaction Limit", "n", 6),
    # terminal data and GENERATE AC (§4)
    _t(0x8A, "Authorisation Response Code", "an", 2),
    _t(0x91, "Issuer Authentication Data", "b", 8, 16),
    _t(0x95, "Terminal Verification Results", "b", 5),
    _t(0x9A, "Transaction Date", "n", 3),
    _t(0x9C, "Transaction Type", "n", 1),
    _t(0x5F2A, "Transaction Currency Code", "n", 2),
    _t(0x9F02, "Amount, Authorised", "n", 6),
    _t(0x9F03, "Amount, Other", "n", 6),
    _t(0x9F10, "Issuer Application Data", "b", 1, 32),
    _t(0x9F1A, "Terminal Country Code", "n", 2),
    _t(0x9F21, "Transaction Time", "n", 3),
    _t(0x9F26, "Application Cryptogram", "b", 8),
    _t(0x9F27, "Cryptogram Information Data", "b", 1),
    _t(0x9F37, "Unpredictable Number", "b", 4),
    _t(0x9F4E, "Merchant Name and Location", "ans", 1, 20),
    # issuer scripts (§3.3)
    _t(0x71, "Issuer Script Template 1", "t", 0, 252),
    _t(0x72, "Issuer Script Template 2", "t", 0, 252),
)

#: Every data element of the financial zone by tag.
TAGS: Mapping[int, TagInfo] = {info.tag: info for info in _TABLE}


#: Tags GET DATA answers when the card holds them (pboc.md §3.1): the counters, the log
#: formats, the offline risk-management limits of DGI 0D01 and the electronic-cash data.
GET_DATA_TAGS = frozenset({0x9F36, 0x9F13, 0x9F17, 0x9F4F, 0xDF4F, 0x9F51, 0x9F53, 0x9F54, 0x9F58, 0x9F59,
                           0x9F5C, 0x9F5D, 0x9F6D, 0x9F77, 0x9F78, 0x9F79})
#: Electronic-cash data: only a card with EC enabled answers them (pboc.md §5).
EC_TAGS = frozenset({0x9F5D, 0x9F6D, 0x9F77, 0x9F78, 0x9F79, 0xDF4F})
#: PUT DATA (issuer script ``04DA``) targets: the internal data, not the counters or formats.
PUT_DATA_TAGS = GET_DATA_TAGS - {0x9F36, 0x9F13, 0x9F17, 0x9F4F, 0xDF4F}


def tag_name(tag: int) -> str:
    """The EMV/PBOC name of ``tag``, or ``'tag XXXX'`` when it is not in :data:`TAGS`."""
    info = TAGS.get(tag)
    return info.name if info is not None else f"tag {tag:02X}"


def _nibbles_ok(fmt: Format, value: bytes) -> bool:
    digits = value.hex().upper()
    if fmt == "n":
        return digits.isdigit()
    if fmt == "cn":
        body = digits.rstrip("F")
        return body.isdigit() or not body
    if fmt in ("an", "ans"):
        return all(0x20 <= b < 0x7F for b in value)
    return True


def check_value(tag: int, value: bytes) -> bytes:
    """Return ``value`` if its length and format suit ``tag`` (unknown tags pass);
    otherwise raise :class:`PbocDataError` naming the tag and the problem."""
    info = TAGS.get(tag)
    if info is None:
        return value
    lo, hi = info.lengths
    if not lo <= len(value) <= hi:
        need = f"{lo}" if lo == hi else f"{lo}-{hi}"
        unit = "byte" if len(value) == 1 else "bytes"
        raise PbocDataError(f"tag {tag:02X} ({info.name}): {len(value)} {unit}, must be {need}")
    if not _nibbles_ok(info.format, value):
        raise PbocDataError(f"tag {tag:02X} ({info.name}): {value.hex().upper()} is not format {info.format}")
    return value
