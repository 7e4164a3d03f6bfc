"""What a journal says: status (for ``sscard perso status``), and the card-face export for
the card printer.

Face data comes from the journal, not from the input file: when a holder is issued the
batch stores the non-secret face data of that card (:meth:`Cardholder.to_face_data`:
name, SSN, card number, PAN, dates, photo path) beside the card identifiers, so the
printer prints exactly what the chip holds even if the input was edited (or its card
numbers allocated) afterwards. Giving the input file again only cross-checks it.
Face data is personal data (the journal is mode 0600), never a secret: no PIN, no key.
"""
from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apdu.errors import SSCardError

from .cardholder import Cardholder, RowError
from .journal import Entry, Journal, State

__all__ = ["journal_status", "render_status", "export_face_data", "ExportResult", "ExportError", "FACE_COLUMNS"]

#: Columns of the face-data CSV: the input row, then :meth:`Cardholder.to_face_data`, then the chip.
FACE_COLUMNS = ("row", "name", "name_latin", "ssn", "card_number", "pan", "issue_date", "expiry_date",
                "card_expiry", "photo", "atr_serial", "card_id")


class ExportError(SSCardError):
    """The face-data file cannot be written."""


def _row(e: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {"row": e.row_number, "key": e.key, "state": e.state.value, "attempts": e.attempts,
                           "updated": e.updated}
    if e.state is State.IN_PROGRESS:
        out.update(step=e.step, worker=e.worker, run=e.run)
    if e.state is State.FAILED:
        out.update(step=e.step, field=e.field, sw=e.sw, reason=e.reason)
    if e.state is State.PENDING and e.reason:
        out["note"] = e.reason
    if e.issued is not None:
        out.update(card_number=e.issued.card_number, pan=e.issued.pan, atr_serial=e.issued.atr_serial,
                   card_id=e.issued.card_id, verified=e.issued.verified, pin_mailer=e.pin_mailer,
                   issued_in_run=e.done_run)
    if e.interrupted:
        out["interrupted"] = e.interrupted
    return out


def journal_status(journal: Journal) -> dict[str, Any]:
    """Counts by state, every row, the runs and the card attempts, as JSON-ready data."""
    rows = [_row(e) for e in journal.entries()]
    counts = Counter(r["state"] for r in rows)
    cards = journal.cards()
    return {
        "counts": {s.value: counts.get(s.value, 0) for s in State},
        "bad_rows": sum(1 for r in rows if r["key"].startswith("row:")),
        "cards": {"total": len(cards), **Counter(c.outcome or "in_reader" for c in cards),
                  "not_released": sum(1 for c in cards if not c.released)},
        "set_aside": [{"card": c.label, "key": c.key, "outcome": c.outcome, "step": c.step, "run": c.run}
                      for c in cards if c.outcome in ("failed", "interrupted")],
        "runs": [{"id": r.id, "started": r.started, "finished": r.finished, "host": r.host, "pid": r.pid,
                  "input": r.input_name, "reissue": r.reissue} for r in journal.runs()],
        "rows": rows,
    }


def _masked(key: str) -> str:
    return key if key.startswith("row:") else f"{key[:6]}…{key[-4:]}"


def render_status(status: dict[str, Any], label: str) -> list[str]:
    """The status as text lines: counts, then every row that is not done (SSNs masked)."""
    c = status["counts"]
    lines = [f"journal {label}",
             f"done {c['done']}, failed {c['failed']} (bad input rows {status['bad_rows']}), pending {c['pending']}, "
             f"in progress {c['in_progress']}",
             f"cards {status['cards']['total']}: " + ", ".join(f"{k} {v}" for k, v in status["cards"].items()
                                                               if k != "total")]
    if status["runs"]:
        last = status["runs"][-1]
        lines.append(f"runs {len(status['runs'])}; last: #{last['id']} started {last['started']}, "
                     + (f"finished {last['finished']}" if last["finished"] else "did not finish"))
    open_rows = [r for r in status["rows"] if r["state"] != "done"]
    if open_rows:
        lines += ["", f"{'row':>5}  {'holder':<12} {'state':<11} {'tries':>5}  detail"]
        for r in open_rows:
            detail = r.get("reason") or r.get("note") or (f"step {r['step']!r} at {r['worker']}"
                                                          if r["state"] == "in_progress" else "")
            lines.append(f"{r['row']:>5}  {_masked(r['key']):<12} {r['state']:<11} {r['attempts']:>5}  {detail}")
    for card in status["set_aside"]:
        lines.append(f"set aside: {card['card']} ({card['outcome']} at step {card['step']!r}, run {card['run']})")
    return lines


@dataclass
class ExportResult:
    """What :func:`export_face_data` wrote and what the cross-check found."""

    written: int = 0
    mismatches: list[str] = field(default_factory=list)  #: input rows that differ from the issued card
    not_in_input: list[str] = field(default_factory=list)  #: issued holders the input does not list
    not_issued: int = 0  #: valid input rows without an issued card


def _cross_check(journal: Journal, items: Iterable[Cardholder | RowError], result: ExportResult) -> None:
    seen: set[str] = set()
    for item in items:
        if isinstance(item, RowError):
            continue
        seen.add(item.social.ssn)
        entry = journal.get(item.social.ssn)
        if entry is None or entry.state is not State.DONE or entry.face is None:
            result.not_issued += 1
            continue
        face = item.to_face_data()
        diffs = [f"{k} is {face.get(k)!r} in the input, {entry.face.get(k)!r} on the card"
                 for k in sorted(set(face) | set(entry.face)) if face.get(k) != entry.face.get(k)]
        if diffs:
            result.mismatches.append(f"row {item.row_number}: " + "; ".join(diffs))
    for entry in journal.entries(State.DONE):
        if entry.key not in seen:
            result.not_in_input.append(f"row {entry.row_number} (SSN {_masked(entry.key)}) is issued but not "
                                       "in the input")


def export_face_data(journal: Journal, items: Iterable[Cardholder | RowError] | None, out_csv: Path, *,
                     encoding: str = "utf-8") -> ExportResult:
    """Write the face data of every ``done`` holder (journal order: input row) to
    ``out_csv`` atomically (mode 0600); with ``items`` (the input read again) also
    report rows whose data differ from what was issued."""
    result = ExportResult()
    if items is not None:
        _cross_check(journal, items, result)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, FACE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in journal.entries(State.DONE):
        face = dict(entry.face or {})
        issued = entry.issued
        writer.writerow({**{k: face.get(k, "") for k in FACE_COLUMNS}, "row": entry.row_number,
                         "atr_serial": issued.atr_serial if issued and issued.atr_serial else "",
                         "card_id": issued.card_id if issued and issued.card_id else ""})
        result.written += 1
    try:
        data = buffer.getvalue().encode(encoding)
    except UnicodeEncodeError as exc:
        raise ExportError(f"{out_csv}: {exc.object[exc.start:exc.end]!r} cannot be written in {encoding}; "
                          "use --encoding utf-8") from None
    tmp = out_csv.with_name(f".{out_csv.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, out_csv)
    except OSError as exc:
        raise ExportError(f"{out_csv}: cannot write the face-data file ({exc.strerror})") from None
    return result
