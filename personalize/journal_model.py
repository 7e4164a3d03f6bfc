"""The journal's data model and interface (:class:`Journal`); the SQLite implementation
is :class:`personalize.journal.SqliteJournal`."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from apdu.errors import SSCardError

__all__ = ["Journal", "JournalError", "State", "Entry", "Issued", "Registered", "Recovered", "Run", "CardAttempt",
           "bad_row_key", "WAITING"]

#: The step of a row that is claimed but has no card yet.
WAITING = "waiting for a card"


class JournalError(SSCardError):
    """A journal that cannot be opened or used; the message names the file."""


class State(str, Enum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Issued:
    """What identifies a personalized card (nothing secret)."""

    card_id: str | None  #: 卡识别码 as text/hex, when the card has one
    card_number: str  #: 社会保障卡卡号 (EF05 tag 07)
    atr_serial: str | None  #: the serial of the ATR historical bytes, hex
    pan: str
    verified: bool  #: read back and compared after writing


@dataclass(frozen=True)
class Entry:
    """One cardholder row of the journal."""

    key: str
    row_number: int
    state: State
    step: str | None  #: in_progress: the current step; failed: the step that failed
    reason: str | None  #: failed: why; pending: why it is pending again (interrupted)
    field: str | None  #: failed input row: the first bad field
    sw: str | None  #: failed on a card: the status word, hex
    attempts: int  #: cards tried for this holder
    worker: str | None
    run: int | None  #: the run that last touched the row
    card: int | None  #: the current/last card attempt (``cards.id``)
    issued: Issued | None
    pin_mailer: bool  #: a PIN mailer was written for the card (random PIN)
    face: dict[str, str] | None  #: card-face data of the issued card
    done_run: int | None
    interrupted: int  #: how often a run died while working on this holder
    created: str
    updated: str


@dataclass(frozen=True)
class Registered:
    """:meth:`Journal.register`'s answer: the row, and the earlier row of this run that
    already carries the same key (a duplicate in the input), if any."""

    entry: Entry
    duplicate_of: int | None


@dataclass(frozen=True)
class Recovered:
    """:meth:`Journal.recover`'s answer."""

    interrupted: list[tuple[Entry, CardAttempt | None]]  #: rows as they were, with the card they were on
    unreleased: list[CardAttempt]  #: cards of dead runs not yet set aside (or, when done, not closed)


@dataclass(frozen=True)
class Run:
    id: int
    started: str
    finished: str | None
    host: str
    pid: int
    input_name: str | None
    reissue: bool
    reissue_epoch: int | None  #: --reissue: holders done in runs before this one are issued again
    process: str | None = None  #: the process's start time (with ``pid``, tells it from a reused pid)


@dataclass(frozen=True)
class CardAttempt:
    """One card put into a reader for one holder."""

    id: int
    key: str
    run: int
    worker: str | None
    label: str  #: where the card is (image file, reader and ATR)
    started: str
    finished: str | None
    outcome: str | None  #: done, failed, interrupted; None while in the reader
    step: str | None
    released: bool  #: handed back to the card source (a failed card: set aside)


def bad_row_key(row_number: int) -> str:
    """The key of input row ``row_number`` when it is not a valid cardholder."""
    return f"row:{row_number}"


class Journal(ABC):
    """The journal's operations; :class:`SqliteJournal` keeps them in one SQLite file.

    Each method is one atomic transition. ``claim`` is atomic across processes, so
    several stations can share one journal without taking the same holder twice.
    """

    @abstractmethod
    def begin_run(self, *, input_name: str | None = None, reissue: bool = False) -> Run: ...
    @abstractmethod
    def end_run(self, run: int) -> None: ...
    @abstractmethod
    def recover(self, run: int) -> Recovered:
        """What dead runs left behind: rows ``in_progress`` (made pending again, their
        cards marked interrupted) and cards never handed back to their source."""
    @abstractmethod
    def register(self, key: str, row_number: int, run: int) -> Registered: ...
    @abstractmethod
    def allocate_card_number(self, key: str, district: str, first: int) -> str:
        """Holder ``key``'s card number, allocated once (the same on every later call)."""
    @abstractmethod
    def note_card_number(self, key: str, number: str) -> str | None:
        """Holder ``key`` carries ``number``; the key of another holder that has it, else None."""
    @abstractmethod
    def record_bad_row(self, row_number: int, field: str | None, reason: str, run: int) -> None: ...
    @abstractmethod
    def claim(self, key: str, run: int, worker: str, *, reissue_epoch: int | None = None) -> bool: ...
    @abstractmethod
    def unclaim(self, key: str) -> None: ...
    @abstractmethod
    def card_inserted(self, key: str, label: str) -> int: ...
    @abstractmethod
    def step(self, key: str, step: str) -> None: ...
    @abstractmethod
    def done(self, key: str, card: int, issued: Issued, *, face: dict[str, str] | None = None,
             pin_mailer: bool = False) -> None: ...
    @abstractmethod
    def fail(self, key: str, card: int | None, *, step: str | None, reason: str, sw: str | None = None) -> None: ...
    @abstractmethod
    def card_released(self, card: int, label: str | None = None) -> None: ...
    @abstractmethod
    def get(self, key: str) -> Entry | None: ...
    @abstractmethod
    def entries(self, state: State | None = None) -> Iterator[Entry]: ...
    @abstractmethod
    def cards(self, *, unreleased: bool = False) -> list[CardAttempt]: ...
    @abstractmethod
    def runs(self) -> list[Run]: ...
    @abstractmethod
    def close(self) -> None: ...
