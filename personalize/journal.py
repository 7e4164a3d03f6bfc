"""The batch journal: one row per cardholder, every state change in its own transaction,
so that a crash at any moment (power cut, SIGKILL) leaves a journal a rerun can trust.

States (``cardholders.state``)::

    pending ──claim──▶ in_progress(step) ──done──▶ done(card ids, PAN, verified)
       ▲                    │    └──fail──▶ failed(step, reason, SW)
       └──────recover───────┘ (the run died: the row is reported as interrupted)

A row's key is the holder's social-security number (unique per person), or
``row:N`` for input row N that is not a valid cardholder. Every card put into a reader
gets a row in ``cards`` (which card, which holder, outcome, set aside or not), so a
card from an interrupted run can be traced and put aside. ``runs`` lists the processes
that worked on the journal.

**No secret is ever stored**: no key, no PIN, not even a random initial PIN; only
whether a PIN mailer was written (``pin_mailer``). The journal holds personal data (names,
SSNs, card-face data), so the file is created with mode 0600.

>>> import tempfile, pathlib
>>> j = SqliteJournal(pathlib.Path(tempfile.mkdtemp()) / "batch.journal.sqlite")
>>> run = j.begin_run(input_name="people.csv")
>>> j.register("11010519491231002X", 2, run.id).entry.state
<State.PENDING: 'pending'>
>>> j.claim("11010519491231002X", run.id, "virtual cards"), j.card_inserted("11010519491231002X", "card-00001.json")
(True, 1)
>>> j.step("11010519491231002X", "write EF06"); j.get("11010519491231002X").step
'write EF06'
>>> j.done("11010519491231002X", 1, Issued("K80362153", "K80362153", "00000001", "6228481234567890128", True))
>>> e = j.get("11010519491231002X"); e.state.value, e.issued.card_number, e.attempts
('done', 'K80362153', 1)
>>> j.end_run(run.id); j.close()
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .journal_model import (WAITING, CardAttempt, Entry, Issued, Journal, JournalError, Recovered, Registered, Run,
                            State, bad_row_key)
from .validate import MAX_SERIAL, new_card_number

__all__ = ["Journal", "SqliteJournal", "JournalError", "State", "Entry", "Issued", "Registered", "Recovered", "Run",
           "CardAttempt", "bad_row_key", "SCHEMA_VERSION", "WAITING"]

SCHEMA_VERSION = 1

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, host TEXT NOT NULL, pid INTEGER NOT NULL,
    process TEXT, input_name TEXT, reissue INTEGER NOT NULL, reissue_epoch INTEGER);
CREATE TABLE IF NOT EXISTS cardholders (
    key TEXT PRIMARY KEY, row_number INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'in_progress', 'done', 'failed')),
    step TEXT, reason TEXT, field TEXT, sw TEXT, attempts INTEGER NOT NULL DEFAULT 0, worker TEXT,
    run INTEGER REFERENCES runs(id), seen_run INTEGER, card INTEGER, card_id TEXT, card_number TEXT, atr_serial TEXT, pan TEXT,
    verified INTEGER, pin_mailer INTEGER NOT NULL DEFAULT 0, face TEXT, done_run INTEGER,
    interrupted INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cards (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL REFERENCES cardholders(key), run INTEGER NOT NULL, worker TEXT,
    label TEXT NOT NULL, started TEXT NOT NULL, finished TEXT,
    outcome TEXT CHECK (outcome IN ('done', 'failed', 'interrupted')), step TEXT,
    released INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS cards_by_key ON cards(key);
CREATE TABLE IF NOT EXISTS card_numbers (
    key TEXT PRIMARY KEY, number TEXT NOT NULL UNIQUE, district TEXT NOT NULL, serial INTEGER, noted TEXT NOT NULL);
"""
_ENTRY_COLUMNS = ("key, row_number, state, step, reason, field, sw, attempts, worker, run, card, card_id, "
                  "card_number, atr_serial, pan, verified, pin_mailer, face, done_run, interrupted, created, updated")
