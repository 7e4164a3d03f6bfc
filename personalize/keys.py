"""The issuer key file (TOML) and the per-card keys derived from it.

Format (paths relative to the key file; every key carries its 3-byte check value)::

    [ssse]
    algorithm = "sm4"            # "sm4" | "3des"
    levels = 3                   # diversification levels from these masters (S9 §9.7.3); 0-3
    zhejiang_rule = false        # SC §10.3 city factor for regions 33xxxx
    [ssse.master]                # roles: irk stk uk bk puk rk, and DF keys such as df01_uk1, df04_rk1
    uk = { key = "…32 hex…", kcv = "…6 hex…" }
    [mf]                         # card level, [ssse] algorithm (pre-personalization, personalize.mfkeys)
    transport = { key = "…", kcv = "…" }  # the blank cards' MF key 00, used as is
    cmk = { key = "…", kcv = "…" }        # master of the card master key, diversified like [ssse.master]
    [pboc]                       # 3DES: issuer master keys (EMV option A) and the GP card manager KMC
    imk_ac  = { key = "…", kcv = "…" }
    imk_smi = { key = "…", kcv = "…" }   # script MAC
    imk_smc = { key = "…", kcv = "…" }   # script encryption
    kmc     = { key = "…", kcv = "…" }
    [oda]                        # offline data authentication (personalize.odakeys)
    issuer_key = "issuer.pem"    # PEM, 0600
    ca_key = "ca.pem"            # a test or in-house CA that signs the issuer certificate here,
                                 # or the CA's issuer_certificate/_remainder/_exponent in hex
                                 # with ca_modulus and ca_exponent
    ca_index = "E3"              # tag 8F; optional only for sscard's test CA (F1)

:meth:`IssuerKeys.load` refuses a file (or ODA key file) that group or others may read,
unless ``insecure=True`` (``--insecure-keys``, for test keys). KCVs are checked on load.
Key bytes live in :class:`SecretKey`, which shows only its KCV; no message shows a key.

>>> k = SecretKey(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"), Algorithm.TDES); k
SecretKey(TDES, KCV 08D7B4)
>>> f"{k}", k == SecretKey(k.reveal(), Algorithm.TDES)
('SecretKey(TDES, KCV 08D7B4)', True)
"""
from __future__ import annotations

import hmac
import re
import stat
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apdu.errors import SSCardError
from cardspec.crypto.blockcipher import CARD_KEY_SIZE, Algorithm, kcv
from cardspec.crypto.diversify import card_factor, diversify_once, diversify_to_region
from cardspec.crypto.emv import derive_udk_option_a
from cardspec.crypto.scp02 import KeyType, diversify_emv
from cardspec.ids import AppDF, DfKeyId, KeyId

from .odakeys import ENTRIES as ODA_ENTRIES
from .odakeys import OdaKeys, parse_oda

__all__ = ["IssuerKeys", "SecretKey", "KeyFileError", "SSSE_ROLES", "role_key"]

_ALGORITHMS = {"sm4": Algorithm.SM4, "3des": Algorithm.TDES}
#: SSSE-level roles of ``[ssse.master]`` and their key ids.
SSSE_ROLES: Mapping[str, KeyId] = {k.name.lower(): k for k in KeyId}
_DF_ROLE = re.compile(r"(df0[12347])_(stk|uk[1-9ab]|rk[12])")
_PBOC_ROLES = ("imk_ac", "imk_smi", "imk_smc", "kmc")
_KCV_SIZE = 3


class KeyFileError(SSCardError, ValueError):
    """An unusable issuer key file: the message names the file, the entry and the problem,
    and never shows key bytes (only check values)."""


class SecretKey:
    """Key bytes that show only their check value in ``repr``, ``str`` and f-strings."""

    __slots__ = ("_raw", "algorithm")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, raw: bytes, algorithm: Algorithm) -> None:
        self._raw = bytes(raw)
        self.algorithm = algorithm

    def reveal(self) -> bytes:
        """The key bytes, for a cryptographic function."""
        return self._raw

    @property
    def kcv(self) -> bytes:
        """First 3 bytes of E_K(zero block)."""
        return kcv(self.algorithm, self._raw)

    def __repr__(self) -> str:
        return f"SecretKey({self.algorithm.name}, KCV {self.kcv.hex().upper()})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretKey):
            return NotImplemented
        return self.algorithm is other.algorithm and hmac.compare_digest(self._raw, other._raw)

    def __reduce__(self) -> Any:
        raise TypeError("SecretKey is not picklable (keys do not leave the process)")


