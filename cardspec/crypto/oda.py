"""Offline data authentication, SDA and DDA: EMV 4.3 Book 2 §5-§6 (JR/T 0025.7, PBOC part 7).

Every ODA object is one raw RSA block (no PKCS#1 padding) of the signer's modulus length N,
recovered as ``6A ‖ body ‖ SHA-1(body ‖ extra) ‖ BC`` (Book 2 Tables 6, 7, 14, 17):

* 90 issuer certificate (N_CA): ``02`` issuer-id(4) MMYY serial(3) ``01 01`` N_I e-len
  leftmost(N_CA-36); extra = remainder 92 ‖ exponent 9F32.
* 93 signed static data (N_I): ``03 01`` DAC(2) ``BB``×(N_I-26); extra = static data.
* 9F46 ICC certificate (N_I): ``04`` PAN(10) MMYY serial(3) ``01 01`` N_IC e-len
  leftmost(N_I-42); extra = remainder 9F48 ‖ exponent 9F47 ‖ static data.
* DDA signature (N_IC): ``05 01`` L_DD IDN-length IDN ``BB``-pad; extra = DDOL data (9F37).

Failed checks raise :class:`VerificationError` naming the check (``length``, ``range``,
``trailer``, ``header``, ``format``, ``hash algorithm``, ``hash``, ``issuer identifier``,
``application PAN``, ``expiry``, ``public key algorithm``, ``exponent``, ``public key
length``, ``padding``, ``dynamic data``); bad arguments raise :class:`CryptoError`.
Hash 01 = SHA-1 and public-key algorithm 01 = RSA only (no PBOC 3.0 SM2/SM3).

The test hierarchy of ``vectors/oda`` (CA 1408 bits, issuer 1152, ICC 1024, exponent 3):

>>> keys = load_test_keys()
>>> cert = make_issuer_certificate(keys.ca, keys.issuer.public_key(), "622800", b"\\x12\\x49", b"\\x00\\x00\\x01")
>>> [len(part) for part in cert]
[176, 4, 1]
>>> issuer = recover_issuer_public_key(keys.ca.public_key(), *cert, "6228000100001")
>>> issuer.n == keys.issuer.public_key().public_numbers().n, issuer.owner.hex().upper()
(True, '622800FF')
>>> sig = sign_dynamic_data(keys.icc, bytes.fromhex("1234"), bytes.fromhex("01020304"))
>>> verify_dynamic_signature(keys.icc.public_key(), sig, bytes.fromhex("01020304")).hex()
'1234'
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Union

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from apdu.errors import TLVError
from apdu.tlv import parse_one
from cardspec.crypto import CryptoError, VerificationError
from cardspec.crypto.blockcipher import check_bytes, check_length
from cardspec.crypto.rsa_numbers import generate_primes, private_key_from_primes, secret_power

HEADER, TRAILER, PAD, HASH_SIZE = 0x6A, 0xBC, 0xBB, 20
HASH_SHA1, PK_RSA = 0x01, 0x01
FORMAT_ISSUER, FORMAT_SDA, FORMAT_ICC, FORMAT_DDA = 0x02, 0x03, 0x04, 0x05
MAX_MODULUS = 248
"""Largest modulus in bytes (Book 2 §5.1, §6.1): ``70 81 FE 90 81 F8 ‖ cert`` fills one READ RECORD."""
EXPONENTS = (3, 65537)
"""The only public exponents EMV allows (Book 2 §5.1, §6.1)."""

TEST_RID = bytes.fromhex("A000000333")
"""UnionPay RID; the test CA is filed under it with :data:`TEST_CA_INDEX`."""
TEST_CA_INDEX = 0xF1
"""CA public key index (tag 8F) of the sscard test CA: far from UnionPay's published indexes."""
TEST_KEYS_DIR = Path(__file__).resolve().parents[2] / "vectors" / "oda"
TEST_KEY_FILES = {"ca": "TEST-ca-F1-1408.pem", "issuer": "TEST-issuer-1152.pem", "icc": "TEST-icc-1024.pem"}