_CARD_COLUMNS = "id, key, run, worker, label, started, finished, outcome, step, released"
#: Runs this process has open, by (database path, run id): a run of this very process
#: whose journal was closed without end_run is dead (that is how tests simulate a crash).
_LIVE: set[tuple[str, int]] = set()
_LIVE_LOCK = threading.Lock()


def _entry(row: tuple[Any, ...]) -> Entry:
    (key, row_number, state, step, reason, field, sw, attempts, worker, run, card, card_id, card_number,
     atr_serial, pan, verified, pin_mailer, face, done_run, interrupted, created, updated) = row
    issued = None if card_number is None else Issued(card_id, card_number, atr_serial, pan, bool(verified))
    return Entry(key, row_number, State(state), step, reason, field, sw, attempts, worker, run, card, issued,
                 bool(pin_mailer), json.loads(face) if face else None, done_run, interrupted, created, updated)


def _card(row: tuple[Any, ...]) -> CardAttempt:
    cid, key, run, worker, label, started, finished, outcome, step, released = row
    return CardAttempt(cid, key, run, worker, label, started, finished, outcome, step, bool(released))


def _process(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux ``/proc``), which tells a reused pid from
    the process that started a run; None when there is no such process, or it is a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def pid_alive(pid: int, process: str | None = None) -> bool:
    """Whether process ``pid`` runs (and, given ``process``, is that same process, not a reuse of its pid)."""
    return _pid_alive(pid, process)