def role_key(role: str) -> tuple[AppDF | None, int]:
    """The DF (None for the SSSE level) and key id of a ``[ssse.master]`` role.

    >>> role_key("rk"), role_key("df01_uk4")
    ((None, <KeyId.RK: 10>), (<AppDF.DF01: 57089>, <DfKeyId.UK4: 136>))
    """
    if role in SSSE_ROLES:
        return None, SSSE_ROLES[role]
    m = _DF_ROLE.fullmatch(role)
    if m is None:
        raise KeyFileError(f"unknown SSSE key role {role!r} (known: {', '.join(SSSE_ROLES)}, "
                           f"and dfNN_stk, dfNN_ukN, dfNN_rkN for DF01-DF04, DF07)")
    return AppDF[m[1].upper()], DfKeyId[m[2].upper()]


def _hex(where: str, what: str, text: Any, size: int) -> bytes:
    if not isinstance(text, str):
        raise KeyFileError(f"{where}: {what} must be a hex string")
    digits = re.sub(r"[\s:-]", "", text)
    bad = next((i for i, c in enumerate(digits) if c not in "0123456789abcdefABCDEF"), None)
    if bad is not None:
        raise KeyFileError(f"{where}: {what} is not hexadecimal (digit {bad + 1})")
    if len(digits) != 2 * size:
        raise KeyFileError(f"{where}: {what} is {len(digits) // 2}{'.5' if len(digits) % 2 else ''} bytes, "
                           f"not {size}")
    return bytes.fromhex(digits)


def _entry(where: str, value: Any, alg: Algorithm) -> SecretKey:
    if not isinstance(value, dict) or set(value) != {"key", "kcv"}:
        raise KeyFileError(f"{where}: must be {{ key = \"hex\", kcv = \"hex\" }}")
    key = SecretKey(_hex(where, "key", value["key"], CARD_KEY_SIZE), alg)
    expected = _hex(where, "kcv", value["kcv"], _KCV_SIZE)
    if not hmac.compare_digest(expected, key.kcv):
        raise KeyFileError(f"{where}: KCV mismatch: the file says {expected.hex().upper()}, "
                           f"the key gives {key.kcv.hex().upper()}")
    return key


def _check_mode(path: Path, what: str, insecure: bool) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as e:
        raise KeyFileError(f"{path}: cannot read the {what} ({e.strerror})") from None
    if mode & 0o077 and not insecure:
        raise KeyFileError(f"{path}: the {what} has mode {mode:04o}, open to group or others; "
                           f"run 'chmod 600 {path}' (or pass --insecure-keys for test keys)")


