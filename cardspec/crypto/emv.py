"""Financial-zone (PBOC 2.0/3.0 debit/credit, 3DES) cryptography, shared by card and host.

Sources (tags of docs pboc.md §8): EMV 4.3 Book 2 Annex A1.4.1 (UDK, Option A), Annex A1.2
(ISO/IEC 9797-1 MAC algorithm 3), §8.2.1 (ARPC method 1), §9.2 (issuer scripts); EMV 4.3
Book 3 §6.5.12 (VERIFY, PIN block format 2); JR/T 0025 as read in pboc.md §0, §3.3, §4.2.

The PBOC session key is **not** the EMV common session key (Book 2 A1.3):
SK = 3DES_UDK(``000000000000``‖ATC) ‖ 3DES_UDK(``000000000000``‖(ATC⊕``FFFF``)), for the
AC, MAC and ENC keys alike, each from its own UDK (pboc.md §0, verified on vectors A/B).

A complete online authorisation, pboc.md §4.3 vector B (IMK, PAN ``6228000100001``, PSN 01):

>>> imk = bytes.fromhex("F0C34A8124CEE0A91A0B034AA97D6EAC")
>>> sk = pboc_session_key(derive_udk_option_a(imk, "6228000100001", "01"), bytes.fromhex("0240"))
>>> cdol = {0x9F02: bytes.fromhex("000000000001"), 0x9F03: bytes(6), 0x9F1A: bytes.fromhex("0156"),
...         0x95: bytes.fromhex("0080046000"), 0x5F2A: bytes.fromhex("0156"),
...         0x9A: bytes.fromhex("140701"), 0x9C: b"\\x00", 0x9F37: bytes.fromhex("1E78EEBC")}
>>> arqc = generate_ac(sk, ac_input(cdol, aip=bytes.fromhex("7D00"), atc=bytes.fromhex("0240"),
...                                 cvr=bytes.fromhex("03A04002")))
>>> arqc.hex().upper(), arpc_method1(sk, arqc, b"01").hex().upper()
('5D016C91005E7CC2', '21415243527CE78F')
"""
from __future__ import annotations

import hmac
from collections.abc import Mapping

from cardspec.crypto import CryptoError
from cardspec.crypto.blockcipher import (
    Algorithm,
    check_bytes,
    check_length,
    kcv,
    mac_iso9797_1_alg3,
    pad_80,
    tdes_decrypt,
    tdes_encrypt,
    unpad_80,
)

KEY_SIZE = 16
"""IMK, UDK and session keys are double-length 3DES keys."""

AC_TAGS: tuple[int, ...] = (0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37)
"""Terminal data elements of the AC input, in order (pboc.md §4.2 step 3); the CDOL may
carry more (9F21, 9F4E…), which do not enter the MAC."""

AC_TAG_LENGTHS: Mapping[int, int] = {
    0x9F02: 6, 0x9F03: 6, 0x9F1A: 2, 0x95: 5, 0x5F2A: 2, 0x9A: 3, 0x9C: 1, 0x9F37: 4,
}
"""Value length of each :data:`AC_TAGS` element (EMV Book 3 Annex A): 29 bytes in all."""

SCRIPT_MAC_SIZE = 4
"""Issuer-script MAC length (pboc.md §3.3)."""

PIN_BLOCK_SIZE = 8


def _key(what: str, key: bytes) -> bytes:
    return check_length(what, key, (KEY_SIZE,))


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


def _odd_parity(key: bytes) -> bytes:
    """Set each byte's low bit so the byte has an odd number of 1 bits (DES key parity)."""
    return bytes((b & 0xFE) | (bin(b >> 1).count("1") + 1) % 2 for b in key)


def _digits(what: str, value: str, lengths: range) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() \
            or len(value) not in lengths:
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        count = f"{lengths.start}" if len(lengths) == 1 else f"{lengths.start}-{lengths.stop - 1}"
        raise CryptoError(f"{what} must be {count} decimal digits, got {shown}")
    return value


# --- keys ---------------------------------------------------------------------------------

def derive_udk_option_a(imk: bytes, pan: str, psn: str = "00") -> bytes:
    """ICC master key (UDK) from an issuer master key, EMV Book 2 Annex A1.4.1 Option A.

    Y = the rightmost 16 digits of PAN‖PSN, left-padded with ``0`` to 16 when shorter,
    as 8 BCD bytes; UDK = 3DES_IMK(Y) ‖ 3DES_IMK(Y⊕``FF``×8), odd parity adjusted.
    ``pan`` is the digits of tag 5A without its ``F`` padding; ``psn`` is tag 5F34 (2 digits).

    >>> imk = bytes.fromhex("F0C34A8124CEE0A91A0B034AA97D6EAC")   # pboc.md §4.3 vector B
    >>> derive_udk_option_a(imk, "6228000100001", "01").hex().upper()
    '014C986ECD8F49157CC8B59E3BCDFD98'
    >>> derive_udk_option_a(imk, "6228000100001F")
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: PAN must be 1-19 decimal digits, got '6228000100001F'
    """
    _key("IMK", imk)
    y = bytes.fromhex((_digits("PAN", pan, range(1, 20)) + _digits("PSN", psn, range(2, 3)))[-16:].zfill(16))
    return _odd_parity(tdes_encrypt(imk, y + _xor(y, b"\xFF" * 8)))