def _pid_alive(pid: int, process: str | None) -> bool:
    if os.path.isdir("/proc/self"):
        return _process(pid) is not None and (process is None or _process(pid) == process)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SqliteJournal(Journal):
    """The journal in one SQLite file: WAL mode, ``synchronous=FULL``, one transaction per
    transition (``BEGIN IMMEDIATE``, so concurrent writers queue instead of failing).
    Safe to share between threads (one connection behind a lock) and processes."""

    def __init__(self, path: Path | str, *, create: bool = True, timeout: float = 30.0) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise JournalError(f"{self.path}: no such journal")
        self.host = socket.gethostname()
        self._lock = threading.RLock()
        self._runs: set[int] = set()
        try:
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))  # personal data: owner only
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._tx() as db:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                found = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
                if found is None:
                    db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                elif found[0] != str(SCHEMA_VERSION):
                    raise JournalError(f"{self.path}: journal schema {found[0]}, this sscard reads {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path}: not a usable journal ({exc})") from None
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot open the journal ({exc.strerror})") from None

    def __repr__(self) -> str:
        return f"SqliteJournal({str(self.path)!r})"

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _live_key(self, run: int) -> tuple[str, int]:
        return (str(self.path.resolve()), run)

    # --- runs -----------------------------------------------------------------------------
    def begin_run(self, *, input_name: str | None = None, reissue: bool = False) -> Run:
        """A new run. With ``reissue``, a reissue run that died unfinished is continued:
        holders it already issued again are not issued a third time."""
        with self._tx() as db:
            epoch = None
            if reissue:
                last = db.execute("SELECT finished, reissue, reissue_epoch FROM runs ORDER BY id DESC LIMIT 1").fetchone()
                if last is not None and last[0] is None and last[1]:
                    epoch = last[2]
            cur = db.execute("INSERT INTO runs (started, host, pid, process, input_name, reissue, reissue_epoch) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", (_now(), self.host, os.getpid(), _process(os.getpid()),
                                                              input_name, int(reissue), epoch))
            run_id = int(cur.lastrowid or 0)
            if reissue and epoch is None:
                db.execute("UPDATE runs SET reissue_epoch = ? WHERE id = ?", (run_id, run_id))
        with _LIVE_LOCK:
            _LIVE.add(self._live_key(run_id))
        self._runs.add(run_id)
        return next(r for r in self.runs() if r.id == run_id)

    def end_run(self, run: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET finished = ? WHERE id = ?", (_now(), run))
        self._forget(run)

    def _forget(self, run: int) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self._live_key(run))
        self._runs.discard(run)

    def runs(self) -> list[Run]:
        rows = self._read("SELECT id, started, finished, host, pid, process, input_name, reissue, reissue_epoch "
                          "FROM runs ORDER BY id")
        return [Run(i, s, f, h, p, n, bool(r), e, pr) for i, s, f, h, p, pr, n, r, e in rows]

    def _dead(self, run: Run) -> bool:
        """True when ``run`` cannot be working any more. Runs of other hosts are never
        declared dead (a shared journal: their station may still be busy)."""
        if run.finished is not None:
            return True
        if run.host != self.host:
            return False
        if run.pid == os.getpid():
            with _LIVE_LOCK:
                return self._live_key(run.id) not in _LIVE
        return not _pid_alive(run.pid, run.process)

    def recover(self, run: int) -> Recovered:
        dead = {r.id for r in self.runs() if r.id != run and self._dead(r)}
        found: list[tuple[Entry, CardAttempt | None]] = []
        with self._tx() as db:
            rows = db.execute(f"SELECT {_ENTRY_COLUMNS} FROM cardholders WHERE state = 'in_progress'").fetchall()
            for entry in map(_entry, rows):
                if entry.run not in dead:
                    continue
                card = None
                if entry.card is not None:
                    got = db.execute(f"SELECT {_CARD_COLUMNS} FROM cards WHERE id = ? AND outcome IS NULL",
                                     (entry.card,)).fetchone()
                    card = _card(got) if got else None
                    db.execute("UPDATE cards SET outcome = 'interrupted', finished = ?, step = ? "
                               "WHERE id = ? AND outcome IS NULL", (_now(), entry.step, entry.card))
                db.execute("UPDATE cardholders SET state = 'pending', reason = ?, interrupted = interrupted + 1, "
                           "updated = ? WHERE key = ?",
                           (f"interrupted at step {entry.step!r} in run {entry.run}", _now(), entry.key))
                found.append((entry, card))
            cards = [_card(c) for c in db.execute(f"SELECT {_CARD_COLUMNS} FROM cards WHERE released = 0 AND "
                                                  "outcome IS NOT NULL ORDER BY id").fetchall()]
        return Recovered(found, [c for c in cards if c.run in dead])

    # --- rows -----------------------------------------------------------------------------
    def register(self, key: str, row_number: int, run: int) -> Registered:
        """Make sure ``key`` has a row (pending when new) and note that ``run`` saw it at
        ``row_number``; a bad-row entry for that input row is dropped (it is valid now).
        A key ``run`` already saw at another row is a duplicate: the row is left alone."""
        with self._tx() as db:
            now = _now()
            db.execute("DELETE FROM cardholders WHERE key = ?", (bad_row_key(row_number),))
            got = db.execute("SELECT row_number, seen_run FROM cardholders WHERE key = ?", (key,)).fetchone()
            duplicate = None
            if got is None:
                db.execute("INSERT INTO cardholders (key, row_number, state, seen_run, created, updated) "
                           "VALUES (?, ?, 'pending', ?, ?, ?)", (key, row_number, run, now, now))
            elif got[1] == run and got[0] != row_number:
                duplicate = got[0]
            else:
                db.execute("UPDATE cardholders SET row_number = ?, seen_run = ?, updated = ? WHERE key = ?",
                           (row_number, run, now, key))
            row = db.execute(f"SELECT {_ENTRY_COLUMNS} FROM cardholders WHERE key = ?", (key,)).fetchone()
        return Registered(_entry(row), duplicate)

    def allocate_card_number(self, key: str, district: str, first: int) -> str:
        """Holder ``key``'s card number: the one it had before, else the next serial from
        ``first`` in ``district`` (V2 appendix A, check character computed) after the last
        one allocated, that no holder of the journal has; allocated and kept in one transaction."""
        with self._tx() as db:
            got = db.execute("SELECT number FROM card_numbers WHERE key = ?", (key,)).fetchone()
            if got is not None:
                return str(got[0])
            last = db.execute("SELECT MAX(serial) FROM card_numbers WHERE district = ?", (district,)).fetchone()[0]
            serial = first if last is None else max(first, last + 1)
            while True:
                if serial > MAX_SERIAL:
                    raise JournalError(f"{self.path}: the card numbers of district {district} are used up "
                                       f"(the last is {new_card_number(district, MAX_SERIAL)})")
                number = new_card_number(district, serial)
                if db.execute("SELECT 1 FROM cardholders WHERE card_number = ? UNION ALL "
                              "SELECT 1 FROM card_numbers WHERE number = ?", (number, number)).fetchone() is None:
                    break
                serial += 1  # issued with this number given in an input row
            db.execute("INSERT INTO card_numbers (key, number, district, serial, noted) VALUES (?, ?, ?, ?, ?)",
                       (key, number, district, serial, _now()))
        return number

    def note_card_number(self, key: str, number: str) -> str | None:
        """Holder ``key`` carries ``number`` (given in its row, or allocated): kept so that
        no allocation hands it out again. Returns the key of another holder that has it
        already (the number is then not noted), else None."""
        with self._tx() as db:
            owner = db.execute("SELECT key FROM card_numbers WHERE number = ? UNION ALL "
                               "SELECT key FROM cardholders WHERE card_number = ?", (number, number)).fetchone()
            if owner is not None and owner[0] != key:
                return str(owner[0])
            db.execute("INSERT INTO card_numbers (key, number, district, serial, noted) VALUES (?, ?, ?, NULL, ?) "
                       "ON CONFLICT(key) DO UPDATE SET number = excluded.number, district = excluded.district, "
                       "serial = CASE WHEN number = excluded.number THEN serial END, noted = excluded.noted",
                       (key, number, number[:1], _now()))
        return None

    def record_bad_row(self, row_number: int, field: str | None, reason: str, run: int) -> None:
        """Input row ``row_number`` is not a valid cardholder: failed, with its first bad field."""
        with self._tx() as db:
            now = _now()
            db.execute("INSERT INTO cardholders (key, row_number, state, step, reason, field, seen_run, created, "
                       "updated) VALUES (?, ?, 'failed', 'input', ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                       "state = 'failed', step = 'input', reason = excluded.reason, field = excluded.field, "
                       "seen_run = excluded.seen_run, updated = excluded.updated",
                       (bad_row_key(row_number), row_number, reason, field, run, now, now))

    def claim(self, key: str, run: int, worker: str, *, reissue_epoch: int | None = None) -> bool:
        """pending/failed (or, for a reissue, done before ``reissue_epoch``) → in_progress.
        False when the row is not claimable (another worker or station has it, or done)."""
        with self._tx() as db:
            got = db.execute("SELECT state, done_run FROM cardholders WHERE key = ?", (key,)).fetchone()
            if got is None:
                return False
            state, done_run = got
            redo = state == "done" and reissue_epoch is not None and (done_run or 0) < reissue_epoch
            if state not in ("pending", "failed") and not redo:
                return False
            db.execute("UPDATE cardholders SET state = 'in_progress', step = ?, sw = NULL, field = NULL, worker = ?, "
                       "run = ?, card = NULL, updated = ? WHERE key = ?", (WAITING, worker, run, _now(), key))
            return True

    def unclaim(self, key: str) -> None:
        """in_progress without a card → back to what it was before (no card was inserted)."""
        with self._tx() as db:
            db.execute("UPDATE cardholders SET state = CASE WHEN done_run IS NULL THEN 'pending' ELSE 'done' END, "
                       "step = NULL, updated = ? WHERE key = ? AND state = 'in_progress' AND card IS NULL",
                       (_now(), key))

    def card_inserted(self, key: str, label: str) -> int:
        """A card for the claimed ``key`` is in the reader; returns its attempt id."""
        with self._tx() as db:
            entry = db.execute("SELECT state, run, worker FROM cardholders WHERE key = ?", (key,)).fetchone()
            if entry is None or entry[0] != "in_progress":
                raise JournalError(f"{self.path}: {key}: a card for a holder that is not claimed")
            now = _now()
            cur = db.execute("INSERT INTO cards (key, run, worker, label, started) VALUES (?, ?, ?, ?, ?)",
                             (key, entry[1], entry[2], label, now))
            card = int(cur.lastrowid or 0)
            db.execute("UPDATE cardholders SET card = ?, attempts = attempts + 1, step = 'card inserted', updated = ? "
                       "WHERE key = ?", (card, now, key))
        return card

    def step(self, key: str, step: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE cardholders SET step = ?, updated = ? WHERE key = ? AND state = 'in_progress'",
                       (step, _now(), key))

    def done(self, key: str, card: int, issued: Issued, *, face: dict[str, str] | None = None,
             pin_mailer: bool = False) -> None:
        with self._tx() as db:
            now = _now()
            db.execute("UPDATE cards SET outcome = 'done', finished = ?, step = NULL WHERE id = ?", (now, card))
            db.execute("UPDATE cardholders SET state = 'done', step = NULL, reason = NULL, field = NULL, sw = NULL, "
                       "card = ?, card_id = ?, card_number = ?, atr_serial = ?, pan = ?, verified = ?, "
                       "pin_mailer = ?, face = ?, done_run = run, updated = ? WHERE key = ?",
                       (card, issued.card_id, issued.card_number, issued.atr_serial, issued.pan, int(issued.verified),
                        int(pin_mailer), json.dumps(face, ensure_ascii=False) if face else None, now, key))

    def fail(self, key: str, card: int | None, *, step: str | None, reason: str, sw: str | None = None) -> None:
        """The holder failed on ``card`` (None: before any card) at ``step``."""
        with self._tx() as db:
            now = _now()
            if card is not None:
                db.execute("UPDATE cards SET outcome = 'failed', finished = ?, step = ? WHERE id = ?",
                           (now, step, card))
            db.execute("UPDATE cardholders SET state = 'failed', step = ?, reason = ?, sw = ?, updated = ? "
                       "WHERE key = ?", (step, reason, sw, now, key))

    def card_released(self, card: int, label: str | None = None) -> None:
        """The card source took the card back (a failed one: set aside, maybe renamed ``label``)."""
        with self._tx() as db:
            db.execute("UPDATE cards SET released = 1, label = COALESCE(?, label) WHERE id = ?", (label, card))

    # --- queries ----------------------------------------------------------------------------
    def get(self, key: str) -> Entry | None:
        rows = self._read(f"SELECT {_ENTRY_COLUMNS} FROM cardholders WHERE key = ?", (key,))
        return _entry(rows[0]) if rows else None

    def entries(self, state: State | None = None) -> Iterator[Entry]:
        where, args = ("WHERE state = ?", (state.value,)) if state else ("", ())
        yield from map(_entry, self._read(f"SELECT {_ENTRY_COLUMNS} FROM cardholders {where} "
                                          "ORDER BY row_number, key", args))

    def cards(self, *, unreleased: bool = False) -> list[CardAttempt]:
        where = "WHERE released = 0 AND outcome IS NOT NULL" if unreleased else ""
        return list(map(_card, self._read(f"SELECT {_CARD_COLUMNS} FROM cards {where} ORDER BY id")))

    def close(self) -> None:
        """Close the file. A run not ended with :meth:`end_run` counts as dead from now on."""
        for run in list(self._runs):
            self._forget(run)
        with self._lock:
            self._db.close()
