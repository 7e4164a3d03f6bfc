"""The ``[oda]`` section of the issuer key file: what offline data authentication needs.

Two ways to certify the issuer key (EMV Book 2 §5.1):

* **From the CA** (production): the CA — for UnionPay cards, the UnionPay CA — signed the
  issuer public key and sent back certificate 90, remainder 92 and exponent 9F32. The key
  file gives them in hex with the CA public key that terminals hold (modulus and exponent)
  and its index (tag 8F)::

      [oda]
      issuer_key = "issuer.pem"            # PEM, mode 0600
      issuer_certificate = "…hex…"         # 90, N_CA bytes
      issuer_remainder = "…hex…"           # 92, when the issuer key does not fit in 90
      issuer_exponent = "03"               # 9F32
      ca_modulus = "…hex…"
      ca_exponent = "03"
      ca_index = "E3"

* **Signed here** with a test or in-house CA's private key: ``ca_key = "ca.pem"``
  (``ca_index`` optional only for sscard's test CA, ``vectors/oda``).

A certificate given in hex is checked against the CA key and the issuer key when each
card is planned (:func:`personalize.oda.plan_oda`): a certificate of another key, another
BIN or past its expiry refuses the card before anything is written.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from apdu.errors import HexError
from apdu.hexinput import parse_hex
from cardspec.crypto.oda import EXPONENTS, CertificateParts

__all__ = ["OdaKeys", "parse_oda"]

_SIGNED_HERE = {"ca_key"}
_FROM_CA = {"issuer_certificate", "issuer_remainder", "issuer_exponent", "ca_modulus", "ca_exponent"}
ENTRIES = {"issuer_key", "ca_index"} | _SIGNED_HERE | _FROM_CA


@dataclass(frozen=True)
class OdaKeys:
    """The checked ``[oda]`` entries; exactly one of ``ca_key`` and ``certificate`` is set."""

    issuer_key: Path
    ca_key: Path | None = None
    ca_index: int | None = None  #: tag 8F; None only with ``ca_key`` (sscard's test CA)
    certificate: CertificateParts | None = None  #: 90, 92, 9F32 as the CA issued them
    ca_public: rsa.RSAPublicNumbers | None = None  #: the CA key of ``certificate``


def _hex(where: str, value: object, sizes: range) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be hex digits in pairs, as a string")
    try:
        raw = parse_hex(value)
    except HexError as exc:
        raise ValueError(f"{where} must be hex digits in pairs ({exc})") from None
    if len(raw) not in sizes:
        raise ValueError(f"{where} is {len(raw)} bytes, not {sizes.start}-{sizes.stop - 1}")
    return raw


def _exponent(where: str, value: object) -> bytes:
    raw = _hex(where, value, range(1, 4))
    if int.from_bytes(raw, "big") not in EXPONENTS:
        raise ValueError(f"{where} must be 03 or 010001 (EMV allows 3 and 2^16+1)")
    return raw


def parse_oda(where: str, table: Mapping[str, Any], path_of: Callable[[str, object], Path]) -> OdaKeys | None:
    """The ``[oda]`` table (``where`` names it in errors), or None when it is empty;
    ``path_of(name, value)`` resolves and permission-checks a key file. Raises ValueError."""
    if not table:
        return None
    index = table.get("ca_index")
    if index is not None and (not isinstance(index, str) or not re.fullmatch(r"[0-9A-Fa-f]{2}", index)):
        raise ValueError(f"{where} ca_index must be two hex digits such as \"E3\", got {index!r}")
    ca_index = None if index is None else int(index, 16)
    if "issuer_key" not in table:
        raise ValueError(f"{where} needs issuer_key (the issuer's RSA private key, PEM)")
    signed_here, from_ca = _SIGNED_HERE & set(table), _FROM_CA & set(table)
    if signed_here and from_ca:
        raise ValueError(f"{where}: give either ca_key (sign the issuer certificate here) or the CA's "
                         f"issuer_certificate, not both")
    if not signed_here and not from_ca:
        raise ValueError(f"{where} needs ca_key, or issuer_certificate with issuer_exponent, ca_modulus, "
                         f"ca_exponent and ca_index")
    issuer_key = path_of("issuer_key", table["issuer_key"])
    if signed_here:
        return OdaKeys(issuer_key, path_of("ca_key", table["ca_key"]), ca_index)
    missing = sorted({"issuer_certificate", "issuer_exponent", "ca_modulus", "ca_exponent"} - from_ca)
    if missing or ca_index is None:
        raise ValueError(f"{where} with issuer_certificate needs {(missing or ['ca_index'])[0]}")
    modulus = _hex(f"{where} ca_modulus", table["ca_modulus"], range(64, 249))
    certificate = _hex(f"{where} issuer_certificate", table["issuer_certificate"], range(1, 249))
    if len(certificate) != len(modulus):
        raise ValueError(f"{where} issuer_certificate is {len(certificate)} bytes, the CA modulus {len(modulus)}: "
                         f"a certificate is as long as the key that signed it")
    remainder = _hex(f"{where} issuer_remainder", table["issuer_remainder"], range(1, 249)) \
        if "issuer_remainder" in table else b""
    ca_public = rsa.RSAPublicNumbers(int.from_bytes(_exponent(f"{where} ca_exponent", table["ca_exponent"]), "big"),
                                     int.from_bytes(modulus, "big"))
    return OdaKeys(issuer_key, None, ca_index,
                   CertificateParts(certificate, remainder, _exponent(f"{where} issuer_exponent",
                                                                       table["issuer_exponent"])), ca_public)