def pboc_session_key(udk: bytes, atc: bytes) -> bytes:
    """PBOC session key: 3DES_UDK(``00``×6‖ATC) ‖ 3DES_UDK(``00``×6‖ATC⊕``FFFF``), no parity change.

    pboc.md §4.3 vector A (UDK-AC, ATC 000E) and the MAC-key example of §3.3 (ATC 0001):

    >>> H = bytes.fromhex
    >>> pboc_session_key(H("0D2E3CB0BC1F9E03AED58F663A2F9679"), H("000E")).hex().upper()
    'C3D3F062E9992B4E923D338D66193526'
    >>> pboc_session_key(H("40BF52BFD9AD67456B078A19011A1391"), H("0001")).hex().upper()
    '85FF218BB721253B726B8F8BFFA4326E'
    """
    _key("UDK", udk)
    atc = check_length("ATC", atc, (2,))
    return tdes_encrypt(udk, bytes(6) + atc + bytes(6) + _xor(atc, b"\xFF\xFF"))


def udk_kcvs(udk_ac: bytes, udk_mac: bytes, udk_enc: bytes) -> bytes:
    """DGI 9000: the 3-byte check values of the three UDKs of DGI 8000, in the same order.

    >>> udk_kcvs(*[bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")] * 3).hex().upper()
    '08D7B408D7B408D7B4'
    """
    return b"".join(kcv(Algorithm.TDES, _key(name, k))
                    for name, k in (("UDK-AC", udk_ac), ("UDK-MAC", udk_mac), ("UDK-ENC", udk_enc)))


# --- application cryptogram and issuer authentication ------------------------------------

def ac_input(values: Mapping[int, bytes], aip: bytes, atc: bytes, cvr: bytes) -> bytes:
    """AC input: the :data:`AC_TAGS` values in order, then AIP(82) ‖ ATC(9F36) ‖ CVR (4 bytes).

    ``values`` maps tag numbers to values (e.g. the parsed CDOL1/CDOL2 data; extra tags are
    ignored). ``cvr`` is IAD bytes 4-7, see :func:`cvr_from_iad`.

    >>> ac_input({}, bytes(2), bytes(2), bytes.fromhex("03000000"))
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: AC input: tag 9F02 is missing
    """
    parts = []
    for tag in AC_TAGS:
        if tag not in values:
            raise CryptoError(f"AC input: tag {tag:02X} is missing")
        parts.append(check_length(f"AC input tag {tag:02X}", values[tag], (AC_TAG_LENGTHS[tag],)))
    cvr = check_length("CVR", cvr, (4,))
    if cvr[0] != 0x03:
        raise CryptoError(f"CVR must start with its length 03, got {cvr[0]:02X}")
    parts += [check_length("AIP", aip, (2,)), check_length("ATC", atc, (2,)), cvr]
    return b"".join(parts)


def cvr_from_iad(iad: bytes) -> bytes:
    """The 4-byte CVR inside the IAD (9F10) value: bytes 4-7 after ``07 DKI CVN`` (pboc.md §4.1).

    >>> cvr_from_iad(bytes.fromhex("07020103A4B904010A010000000000" "1BFC423C")).hex().upper()
    '03A4B904'
    """
    iad = check_bytes("IAD", iad)
    if len(iad) < 8 or iad[0] != 0x07:
        first = iad[:1].hex().upper() or "nothing"
        raise CryptoError(f"IAD must start with length 07 and hold at least 8 bytes, got {first}"
                          f" and {len(iad)} bytes")
    return iad[3:7]


def generate_ac(sk: bytes, data: bytes) -> bytes:
    """Application cryptogram (ARQC/TC/AAC): ISO/IEC 9797-1 MAC alg. 3, padding 2, IV zero.

    pboc.md §4.3 vector A (ATC 000E, AIP 7C00, CVR 03A4B904):

    >>> sk = bytes.fromhex("C3D3F062E9992B4E923D338D66193526")
    >>> data = bytes.fromhex("0000000012340000000000340156D86004A80001561205160101010101" "7C00000E03A4B904")
    >>> generate_ac(sk, data).hex().upper()
    'F294D7022FA9B058'
    """
    return mac_iso9797_1_alg3(_key("AC session key", sk), check_bytes("AC input", data))


