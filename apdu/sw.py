"""Status words: a catalogue (ISO 7816-4, EMV, the social-security spec) and the
exception card handlers raise to answer with one.

>>> describe(0x9000)
'normal processing'
>>> describe(0x63C2)
'verification failed, 2 tries left'
>>> describe(0x6C12)
'wrong Le: 18 (0x12) bytes available'
>>> describe(0x611E)
'30 (0x1E) more bytes available (GET RESPONSE)'
>>> describe(0x9303)
'application permanently blocked'
"""
from __future__ import annotations

from enum import IntEnum


class SW(IntEnum):
    """Named status words used by sscard code (handlers raise ``SWError(SW.X)``)."""

    OK = 0x9000
    WARNING_BLOCKED_SELECTED = 0x6283
    EOF_REACHED = 0x6282
    VERIFY_FAILED = 0x6300
    MEMORY_FAILURE = 0x6581
    WRONG_LENGTH = 0x6700
    LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881
    SM_NOT_SUPPORTED = 0x6882
    LAST_COMMAND_EXPECTED = 0x6883
    CHAINING_NOT_SUPPORTED = 0x6884
    INVALID_STATE = 0x6901
    COMMAND_INCOMPATIBLE = 0x6981
    SECURITY_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_INVALID = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    NO_CURRENT_EF = 0x6986
    SM_DATA_MISSING = 0x6987
    SM_DATA_INCORRECT = 0x6988
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    NOT_ENOUGH_SPACE = 0x6A84
    LC_INCONSISTENT_WITH_TLV = 0x6A85
    INCORRECT_P1P2 = 0x6A86
    LC_INCONSISTENT_WITH_P1P2 = 0x6A87
    REFERENCE_NOT_FOUND = 0x6A88
    FILE_EXISTS = 0x6A89
    DF_NAME_EXISTS = 0x6A8A
    WRONG_P1P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    UNKNOWN = 0x6F00
    MAC_INVALID = 0x9302
    APP_PERMANENTLY_BLOCKED = 0x9303
    PURSE_INSUFFICIENT_FUNDS = 0x9401
    PURSE_COUNTER_MAX = 0x9402
    PURSE_KEY_INDEX_UNSUPPORTED = 0x9403
    PURSE_MAC_UNAVAILABLE = 0x9406


class SWError(Exception):
    """Raised inside a card to answer with a status word (and optional data).

    The card runtime turns it into an R-APDU; it never reaches the host.
    """

    def __init__(self, sw: int, data: bytes = b"") -> None:
        super().__init__(f"{sw:04X} {describe(sw)}")
        self.sw = int(sw)
        self.data = data


_EXACT: dict[int, str] = {
    0x9000: "normal processing",
    0x6200: "warning: state of non-volatile memory unchanged",
    0x6281: "warning: part of returned data may be corrupted",
    0x6282: "warning: end of file or record reached before Le bytes",
    0x6283: "warning: selected file or application blocked",
    0x6284: "warning: FCI not formatted per ISO 7816-4",
    0x6300: "verification failed (no counter)",
    0x6381: "warning: file filled up by the last write",
    0x6400: "execution error: state of non-volatile memory unchanged",
    0x6500: "execution error: state of non-volatile memory changed",
    0x6581: "memory failure",
    0x6700: "wrong length (Lc or Le)",
    0x6800: "functions in CLA not supported",
    0x6881: "logical channel not supported",
    0x6882: "secure messaging not supported",
    0x6883: "last command of the chain expected",
    0x6884: "command chaining not supported",
    0x6900: "command not allowed",
    0x6901: "command not accepted (invalid state)",
    0x6981: "command incompatible with file structure",
    0x6982: "security status not satisfied",
    0x6983: "authentication method blocked",
    0x6984: "reference data not usable (or random invalid)",
    0x6985: "conditions of use not satisfied",
    0x6986: "command not allowed (no current EF)",
    0x6987: "expected secure messaging data objects missing",
    0x6988: "incorrect secure messaging data objects (MAC wrong)",
    0x6A80: "incorrect parameters in the data field",
    0x6A81: "function not supported (or card blocked)",
    0x6A82: "file or application not found",
    0x6A83: "record not found",
    0x6A84: "not enough memory space in the file",
    0x6A85: "Lc inconsistent with TLV structure",
    0x6A86: "incorrect parameters P1-P2",
    0x6A87: "Lc inconsistent with P1-P2",
    0x6A88: "referenced data (key) not found",
    0x6A89: "file already exists",
    0x6A8A: "DF name already exists",
    0x6B00: "wrong parameters P1-P2 (offset outside the EF)",
    0x6D00: "instruction code not supported or invalid",
    0x6E00: "class not supported",
    0x6F00: "no precise diagnosis",
    # social-security specification (S5 table 5)
    0x9302: "MAC invalid",
    0x9303: "application permanently blocked",
    0x9401: "medical purse: insufficient funds",
    0x9402: "medical purse: transaction counter at maximum",
    0x9403: "medical purse: key index not supported",
    0x9406: "medical purse: MAC not available",
}


def describe(sw: int) -> str:
    """A short meaning for any status word, with counts decoded for 61xx/63Cx/6Cxx."""
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw in _EXACT:
        return _EXACT[sw]
    if sw1 == 0x61:
        return f"{sw2} (0x{sw2:02X}) more bytes available (GET RESPONSE)"
    if sw1 == 0x6C:
        return f"wrong Le: {sw2} (0x{sw2:02X}) bytes available"
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        n = sw2 & 0x0F
        return f"verification failed, {n} {'try' if n == 1 else 'tries'} left"
    if sw1 == 0x62:
        return "warning: state of non-volatile memory unchanged"
    if sw1 == 0x63:
        return "warning: state of non-volatile memory changed"
    if sw1 == 0x64:
        return "execution error: state of non-volatile memory unchanged"
    if sw1 == 0x65:
        return "execution error: state of non-volatile memory changed"
    if sw1 == 0x67:
        return "wrong length"
    if sw1 == 0x68:
        return "functions in CLA not supported"
    if sw1 == 0x69:
        return "command not allowed"
    if sw1 == 0x6A:
        return "wrong parameters P1-P2"
    if sw1 == 0x90:
        return "normal processing (proprietary SW2)"
    return "unknown status word"


def is_success(sw: int) -> bool:
    """True for 9000, 61xx and 9Fxx-style successes."""
    return sw == 0x9000 or sw >> 8 in (0x61, 0x9F)


def format_sw(sw: int) -> str:
    """``'6A82 file or application not found'``."""
    return f"{sw:04X} {describe(sw)}"