PublicKey = Union[rsa.RSAPublicKey, rsa.RSAPublicNumbers, "RecoveredKey"]


@dataclass(frozen=True)
class RecoveredKey:
    """A public key recovered from certificate 90 or 9F46, with the certificate's fields:
    ``owner`` is the issuer identifier (4 bytes) or PAN (10 bytes) as signed, ``F``-padded;
    ``expiry`` is BCD MMYY; ``serial`` 3 bytes."""

    n: int
    e: int
    owner: bytes
    expiry: bytes
    serial: bytes

    @property
    def modulus(self) -> bytes:
        return self.n.to_bytes((self.n.bit_length() + 7) // 8, "big")

    def public_key(self) -> rsa.RSAPublicKey:
        return rsa.RSAPublicNumbers(self.e, self.n).public_key()


class CertificateParts(NamedTuple):
    """What a certificate puts on the card: 90/9F46, remainder 92/9F48 (``b""`` if none), 9F32/9F47."""

    certificate: bytes
    remainder: bytes
    exponent: bytes


# --- raw RSA and the recovery format -----------------------------------------------------------

def _size(n: int) -> int:
    return (n.bit_length() + 7) // 8


def _public(what: str, key: PublicKey) -> tuple[int, int]:
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return numbers.n, numbers.e
    if isinstance(key, (rsa.RSAPublicNumbers, RecoveredKey)):
        return key.n, key.e
    raise CryptoError(f"{what} must be an RSA public key, not {type(key).__name__}")


def _private(what: str, key: rsa.RSAPrivateKey) -> rsa.RSAPrivateNumbers:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CryptoError(f"{what} must be an RSA private key, not {type(key).__name__}")
    if key.key_size % 8 or key.key_size > 8 * MAX_MODULUS:
        raise CryptoError(f"{what}: a {key.key_size}-bit modulus is not whole bytes up to {MAX_MODULUS}")
    return key.private_numbers()


def _exponent_bytes(what: str, e: int) -> bytes:
    if e not in EXPONENTS:
        raise CryptoError(f"{what}: exponent {e} is not allowed; EMV uses 3 or 65537")
    return e.to_bytes(_size(e), "big")


def _sign(key: rsa.RSAPrivateKey, what: str, body: bytes, extra: bytes) -> bytes:
    numbers = _private(f"{what} signing key", key)
    n = numbers.public_numbers.n
    block = bytes((HEADER,)) + body + hashlib.sha1(body + extra).digest() + bytes((TRAILER,))
    if len(block) != _size(n):
        raise CryptoError(f"{what}: the recovered block is {len(block)} bytes, the key is {_size(n)}")
    return _private_operation(numbers, int.from_bytes(block, "big")).to_bytes(_size(n), "big")


def _private_operation(numbers: rsa.RSAPrivateNumbers, value: int) -> int:
    """``value`` ^ d mod n by the Chinese remainder theorem (Garner), about 3x faster
    than with d itself (PKCS #1 v2.2 §5.1.2, RSADP 2.b), each half in constant time.

    >>> key = rsa.RSAPrivateNumbers(p=61, q=53, d=2753, dmp1=53, dmq1=49, iqmp=38,
    ...                             public_numbers=rsa.RSAPublicNumbers(17, 3233))
    >>> _private_operation(key, 2790) == pow(2790, 2753, 3233) == 65
    True
    """
    m1 = secret_power(value, numbers.dmp1, numbers.p)
    m2 = secret_power(value, numbers.dmq1, numbers.q)
    return m2 + numbers.q * (numbers.iqmp * (m1 - m2) % numbers.p)


def _fail(what: str, check: str, detail: str) -> VerificationError:
    return VerificationError(f"{what}: {check} check failed: {detail}")


def _open(key: PublicKey, what: str, signed: bytes, fmt: int, hash_at: int, extra: bytes) -> bytes:
    """Recover ``signed``, check length, trailer, header, format, hash; return the body."""
    n, e = _public(f"{what} key", key)
    signed = check_bytes(what, signed)
    if len(signed) != _size(n):
        raise _fail(what, "length", f"{len(signed)} bytes, the key modulus is {_size(n)}")
    value = int.from_bytes(signed, "big")
    if value >= n:
        raise _fail(what, "range", "the value is not below the modulus")
    block = pow(value, e, n).to_bytes(_size(n), "big")
    if block[-1] != TRAILER:
        raise _fail(what, "trailer", f"recovered {block[-1]:02X}, expected BC")
    if block[0] != HEADER:
        raise _fail(what, "header", f"recovered {block[0]:02X}, expected 6A")
    body, digest = block[1:-1 - HASH_SIZE], block[-1 - HASH_SIZE:-1]
    if body[0] != fmt:
        raise _fail(what, "format", f"recovered {body[0]:02X}, expected {fmt:02X}")
    if body[hash_at] != HASH_SHA1:
        raise _fail(what, "hash algorithm", f"indicator {body[hash_at]:02X}, only 01 (SHA-1) is known")
    if not hmac.compare_digest(hashlib.sha1(body + extra).digest(), digest):
        raise _fail(what, "hash", "SHA-1 of the recovered data does not match")
    return body


# --- fields ----------------------------------------------------------------------------------

def _digits(what: str, value: str, lengths: range) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() \
            or len(value) not in lengths:
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise CryptoError(f"{what} must be {lengths.start}-{lengths.stop - 1} decimal digits, got {shown}")
    return value


def _bcd_date(mmyy: bytes) -> tuple[int, int] | None:
    """(year, month) of a valid BCD MMYY (EMV date rule: YY 00-49 is 20YY), else None."""
    text = mmyy.hex()
    if not text.isdigit() or not 1 <= int(text[:2]) <= 12:
        return None
    yy = int(text[2:])
    return (2000 + yy if yy < 50 else 1900 + yy), int(text[:2])


def _check_expiry(what: str, mmyy: bytes, today: datetime.date | None) -> None:
    date = _bcd_date(mmyy)
    if date is None:
        raise _fail(what, "expiry", f"MMYY {mmyy.hex().upper()} is not a BCD month and year")
    if today is not None and date < (today.year, today.month):
        raise _fail(what, "expiry", f"certificate expired at the end of {mmyy.hex()[:2]}/{mmyy.hex()[2:]}")


def _make_certificate(signer: rsa.RSAPrivateKey, subject: rsa.RSAPublicKey, what: str, fmt: int,
                      owner: bytes, expiry: bytes, serial: bytes, extra: bytes) -> CertificateParts:
    n_signer = _private(f"{what} signing key", signer).public_numbers.n
    n, e = _public(f"{what} subject key", subject)
    if _bcd_date(check_length("certificate expiry MMYY", expiry, (2,))) is None:
        raise CryptoError(f"certificate expiry must be BCD MMYY with month 01-12, got {expiry.hex().upper()}")
    modulus, exponent = n.to_bytes(_size(n), "big"), _exponent_bytes(f"{what} subject key", e)
    if len(modulus) > _size(n_signer):
        raise CryptoError(f"{what}: a {len(modulus)}-byte key cannot be certified by a"
                          f" {_size(n_signer)}-byte key (Book 2 §5.1, §6.1)")
    room = _size(n_signer) - 32 - len(owner)
    leftmost, remainder = modulus[:room].ljust(room, bytes((PAD,))), modulus[room:]
    body = bytes((fmt,)) + owner + expiry + check_length("certificate serial", serial, (3,)) \
        + bytes((HASH_SHA1, PK_RSA, len(modulus), len(exponent))) + leftmost
    return CertificateParts(_sign(signer, what, body, remainder + exponent + extra), remainder, exponent)


def _recover_certificate(signer: PublicKey, what: str, fmt: int, owner_size: int, cert: bytes,
                         remainder: bytes | None, exponent: bytes, extra: bytes,
                         today: datetime.date | None) -> RecoveredKey:
    remainder = check_bytes(f"{what} remainder", remainder or b"")
    exponent = check_length(f"{what} exponent", exponent, (1, 3))
    body = _open(signer, what, cert, fmt, 6 + owner_size, remainder + exponent + extra)
    owner = body[1:1 + owner_size]
    expiry, serial = body[1 + owner_size:3 + owner_size], body[3 + owner_size:6 + owner_size]
    pk_algorithm, key_length, exponent_length = body[7 + owner_size:10 + owner_size]
    leftmost = body[10 + owner_size:]
    _check_expiry(what, expiry, today)
    if pk_algorithm != PK_RSA:
        raise _fail(what, "public key algorithm", f"indicator {pk_algorithm:02X}, only 01 (RSA) is known")
    e = int.from_bytes(exponent, "big")
    if exponent_length != len(exponent) or e not in EXPONENTS:
        raise _fail(what, "exponent", f"length field {exponent_length}, exponent {exponent.hex().upper()}"
                    " (must be 03 or 010001)")
    if key_length <= len(leftmost):
        if remainder:
            raise _fail(what, "public key length", f"{key_length} bytes fit the certificate, yet a"
                        f" {len(remainder)}-byte remainder was given")
        if leftmost[key_length:].strip(bytes((PAD,))):
            raise _fail(what, "padding", "the bytes after the key are not all BB")
        modulus = leftmost[:key_length]
    elif len(remainder) != key_length - len(leftmost):
        raise _fail(what, "public key length", f"{key_length} bytes need a {key_length - len(leftmost)}"
                    f"-byte remainder, got {len(remainder)}")
    else:
        modulus = leftmost + remainder
    if not modulus or not modulus[0]:
        raise _fail(what, "public key length", f"a {key_length}-byte modulus is empty or starts with 00")
    return RecoveredKey(int.from_bytes(modulus, "big"), e, owner, expiry, serial)


# --- certificates ------------------------------------------------------------------------------

def make_issuer_certificate(ca_private_key: rsa.RSAPrivateKey, issuer_public_key: rsa.RSAPublicKey,
                            issuer_id: str, expiry: bytes, serial: bytes) -> CertificateParts:
    """Issuer public key certificate 90, remainder 92 and exponent 9F32 (Book 2 Table 6).

    ``issuer_id`` is the leftmost 3-8 PAN digits (signed ``F``-padded to 4 bytes); ``expiry``
    BCD MMYY; ``serial`` 3 bytes. The certificate is N_CA bytes and holds N_CA-36 key bytes.
    """
    owner = bytes.fromhex(_digits("issuer identifier", issuer_id, range(3, 9)).ljust(8, "F"))
    return _make_certificate(ca_private_key, issuer_public_key, "issuer certificate 90", FORMAT_ISSUER,
                             owner, expiry, serial, b"")


def recover_issuer_public_key(ca_public_key: PublicKey, cert90: bytes, remainder92: bytes | None,
                              exponent9F32: bytes, pan: str, *,
                              today: datetime.date | None = None) -> RecoveredKey:
    """The issuer key from certificate 90 (Book 2 §5.3), checking every field.

    ``pan`` is tag 5A without its ``F`` padding; its leading digits must match the issuer
    identifier. The expiry check needs ``today``; without it only the MMYY format is checked.
    """
    pan = _digits("PAN", pan, range(1, 20))
    key = _recover_certificate(ca_public_key, "issuer certificate 90", FORMAT_ISSUER, 4, cert90,
                               remainder92, exponent9F32, b"", today)
    digits = key.owner.hex().upper().rstrip("F")
    if not 3 <= len(digits) <= 8 or not digits.isdigit() or not pan.startswith(digits):
        raise _fail("issuer certificate 90", "issuer identifier",
                    f"{key.owner.hex().upper()} does not match the leading digits of PAN {pan[:8]}…")
    return key


def make_icc_certificate(issuer_private_key: rsa.RSAPrivateKey, icc_public_key: rsa.RSAPublicKey,
                         pan: str, expiry: bytes, serial: bytes, static_data: bytes) -> CertificateParts:
    """ICC public key certificate 9F46, remainder 9F48 and exponent 9F47 (Book 2 Table 14).

    ``pan`` (1-19 digits) is signed ``F``-padded to 10 bytes; ``static_data`` is what
    :func:`static_data_to_authenticate` builds. The certificate holds N_I-42 key bytes.
    """
    owner = bytes.fromhex(_digits("PAN", pan, range(1, 20)).ljust(20, "F"))
    return _make_certificate(issuer_private_key, icc_public_key, "ICC certificate 9F46", FORMAT_ICC,
                             owner, expiry, serial, check_bytes("static data", static_data))


def recover_icc_public_key(issuer_public_key: PublicKey, cert9F46: bytes, remainder9F48: bytes | None,
                           exponent9F47: bytes, pan: str, static_data: bytes, *,
                           today: datetime.date | None = None) -> RecoveredKey:
    """The ICC key from certificate 9F46 (Book 2 §6.4); the signed PAN must equal ``pan`` (5A)."""
    pan = _digits("PAN", pan, range(1, 20))
    key = _recover_certificate(issuer_public_key, "ICC certificate 9F46", FORMAT_ICC, 10, cert9F46,
                               remainder9F48, exponent9F47, check_bytes("static data", static_data), today)
    if key.owner.hex().upper().rstrip("F") != pan:
        raise _fail("ICC certificate 9F46", "application PAN", "the signed PAN differs from tag 5A")
    return key


# --- SDA and DDA -----------------------------------------------------------------------------

def sign_static_data(issuer_private: rsa.RSAPrivateKey, static_data: bytes, dac: bytes) -> bytes:
    """Signed static application data 93 (Book 2 Table 7): N_I bytes carrying the 2-byte DAC."""
    n = _private("issuer key", issuer_private).public_numbers.n
    body = bytes((FORMAT_SDA, HASH_SHA1)) + check_length("DAC", dac, (2,)) + bytes((PAD,)) * (_size(n) - 26)
    return _sign(issuer_private, "signed static data 93", body, check_bytes("static data", static_data))


def verify_static_data(issuer_public: PublicKey, sig93: bytes, static_data: bytes) -> bytes:
    """SDA (Book 2 §5.4): check tag 93 against the static data; return the DAC (9F45)."""
    what = "signed static data 93"
    body = _open(issuer_public, what, sig93, FORMAT_SDA, 1, check_bytes("static data", static_data))
    if body[4:].strip(bytes((PAD,))):
        raise _fail(what, "padding", "the pad pattern is not all BB")
    return body[2:4]


def sign_dynamic_data(icc_private: rsa.RSAPrivateKey, icc_dynamic_number: bytes, ddol_data: bytes) -> bytes:
    """INTERNAL AUTHENTICATE's signed dynamic data (Book 2 Table 17, DDA).

    ICC dynamic data = IDN length ‖ IDN (2-8 bytes, Table 18); ``ddol_data`` is the command
    data built from the DDOL (9F49 ``9F3704``: the terminal's unpredictable number).
    """
    n = _private("ICC key", icc_private).public_numbers.n
    idn = check_bytes("ICC dynamic number", icc_dynamic_number)
    if not 2 <= len(idn) <= 8:
        raise CryptoError(f"ICC dynamic number must be 2-8 bytes, got {len(idn)}")
    dynamic = bytes((len(idn),)) + idn
    body = bytes((FORMAT_DDA, HASH_SHA1, len(dynamic))) + dynamic + bytes((PAD,)) * (_size(n) - len(dynamic) - 25)
    return _sign(icc_private, "signed dynamic data", body, check_bytes("DDOL data", ddol_data))


def verify_dynamic_signature(icc_public: PublicKey, signature: bytes, ddol_data: bytes) -> bytes:
    """DDA (Book 2 §6.5.2): check the signature against the DDOL data; return the IDN (9F4C).

    ICC dynamic data after the IDN (a CDA or proprietary extension) is accepted and ignored.
    """
    what = "signed dynamic data"
    body = _open(icc_public, what, signature, FORMAT_DDA, 1, check_bytes("DDOL data", ddol_data))
    ldd = body[2]
    if 3 + ldd > len(body):
        raise _fail(what, "dynamic data", f"length L_DD={ldd} runs past the {len(body) - 3} bytes left")
    dynamic = body[3:3 + ldd]
    if not dynamic or not 2 <= dynamic[0] <= 8 or 1 + dynamic[0] > ldd:
        raise _fail(what, "dynamic data", f"ICC dynamic number length {dynamic[:1].hex().upper() or 'missing'}"
                    f" must be 02-08 and fit L_DD={ldd}")
    if body[3 + ldd:].strip(bytes((PAD,))):
        raise _fail(what, "padding", "the pad pattern is not all BB")
    return dynamic[1:1 + dynamic[0]]


# --- static data to be authenticated --------------------------------------------------------

def afl_oda_records(afl: bytes) -> list[tuple[int, int]]:
    """(SFI, record) pairs an AFL (tag 94) marks for offline data authentication (Book 3 §10.2).

    pboc.md §2.2, the D/C and EC AFLs:

    >>> afl_oda_records(bytes.fromhex("08010200" "10010500" "18010201"))
    [(3, 1)]
    >>> afl_oda_records(bytes.fromhex("08010200 10010200 10050700 18020200 18030301".replace(" ", "")))
    [(3, 3)]
    >>> afl_oda_records(bytes.fromhex("08020103"))
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: AFL entry 1 (08020103): first record 2, last 1, ODA count 3 are inconsistent
    """
    afl = check_bytes("AFL", afl)
    if not afl or len(afl) % 4:
        raise CryptoError(f"AFL must be a non-empty multiple of 4 bytes, got {len(afl)}")
    out: list[tuple[int, int]] = []
    for i in range(0, len(afl), 4):
        sfi_byte, first, last, count = afl[i:i + 4]
        where = f"AFL entry {i // 4 + 1} ({afl[i:i + 4].hex().upper()})"
        if sfi_byte & 0x07 or not 1 <= sfi_byte >> 3 <= 30:
            raise CryptoError(f"{where}: byte 1 must be SFI 1-30 shifted left by 3")
        if not 1 <= first <= last or count > last - first + 1:
            raise CryptoError(f"{where}: first record {first}, last {last}, ODA count {count} are inconsistent")
        out += [(sfi_byte >> 3, record) for record in range(first, first + count)]
    return out


def static_data_to_authenticate(records: Sequence[tuple[int, bytes]], aip: bytes,
                                tag_list: bytes | None = None) -> bytes:
    """Static data to be authenticated (Book 3 §10.3, pboc.md §2.3).

    ``records`` are ``(SFI, record as read)`` in :func:`afl_oda_records` order. For SFI 1-10
    the record must be one ``70`` template and only its value counts; for SFI 11-30 the
    whole record does. If ``tag_list`` (9F4A) is given it may list only ``82``; the AIP follows.

    >>> static_data_to_authenticate([(3, bytes.fromhex("70045A021234")), (11, b"\\x01\\x02")],
    ...                             bytes.fromhex("7D00"), b"\\x82").hex().upper()
    '5A02123401027D00'
    >>> static_data_to_authenticate([(1, bytes.fromhex("6F00"))], bytes(2))
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: static data: record 1 (SFI 1) must be one 70 template: expected tag 70, found 6F
    """
    parts = []
    for i, (sfi, record) in enumerate(records, 1):
        record = check_bytes(f"static data record {i}", record)
        if not isinstance(sfi, int) or not 1 <= sfi <= 30:
            raise CryptoError(f"static data: record {i} has SFI {sfi!r}, must be 1-30")
        if sfi > 10:
            parts.append(record)
            continue
        try:
            parts.append(parse_one(record, tag=0x70, allow_padding=False).value)
        except TLVError as exc:
            raise CryptoError(f"static data: record {i} (SFI {sfi}) must be one 70 template: {exc}") from None
    aip = check_length("AIP", aip, (2,))
    if tag_list:
        if check_bytes("9F4A", tag_list) != b"\x82":
            raise CryptoError(f"static data tag list 9F4A may hold only 82 (AIP), got {tag_list.hex().upper()}")
        parts.append(aip)
    return b"".join(parts)


def ca_key_checksum(rid: bytes, index: int, public_key: PublicKey) -> bytes:
    """SHA-1(RID ‖ index ‖ modulus ‖ exponent): the CA public key check sum of terminal key lists
    (Book 2 §11.2.2)."""
    n, e = _public("CA key", public_key)
    if not isinstance(index, int) or not 0 <= index <= 0xFF:
        raise CryptoError(f"CA public key index must be 00-FF, got {index!r}")
    return hashlib.sha1(check_length("RID", rid, (5,)) + bytes((index,)) + n.to_bytes(_size(n), "big")
                        + e.to_bytes(_size(e), "big")).digest()


# --- keys -------------------------------------------------------------------------------------

def check_key_shape(bits: int, exponent: int) -> None:
    """Raise :class:`CryptoError` unless :func:`generate_key` can make such a key."""
    if not isinstance(bits, int) or bits % 8 or not 1024 <= bits <= 8 * MAX_MODULUS:
        raise CryptoError(f"ODA key size must be a multiple of 8 in 1024-{8 * MAX_MODULUS} bits, got {bits!r}")
    _exponent_bytes("new key", exponent)


def generate_key(bits: int, exponent: int = 3) -> rsa.RSAPrivateKey:
    """A new ODA key: ``bits`` a multiple of 8 in 1024-1984 (:mod:`cardspec.crypto.rsa_numbers`)."""
    check_key_shape(bits, exponent)
    return private_key_from_primes(*generate_primes(bits, exponent), exponent)


def save_private_key(path: str | os.PathLike[str], key: rsa.RSAPrivateKey, *, banner: str = "") -> None:
    """Write ``key`` as PKCS#8 PEM to a new 0600 file; ``banner`` (line 1, which PEM readers skip)
    is how the test keys say TEST."""
    if "\n" in banner or banner.startswith("-----"):
        raise CryptoError("key file banner must be one line not starting with -----")
    _private("key to save", key)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise CryptoError(f"{os.fspath(path)}: cannot create key file: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write((banner.encode() + b"\n" if banner else b"") + pem)


def load_private_key(path: str | os.PathLike[str], *, insecure: bool = False,
                     password: bytes | None = None) -> rsa.RSAPrivateKey:
    """Read an RSA private key from PEM; refuse a file group/others may read unless ``insecure``."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as f:
            mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
            if mode & 0o077 and not insecure:
                raise CryptoError(f"{name}: key file mode {mode:04o} lets group/others read it; chmod 600 it")
            data = f.read()
    except OSError as exc:
        raise CryptoError(f"{name}: cannot read key file: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password)
    except TypeError as exc:
        raise CryptoError(f"{name}: {exc}") from None
    except ValueError:
        raise CryptoError(f"{name}: not a PEM private key (or a wrong password)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CryptoError(f"{name}: holds a {type(key).__name__}, ODA needs an RSA key")
    return key


@dataclass(frozen=True)
class TestOdaKeys:
    """The committed test hierarchy of ``vectors/oda`` (TEST KEYS: never use on real cards)."""

    __test__ = False  # not a pytest test class
    ca: rsa.RSAPrivateKey
    issuer: rsa.RSAPrivateKey
    icc: rsa.RSAPrivateKey
    rid: bytes = TEST_RID
    ca_index: int = TEST_CA_INDEX


def load_test_keys(directory: str | os.PathLike[str] = TEST_KEYS_DIR) -> TestOdaKeys:
    """Load :data:`TEST_KEY_FILES` from ``directory`` (mode not checked: git makes them 0644)."""
    keys = {role: load_private_key(Path(directory) / name, insecure=True) for role, name in TEST_KEY_FILES.items()}
    return TestOdaKeys(ca=keys["ca"], issuer=keys["issuer"], icc=keys["icc"])
