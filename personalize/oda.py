"""Offline data authentication of the debit application: what the issuer puts on the card
(step 4) and what a terminal checks (step 6), EMV Book 2 §5-§6, pboc.md §4.5.

Issuer side, when the key file names the ``[oda]`` keys: the CA certifies the issuer key
(tag 90/92/9F32; issuer identifier = the PAN's first 6 digits, expiring with the card),
each card gets a fresh ICC key pair (:data:`ICC_BITS`, exponent 3; generated on the spot
or taken from a pool, :mod:`personalize.icckeys`) that the issuer key
certifies over the static data (9F46/9F48/9F47), the static data are signed (93), and the
ICC private key travels as DGIs 8201-8205, DEK-encrypted
(:mod:`cardspec.pboc.oda_data`). The issuer certificate is signed here with the key
file's ``[oda] ca_key`` or given as the CA issued it (:mod:`.odakeys`); the CA public key
index (tag 8F) is ``[oda] ca_index``, known without it for sscard's test CA only (F1).

Terminal side (:func:`check_oda`): the issuer key is recovered from 90 with the CA public
key, 93 is checked against the static data (SDA), the ICC key is recovered from 9F46, and
INTERNAL AUTHENTICATE with a fresh unpredictable number is checked (DDA).
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from secrets import token_bytes

from cryptography.hazmat.primitives.asymmetric import rsa

from apdu.dol import build_dol_data
from apdu.errors import TLVError
from apdu.filecache import per_file_version
from apdu.tlv import parse_one
from cardspec.crypto import CryptoError
from cardspec.crypto.oda import (TEST_CA_INDEX, CertificateParts, PublicKey, afl_oda_records,
                                 load_private_key, load_test_keys, make_issuer_certificate, recover_icc_public_key,
                                 recover_issuer_public_key, static_data_to_authenticate, verify_dynamic_signature,
                                 verify_static_data)
from cardspec.pboc import PbocDataError, PbocHolder
from cardspec.pboc.oda_data import OdaInputs, icc_key_dgis

from .icckeys import IccKeySource, generate_now
from .keys import IssuerKeys
from .odakeys import OdaKeys
from .plan import PlanError
from .session import CardSession

__all__ = ["OdaPlan", "plan_oda", "check_oda", "ICC_BITS", "ICC_EXPONENT", "ISSUER_CERT_SERIAL"]

ICC_BITS = 1024  #: ICC key size: within one short APDU everywhere (vectors/oda/README.md)
ISSUER_CERT_SERIAL = b"\x00\x00\x01"  #: serial number of the issuer certificate (Book 2 Table 6)
ICC_EXPONENT = 3  #: the ICC keys' public exponent (the cheapest for the terminal)


@dataclass(frozen=True)
class OdaPlan:
    """One card's ODA data: the builder's inputs, the ICC key DGIs (secret) and the CA
    public key the terminal check needs."""

    inputs: OdaInputs = field(repr=False)
    icc_dgis: Mapping[int, bytes] = field(repr=False)
    ca_public: PublicKey = field(repr=False)
    ca_index: int


@per_file_version
def _private_key(path: Path) -> rsa.RSAPrivateKey:
    """An [oda] key file, parsed once per version of the file: parsing checks the RSA key,
    ~10 ms, which a batch would otherwise spend on every card."""
    return load_private_key(path, insecure=True)  # IssuerKeys.load has checked the files' modes


@functools.lru_cache(maxsize=64)
def _issuer_certificate(ca: rsa.RSAPrivateKey, issuer: rsa.RSAPrivateKey, issuer_id: str,
                        expiry: bytes) -> CertificateParts:
    """Certificate 90 (deterministic): the same for every card of a batch with one issuer
    identifier and expiry month, signed once (the CA's private operation, ~6 ms)."""
    return make_issuer_certificate(ca, issuer.public_key(), issuer_id, expiry, ISSUER_CERT_SERIAL)


@functools.cache
def _test_ca_numbers() -> rsa.RSAPublicNumbers:
    return load_test_keys().ca.public_key().public_numbers()


def _ca_index(keys: IssuerKeys, oda: OdaKeys, ca: rsa.RSAPrivateKey) -> int:
    """Tag 8F: the key file's ``[oda] ca_index``, else the test CA's own index."""
    if oda.ca_index is not None:
        return oda.ca_index
    if ca.public_key().public_numbers() == _test_ca_numbers():
        return TEST_CA_INDEX
    raise PlanError(f"{keys.path}: [oda] ca_key is not sscard's test CA: give its public key index (tag 8F) "
                    "as [oda] ca_index, e.g. ca_index = \"E3\"", fatal=True)


def _certification(keys: IssuerKeys, oda: OdaKeys, issuer: rsa.RSAPrivateKey,
                   holder: PbocHolder) -> tuple[CertificateParts, PublicKey, int]:
    """Certificate 90/92/9F32, the CA public key and its index: signed here with ``ca_key``,
    or the CA's certificate, checked as a terminal will check it on this card."""
    if oda.certificate is None:
        assert oda.ca_key is not None
        ca = _private_key(oda.ca_key)
        index = _ca_index(keys, oda, ca)
        expiry = bytes.fromhex(holder.expiry[2:4] + holder.expiry[:2])  # YYMMDD -> MMYY
        return _issuer_certificate(ca, issuer, holder.pan[:6], expiry), ca.public_key(), index
    assert oda.ca_public is not None and oda.ca_index is not None
    cert = oda.certificate
    try:
        recovered = recover_issuer_public_key(oda.ca_public, cert.certificate, cert.remainder or None, cert.exponent,
                                              holder.pan, today=date.today())
    except CryptoError as exc:
        raise PlanError(f"{keys.path}: [oda] issuer_certificate does not serve PAN {holder.pan[:6]}…: {exc}",
                        fatal=False) from None
    public = issuer.public_key().public_numbers()
    if (recovered.n, recovered.e) != (public.n, public.e):
        raise PlanError(f"{keys.path}: [oda] issuer_certificate certifies another key than issuer_key", fatal=True)
    return cert, oda.ca_public, oda.ca_index


def plan_oda(keys: IssuerKeys, holder: PbocHolder, icc_keys: IccKeySource = generate_now) -> OdaPlan | None:
    """The ODA data of one card, or None when the key file names no ``[oda]`` keys; its
    ICC key pair comes from ``icc_keys`` (:mod:`personalize.icckeys`)."""
    oda = keys.oda
    if oda is None:
        return None
    try:
        issuer = _private_key(oda.issuer_key)
        certificate, ca_public, index = _certification(keys, oda, issuer, holder)
        bits = min(ICC_BITS, issuer.key_size)
        icc = icc_keys(bits - bits % 8, ICC_EXPONENT)
        return OdaPlan(OdaInputs(certificate, index, issuer, icc), icc_key_dgis(icc), ca_public, index)
    except (CryptoError, PbocDataError) as exc:
        raise PlanError(f"ODA: {exc}", fatal=True) from None


def check_oda(session: CardSession, plan: OdaPlan, records: Mapping[tuple[int, int], bytes],
              values: Mapping[int, bytes], aip: bytes, afl: bytes) -> None:
    """SDA and DDA as a terminal performs them, inside the transaction (after GPO and the
    records, before GENERATE AC); raise naming the first check that fails."""
    pan = values.get(0x5A, b"").hex().upper().rstrip("F")
    missing = [f"{t:02X}" for t in (0x8F, 0x90, 0x9F32, 0x93, 0x9F46, 0x9F47, 0x9F49) if t not in values]
    if missing:
        raise session.fail(f"ODA: the records lack tag {missing[0]}")
    if values[0x8F] != bytes((plan.ca_index,)):
        raise session.fail(f"ODA: CA public key index {values[0x8F].hex().upper()}, expected {plan.ca_index:02X}")
    try:
        issuer = recover_issuer_public_key(plan.ca_public, values[0x90], values.get(0x92), values[0x9F32], pan,
                                           today=date.today())
        static = static_data_to_authenticate([(sfi, records[(sfi, n)]) for sfi, n in afl_oda_records(afl)], aip,
                                             values.get(0x9F4A))
        verify_static_data(issuer, values[0x93], static)
        icc = recover_icc_public_key(issuer, values[0x9F46], values.get(0x9F48), values[0x9F47], pan, static,
                                     today=date.today())
    except (CryptoError, KeyError) as exc:
        raise session.fail(f"ODA (SDA): {exc}") from None
    ddol = build_dol_data(values[0x9F49], {0x9F37: token_bytes(4)})
    command = bytes((0x00, 0x88, 0x00, 0x00, len(ddol))) + ddol + b"\x00"
    answer = session.command(command, "INTERNAL AUTHENTICATE (DDA)")
    try:
        verify_dynamic_signature(icc, parse_one(answer, tag=0x80).value, ddol)
    except (TLVError, CryptoError) as exc:
        raise session.fail(f"ODA (DDA): {exc}", apdu=command) from None
