"""Persistent state of the issuer security domain (ISD), serialisable for card images.

The ISD keeps one SCP02 key set (static ENC, MAC, DEK under one key version), the key
diversification data (KDD) it answers in INITIALIZE UPDATE, the sequence counter, and
the GlobalPlatform registry's life cycle state of the applications it personalized.

KDD (sscard's choice; CPS leaves its content to the card): 10 bytes of the ATR's
historical bytes, chip provider (T1-T2) ‖ card manufacturer (T6-T7) ‖ region (T8-T9,
BCD) ‖ serial (TA-TD). The EMV CPS diversification (:func:`~cardspec.crypto.scp02.diversify_emv`)
uses KDD bytes 5-10, region ‖ serial: one card's keys differ from the next card's.

>>> from cardspec.profile import Profile
>>> p = Profile.load("ssc3-sm4")
>>> state = GpState.from_kmc(p, TEST_KMC)
>>> state.kdd.hex().upper(), state.kvn, state.counter
('008186605199000001AC', 1, 0)
>>> state.key_check_values()
{'enc': '3A2F9F', 'mac': 'E2A916', 'dek': '427125'}
>>> GpState.from_dict(state.to_dict()) == state
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from cardspec.crypto.blockcipher import Algorithm, kcv
from cardspec.crypto.scp02 import KeyType, diversify_emv
from cardspec.profile import AtrSpec, Profile

__all__ = ["AppLifecycle", "GpState", "TEST_KMC", "kdd_of", "COUNTER_MAX"]

#: TEST KEY: the GlobalPlatform default test key 40..4F, sscard's test KMC (vectors/test-issuer-keys.toml)
TEST_KMC = bytes.fromhex("404142434445464748494A4B4C4D4E4F")
COUNTER_MAX = 0xFFFF  #: a counter at FFFF opens no more sessions (its session keys would repeat)


class AppLifecycle(IntEnum):
    """Application life cycle states of the GP registry (GP Card Spec 2.2 §5.3.1)."""

    SELECTABLE = 0x07  #: installed and selectable, not personalized yet
    PERSONALIZED = 0x0F  #: the last STORE DATA block was accepted


def kdd_of(atr: AtrSpec) -> bytes:
    """The 10-byte KDD of a card with ATR ``atr`` (see the module notes)."""
    return atr.chip_provider + atr.card_manufacturer + bytes.fromhex(atr.region) + atr.serial


@dataclass
class GpState:
    """The ISD's EEPROM: AID, key set, KDD, sequence counter, registry life cycles."""

    aid: bytes
    kdd: bytes
    kvn: int
    enc: bytes = field(repr=False)
    mac: bytes = field(repr=False)
    dek: bytes = field(repr=False)
    counter: int = 0  #: SCP02 sequence counter, +1 at every successful EXTERNAL AUTHENTICATE
    #: AID -> life cycle of the applications the ISD personalizes (absent: SELECTABLE)
    registry: dict[bytes, AppLifecycle] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.kdd) != 10:
            raise ValueError(f"KDD must be 10 bytes, got {len(self.kdd)}")
        if any(len(k) != 16 for k in (self.enc, self.mac, self.dek)):
            raise ValueError("SCP02 static keys must be 16 bytes each")
        if not 0 <= self.counter <= COUNTER_MAX or not 0 <= self.kvn <= 0xFF:
            raise ValueError(f"counter {self.counter} or key version {self.kvn} out of range")

    @classmethod
    def from_kmc(cls, profile: Profile, kmc: bytes, *, counter: int = 0) -> GpState:
        """The ISD of a card of ``profile``: keys diversified from ``kmc`` (EMV CPS) over its KDD."""
        kdd = kdd_of(profile.atr)
        enc, mac, dek = (diversify_emv(kmc, kdd, t) for t in (KeyType.ENC, KeyType.MAC, KeyType.DEK))
        return cls(profile.gp.isd_aid, kdd, profile.gp.key_version, enc, mac, dek, counter)

    @property
    def counter_bytes(self) -> bytes:
        return self.counter.to_bytes(2, "big")

    def lifecycle(self, aid: bytes) -> AppLifecycle:
        return self.registry.get(aid, AppLifecycle.SELECTABLE)

    def key_check_values(self) -> dict[str, str]:
        """KCVs of the static keys, the only form of them that is ever shown."""
        return {name: kcv(Algorithm.TDES, getattr(self, name)).hex().upper() for name in ("enc", "mac", "dek")}

    def to_dict(self) -> dict[str, Any]:
        """The image's ``sections["gp"]`` (keys in hex: never log it)."""
        return {"aid": self.aid.hex().upper(), "kdd": self.kdd.hex().upper(), "kvn": self.kvn,
                "keys": {n: getattr(self, n).hex().upper() for n in ("enc", "mac", "dek")},
                "counter": self.counter,
                "registry": {aid.hex().upper(): state.name.lower() for aid, state in sorted(self.registry.items())}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GpState:
        h = bytes.fromhex
        keys = d["keys"]
        registry = {h(aid): AppLifecycle[name.upper()] for aid, name in d.get("registry", {}).items()}
        return cls(h(d["aid"]), h(d["kdd"]), int(d["kvn"]), h(keys["enc"]), h(keys["mac"]), h(keys["dek"]),
                   int(d["counter"]), registry)