def _table(label: str, data: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise KeyFileError(f"{label}: {name} must be a table [{name}]")
    extra = sorted(set(table) - allowed)
    if extra:
        raise KeyFileError(f"{label}: [{name}] {extra[0]}: unknown entry (known: {', '.join(sorted(allowed))})")
    return table


REGIONS_KEPT = 256
"""Region codes whose province- and city-level SSSE keys an :class:`IssuerKeys` keeps."""


@dataclass(frozen=True)
class IssuerKeys:
    """The issuer's master keys, checked; derive per-card keys with the methods."""

    path: Path
    ssse_algorithm: Algorithm
    ssse_master: Mapping[str, SecretKey]
    ssse_levels: int = 3
    zhejiang_rule: bool = False
    pboc: Mapping[str, SecretKey] = field(default_factory=dict)  #: imk_ac, imk_smi, imk_smc, kmc
    oda: OdaKeys | None = None  #: the [oda] section (:mod:`.odakeys`)
    mf: Mapping[str, SecretKey] = field(default_factory=dict)  #: transport, cmk (checked here, used by mfkeys)
    _region_keys: dict[str, dict[str, bytes]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _region_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, path: str | Path, *, insecure: bool = False) -> IssuerKeys:
        """Read, permission-check and KCV-check a key file."""
        p = Path(path)
        _check_mode(p, "issuer key file", insecure)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise KeyFileError(f"{p}: cannot read the issuer key file ({e.strerror})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise KeyFileError(f"{p}: not a TOML file ({e})") from None
        extra = sorted(set(data) - {"ssse", "mf", "pboc", "oda"})
        if extra:
            raise KeyFileError(f"{p}: unknown section [{extra[0]}] (known: [ssse], [mf], [pboc], [oda])")
        if "ssse" not in data:
            raise KeyFileError(f"{p}: missing section [ssse]")
        ssse = _table(str(p), data, "ssse", {"algorithm", "levels", "zhejiang_rule", "master"})
        if ssse.get("algorithm") not in _ALGORITHMS:
            raise KeyFileError(f"{p}: [ssse] algorithm must be \"sm4\" or \"3des\"")
        alg = _ALGORITHMS[ssse["algorithm"]]
        levels = ssse.get("levels", 3)
        if not isinstance(levels, int) or isinstance(levels, bool) or not 0 <= levels <= 3:
            raise KeyFileError(f"{p}: [ssse] levels must be an integer 0-3")
        zhejiang = ssse.get("zhejiang_rule", False)
        if not isinstance(zhejiang, bool):
            raise KeyFileError(f"{p}: [ssse] zhejiang_rule must be true or false")
        masters = ssse.get("master", {})
        if not isinstance(masters, dict) or not masters:
            raise KeyFileError(f"{p}: [ssse.master] must list at least one key")
        for role in masters:
            try:
                role_key(role)
            except KeyFileError as e:
                raise KeyFileError(f"{p}: [ssse.master] {e}") from None
        ssse_keys = {role: _entry(f"{p}: [ssse.master] {role}", v, alg) for role, v in masters.items()}
        mf = {role: _entry(f"{p}: [mf] {role}", v, alg)
              for role, v in _table(str(p), data, "mf", {"transport", "cmk"}).items()}
        pboc = {role: _entry(f"{p}: [pboc] {role}", v, Algorithm.TDES)
                for role, v in _table(str(p), data, "pboc", set(_PBOC_ROLES)).items()}
        def key_path(name: str, value: object) -> Path:
            if not isinstance(value, str) or not value:
                raise KeyFileError(f"{p}: [oda] {name} must be a file path")
            path = (p.parent / value).resolve()
            _check_mode(path, f"[oda] {name} file named in {p}", insecure)
            return path

        try:
            oda = parse_oda(f"{p}: [oda]", _table(str(p), data, "oda", ODA_ENTRIES), key_path)
        except ValueError as e:
            raise KeyFileError(str(e)) from None
        return cls(p, alg, ssse_keys, levels, zhejiang, pboc, oda, mf)

    def _pboc(self, role: str) -> bytes:
        if role not in self.pboc:
            raise KeyFileError(f"{self.path}: [pboc] {role} is missing")
        return self.pboc[role].reveal()

    def ssse_card_keys(self, region_code: str, atr_historical: bytes) -> dict[str, bytes]:
        """Every SSSE master diversified for one card (S9 §7.3): role → 16-byte card key.
        The province and city levels are computed once per region code and kept with the
        masters for the last :data:`REGIONS_KEPT` regions (a third of the work per card
        instead of all of it)."""
        alg = self.ssse_algorithm
        region = self._region_keys.get(region_code)
        if region is None:
            region = {role: diversify_to_region(alg, key.reveal(), region_code, self.ssse_levels,
                                                zhejiang_rule=self.zhejiang_rule)
                      for role, key in self.ssse_master.items()}
            with self._region_lock:  # batch workers share the keys
                if len(self._region_keys) >= REGIONS_KEPT:  # memory stays bounded, whatever the input
                    del self._region_keys[next(iter(self._region_keys))]
                self._region_keys[region_code] = region
        if not self.ssse_levels:
            return dict(region)
        card = card_factor(atr_historical)
        return {role: diversify_once(alg, key, card) for role, key in region.items()}

    def pboc_udks(self, pan: str, psn: str = "00") -> tuple[bytes, bytes, bytes]:
        """UDK-AC, UDK-MAC, UDK-ENC (EMV option A) for DGI 8000, in that order."""
        return tuple(derive_udk_option_a(self._pboc(r), pan, psn)  # type: ignore[return-value]
                     for r in ("imk_ac", "imk_smi", "imk_smc"))

    def scp02_card_keys(self, kdd: bytes) -> tuple[bytes, bytes, bytes]:
        """The card manager's static ENC, MAC, DEK from the KMC (EMV CPS diversification)."""
        kmc = self._pboc("kmc")
        return (diversify_emv(kmc, kdd, KeyType.ENC), diversify_emv(kmc, kdd, KeyType.MAC),
                diversify_emv(kmc, kdd, KeyType.DEK))
