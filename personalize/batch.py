"""Batches that survive crashes: personalize a stream of cardholders on cards from one or
more card sources (readers in parallel), journaling every step (:mod:`.journal`).

* One worker thread per :class:`CardSource`; the input is streamed through a bounded
  queue (constant memory, whatever the file size).
* Resume: holders already ``done`` are skipped ("already issued") unless ``reissue``; a
  holder left ``in_progress`` by a run that died is reported (the step it reached, its
  card) and personalized again on a **fresh** card: the card of the dead run is set aside
  (:meth:`CardSource.set_aside`), never continued.
* A bad input row is journaled as failed (row, field, reason) and the batch goes on; so
  does a card that fails (:class:`~personalize.flow.PersoError`): it is set aside
  (``release(ok=False)``). Wrong issuer keys stop the batch after the first card (every
  card would fail the same way, and each try spends a try of the card's transport key).
* With ``[oda]`` keys the default flow takes the cards' ICC key pairs from a pool that
  child processes fill (:class:`~personalize.icckeys.IccKeyPool`), closed at the end.
"""
from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable

from apdu.errors import SSCardError
from apdu.transport.channel import Channel
from cardspec.profile import Profile

from .batch_model import BatchError, BatchEvent, BatchSummary, CardSource, EventKind, is_fatal, mask_ssn
from .cardholder import Cardholder, RowError
from .flow import PersoResult, personalize_card
from .icckeys import IccKeyPool
from .journal import Issued, Journal, Run, State
from .keys import IssuerKeys
from .mailer import PinMailerFile
from .oda import ICC_BITS, ICC_EXPONENT
from .session import PersoError

__all__ = ["CardSource", "BatchEvent", "BatchSummary", "BatchError", "run_batch", "is_fatal", "mask_ssn"]

log = logging.getLogger(__name__)
Flow = Callable[..., PersoResult]


def _failure_reason(exc: BaseException) -> tuple[str | None, str | None, str]:
    """(step, SW hex, category) of a card failure."""
    step = getattr(exc, "step", None)
    sw = getattr(exc, "sw", None)
    sw_hex = f"{sw:04X}" if isinstance(sw, int) else None
    if isinstance(exc, PersoError):
        return step, sw_hex, f"{step}: SW {sw_hex}" if sw_hex else f"{step}: {exc}"
    return step, sw_hex, type(exc).__name__


def _issued(result: PersoResult) -> Issued:
    return Issued(result.card_id, result.card_number, result.atr_serial, result.pan, result.verified)


class _SourceGone(Exception):
    """A card source gave no card: its worker ends."""

    def __init__(self, error: SSCardError) -> None:
        super().__init__(str(error))
        self.error = error


