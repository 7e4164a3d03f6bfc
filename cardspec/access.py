"""Access conditions of files and commands (ssse.md §1, §5 'Access summary').

An access condition is data: the file tree declares it, the card enforces it and the
personalization side writes it into CREATE FILE. The forms used by the spec:

>>> AccessRule.parse("free"), AccessRule.parse("key:0A"), AccessRule.parse("pin|key:84")
(AccessRule(kind='free', key=None), AccessRule(kind='key', key=10), AccessRule(kind='pin_or_key', key=132))
>>> AccessRule.parse("pin&key:84").satisfied(pin_verified=True, authenticated={0x84})
True
>>> AccessRule.parse("pin&key:84").satisfied(pin_verified=True, authenticated=set())
False
>>> AccessRule.parse("pin|key:84").to_bytes().hex(), AccessRule.from_bytes(bytes.fromhex("400A"))
('5084', (AccessRule(kind='key', key=10), 2))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet, Literal

from apdu.errors import SSCardError

Kind = Literal["free", "pin", "key", "pin_or_key", "pin_and_key", "never"]

# Encoding in sscard's CREATE FILE dialect (docs/prepersonalization.md): a kind byte
# (00 free, 10 PIN, 40 key, 50 PIN or key, 60 PIN and key, FF never), followed by the
# key id byte for the kinds that name a key.
_KIND_CODE = {"free": 0x00, "pin": 0x10, "key": 0x40, "pin_or_key": 0x50, "pin_and_key": 0x60, "never": 0xFF}
_CODE_KIND = {v: k for k, v in _KIND_CODE.items()}


class AccessRuleError(SSCardError, ValueError):
    """A malformed access condition (names the text or byte)."""


@dataclass(frozen=True)
class AccessRule:
    kind: Kind
    key: int | None = None

    def __post_init__(self) -> None:
        needs_key = self.kind in ("key", "pin_or_key", "pin_and_key")
        if needs_key != (self.key is not None):
            raise AccessRuleError(f"access rule {self.kind!r} {'needs' if needs_key else 'takes no'} key id")
        if self.key is not None and not 0 <= self.key <= 0xFF:
            raise AccessRuleError(f"key id {self.key} is not a byte")

    @classmethod
    def parse(cls, text: str) -> "AccessRule":
        """Parse ``free``, ``never``, ``pin``, ``key:0A``, ``pin|key:84``, ``pin&key:84``."""
        t = text.strip().lower().replace(" ", "")
        if t in ("free", "never", "pin"):
            return cls(t)  # type: ignore[arg-type]
        for prefix, kind in (("pin|key:", "pin_or_key"), ("pin&key:", "pin_and_key"), ("key:", "key")):
            if t.startswith(prefix):
                try:
                    return cls(kind, int(t[len(prefix):], 16))  # type: ignore[arg-type]
                except ValueError:
                    break
        raise AccessRuleError(f"bad access rule {text!r} (free, never, pin, key:NN, pin|key:NN, pin&key:NN)")

    def __str__(self) -> str:
        return {"free": "free", "never": "never", "pin": "pin", "key": f"key:{self.key:02X}" if self.key is not None else "",
                "pin_or_key": f"pin|key:{self.key or 0:02X}", "pin_and_key": f"pin&key:{self.key or 0:02X}"}[self.kind]

    def satisfied(self, *, pin_verified: bool, authenticated: AbstractSet[int]) -> bool:
        if self.kind == "free":
            return True
        if self.kind == "never":
            return False
        has_key = self.key in authenticated
        if self.kind == "pin":
            return pin_verified
        if self.kind == "key":
            return has_key
        if self.kind == "pin_or_key":
            return pin_verified or has_key
        return pin_verified and has_key

    def to_bytes(self) -> bytes:
        """Encoding in sscard's CREATE FILE dialect: kind code, then the key id if any."""
        code = bytes((_KIND_CODE[self.kind],))
        return code + bytes((self.key,)) if self.key is not None else code

    @classmethod
    def from_bytes(cls, data: bytes) -> tuple["AccessRule", int]:
        """Decode one rule from the start of ``data``; returns (rule, bytes consumed)."""
        if not data:
            raise AccessRuleError("access rule missing")
        kind = _CODE_KIND.get(data[0])
        if kind is None:
            raise AccessRuleError(f"unknown access rule code {data[0]:02X}")
        if kind in ("key", "pin_or_key", "pin_and_key"):
            if len(data) < 2:
                raise AccessRuleError(f"access rule {data[0]:02X} lacks its key id byte")
            return cls(kind, data[1]), 2  # type: ignore[arg-type]
        return cls(kind), 1  # type: ignore[arg-type]


FREE = AccessRule("free")
NEVER = AccessRule("never")
PIN = AccessRule("pin")