def verify_ac(sk: bytes, data: bytes, ac: bytes) -> bool:
    """Constant-time check of a received 8-byte cryptogram against :func:`generate_ac`."""
    return hmac.compare_digest(generate_ac(sk, data), check_length("AC", ac, (8,)))


def arpc_method1(sk: bytes, arqc: bytes, arc: bytes) -> bytes:
    """ARPC method 1 (EMV Book 2 §8.2.1): 3DES_SK(ARQC ⊕ (ARC ‖ ``00``×6)).

    ``arc`` is the 2-byte authorisation response code (tag 8A), i.e. 2 ASCII characters:
    ``b"00"`` is ``3030``. Vector A, ARC "00" (pboc.md §4.3):

    >>> sk = bytes.fromhex("C3D3F062E9992B4E923D338D66193526")
    >>> arpc_method1(sk, bytes.fromhex("F294D7022FA9B058"), b"00").hex().upper()
    '3846EEB4C8D34271'
    """
    arqc = check_length("ARQC", arqc, (8,))
    arc = check_length("ARC", arc, (2,))
    return tdes_encrypt(_key("AC session key", sk), _xor(arqc, arc + bytes(6)))


def verify_arpc(sk: bytes, arqc: bytes, arc: bytes, arpc: bytes) -> bool:
    """Card side of EXTERNAL AUTHENTICATE ``0082 0000 0A ARPC‖ARC``: constant-time ARPC check."""
    return hmac.compare_digest(arpc_method1(sk, arqc, arc), check_length("ARPC", arpc, (8,)))


# --- issuer scripts -------------------------------------------------------------------------

def _script_header(header_lc: bytes, data: bytes) -> bytes:
    header_lc = check_length("script header CLA INS P1 P2 Lc", header_lc, (5,))
    if header_lc[4] != len(data) + SCRIPT_MAC_SIZE:
        raise CryptoError(f"script Lc={header_lc[4]:02X} must count the {len(data)} data bytes"
                          f" plus the {SCRIPT_MAC_SIZE}-byte MAC ({len(data) + SCRIPT_MAC_SIZE:02X})")
    return header_lc


def script_mac(sk_mac: bytes, header_lc: bytes, atc: bytes, arqc: bytes, data: bytes = b"") -> bytes:
    """4-byte issuer-script MAC (EMV Book 2 §9.2.3, pboc.md §3.3).

    ISO/IEC 9797-1 alg. 3 over CLA INS P1 P2 Lc ‖ ATC ‖ ARQC ‖ data, padding 2, IV zero,
    leftmost 4 bytes. Lc counts the MAC; ``data`` is what is sent (enciphered, if it is).

    >>> sk = bytes.fromhex("85FF218BB721253B726B8F8BFFA4326E")
    >>> len(script_mac(sk, bytes.fromhex("841E000004"), bytes.fromhex("0001"), bytes(8)))
    4
    >>> script_mac(sk, bytes.fromhex("841E000008"), bytes.fromhex("0001"), bytes(8))
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: script Lc=08 must count the 0 data bytes plus the 4-byte MAC (04)
    """
    data = check_bytes("script data", data)
    header_lc = _script_header(header_lc, data)
    mac_data = header_lc + check_length("ATC", atc, (2,)) + check_length("ARQC", arqc, (8,)) + data
    return mac_iso9797_1_alg3(_key("MAC session key", sk_mac), mac_data)[:SCRIPT_MAC_SIZE]


def verify_script_mac(sk_mac: bytes, header_lc: bytes, atc: bytes, arqc: bytes, data: bytes,
                      mac: bytes) -> bool:
    """Card side: constant-time check of the 4 MAC bytes that end a script command."""
    return hmac.compare_digest(script_mac(sk_mac, header_lc, atc, arqc, data),
                               check_length("script MAC", mac, (SCRIPT_MAC_SIZE,)))


def build_script_command(sk_mac: bytes, header: bytes, atc: bytes, arqc: bytes, data: bytes = b"") -> bytes:
    """A whole script APDU ``CLA INS P1 P2 Lc ‖ data ‖ MAC`` from the 4-byte ``header``.

    >>> sk = bytes.fromhex("85FF218BB721253B726B8F8BFFA4326E")
    >>> cmd = build_script_command(sk, bytes.fromhex("841E0000"), bytes.fromhex("0001"), bytes(8))
    >>> cmd[:5].hex().upper(), len(cmd)
    ('841E000004', 9)
    """
    data = check_bytes("script data", data)
    header_lc = check_length("script header CLA INS P1 P2", header, (4,))\
        + bytes((len(data) + SCRIPT_MAC_SIZE,))
    return header_lc + data + script_mac(sk_mac, header_lc, atc, arqc, data)


