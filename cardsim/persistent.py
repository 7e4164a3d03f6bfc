"""The card's persistent (EEPROM) state besides the file tree: keys, PINs, lifecycle.

Plain data, serialisable to JSON-friendly dicts for card images. Behaviour (VERIFY,
authentication, key loading) lives in the handlers; they change these objects and then
call ``store.commit(reason)`` *before* answering, so that a power cut never loses a
change the card has already acted on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from cardspec.crypto.blockcipher import Algorithm, kcv


class Lifecycle(str, Enum):
    """Where the card is in its life (sscard's pre-personalization dialect, docs/prepersonalization.md)."""

    BLANK = "blank"  # MF and transport key only: the factory state
    PREPERSONALIZATION = "prepersonalization"  # structure being created, keys loaded in plain
    PERSONALIZED = "personalized"  # END PERSONALIZATION done: structure frozen


@dataclass
class Key:
    """One key of a DF. ``tries_left``/``max_tries`` None: no try counter (internal keys)."""

    kid: int
    algorithm: Algorithm
    value: bytes = field(repr=False)
    version: int = 0
    max_tries: int | None = None
    tries_left: int | None = None

    @property
    def blocked(self) -> bool:
        return self.tries_left is not None and self.tries_left == 0

    @property
    def check_value(self) -> str:
        """KCV, the only form of a key that is ever shown."""
        return kcv(self.algorithm, self.value).hex().upper()

    def to_dict(self) -> dict:
        return {"kid": self.kid, "algorithm": self.algorithm.name, "value": self.value.hex().upper(),
                "version": self.version, "max_tries": self.max_tries, "tries_left": self.tries_left}

    @classmethod
    def from_dict(cls, d: dict) -> "Key":
        return cls(int(d["kid"]), Algorithm[d["algorithm"]], bytes.fromhex(d["value"]), int(d.get("version", 0)),
                   d.get("max_tries"), d.get("tries_left"))


@dataclass
class Pin:
    """A PIN as the card stores it: the packed-BCD reference value and its try counter."""

    value: bytes = field(repr=False)  # packed BCD, last nibble F-padded when odd
    max_tries: int = 6
    tries_left: int = 6

    @property
    def blocked(self) -> bool:
        return self.tries_left == 0

    def to_dict(self) -> dict:
        return {"value": self.value.hex().upper(), "max_tries": self.max_tries, "tries_left": self.tries_left}

    @classmethod
    def from_dict(cls, d: dict) -> "Pin":
        return cls(bytes.fromhex(d["value"]), int(d["max_tries"]), int(d["tries_left"]))


@dataclass
class AppSecrets:
    """Keys, PIN and block state of one application DF (the SSSE, a DF0x, the PBOC ADF)."""

    keys: dict[int, Key] = field(default_factory=dict)
    pin: Pin | None = None
    blocked: bool = False  # APPLICATION BLOCK (permanent on the SSSE: 9303)

    def to_dict(self) -> dict:
        return {"keys": [k.to_dict() for k in sorted(self.keys.values(), key=lambda k: k.kid)],
                "pin": self.pin.to_dict() if self.pin else None, "blocked": self.blocked}

    @classmethod
    def from_dict(cls, d: dict) -> "AppSecrets":
        keys = {k.kid: k for k in (Key.from_dict(x) for x in d.get("keys", []))}
        pin = Pin.from_dict(d["pin"]) if d.get("pin") else None
        return cls(keys, pin, bool(d.get("blocked", False)))


@dataclass
class CardLife:
    """Card-level persistent state: lifecycle phase, CARD BLOCK, the MF's own keys."""

    phase: Lifecycle = Lifecycle.PERSONALIZED
    card_blocked: bool = False  # CARD BLOCK 8416: every later command answers 6A81
    mf: AppSecrets = field(default_factory=AppSecrets)  # the transport/card master key lives here

    def to_dict(self) -> dict:
        return {"phase": self.phase.value, "card_blocked": self.card_blocked, "mf": self.mf.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "CardLife":
        return cls(Lifecycle(d["phase"]), bool(d.get("card_blocked", False)), AppSecrets.from_dict(d.get("mf", {})))
