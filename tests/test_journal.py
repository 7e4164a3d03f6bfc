"""The batch journal: transitions, resume after a crash, concurrent workers, no secrets."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import stat
import threading
import time
from pathlib import Path

import pytest

from personalize.journal import (Issued, JournalError, SqliteJournal, State, WAITING, bad_row_key)

SSN = "11010519491231002X"
SSN2 = "511302198507160027"
ISSUED = Issued("511300D156000005", "K80362153", "00000001", "6228481234567890128", True)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "batch.journal.sqlite"


def test_file_is_private_and_wal(path: Path) -> None:
    j = SqliteJournal(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    j.close()


def test_happy_path(path: Path) -> None:
    j = SqliteJournal(path)
    run = j.begin_run(input_name="in.csv")
    assert j.register(SSN, 2, run.id).entry.state is State.PENDING
    assert j.claim(SSN, run.id, "w1")
    assert j.get(SSN).step == WAITING
    assert not j.claim(SSN, run.id, "w2"), "an in-progress row is not claimed twice"
    card = j.card_inserted(SSN, "card-00001.json")
    j.step(SSN, "write EF06")
    e = j.get(SSN)
    assert (e.state, e.step, e.attempts, e.worker, e.card) == (State.IN_PROGRESS, "write EF06", 1, "w1", card)
    j.done(SSN, card, ISSUED, face={"name": "李磊"}, pin_mailer=True)
    e = j.get(SSN)
    assert (e.state, e.issued, e.face, e.pin_mailer, e.done_run, e.step) == (
        State.DONE, ISSUED, {"name": "李磊"}, True, run.id, None)
    assert not j.claim(SSN, run.id, "w1"), "a done row is not claimed without reissue"
    assert [c.outcome for c in j.cards()] == ["done"]
    j.card_released(card)
    assert j.cards(unreleased=True) == []
    j.end_run(run.id)
    assert j.runs()[0].finished is not None
    j.close()


def test_fail_then_retry_counts_attempts(path: Path) -> None:
    j = SqliteJournal(path)
    run = j.begin_run()
    j.register(SSN, 2, run.id)
    j.claim(SSN, run.id, "w1")
    card = j.card_inserted(SSN, "a")
    j.fail(SSN, card, step="write EF05", reason="SW 6A82", sw="6A82")
    e = j.get(SSN)
    assert (e.state, e.step, e.sw, e.reason) == (State.FAILED, "write EF05", "6A82", "SW 6A82")
    assert j.claim(SSN, run.id, "w1"), "a failed row is retried"
    assert j.get(SSN).sw is None
    j.card_inserted(SSN, "b")
    assert j.get(SSN).attempts == 2
    assert [(c.label, c.outcome) for c in j.cards()] == [("a", "failed"), ("b", None)]
    assert [c.label for c in j.cards(unreleased=True)] == ["a"]


def test_unclaim_without_card(path: Path) -> None:
    j = SqliteJournal(path)
    run = j.begin_run()
    j.register(SSN, 2, run.id)
    j.claim(SSN, run.id, "w1")
    j.unclaim(SSN)
    assert (j.get(SSN).state, j.get(SSN).attempts) == (State.PENDING, 0)
    with pytest.raises(JournalError, match="not claimed"):
        j.card_inserted(SSN, "x")


def test_bad_rows_and_duplicates(path: Path) -> None:
    j = SqliteJournal(path)
    run = j.begin_run()
    j.record_bad_row(3, "pan", "row 3, field 'pan': Luhn check digit", run.id)
    e = j.get(bad_row_key(3))
    assert (e.state, e.field, e.row_number, e.step) == (State.FAILED, "pan", 3, "input")
    assert j.register(SSN, 2, run.id).duplicate_of is None
    assert j.register(SSN, 7, run.id).duplicate_of == 2, "same SSN twice in one run"
    assert j.get(SSN).row_number == 2
    run2 = j.begin_run()
    j.register(SSN2, 3, run2.id)
    assert j.get(bad_row_key(3)) is None, "row 3 is valid now: its bad-row entry goes"
    assert j.register(SSN, 5, run2.id).duplicate_of is None, "a later run may see the holder at another row"
    assert j.get(SSN).row_number == 5


def _crash_mid_card(path: Path) -> tuple[int, int]:
    """A run that dies while writing EF06: its journal is closed without end_run."""
    j = SqliteJournal(path)
    run = j.begin_run()
    j.register(SSN, 2, run.id)
    j.register(SSN2, 3, run.id)
    j.claim(SSN, run.id, "reader 0")
    card = j.card_inserted(SSN, "card-00001.json")
    j.step(SSN, "write EF06")
    j.claim(SSN2, run.id, "reader 1")  # claimed, no card yet
    j.close()
    return run.id, card


def test_recover_interrupted_rows(path: Path) -> None:
    dead_run, card = _crash_mid_card(path)
    j = SqliteJournal(path)
    run = j.begin_run()
    recovered = j.recover(run.id)
    found = {e.key: (e, c) for e, c in recovered.interrupted}
    assert set(found) == {SSN, SSN2}
    entry, attempt = found[SSN]
    assert (entry.step, entry.run, attempt.id, attempt.label) == ("write EF06", dead_run, card, "card-00001.json")
    assert found[SSN2][1] is None and found[SSN2][0].step == WAITING
    e = j.get(SSN)
    assert (e.state, e.interrupted, e.reason) == (State.PENDING, 1, f"interrupted at step 'write EF06' in run {dead_run}")
    assert [(c.outcome, c.step, c.released) for c in j.cards()] == [("interrupted", "write EF06", False)]
    assert [c.id for c in recovered.unreleased] == [card], "the card of the dead run is to be set aside"
    again = j.recover(run.id)
    assert again.interrupted == [], "rows are recovered once"
    assert [c.id for c in again.unreleased] == [card], "until it is set aside"
    j.card_released(card, "card-00001.json.interrupted")
    assert j.recover(run.id).unreleased == []
    assert j.claim(SSN, run.id, "reader 0")


def test_live_runs_are_not_recovered(path: Path) -> None:
    other = SqliteJournal(path)
    live = other.begin_run()
    other.register(SSN, 2, live.id)
    other.claim(SSN, live.id, "reader 0")
    j = SqliteJournal(path)
    run = j.begin_run()
    card = other.card_inserted(SSN, "x")
    other.fail(SSN, card, step="write EF05", reason="6A82")  # failed, not yet handed back
    other.claim(SSN, live.id, "reader 0")
    assert j.recover(run.id).interrupted == [], "the other journal's run is alive (same process, not closed)"
    assert j.recover(run.id).unreleased == [], "its cards are its own business"
    other.close()
    recovered = j.recover(run.id)
    assert [e.key for e, _ in recovered.interrupted] == [SSN]
    assert [c.id for c in recovered.unreleased] == [card]


def test_runs_of_other_hosts_are_left_alone(path: Path) -> None:
    j = SqliteJournal(path)
    run = j.begin_run()
    j.register(SSN, 2, run.id)
    j.claim(SSN, run.id, "station B")
    j.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET host = 'station-b', pid = 1")
    j = SqliteJournal(path)
    run2 = j.begin_run()
    assert j.recover(run2.id).interrupted == []
    assert j.get(SSN).state is State.IN_PROGRESS


def test_dead_process_run_is_recovered(path: Path) -> None:
    j = SqliteJournal(path)
    run = j.begin_run()
    j.register(SSN, 2, run.id)
    j.claim(SSN, run.id, "w")
    with sqlite3.connect(path) as db:  # a pid that cannot exist (above pid_max)
        db.execute("UPDATE runs SET pid = 4194305 WHERE id = ?", (run.id,))
    run2 = j.begin_run()
    assert [e.key for e, _ in j.recover(run2.id).interrupted] == [SSN]


def test_zombie_and_reused_pids_are_dead(path: Path) -> None:
    j = SqliteJournal(path)
    zombie = subprocess.Popen(["true"])  # exits and is not waited for: a zombie
    for run_pid, process in ((zombie.pid, None), (os.getppid(), "not its start time")):
        run = j.begin_run()
        key = f"K{run_pid}"
        j.register(key, 2, run.id)
        j.claim(key, run.id, "w")
        with sqlite3.connect(path) as db:
            db.execute("UPDATE runs SET pid = ?, process = ? WHERE id = ?", (run_pid, process, run.id))
        time.sleep(0.2)
        assert [e.key for e, _ in j.recover(j.begin_run().id).interrupted] == [key]
    zombie.wait()


def test_reissue_epoch(path: Path) -> None:
    j = SqliteJournal(path)
    first = j.begin_run()
    for key, row in ((SSN, 2), (SSN2, 3)):
        j.register(key, row, first.id)
        j.claim(key, first.id, "w")
        j.done(key, j.card_inserted(key, f"card {row}"), ISSUED)
    j.end_run(first.id)
    re1 = j.begin_run(reissue=True)
    assert re1.reissue_epoch == re1.id
    assert j.claim(SSN, re1.id, "w", reissue_epoch=re1.reissue_epoch), "issued before the reissue: again"
    j.done(SSN, j.card_inserted(SSN, "card re"), ISSUED)
    j.close()  # the reissue run dies here
    j = SqliteJournal(path)
    re2 = j.begin_run(reissue=True)
    assert re2.reissue_epoch == re1.id, "the unfinished reissue run is continued"
    assert not j.claim(SSN, re2.id, "w", reissue_epoch=re2.reissue_epoch), "never reissued twice"
    assert j.claim(SSN2, re2.id, "w", reissue_epoch=re2.reissue_epoch)
    j.unclaim(SSN2)
    assert j.get(SSN2).state is State.DONE, "unclaiming a reissue leaves the row done"
    j.end_run(re2.id)
    re3 = j.begin_run(reissue=True)
    assert re3.reissue_epoch == re3.id, "after a finished reissue run, --reissue starts afresh"


def test_concurrent_workers_claim_each_row_once(path: Path) -> None:
    setup = SqliteJournal(path)
    run = setup.begin_run()
    keys = [f"K{i:03d}" for i in range(60)]
    for i, key in enumerate(keys):
        setup.register(key, i + 2, run.id)
    claimed: dict[str, list[str]] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def worker(index: int, journal: SqliteJournal) -> None:
        name = f"w{index}"
        barrier.wait()
        for key in keys[index * 10:] + keys[:index * 10]:  # overlapping orders: real contention
            if journal.claim(key, run.id, name):
                card = journal.card_inserted(key, f"{name}/{key}")
                time.sleep(0.002)  # the card's work, outside any transaction
                journal.step(key, "write EF05")
                journal.done(key, card, ISSUED)
                with lock:
                    claimed.setdefault(key, []).append(name)

    # three threads share one journal object, three have their own connection to the file
    journals = [setup] * 3 + [SqliteJournal(path) for _ in range(3)]
    threads = [threading.Thread(target=worker, args=(i, jr)) for i, jr in enumerate(journals)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == keys
    assert all(len(v) == 1 for v in claimed.values())
    assert all(e.state is State.DONE and e.attempts == 1 for e in setup.entries())
    assert len(setup.cards()) == len(keys)
    assert len({c.worker for c in setup.cards()}) > 1, "the work was shared"


def test_refuses_foreign_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.sqlite"
    bad.write_bytes(b"not a database, just text" * 100)
    with pytest.raises(JournalError, match="x.sqlite: not a usable journal"):
        SqliteJournal(bad)
    with pytest.raises(JournalError, match="no such journal"):
        SqliteJournal(tmp_path / "missing.sqlite", create=False)
    newer = tmp_path / "newer.sqlite"
    SqliteJournal(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value = '99' WHERE name = 'schema'")
    with pytest.raises(JournalError, match="journal schema 99, this sscard reads 1"):
        SqliteJournal(newer)


def test_no_secret_reaches_the_journal(tmp_path: Path) -> None:
    """A real batch on virtual cards; then neither a PIN nor any key (master, per-card,
    transport, card master, UDK) appears in the journal files, as text or as bytes."""
    from perso_rows import row

    from apdu.atr import parse_atr
    from cardspec.pin import encode_pin
    from cardspec.profile import Profile
    from clicmd.perso_sources import VirtualCardDir
    from personalize.batch import run_batch
    from personalize.cardholder import Cardholder
    from personalize.keys import IssuerKeys
    from personalize.mfkeys import load_mf_keys

    key_file = Path(__file__).resolve().parent.parent / "vectors" / "test-issuer-keys.toml"
    keys = IssuerKeys.load(key_file, insecure=True)
    mf = load_mf_keys(key_file, keys.ssse_algorithm, insecure=True)
    profile = Profile.load("ssc3-sm4")
    pins = ["739184602751", "604527318946", "918273645019"]
    rows = [row(i, pin=pin) for i, pin in enumerate(pins)]
    for r in rows:
        assert not any(p in value for p in pins for value in r.values() if value not in pins), "a PIN hides in data"
    holders = [Cardholder.from_row(r, row_number=i + 2) for i, r in enumerate(rows)]
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    summary = run_batch(holders, [VirtualCardDir(tmp_path / "cards", profile)], keys, profile, journal)
    assert summary.done == 3 and summary.ok
    journal.close()
    pool_threads = [t for t in threading.enumerate() if t.name.startswith("icc-keys")]  # its ICC key pool
    for thread in pool_threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in pool_threads), "the batch left its ICC key pool running"

    historical = parse_atr(profile.atr_bytes()).historical
    secrets: list[bytes] = [k.reveal() for k in (*keys.ssse_master.values(), *keys.pboc.values(), mf.transport, mf.cmk)]
    for h in holders:
        secrets += list(keys.ssse_card_keys(h.social.region, historical).values())
        secrets.append(mf.card_master_key(h.social.region, historical).reveal())
        secrets += list(keys.pboc_udks(h.financial.pan, h.financial.psn))
    needles = [s for k in secrets for s in (k, k.hex().upper().encode(), k.hex().encode())]
    needles += [n for p in pins for n in (p.encode(), encode_pin(p), p.encode("utf-16-le"))]
    files = [p for p in tmp_path.iterdir() if p.name.startswith("j.sqlite")]
    assert path in files
    for file in files:
        data = file.read_bytes()
        leaked = [n for n in needles if n in data]
        assert not leaked, f"{file.name} holds {len(leaked)} secrets"
    data = path.read_bytes()
    assert holders[0].social.ssn.encode() in data, "the scan looks at the right bytes"