# --- PIN blocks -------------------------------------------------------------------------------

def pin_block_iso9564_format2(pin: str) -> bytes:
    """ISO 9564-1 format 2 PIN block ``2N P P … F F`` (8 bytes), as in VERIFY (Book 3 §6.5.12).

    >>> pin_block_iso9564_format2("000000").hex().upper()
    '26000000FFFFFFFF'
    >>> pin_block_iso9564_format2("12a4")
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: PIN must be 4-12 decimal digits (got 4 characters)
    """
    if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit() or not 4 <= len(pin) <= 12:
        got = f"{len(pin)} characters" if isinstance(pin, str) else type(pin).__name__
        raise CryptoError(f"PIN must be 4-12 decimal digits (got {got})")
    return bytes.fromhex(f"2{len(pin):X}{pin}".ljust(16, "F"))


def parse_pin_block_format2(block: bytes) -> str:
    """The PIN inside a format 2 block; :class:`CryptoError` names the fault, never a digit.

    >>> parse_pin_block_format2(bytes.fromhex("241234FFFFFFFFFF"))
    '1234'
    >>> parse_pin_block_format2(bytes.fromhex("241234FFFFFFFF00"))
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: PIN block: filler nibble 15 is 0, must be F
    """
    nibbles = check_length("PIN block", block, (PIN_BLOCK_SIZE,)).hex().upper()
    if nibbles[0] != "2":
        raise CryptoError(f"PIN block: control field is {nibbles[0]}, format 2 needs 2")
    n = int(nibbles[1], 16)
    if not 4 <= n <= 12:
        raise CryptoError(f"PIN block: PIN length {n} is outside 4-12")
    for i in range(2, 2 + n):
        if not nibbles[i].isdigit():
            raise CryptoError(f"PIN block: PIN nibble {i + 1} is not a decimal digit")
    for i in range(2 + n, 16):
        if nibbles[i] != "F":
            raise CryptoError(f"PIN block: filler nibble {i + 1} is {nibbles[i]}, must be F")
    return nibbles[2:2 + n]


def _mask_pin_block(block: bytes, udk_for_xor: bytes | None) -> bytes:
    if udk_for_xor is None:
        return block
    key = _key("PIN-block XOR key", udk_for_xor)
    return block[:4] + _xor(block[4:], key[4:8])


def encipher_pin_for_script(sk_enc: bytes, pin_block: bytes, udk_for_xor: bytes | None = None) -> bytes:
    """PIN CHANGE/UNBLOCK data (``84 24 00 P2``): 3DES-ECB_SK-ENC(``08`` ‖ PIN block ‖ ``80 00…``).

    pboc.md §3.3 (S3 ``iKeyScriptEncData0``); pyemv calls this layout "VISA" command-data encryption.
    **Profile choice:** ``udk_for_xor`` — when given, bytes 5-8 of the PIN block are XORed
    with bytes 5-8 of that 16-byte card key first (the VIS-style mask the source tool applies;
    which UDK is unconfirmed, pboc.md §7). Default off: the block is enciphered as it is.

    >>> sk = bytes(range(16))
    >>> data = encipher_pin_for_script(sk, pin_block_iso9564_format2("123456"))
    >>> len(data), decipher_pin_from_script(sk, data).hex().upper()
    (16, '26123456FFFFFFFF')
    """
    block = check_length("PIN block", pin_block, (PIN_BLOCK_SIZE,))
    plain = pad_80(bytes((PIN_BLOCK_SIZE,)) + _mask_pin_block(block, udk_for_xor), 8)
    return tdes_encrypt(_key("ENC session key", sk_enc), plain)


def decipher_pin_from_script(sk_enc: bytes, data: bytes, udk_for_xor: bytes | None = None) -> bytes:
    """Card side of :func:`encipher_pin_for_script`: the 8-byte PIN block (validate it with
    :func:`parse_pin_block_format2`); ``udk_for_xor`` must match the issuer's profile.

    >>> decipher_pin_from_script(bytes(range(16)), bytes(16))
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: padding: no 80 marker in the last 8 bytes
    """
    data = check_length("enciphered PIN data", data, (16,))
    plain = unpad_80(tdes_decrypt(_key("ENC session key", sk_enc), data), 8)
    if len(plain) != 1 + PIN_BLOCK_SIZE or plain[0] != PIN_BLOCK_SIZE:
        raise CryptoError(f"enciphered PIN data must hold 08 ‖ 8-byte PIN block, got a length byte "
                          f"{plain[:1].hex().upper() or 'none'} and {len(plain)} bytes")
    return _mask_pin_block(plain[1:], udk_for_xor)