class _Batch:
    """The shared state of one run: journal, queue, stop flag, summary."""

    def __init__(self, sources: list[CardSource], keys: IssuerKeys, profile: Profile, journal: Journal, run: Run,
                 reissue: bool, flow: Flow, progress: Callable[[BatchEvent], None] | None,
                 mailer: PinMailerFile | None) -> None:
        self.sources, self.keys, self.profile, self.journal, self.run = sources, keys, profile, journal, run
        self.reissue, self.flow, self.mailer = reissue, flow, mailer
        self._progress = progress
        self.queue: queue.Queue[Cardholder | None] = queue.Queue(maxsize=2 * len(sources))
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.summary = BatchSummary(run.id)
        self.errors: list[BaseException] = []
        self.gone: set[int] = set()  #: id() of the sources whose worker ended
        self.cond = threading.Condition()
        self.outstanding = 0  #: holders queued and not yet finished with

    def emit(self, kind: EventKind, message: str, row: int | None = None, worker: str | None = None) -> None:
        if self._progress is not None:
            self._progress(BatchEvent(kind, message, row, worker))

    def halt(self, reason: str) -> None:
        with self.lock:
            if self.summary.stopped is None:
                self.summary.stopped = reason
        if not self.stop.is_set():
            self.stop.set()
            self.emit("stopped", reason)

    # --- resume -----------------------------------------------------------------------------
    def recover(self) -> None:
        recovered = self.journal.recover(self.run.id)
        for entry, card in recovered.interrupted:
            where = f" on card {card.label}" if card else " before a card was inserted"
            msg = (f"row {entry.row_number} (SSN {mask_ssn(entry.key)}): interrupted at step {entry.step!r}{where} "
                   f"in the previous run (run {entry.run}); it will be personalized again on a fresh card")
            self.summary.interrupted.append(msg)
            self.emit("interrupted", msg, entry.row_number)
        for card in recovered.unreleased:
            if card.outcome == "done":
                self.journal.card_released(card.id)
                continue
            label = next((new for s in self.sources if (new := s.set_aside(card.label)) is not None), None)
            self.journal.card_released(card.id, label)
            where = f"set aside as {label}" if label else "set it aside by hand"
            msg = f"card {card.label} ({card.outcome} in run {card.run}, step {card.step!r}): {where}"
            self.summary.set_aside.append(msg)
            self.emit("set_aside", msg)

    # --- producer -----------------------------------------------------------------------------
    def feed(self, items: Iterable[Cardholder | RowError]) -> None:
        for item in items:
            if self.stop.is_set():
                return
            if isinstance(item, RowError):
                self._bad(item.row_number, item.field, str(item))
                continue
            self._offer(item)

    def _offer(self, ch: Cardholder) -> None:
        key, row = ch.social.ssn, ch.row_number
        reg = self.journal.register(key, row, self.run.id)
        entry = reg.entry
        if reg.duplicate_of is not None:
            self._bad(row, "ssn", f"row {row}, field 'ssn': the same social security number as row {reg.duplicate_of}")
            return
        owner = self.journal.note_card_number(key, ch.social.card_number)
        if owner is not None:
            self._bad(row, "card_number", f"row {row}, field 'card_number': {ch.social.card_number} is the card "
                                          f"number of another holder (SSN {mask_ssn(owner)})")
            return
        redo = self.run.reissue_epoch is not None and (entry.done_run or 0) < self.run.reissue_epoch
        if entry.state is State.DONE and not redo:
            self.summary.already_issued += 1
            card = entry.issued.card_number if entry.issued else "?"
            self.emit("skipped", f"row {row} (SSN {mask_ssn(key)}): already issued (card {card}, run {entry.done_run})",
                      row)
            return
        if entry.state is State.IN_PROGRESS:
            self.summary.busy += 1
            self.emit("skipped", f"row {row} (SSN {mask_ssn(key)}): in progress at {entry.worker} (run {entry.run})",
                      row)
            return
        for warning in ch.warnings:
            self.emit("warning", warning, row)
        with self.cond:
            self.outstanding += 1
        self._put(ch)

    def _bad(self, row: int, field: str | None, reason: str) -> None:
        self.journal.record_bad_row(row, field, reason, self.run.id)
        self.summary.bad_rows += 1
        self.emit("bad_row", reason, row)

    def _put(self, ch: Cardholder) -> None:
        """Queue ``ch`` (waiting while the queue is full) unless the batch stops."""
        while not self.stop.is_set():
            if self.alive == 0:
                self.halt("no card source left")
                break
            try:
                self.queue.put(ch, timeout=0.1)
                return
            except queue.Full:
                continue
        self._settle()

    def _settle(self) -> None:
        """One queued holder is finished with (issued, failed, skipped or dropped)."""
        with self.cond:
            self.outstanding -= 1
            self.cond.notify_all()

    def finish(self, workers: list[threading.Thread]) -> None:
        """Wait until every queued holder is finished with, then send each worker its end
        marker and wait for all (each finishes its current card)."""
        with self.cond:
            while self.outstanding > 0 and self.alive > 0 and not self.stop.is_set():
                self.cond.wait(0.2)
        for _ in workers:
            while any(w.is_alive() for w in workers):
                try:
                    self.queue.put(None, timeout=0.1)
                    break
                except queue.Full:
                    continue
        for w in workers:
            while w.is_alive():
                w.join(0.2)

    # --- workers --------------------------------------------------------------------------------
    def work(self, source: CardSource) -> None:
        try:
            while True:
                ch = self.queue.get()
                if ch is None:
                    return
                try:
                    if not self.stop.is_set():
                        self._one(source, ch)
                except _SourceGone as gone:
                    self.emit("stopped", f"{source.name}: {gone.error}", ch.row_number, source.name)
                    if self._leave(source) == 0:
                        self.halt(f"no card source left ({source.name}: {gone.error})")
                        self._settle()
                    else:
                        self._put(ch)  # another worker takes the holder
                    return
                self._settle()
        except BaseException as exc:  # a bug or a broken journal: stop everything, re-raise in run_batch
            self._settle()
            self.errors.append(exc)
            self.halt(f"internal error in worker {source.name}: {type(exc).__name__}: {exc}")
        finally:
            if self._leave(source) == 0 or self.stop.is_set():
                self._drain()

    def _leave(self, source: CardSource) -> int:
        """Count ``source``'s worker out (once); returns how many workers are left."""
        with self.lock:
            self.gone.add(id(source))
            return self.alive

    @property
    def alive(self) -> int:
        return len(self.sources) - len(self.gone)

    def _drain(self) -> None:
        while True:
            try:
                if self.queue.get_nowait() is not None:
                    self._settle()
            except queue.Empty:
                return

    def _one(self, source: CardSource, ch: Cardholder) -> None:
        """Personalize one holder; :class:`_SourceGone` when the source gave no card."""
        key, row, name = ch.social.ssn, ch.row_number, source.name
        who = f"row {row} (SSN {mask_ssn(key)})"
        if not self.journal.claim(key, self.run.id, name, reissue_epoch=self.run.reissue_epoch):
            self.emit("skipped", f"{who}: taken by another worker or station", row, name)
            return
        if ch.pin.needs_mailer and self.mailer is None:
            self.journal.unclaim(key)
            self.halt(f"{who}: a random initial PIN needs a PIN-mailer file (--pin-mailer FILE)")
            return
        try:
            channel = source.next_card()
        except SSCardError as exc:
            self.journal.unclaim(key)
            raise _SourceGone(exc) from None
        card = self.journal.card_inserted(key, source.card_label(channel))
        ok, started, step = False, time.monotonic(), ["card inserted"]

        def on_step(text: str) -> None:
            step[0] = text
            self.journal.step(key, text)
            self.emit("step", f"{who}: {text}", row, name)

        try:
            result = self.flow(channel, ch, self.keys, self.profile, reissue=self.reissue, on_step=on_step)
            mailer = ch.pin_mailer()
            if mailer is not None:
                assert self.mailer is not None
                self.mailer.write(mailer, row_number=row, card=card)
            self.journal.done(key, card, _issued(result), face=ch.to_face_data(), pin_mailer=mailer is not None)
            ok = True
            with self.lock:
                self.summary.done += 1
                self.summary.card_seconds.append(time.monotonic() - started)
            self.emit("issued", f"{who}: issued card {result.card_number}"
                                + ("" if result.verified else " (NOT verified)"), row, name)
        except SSCardError as exc:
            failed_step, sw, category = _failure_reason(exc)
            failed_step = failed_step or step[0]
            self.journal.fail(key, card, step=failed_step, reason=str(exc), sw=sw)
            with self.lock:
                self.summary.failed[category] += 1
                self.summary.failures.append({"row": row, "ssn": mask_ssn(key), "step": failed_step, "sw": sw,
                                              "reason": str(exc)})
            self.emit("failed", f"{who}: {exc}", row, name)
            if is_fatal(exc) and isinstance(exc, PersoError):
                self.halt(f"{who}: the issuer keys do not match the cards ({exc}); stopped after the first "
                          "failure so that no more key tries are spent")
            elif is_fatal(exc):
                self.halt(f"{who}: {exc}; stopped: every further card would fail the same way")
        except BaseException as exc:
            self.journal.fail(key, card, step=step[0], reason=f"internal error: {type(exc).__name__}: {exc}")
            raise
        finally:
            self._release(source, channel, ok, card, who)

    def _release(self, source: CardSource, channel: Channel, ok: bool, card: int, who: str) -> None:
        """Hand the card back; if the source cannot take it (e.g. cannot rename a failed
        image), the journal keeps it unreleased and the next run sets it aside."""
        try:
            new_label = source.release(channel, ok)
        except SSCardError as exc:
            log.warning("%s: %s", who, exc)
            self.emit("warning", f"{who}: the card could not be set aside: {exc}")
            return
        self.journal.card_released(card, new_label)


