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


class PowerLost(BaseException):
    """Raised by a store to simulate a power cut while committing (anti-tearing tests).

    Deliberately not an ``Exception``: the runtime's fault guards do not catch it. The
    card drops power (transient state gone, ``powered`` False) and the exception reaches
    whoever called ``transmit``, as a reader sees a card that vanished mid-command.
    """


@runtime_checkable
class Store(Protocol):
    """Persistent memory of a virtual card. ``commit`` may raise: an ``Exception`` makes
    the runtime answer 6581; :class:`PowerLost` cuts the card's power."""

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
