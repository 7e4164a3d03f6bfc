"""The card-level (MF) keys of pre-personalization: the COS vendor's transport key and the
master of the card master key (docs/prepersonalization.md §1-§2; ssse.md §6).

* ``transport``: MF key 00 of a blank card, the same on every card of a delivery, used
  as is. EXTERNAL AUTHENTICATE with it opens the transport session that CREATE FILE,
  WRITE KEY, SET PIN and END PERSONALIZATION need.
* ``cmk``: the master of the card master key. Diversified per card like the SSSE keys
  (the key file's ``[ssse] levels`` and ``zhejiang_rule``), it replaces the transport
  key as MF key 00 just before END PERSONALIZATION (S10 §5: "finally replace the card
  master key with a per-card key").

They live in an ``[mf]`` section, same entry format as :mod:`personalize.keys`::

    [mf]
    transport = { key = "737363617264207472616E73706F7274", kcv = "…" }
    cmk       = { key = "…32 hex…", kcv = "…" }

:meth:`IssuerKeys.load` reads and checks the section of the issuer key file and
:meth:`MfKeys.of` takes the keys from there (what :func:`~personalize.flow.personalize_card`
does by default); :func:`load_mf_keys` reads the section of any TOML file, ignoring the
others. :func:`load_test_mf_keys` gives the published TEST keys of
``vectors/test-keys.toml`` (``[transport]``, ``[<alg>.MF] CMK``): the transport key of
every blank simulator card and the master of the sample card's MF key.

>>> keys = load_test_mf_keys(Algorithm.SM4); keys
MfKeys(transport=SecretKey(SM4, KCV 1A687A), cmk=SecretKey(SM4, KCV 895D54))
>>> keys.card_master_key("511300", bytes.fromhex("00814A444686605199000001AC")).kcv.hex().upper()  # the sample card's
'4BE9CE'
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardspec.crypto.blockcipher import Algorithm
from cardspec.crypto.diversify import diversify

from .keys import IssuerKeys, KeyFileError, SecretKey, _check_mode, _entry

__all__ = ["MfKeys", "load_mf_keys", "load_test_mf_keys", "TEST_KEYS"]

#: the published test-key file of the simulator (transport key and card master keys)
TEST_KEYS = Path(__file__).resolve().parent.parent / "vectors" / "test-keys.toml"
_TEST_ALG = {Algorithm.TDES: "tdes", Algorithm.SM4: "sm4"}


@dataclass(frozen=True)
class MfKeys:
    """The transport key (used as is) and the card-master-key master (diversified)."""

    transport: SecretKey
    cmk: SecretKey
    levels: int = 3  #: diversification levels of ``cmk`` (S9 §9.7.3)
    zhejiang_rule: bool = False  #: SC §10.3 city factor for regions 33xxxx

    def __post_init__(self) -> None:
        if self.transport.algorithm is not self.cmk.algorithm:
            raise KeyFileError(f"[mf] transport is {self.transport.algorithm.name} but cmk is "
                               f"{self.cmk.algorithm.name}")
        if not 0 <= self.levels <= 3:
            raise KeyFileError(f"[mf] levels {self.levels}: must be 0-3")

    @property
    def algorithm(self) -> Algorithm:
        return self.transport.algorithm

    @classmethod
    def of(cls, keys: IssuerKeys) -> MfKeys:
        """The ``[mf]`` keys of an issuer key file, with its diversification settings."""
        missing = [name for name in ("transport", "cmk") if name not in keys.mf]
        if missing:
            raise KeyFileError(f"{keys.path}: [mf] {missing[0]} is missing: the transport key and the card master "
                               "key (transport, cmk) are needed to pre-personalize blank cards")
        return cls(keys.mf["transport"], keys.mf["cmk"], keys.ssse_levels, keys.zhejiang_rule)

    def card_master_key(self, region_code: str, atr_historical: bytes) -> SecretKey:
        """MF key 00 of one card: ``cmk`` diversified with its region and ATR (S9 §7.3)."""
        return SecretKey(diversify(self.algorithm, self.cmk.reveal(), region_code, atr_historical, self.levels,
                                   zhejiang_rule=self.zhejiang_rule), self.algorithm)

    def __repr__(self) -> str:
        return f"MfKeys(transport={self.transport!r}, cmk={self.cmk!r})"


def load_mf_keys(path: str | Path, algorithm: Algorithm, *, levels: int = 3, zhejiang_rule: bool = False,
                 insecure: bool = False) -> MfKeys:
    """The ``[mf]`` keys of a TOML key file (other sections are not looked at), checked
    against their KCVs. Like the issuer key file, the file must not be readable by group
    or others unless ``insecure``."""
    p = Path(path)
    _check_mode(p, "key file", insecure)
    try:
        data: dict[str, Any] = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise KeyFileError(f"{p}: cannot read the key file ({e.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise KeyFileError(f"{p}: not a TOML file ({e})") from None
    table = data.get("mf")
    if not isinstance(table, dict):
        raise KeyFileError(f"{p}: no [mf] section: the transport key and the card master key "
                           "(transport, cmk) are needed to pre-personalize blank cards")
    extra = sorted(set(table) - {"transport", "cmk"})
    if extra:
        raise KeyFileError(f"{p}: [mf] {extra[0]}: unknown entry (known: cmk, transport)")
    for name in ("transport", "cmk"):
        if name not in table:
            raise KeyFileError(f"{p}: [mf] {name} is missing")
    return MfKeys(_entry(f"{p}: [mf] transport", table["transport"], algorithm),
                  _entry(f"{p}: [mf] cmk", table["cmk"], algorithm), levels, zhejiang_rule)


def load_test_mf_keys(algorithm: Algorithm, path: Path = TEST_KEYS) -> MfKeys:
    """The published TEST transport key and card-master-key master of ``vectors/test-keys.toml``
    (never for real cards): the keys of :func:`cardsim.factory.blank_card` cards."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        name = _TEST_ALG[algorithm]
        transport, cmk = bytes.fromhex(data["transport"][name]), bytes.fromhex(data[name]["MF"]["CMK"])
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise KeyFileError(f"{path}: no usable [transport] / [{_TEST_ALG.get(algorithm, '?')}.MF] CMK test keys "
                           f"({type(exc).__name__})") from None
    return MfKeys(SecretKey(transport, algorithm), SecretKey(cmk, algorithm))
