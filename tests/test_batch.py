"""Batches with fake flows and fake card sources: bad rows, failing cards, wrong keys,
resume after a crash, reissue, PIN mailers, parallel sources, streaming."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from perso_rows import row

from apdu.errors import NoCard
from apdu.transport.channel import Channel
from apdu.transport.virtual import VirtualTransport
from cardspec.profile import Profile
from personalize.batch import BatchEvent, BatchError, is_fatal, run_batch
from personalize.cardholder import BatchDefaults, Cardholder, RowError
from personalize.journal import SqliteJournal, State, bad_row_key
from personalize.mailer import PinMailerFile
from personalize.pin import PinPolicy
from personalize.session import PersoError

PROFILE = Profile.load("ssc3-sm4")
KEYS: Any = object()  # the fake flows never look at the keys


class FakeCard:
    def power_on(self) -> bytes:
        return bytes.fromhex("3B6D000000814A444686605199000001AC")

    def power_off(self) -> None:
        pass

    def reset(self) -> bytes:
        return self.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        return b"\x90\x00"


class FakeSource:
    """Hands out numbered fake cards; remembers what happened to each."""

    def __init__(self, name: str = "fake", *, fail_after: int | None = None) -> None:
        self.name = name
        self.count = 0
        self.fail_after = fail_after
        self.released: dict[str, bool] = {}
        self.aside: list[str] = []
        self.labels: dict[int, str] = {}

    def next_card(self) -> Channel:
        if self.fail_after is not None and self.count >= self.fail_after:
            raise NoCard(f"no card inserted into {self.name!r} within 0 s")
        self.count += 1
        channel = Channel(VirtualTransport(FakeCard(), name=f"{self.name} card {self.count}"))
        channel.connect()
        self.labels[id(channel)] = f"{self.name}/card-{self.count}"
        return channel

    def card_label(self, channel: Channel) -> str:
        return self.labels[id(channel)]

    def release(self, channel: Channel, ok: bool) -> str | None:
        label = self.labels[id(channel)]
        self.released[label] = ok
        channel.disconnect()
        return None if ok else label + ".failed"

    def set_aside(self, label: str) -> str | None:
        if not label.startswith(self.name + "/"):
            return None
        self.aside.append(label)
        return label + ".interrupted"


@dataclass
class FakeFlow:
    """Records each call; ``fail`` maps an SSN to the error its card raises."""

    fail: dict[str, Exception] | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, channel: Channel, ch: Cardholder, keys: Any, profile: Profile, *, reissue: bool = False,
                 on_step: Any = None) -> Any:
        with self.lock:
            self.calls.append((ch.social.ssn, channel.transport.description))
        for step in ("authenticate", "create SSSE", "write EF06"):
            on_step(step)
        time.sleep(self.delay)
        if self.fail and ch.social.ssn in self.fail:
            raise self.fail[ch.social.ssn]
        return SimpleNamespace(card_id=None, card_number=ch.social.card_number, atr_serial="000001AC",
                               pan=ch.financial.pan, verified=True)


def holders(n: int, **kw: str) -> list[Cardholder]:
    return [Cardholder.from_row(row(i, **kw), row_number=i + 2) for i in range(n)]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[SqliteJournal]:
    j = SqliteJournal(tmp_path / "j.sqlite")
    yield j
    j.close()


def test_all_issued(journal: SqliteJournal) -> None:
    items = holders(4)
    flow, source, events = FakeFlow(), FakeSource(), []
    s = run_batch(items, [source], KEYS, PROFILE, journal, flow=flow, progress=events.append)
    assert (s.done, s.ok, s.stopped) == (4, True, None)
    assert [c[0] for c in flow.calls] == [h.social.ssn for h in items]
    assert all(source.released.values()) and len(source.released) == 4
    e = journal.get(items[0].social.ssn)
    assert (e.state, e.issued.card_number, e.face["name"], e.pin_mailer) == (
        State.DONE, items[0].social.card_number, items[0].social.name, False)
    assert sum(ev.kind == "issued" for ev in events) == 4
    assert any(ev.kind == "step" and ev.message.endswith("write EF06") for ev in events)
    assert journal.runs()[-1].finished is not None


def test_bad_rows_are_recorded_and_the_batch_goes_on(journal: SqliteJournal) -> None:
    good = holders(3)
    bad = RowError(20, [("pan", "Luhn check digit is '5', expected '8'")])
    dup = Cardholder.from_row(row(0), row_number=9)  # the same SSN as row 2
    s = run_batch([good[0], bad, good[1], dup, good[2]], [FakeSource()], KEYS, PROFILE, journal, flow=FakeFlow())
    assert (s.done, s.bad_rows, s.ok) == (3, 2, False)
    e = journal.get(bad_row_key(20))
    assert (e.state, e.field, e.row_number) == (State.FAILED, "pan", 20)
    assert "Luhn" in e.reason
    d = journal.get(bad_row_key(9))
    assert (d.field, d.reason) == ("ssn", "row 9, field 'ssn': the same social security number as row 2")


def test_failed_card_is_set_aside_and_the_batch_goes_on(journal: SqliteJournal) -> None:
    items = holders(3)
    err = PersoError("write EF06", "UPDATE RECORD tag 08: 00DC... answered 6A82", apdu="00DC0845", sw=0x6A82)
    source = FakeSource()
    s = run_batch(items, [source], KEYS, PROFILE, journal, flow=FakeFlow({items[1].social.ssn: err}))
    assert (s.done, dict(s.failed), s.stopped) == (2, {"write EF06: SW 6A82": 1}, None)
    assert source.released == {"fake/card-1": True, "fake/card-2": False, "fake/card-3": True}
    e = journal.get(items[1].social.ssn)
    assert (e.state, e.step, e.sw) == (State.FAILED, "write EF06", "6A82")
    assert [c.label for c in journal.cards() if c.outcome == "failed"] == ["fake/card-2.failed"]
    assert s.failures == [{"row": 3, "ssn": items[1].social.ssn[:6] + "…" + items[1].social.ssn[-4:],
                           "step": "write EF06", "sw": "6A82", "reason": str(err)}]


def test_wrong_keys_stop_after_the_first_card(journal: SqliteJournal) -> None:
    items = holders(6)
    wrong = PersoError("transport authentication", "EXTERNAL AUTHENTICATE answered 63C2",
                       apdu="0082000010********************************", sw=0x63C2, fatal=True)
    assert is_fatal(wrong)
    flow = FakeFlow({h.social.ssn: wrong for h in items})
    source = FakeSource()
    s = run_batch(iter(items), [source], KEYS, PROFILE, journal, flow=flow)
    assert len(flow.calls) == 1 and source.count == 1, "no second card is spent"
    assert s.stopped and "issuer keys do not match" in s.stopped
    assert journal.get(items[0].social.ssn).state is State.FAILED
    assert all(journal.get(h.social.ssn) is None or journal.get(h.social.ssn).state is State.PENDING
               for h in items[1:])


def test_pulled_card_is_not_fatal() -> None:
    pulled = PersoError("authenticate", "card removed", apdu="0082000010****", sw=0x63C1, card_removed=True)
    assert not is_fatal(pulled)


def test_resume_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    items = holders(4)
    first = SqliteJournal(path)
    run_batch(items[:2], [FakeSource("reader 0")], KEYS, PROFILE, first, flow=FakeFlow())
    # a run dies while writing EF06 for the third holder
    run = first.begin_run()
    first.register(items[2].social.ssn, 4, run.id)
    first.claim(items[2].social.ssn, run.id, "reader 0")
    first.card_inserted(items[2].social.ssn, "reader 0/card-old")
    first.step(items[2].social.ssn, "write EF06")
    first.close()

    j = SqliteJournal(path)
    flow, source, events = FakeFlow(), FakeSource("reader 0"), []
    s = run_batch(items, [source], KEYS, PROFILE, j, flow=flow, progress=events.append)
    assert (s.done, s.already_issued) == (2, 2)
    assert [c[0] for c in flow.calls] == [items[2].social.ssn, items[3].social.ssn], "done rows are not redone"
    assert source.aside == ["reader 0/card-old"], "the half-written card is set aside, never continued"
    assert flow.calls[0][1] == "reader 0 card 1", "the interrupted holder gets a fresh card"
    assert len(s.interrupted) == 1
    assert s.interrupted[0].startswith(f"row 4 (SSN {items[2].social.ssn[:6]}…") and "'write EF06'" in s.interrupted[0]
    assert s.set_aside == ["card reader 0/card-old (interrupted in run 2, step 'write EF06'): "
                           "set aside as reader 0/card-old.interrupted"]
    e = j.get(items[2].social.ssn)
    assert (e.state, e.attempts, e.interrupted) == (State.DONE, 2, 1)
    assert [ev.kind for ev in events][:2] == ["interrupted", "set_aside"]
    j.close()


def test_reissue(journal: SqliteJournal) -> None:
    items = holders(2)
    run_batch(items, [FakeSource()], KEYS, PROFILE, journal, flow=FakeFlow())
    again = FakeFlow()
    s = run_batch(items, [FakeSource()], KEYS, PROFILE, journal, flow=again)
    assert (s.done, s.already_issued, again.calls) == (0, 2, [])
    s = run_batch(items, [FakeSource()], KEYS, PROFILE, journal, flow=again, reissue=True)
    assert (s.done, s.already_issued, len(again.calls)) == (2, 0, 2)


def test_random_pins_need_a_mailer(tmp_path: Path, journal: SqliteJournal) -> None:
    defaults = BatchDefaults(pin_policy=PinPolicy.parse("random:6"))
    items = [Cardholder.from_row({k: v for k, v in row(i).items() if k != "pin"}, row_number=i + 2,
                                 defaults=defaults) for i in range(2)]
    s = run_batch(items, [FakeSource()], KEYS, PROFILE, journal, flow=FakeFlow())
    assert s.done == 0 and "PIN-mailer file" in s.stopped
    assert journal.get(items[0].social.ssn).state is State.PENDING
    with PinMailerFile(tmp_path / "pins.txt") as mailer:
        s = run_batch(items, [FakeSource()], KEYS, PROFILE, journal, flow=FakeFlow(), mailer=mailer)
    assert s.done == 2
    text = (tmp_path / "pins.txt").read_text(encoding="utf-8")
    for h in items:
        assert f"PIN {h.pin.reveal()}\n" in text
        assert journal.get(h.social.ssn).pin_mailer


def test_two_sources_work_in_parallel(journal: SqliteJournal) -> None:
    items = holders(12)
    flow = FakeFlow(delay=0.05)
    sources = [FakeSource("reader 0"), FakeSource("reader 1")]
    started = time.monotonic()
    s = run_batch(items, sources, KEYS, PROFILE, journal, flow=flow)
    elapsed = time.monotonic() - started
    assert s.done == 12 and sorted(c[0] for c in flow.calls) == sorted(h.social.ssn for h in items)
    assert sources[0].count + sources[1].count == 12 and min(sources[0].count, sources[1].count) >= 3
    assert elapsed < 12 * 0.05 * 0.85, "two readers at once, not one after the other"
    workers = {c.worker for c in journal.cards()}
    assert workers == {"reader 0", "reader 1"}


def test_a_source_without_cards_leaves_the_other_working(journal: SqliteJournal) -> None:
    items = holders(5)
    empty, good = FakeSource("reader 0", fail_after=0), FakeSource("reader 1")
    events: list[BatchEvent] = []
    s = run_batch(items, [empty, good], KEYS, PROFILE, journal, flow=FakeFlow(delay=0.01), progress=events.append)
    assert (s.done, good.count, s.stopped) == (5, 5, None)
    assert any(ev.kind == "stopped" and "reader 0" in ev.message for ev in events)


def test_no_card_source_left_stops_the_batch(journal: SqliteJournal) -> None:
    items = holders(3)
    s = run_batch(items, [FakeSource(fail_after=1)], KEYS, PROFILE, journal, flow=FakeFlow())
    assert s.done == 1 and "no card source left" in s.stopped
    assert journal.get(items[1].social.ssn).state is State.PENDING, "the holder without a card is not failed"


def test_input_is_streamed(journal: SqliteJournal) -> None:
    items = holders(20)
    taken = [0]

    def stream() -> Iterator[Cardholder]:
        for h in items:
            taken[0] += 1
            yield h

    ahead: list[int] = []
    flow = FakeFlow()

    def watching(channel: Channel, ch: Cardholder, *a: Any, **kw: Any) -> Any:
        ahead.append(taken[0] - items.index(ch))
        return flow(channel, ch, *a, **kw)

    run_batch(stream(), [FakeSource()], KEYS, PROFILE, journal, flow=watching)
    assert max(ahead) <= 4, f"read at most queue size (2) + 2 rows ahead, not {max(ahead)}"


def test_a_bug_in_the_flow_is_reraised_and_journaled(journal: SqliteJournal) -> None:
    items = holders(3)

    def broken(*a: Any, on_step: Any = None, **kw: Any) -> Any:
        on_step("write EF05")
        raise ZeroDivisionError("boom")

    source = FakeSource()
    with pytest.raises(ZeroDivisionError):
        run_batch(items, [source], KEYS, PROFILE, journal, flow=broken)
    e = journal.get(items[0].social.ssn)
    assert (e.state, e.step, e.reason) == (State.FAILED, "write EF05", "internal error: ZeroDivisionError: boom")
    assert source.released == {"fake/card-1": False} and source.count == 1
    assert journal.runs()[-1].finished is not None


def test_needs_a_source(journal: SqliteJournal) -> None:
    with pytest.raises(BatchError, match="at least one card source"):
        run_batch([], [], KEYS, PROFILE, journal, flow=FakeFlow())


def test_ctrl_c_finishes_the_cards_in_the_readers(journal: SqliteJournal) -> None:
    items = holders(6)

    def interrupted() -> Iterator[Cardholder]:
        yield from items[:3]
        time.sleep(0.05)  # the workers take the queued holders
        raise KeyboardInterrupt

    flow = FakeFlow(delay=0.02)
    s = run_batch(interrupted(), [FakeSource()], KEYS, PROFILE, journal, flow=flow)
    assert s.stopped is not None and s.stopped.startswith("interrupted by the operator")
    assert [c.outcome for c in journal.cards()] == ["done"] * len(flow.calls), "no card left half done"
    assert all(e.state in (State.DONE, State.PENDING) for e in journal.entries())
    assert journal.runs()[-1].finished is not None


def test_an_input_that_breaks_off_stops_the_batch(journal: SqliteJournal) -> None:
    from personalize.inputs import InputError

    def broken() -> Iterator[Cardholder]:
        yield holders(1)[0]
        raise InputError("people.csv: cannot read line 3 (I/O error)")

    s = run_batch(broken(), [FakeSource()], KEYS, PROFILE, journal, flow=FakeFlow())
    assert s.stopped == "people.csv: cannot read line 3 (I/O error)"
