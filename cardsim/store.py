"""Where the card's persistent memory goes: the runtime calls ``store.commit(reason)``
after every change a real card keeps in EEPROM (record and binary writes, later try
counters and keys). The default keeps everything in memory only.

>>> store = RecordingStore()
>>> store.commit("UPDATE RECORD EF05 record 7")
>>> store.reasons
['UPDATE RECORD EF05 record 7']
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Store(Protocol):
    """Persistent memory of a virtual card. ``commit`` may raise; the runtime then answers 6581."""

    def commit(self, reason: str) -> None: ...


class NullStore:
    """Keeps nothing beyond the objects in memory (the card forgets on process exit)."""

    def commit(self, reason: str) -> None:
        return None


class RecordingStore:
    """Remembers the reason of every commit (for tests and for ``--dry-run`` style tools)."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def commit(self, reason: str) -> None:
        self.reasons.append(reason)
