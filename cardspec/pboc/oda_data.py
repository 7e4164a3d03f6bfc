"""Offline data authentication data of a debit card: the SFI 2 records and the ICC key DGIs.

The records (pboc.md §2.3, DGIs 0201-0205, EMV Book 2 §5-§6) hold the issuer certificate
(90 from the CA, given), the issuer key remainder and exponent, the CA key index, the
signed static data (93), the ICC certificate (9F46, signed here with the issuer key over
the static data) and its remainder/exponent, and the DDOL 9F49 = ``9F3704``:

====  =======================  ====
rec.  tags                     DGI
====  =======================  ====
1     90                       0201
2     9F32, 92 (if any), 8F    0202
3     93                       0203
4     9F46                     0204
5     9F47, 9F48 (if any), 9F49  0205
====  =======================  ====

The static data they sign are the AFL's ODA records (SFI 3 record 1 in the builder) plus
the AIP (9F4A = 82); adding SFI 2 changes the AFL but not them, which
:func:`build_pboc_data_with_oda` checks.

The ICC private key travels as its CRT components, one DGI each (EMV CPS; the order of
[S3 MakeDgi.c]): 8201 q⁻¹ mod p, 8202 d mod (q-1), 8203 d mod (p-1), 8204 q, 8205 p.
Each is N/2 bytes (N = modulus length), then ISO 9797-1 method-2 padded (``80 00…``,
always at least one byte, [S3 hsmsimu.c]) to a multiple of 8 for DEK encryption: a
1024-bit key gives five 72-byte DGIs.

>>> from cardspec.crypto.oda import load_test_keys
>>> keys = load_test_keys()
>>> dgis = icc_key_dgis(keys.icc)
>>> [f"{d:04X}:{len(v)}" for d, v in dgis.items()]
['8201:72', '8202:72', '8203:72', '8204:72', '8205:72']
>>> parts = {d: icc_key_component(d, v) for d, v in dgis.items()}
>>> key = icc_key_from_components(parts)
>>> key.public_key().public_numbers() == keys.icc.public_key().public_numbers()
True
>>> icc_key_from_components({**parts, 0x8201: parts[0x8202]})
Traceback (most recent call last):
cardspec.pboc.tags.PbocDataError: ICC RSA key: DGI 8201 is not q⁻¹ mod p
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric import rsa

from apdu.tlv import build_ber, find
from cardspec.crypto import CryptoError
from cardspec.crypto.blockcipher import pad_80, unpad_80
from cardspec.crypto.rsa_numbers import secret_power
from cardspec.crypto.oda import (EXPONENTS, CertificateParts, afl_oda_records, make_icc_certificate,
                                 sign_static_data, static_data_to_authenticate)

from .builder import PbocData, PbocHolder, PbocProduct, build_pboc_data
from .defaults import PBOC_DEBIT_AID
from .dgi import Dgi
from .tags import PbocDataError

__all__ = ["OdaInputs", "DDOL", "DAC", "ICC_KEY_DGIS", "static_data", "oda_records", "build_pboc_data_with_oda",
           "icc_key_dgis", "icc_key_component", "icc_key_from_components"]

DDOL = bytes.fromhex("9F3704")  #: 9F49: the terminal's unpredictable number (pboc.md §2.2)
DAC = bytes.fromhex("DAC0")  #: 9F45 data authentication code signed in 93 (pboc.md §2.2)
#: DGI -> CRT component, in personalization order (EMV CPS, [S3 MakeDgi.c])
ICC_KEY_DGIS: dict[int, str] = {Dgi.ICC_RSA_QINV: "q⁻¹ mod p", Dgi.ICC_RSA_DQ: "d mod (q-1)",
                                Dgi.ICC_RSA_DP: "d mod (p-1)", Dgi.ICC_RSA_Q: "prime q", Dgi.ICC_RSA_P: "prime p"}


@dataclass(frozen=True)
class OdaInputs:
    """What the issuer brings: the CA's certificate of its key, its private key, the card's key.

    ``icc_serial`` is the ICC certificate serial (3 bytes); the ICC certificate expires
    with the card (5F24's MMYY).
    """

    issuer_certificate: CertificateParts  #: 90, 92, 9F32 as the CA issued them
    ca_index: int  #: 8F: the CA public key index the certificate is under
    issuer_key: rsa.RSAPrivateKey  #: signs 93 and 9F46
    icc_key: rsa.RSAPublicKey | rsa.RSAPrivateKey  #: the card's key (its public half is certified)
    icc_serial: bytes = b"\x00\x00\x01"
    dac: bytes = DAC

    def __post_init__(self) -> None:
        if not isinstance(self.issuer_key, rsa.RSAPrivateKey):
            raise PbocDataError("ODA: issuer_key must be the issuer's RSA private key")
        if not isinstance(self.icc_key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
            raise PbocDataError("ODA: icc_key must be the card's RSA key")
        if not isinstance(self.ca_index, int) or not 0 <= self.ca_index <= 0xFF:
            raise PbocDataError(f"ODA: CA public key index {self.ca_index!r} must be 00-FF")


def _tag_in_records(data: PbocData, tag: int) -> bytes | None:
    for record in data.records.values():
        found = find(record, tag)
        if found is not None:
            return found.value
    return None


def static_data(data: PbocData) -> bytes:
    """Static data to be authenticated of ``data`` (Book 3 §10.3): its AFL's ODA records,
    then the AIP when 9F4A lists it."""
    try:
        records = [(sfi, data.records[(sfi, n)]) for sfi, n in afl_oda_records(data.afl)]
        return static_data_to_authenticate(records, data.aip, _tag_in_records(data, 0x9F4A))
    except KeyError as exc:
        raise PbocDataError(f"ODA: the AFL names record {exc.args[0]}, which the data set lacks") from None
    except CryptoError as exc:
        raise PbocDataError(f"ODA: {exc}") from None


def oda_records(inputs: OdaInputs, holder: PbocHolder, static: bytes) -> tuple[bytes, ...]:
    """The contents (TLVs, no 70) of SFI 2 records 1-5, for :attr:`PbocProduct.oda_records`."""
    icc_public = inputs.icc_key.public_key() if isinstance(inputs.icc_key, rsa.RSAPrivateKey) else inputs.icc_key
    expiry = bytes.fromhex(holder.expiry[2:4] + holder.expiry[:2])  # YYMMDD -> MMYY
    try:
        icc = make_icc_certificate(inputs.issuer_key, icc_public, holder.pan, expiry, inputs.icc_serial, static)
        signed = sign_static_data(inputs.issuer_key, static, inputs.dac)
    except CryptoError as exc:
        raise PbocDataError(f"ODA: {exc}") from None
    issuer = inputs.issuer_certificate

    def opt(tag: int, value: bytes) -> bytes:
        return build_ber(tag, value) if value else b""

    return (build_ber(0x90, issuer.certificate),
            build_ber(0x9F32, issuer.exponent) + opt(0x92, issuer.remainder)
            + build_ber(0x8F, bytes((inputs.ca_index,))),
            build_ber(0x93, signed),
            build_ber(0x9F46, icc.certificate),
            build_ber(0x9F47, icc.exponent) + opt(0x9F48, icc.remainder) + build_ber(0x9F49, DDOL))


def build_pboc_data_with_oda(holder: PbocHolder, inputs: OdaInputs, product: PbocProduct = PbocProduct(),
                             aid: bytes = PBOC_DEBIT_AID) -> PbocData:
    """:func:`~cardspec.pboc.build_pboc_data` plus the ODA records of :func:`oda_records`."""
    if product.oda_records:
        raise PbocDataError("ODA: the product already carries ODA records")
    base = build_pboc_data(holder, product, aid)
    static = static_data(base)
    data = build_pboc_data(holder, replace(product, oda_records=oda_records(inputs, holder, static)), aid)
    if static_data(data) != static:
        raise PbocDataError("ODA: the ODA records change the static data they sign (the AFL marks SFI 2)")
    return data


# --- the ICC private key ---------------------------------------------------------------------

def icc_key_dgis(key: rsa.RSAPrivateKey) -> dict[int, bytes]:
    """DGIs 8201-8205 of ``key`` (plaintext: the personalization DEK-encrypts them)."""
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PbocDataError("ICC key DGIs need an RSA private key")
    numbers = key.private_numbers()
    width = (numbers.public_numbers.n.bit_length() + 15) // 16  # N/2 bytes, N the modulus length
    values = {Dgi.ICC_RSA_QINV: numbers.iqmp, Dgi.ICC_RSA_DQ: numbers.dmq1, Dgi.ICC_RSA_DP: numbers.dmp1,
              Dgi.ICC_RSA_Q: numbers.q, Dgi.ICC_RSA_P: numbers.p}
    return {int(dgi): pad_80(value.to_bytes(width, "big"), 8) for dgi, value in values.items()}


def icc_key_component(dgi: int, data: bytes) -> bytes:
    """The CRT component a decrypted DGI 8201-8205 carries, its padding removed."""
    where = f"DGI {dgi:04X} (ICC RSA key, {ICC_KEY_DGIS.get(dgi, 'not a CRT component')})"
    if dgi not in ICC_KEY_DGIS:
        raise PbocDataError(f"{where}: the ICC key DGIs are 8201-8205")
    try:
        value = unpad_80(bytes(data), 8)
    except CryptoError as exc:
        raise PbocDataError(f"{where}: {exc} (components are 80-padded to a multiple of 8)") from None
    if not value or not any(value):
        raise PbocDataError(f"{where}: the component is empty or zero")
    return value


def icc_key_from_components(parts: Mapping[int, bytes]) -> rsa.RSAPrivateKey:
    """The private key of five components (:func:`icc_key_component`); the public exponent
    (3 or 65537) is the one d mod (p-1) inverts. Raises :class:`PbocDataError` when they
    are missing or do not form an RSA key with a whole-byte modulus."""
    missing = [f"{d:04X}" for d in ICC_KEY_DGIS if d not in parts]
    if missing:
        raise PbocDataError(f"ICC RSA key: DGIs {', '.join(missing)} are missing")
    qinv, dq, dp, q, p = (int.from_bytes(parts[d], "big") for d in ICC_KEY_DGIS)
    n = p * q
    if p < 3 or q < 3 or p == q or not p % 2 or not q % 2:
        raise PbocDataError("ICC RSA key: DGIs 8204 and 8205 are not two distinct odd primes")
    if n.bit_length() % 8:
        raise PbocDataError(f"ICC RSA key: p and q give a {n.bit_length()}-bit modulus, not whole bytes")
    if (qinv * q) % p != 1:
        raise PbocDataError("ICC RSA key: DGI 8201 is not q⁻¹ mod p")
    exponent = next((e for e in EXPONENTS if (dp * e) % (p - 1) == 1 and (dq * e) % (q - 1) == 1), None)
    if exponent is None:
        raise PbocDataError("ICC RSA key: d mod (p-1) and d mod (q-1) invert neither 3 nor 65537")
    if any(secret_power(pow(2, exponent, prime), d_prime, prime) != 2 for prime, d_prime in ((p, dp), (q, dq))):
        raise PbocDataError("ICC RSA key: a signature would not verify (is p or q not a prime?)")
    d = pow(exponent, -1, math.lcm(p - 1, q - 1))
    try:  # checked above as a card would (a signature round trip); OpenSSL's own check costs ~4 ms
        return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qinv, rsa.RSAPublicNumbers(exponent, n)).private_key(
            unsafe_skip_rsa_key_validation=True)
    except ValueError as exc:
        raise PbocDataError(f"ICC RSA key: the components are inconsistent ({exc})") from None