_CTRL_C = "interrupted by the operator (Ctrl-C); the cards in the readers were finished first"


def run_batch(items: Iterable[Cardholder | RowError], sources: list[CardSource], keys: IssuerKeys,
              profile: Profile, journal: Journal, *, reissue: bool = False, flow: Flow | None = None,
              progress: Callable[[BatchEvent], None] | None = None, mailer: PinMailerFile | None = None,
              input_name: str | None = None) -> BatchSummary:
    """Personalize every holder of ``items`` on cards from ``sources`` with ``flow``
    (:func:`~personalize.flow.personalize_card` by default); see the module doc.

    Returns the summary; a Ctrl-C lets every worker finish its current card, then the
    summary says ``stopped``. A bug in a worker is re-raised here after all stopped.
    """
    if not sources:
        raise BatchError("a batch needs at least one card source")
    pool = None
    if flow is None:
        pool = IccKeyPool(ICC_BITS, ICC_EXPONENT) if keys.oda is not None else None
        flow = personalize_card if pool is None else functools.partial(personalize_card, icc_keys=pool)
    try:
        return _run(items, sources, keys, profile, journal, reissue, flow, progress, mailer, input_name)
    finally:
        if pool is not None:
            pool.close()


def _run(items: Iterable[Cardholder | RowError], sources: list[CardSource], keys: IssuerKeys, profile: Profile,
         journal: Journal, reissue: bool, flow: Flow, progress: Callable[[BatchEvent], None] | None,
         mailer: PinMailerFile | None, input_name: str | None) -> BatchSummary:
    run = journal.begin_run(input_name=input_name, reissue=reissue)
    batch = _Batch(list(sources), keys, profile, journal, run, reissue, flow, progress, mailer)
    started = time.monotonic()
    batch.recover()
    workers = [threading.Thread(target=batch.work, args=(s,), name=f"perso {s.name}") for s in sources]
    for w in workers:
        w.start()
    try:
        batch.feed(items)
    except SSCardError as exc:  # the input file broke off (InputError)
        batch.halt(str(exc))
    except KeyboardInterrupt:
        batch.halt(_CTRL_C)
    try:
        batch.finish(workers)
    except KeyboardInterrupt:  # once more: the cards in the readers are still finished
        batch.halt(_CTRL_C)
        batch.finish(workers)
    batch.summary.elapsed = time.monotonic() - started
    journal.end_run(run.id)
    if batch.errors:
        raise batch.errors[0]
    return batch.summary
