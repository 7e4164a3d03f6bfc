"""The card's persistent (EEPROM) state besides the file tree: keys, PINs, lifecycle.

Plain data, serialisable to JSON-friendly dicts for card images. Behaviour (VERIFY,
authentication, key loading) lives in the handlers; they change these objects and then
call ``store.commit(reason)`` *before* answering, so that a power cut never loses a
change the card has already acted on. The PIN encoding (:func:`encode_pin`,
:func:`pin_wellformed`) lives in :mod:`cardspec.pin` and is re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from cardspec.crypto.blockcipher import Algorithm, kcv
from cardspec.pin import PinFormatError, encode_pin, pin_wellformed

__all__ = ["PinFormatError", "encode_pin", "pin_wellformed", "Lifecycle", "Key", "Pin", "AppSecrets", "CardLife"]


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

    @classmethod
    def from_digits(cls, digits: str, max_tries: int) -> "Pin":
        """A fresh PIN with a full try counter.

        >>> Pin.from_digits("12345", 6)
        Pin(max_tries=6, tries_left=6)
        """
        return cls(encode_pin(digits), max_tries, max_tries)

    def to_dict(self) -> dict:
        return {"value": self.value.hex().upper(), "max_tries": self.max_tries, "tries_left": self.tries_left}

    @classmethod
    def from_dict(cls, d: dict) -> "Pin":
        return cls(bytes.fromhex(d["value"]), int(d["max_tries"]), int(d["tries_left"]))


def _keys_to_list(keys: dict[int, Key]) -> list[dict]:
    return [k.to_dict() for k in sorted(keys.values(), key=lambda k: k.kid)]


def _keys_from_list(items: list[dict]) -> dict[int, Key]:
    return {k.kid: k for k in (Key.from_dict(x) for x in items)}


@dataclass
class AppSecrets:
    """Keys, PIN and block state of one application DF (the SSSE, a DF0x, the PBOC ADF).

    ``keys`` are the application DF's own keys. ``df_keys`` holds the key spaces of the
    DFs below it, by FID: the SSSE's DF01-DF07 each have their own keys 82-8F (STKDFxx,
    UKxDFyy, RKxDFyy; cardspec ``DfKeyId``), so DF01's key 84 and DF04's key 84 differ.

    >>> s = AppSecrets(df_keys={0xDF04: {0x84: Key(0x84, Algorithm.SM4, bytes(16))}})
    >>> AppSecrets.from_dict(s.to_dict()) == s, list(s.to_dict()["df_keys"])
    (True, ['DF04'])
    """

    keys: dict[int, Key] = field(default_factory=dict)
    pin: Pin | None = None
    blocked: bool = False  # APPLICATION BLOCK (permanent on the SSSE: 9303)
    df_keys: dict[int, dict[int, Key]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"keys": _keys_to_list(self.keys), "pin": self.pin.to_dict() if self.pin else None,
                "blocked": self.blocked,
                "df_keys": {f"{fid:04X}": _keys_to_list(keys) for fid, keys in sorted(self.df_keys.items())}}

    @classmethod
    def from_dict(cls, d: dict) -> "AppSecrets":
        pin = Pin.from_dict(d["pin"]) if d.get("pin") else None
        df_keys = {int(fid, 16): _keys_from_list(items) for fid, items in d.get("df_keys", {}).items()}
        return cls(_keys_from_list(d.get("keys", [])), pin, bool(d.get("blocked", False)), df_keys)


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
