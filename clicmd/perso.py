"""``sscard perso``: personalize cards in journaled batches that survive crashes.

``run`` streams an input file (CSV or JSON Lines) to one or more card sources: blank
virtual card images (``--cards DIR``) or PC/SC readers (``--reader NAME``, repeatable:
one worker per reader). Every step is journaled (SQLite, default ``INPUT.journal.sqlite``
beside the input); run the same command again after a crash and it resumes: holders
already issued are skipped, a holder the crash interrupted is issued again on a fresh
card. ``status`` shows a journal, ``export`` writes the card-face data for the printer.

PINs: a ``--pin-policy random`` batch writes each PIN to the ``--pin-mailer`` file only
(mode 0600; required with random PINs); the journal never holds a PIN or a key.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from apdu.errors import SSCardError
from apdu.trace import Tracer

from .common import emit_json

_ENCODINGS = click.Choice(["utf-8", "gbk", "gb18030"])


@click.group("perso")
def perso_group() -> None:
    """Personalize cards in batches: journaled, resumable, one worker per reader."""


def _defaults(input_path: Path, region: str | None, pin_policy: str | None = None) -> Any:
    from personalize.cardholder import BatchDefaults
    from personalize.pin import PinPolicy

    defaults = BatchDefaults(region=region, base_dir=input_path.parent)
    return defaults if pin_policy is None else dataclasses.replace(defaults, pin_policy=PinPolicy.parse(pin_policy))


def _read(input_path: Path, encoding: str, fmt: str | None, defaults: Any) -> Iterator[Any]:
    from personalize.inputs import read_cardholders

    return read_cardholders(input_path, encoding=encoding, fmt=fmt, defaults=defaults)


@perso_group.command("run")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--keys", "keys_path", required=True, type=click.Path(path_type=Path), help="Issuer key file (TOML).")
@click.option("--insecure-keys", is_flag=True, help="Accept a key file others may read (published test keys).")
@click.option("--profile", "-p", default=None, help="Card profile (built-in name or TOML file; default ssc3-sm4).")
@click.option("--cards", "cards_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Personalize new blank virtual card images in this directory.")
@click.option("--reader", "-r", "readers", multiple=True, metavar="NAME",
              help="PC/SC reader (repeat for several readers, one worker each).")
@click.option("--journal", "journal_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Journal file [default: INPUT.journal.sqlite].")
@click.option("--encoding", type=_ENCODINGS, default="utf-8", show_default=True, help="Input encoding.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="Input format [default: from the suffix].")
@click.option("--region", help="Issuing region for rows without one (GB/T 2260, 6 digits).")
@click.option("--card-numbers", "card_numbers", metavar="FIRST", callback=lambda c, p, v: _card_numbers(v),
              help="Allocate card numbers for rows without one: district letter and first 7-digit serial, "
                   "e.g. K8036215 (the check character is computed; the journal keeps each holder's number).")
@click.option("--pin-policy", default="fixed:123456", show_default=True,
              help="Initial PIN of rows without one: fixed:DIGITS, birthdate, random[:N].")
@click.option("--pin-mailer", type=click.Path(dir_okay=False, path_type=Path),
              help="File (mode 0600) for the PIN mailers of random PINs; required with random PINs.")
@click.option("--dry-run", is_flag=True, help="Check every row and show the plan for one card; touch no card.")
@click.option("--reissue", is_flag=True, help="Issue again holders the journal lists as issued.")
@click.option("--card-timeout", default=120.0, show_default=True, help="Seconds to wait for a card in a reader.")
@click.option("--trace", type=click.Path(dir_okay=False, path_type=Path), help="APDU trace of every card (secrets redacted).")
@click.option("--json", "as_json", is_flag=True, help="JSON summary on stdout.")
def run_cmd(input_path: Path, keys_path: Path, insecure_keys: bool, profile: str | None, cards_dir: Path | None,
            readers: tuple[str, ...], journal_path: Path | None, encoding: str, fmt: str | None, region: str | None,
            card_numbers: tuple[str, int] | None, pin_policy: str, pin_mailer: Path | None, dry_run: bool,
            reissue: bool, card_timeout: float, trace: Path | None, as_json: bool) -> None:
    """Personalize one card per row of INPUT (CSV or JSON Lines); rerun to resume."""
    from cardspec.profile import Profile
    from personalize.keys import IssuerKeys
    from personalize.validate import new_card_number

    if not dry_run and (cards_dir is None) == (not readers):
        raise click.UsageError("give either --cards DIR or --reader NAME (one or more)")
    defaults = _defaults(input_path, region, pin_policy)
    if defaults.pin_policy.kind == "random" and pin_mailer is None and not dry_run:
        raise click.UsageError("--pin-policy random needs --pin-mailer FILE: nobody else may learn the PINs")
    prof = Profile.load(profile)
    keys = IssuerKeys.load(keys_path, insecure=insecure_keys)
    if dry_run:
        if card_numbers is not None:  # every row would get the first number: nothing is reserved
            defaults = dataclasses.replace(defaults, card_numbers=lambda ssn: new_card_number(*card_numbers))
        _dry_run(input_path, encoding, fmt, defaults, keys, prof, as_json)
        return
    journal_path = journal_path or input_path.with_name(input_path.name + ".journal.sqlite")
    with contextlib.ExitStack() as stack:
        tracer = _tracer(stack, trace)
        summary = _run(stack, input_path, encoding, fmt, defaults, card_numbers, keys, prof, cards_dir, readers,
                       journal_path, pin_mailer, reissue, card_timeout, tracer)
    if as_json:
        emit_json({"input": str(input_path), "journal": str(journal_path), **summary.to_dict()})
    else:
        for line in _summary_lines(summary, journal_path):
            click.echo(line)
    if summary.stopped and summary.stopped.startswith("interrupted by the operator"):
        raise click.exceptions.Exit(130)
    if not summary.ok:
        raise click.exceptions.Exit(1)


def _tracer(stack: contextlib.ExitStack, trace: Path | None) -> Tracer | None:
    from .perso_sources import LockedStream

    if trace is None:
        return None
    try:
        stream = stack.enter_context(open(trace, "a", encoding="utf-8"))
    except OSError as exc:
        raise SSCardError(f"cannot write trace file {trace}: {exc.strerror}") from None
    return Tracer(LockedStream(stream))  # type: ignore[arg-type]


def _card_numbers(value: str | None) -> tuple[str, int] | None:
    """``--card-numbers K8036215`` → ("K", 8036215)."""
    if value is None:
        return None
    text = value.strip().upper()
    if len(text) != 8 or not ("A" <= text[0] <= "Z") or not (text[1:].isascii() and text[1:].isdigit()):
        raise click.BadParameter(f"{value!r} is not a district letter and a 7-digit serial, such as K8036215")
    return text[0], int(text[1:])


def _run(stack: contextlib.ExitStack, input_path: Path, encoding: str, fmt: str | None, defaults: Any,
         card_numbers: tuple[str, int] | None, keys: Any, prof: Any, cards_dir: Path | None, readers: tuple[str, ...],
         journal_path: Path, pin_mailer: Path | None, reissue: bool, card_timeout: float,
         tracer: Tracer | None) -> Any:
    from personalize.batch import run_batch
    from personalize.journal import SqliteJournal
    from personalize.mailer import PinMailerFile

    from .perso_sources import ReaderSource, VirtualCardDir

    say = functools.partial(click.echo, err=True)
    sources: list[Any]
    if cards_dir is not None:
        sources = [VirtualCardDir(cards_dir, prof, tracer=tracer)]
    else:
        sources = [ReaderSource(r, timeout=card_timeout, tracer=tracer, say=say) for r in readers]
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise click.UsageError(f"a reader is named twice: {', '.join(names)}")
    mailer = stack.enter_context(PinMailerFile(pin_mailer)) if pin_mailer else None
    journal = SqliteJournal(journal_path)
    stack.callback(journal.close)
    total = None
    if sys.stderr.isatty():  # a progress bar needs the total: count the rows first (allocating nothing)
        total = sum(1 for _ in _read(input_path, encoding, fmt, defaults))
    if card_numbers is not None:
        district, first = card_numbers
        defaults = dataclasses.replace(defaults, card_numbers=lambda ssn: journal.allocate_card_number(ssn, district,
                                                                                                       first))
    progress = stack.enter_context(_progress(sys.stderr, total, sys.stderr.isatty()))
    return run_batch(_read(input_path, encoding, fmt, defaults), sources, keys, prof, journal, reissue=reissue,
                     progress=progress, mailer=mailer, input_name=str(input_path))


@contextlib.contextmanager
def _progress(stream: IO[str], total: int | None, tty: bool) -> Iterator[Any]:
    """A progress callback: on a terminal a redrawn bar (counts, rate, ETA, the current
    step) with the notable events printed above it; otherwise one plain line per event
    except steps."""
    counts: Counter[str] = Counter()
    started = time.monotonic()
    finished = ("issued", "failed", "bad_row", "skipped")

    def bar(step: str = "") -> str:
        done = sum(counts[k] for k in finished)
        elapsed = time.monotonic() - started
        rate = 60 * counts["issued"] / elapsed if elapsed > 0 else 0.0
        eta = ""
        if total and 0 < done < total:
            left = elapsed / done * (total - done)
            eta = f"  ETA {int(left // 60)}:{int(left % 60):02d}"
        fill = int(24 * done / total) if total else 0
        head = f"[{'#' * fill}{'.' * (24 - fill)}] {done}/{total}" if total else f"{done} rows"
        skipped = f"  already issued {counts['skipped']}" if counts["skipped"] else ""
        return (f"\r{head}  issued {counts['issued']}  failed {counts['failed'] + counts['bad_row']}{skipped}  "
                f"{rate:.1f}/min{eta}  {step}\x1b[K")

    def on_event(event: Any) -> None:
        counts[event.kind] += 1
        if tty:
            if event.kind not in ("step", "issued", "skipped"):  # the bar counts those
                stream.write(f"\r\x1b[K{event.kind}: {event.message}\n")
            step = f"row {event.row_number}: {event.message.split(': ', 1)[-1]}" if event.kind == "step" else ""
            stream.write(bar(step))
        elif event.kind != "step":
            stream.write(f"{event.kind}: {event.message}\n")
        stream.flush()

    try:
        yield on_event
    finally:
        if tty:
            stream.write(bar() + "\n")
            stream.flush()


def _summary_lines(s: Any, journal_path: Path) -> list[str]:
    lines = [f"issued {s.done}, already issued {s.already_issued}, failed {sum(s.failed.values())}, "
             f"bad rows {s.bad_rows}, interrupted earlier {len(s.interrupted)}"
             + (f", in progress elsewhere {s.busy}" if s.busy else ""),
             f"{s.elapsed:.1f} s, {s.rate:.1f} cards/min; journal {journal_path}"]
    lines += [f"  failed {n}× {reason}" for reason, n in s.failed.most_common()]
    if s.stopped:
        lines.append(f"stopped: {s.stopped}")
    return lines


# --- dry run ---------------------------------------------------------------------------------
def _dry_run(input_path: Path, encoding: str, fmt: str | None, defaults: Any, keys: Any, prof: Any,
             as_json: bool) -> None:
    """Print every problem row, then the plan of the first valid row; exit 1 on a problem."""
    from personalize.cardholder import RowError

    bad: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    first = None
    valid = 0
    for item in _read(input_path, encoding, fmt, defaults):
        if isinstance(item, RowError):
            bad += [{"row": item.row_number, "field": f, "reason": r} for f, r in item.problems]
            continue
        ssn = item.social.ssn
        if ssn in seen:
            bad.append({"row": item.row_number, "field": "ssn",
                        "reason": f"the same social security number as row {seen[ssn]}"})
            continue
        seen[ssn] = item.row_number
        valid += 1
        first = first or item
    if not as_json:
        for b in bad:
            click.echo(f"row {b['row']}" + (f", field {b['field']!r}" if b["field"] else "") + f": {b['reason']}")
        click.echo(f"{valid} valid row{'s' * (valid != 1)}, {len(bad)} problem{'s' * (len(bad) != 1)}")
    plan = _plan(first, keys, prof) if first is not None else None
    if as_json:
        emit_json({"input": str(input_path), "valid_rows": valid, "bad_rows": bad, "plan": plan})
    elif plan is not None:
        click.echo(f"plan for row {plan['row']} on a blank {prof.name} card: {len(plan['steps'])} steps, "
                   f"{sum(len(s['apdus']) for s in plan['steps'])} commands (headers only, no data shown)")
        for step in plan["steps"]:
            click.echo(f"  {step['name']}")
            for header, count in _runs(step["apdus"]):
                click.echo(f"    {header}" + (f"  ×{count}" if count > 1 else ""))
    if bad:
        raise click.exceptions.Exit(1)


def _runs(headers: list[str]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for h in headers:
        if out and out[-1][0] == h:
            out[-1] = (h, out[-1][1] + 1)
        else:
            out.append((h, 1))
    return out


def _header(apdu: bytes) -> str:
    """``CLA INS P1 P2`` and the length byte's meaning: no command data (it may be secret)."""
    head = apdu[:4].hex(" ").upper()
    if len(apdu) == 5:
        return f"{head}  Le={apdu[4]:02X}"
    if len(apdu) > 5:
        return f"{head}  Lc={apdu[4]:02X}" + (f" Le={apdu[-1]:02X}" if len(apdu) == 6 + apdu[4] else "")
    return head


def _plan(cardholder: Any, keys: Any, prof: Any) -> dict[str, Any]:
    """The steps and command headers of one card, from a run on a throwaway in-memory
    blank card (no file, no reader)."""
    from apdu.transport.channel import Channel, default_processors
    from apdu.transport.virtual import VirtualTransport
    from cardsim.factory import blank_card
    from personalize.flow import personalize_card

    tracer = Tracer(keep=True)
    channel = Channel(VirtualTransport(blank_card(prof), name="dry-run card"), default_processors(), tracer)
    channel.connect()
    steps: list[str] = []
    try:
        personalize_card(channel, cardholder, keys, prof, on_step=steps.append)
    finally:
        channel.disconnect()
    by_step: dict[str, list[str]] = {s: [] for s in steps}
    for ex in tracer.exchanges:
        origin = f"  [{ex.origin}]" if ex.origin else ""
        by_step.setdefault(ex.step or "(between steps)", []).append(_header(ex.command) + origin)
    return {"row": cardholder.row_number, "steps": [{"name": n, "apdus": a} for n, a in by_step.items()]}


# --- status and export ---------------------------------------------------------------------
@perso_group.command("status")
@click.argument("journal_path", metavar="JOURNAL", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="JSON output (every row, run and card).")
def status_cmd(journal_path: Path, as_json: bool) -> None:
    """Show a batch journal: counts, rows not done, cards set aside."""
    from personalize.journal import SqliteJournal
    from personalize.report import journal_status, render_status

    journal = SqliteJournal(journal_path, create=False)
    try:
        status = journal_status(journal)
    finally:
        journal.close()
    if as_json:
        emit_json({"journal": str(journal_path), **status})
    else:
        for line in render_status(status, str(journal_path)):
            click.echo(line)
    if status["counts"]["done"] != sum(status["counts"].values()):
        raise click.exceptions.Exit(1)


@perso_group.command("export")
@click.argument("journal_path", metavar="JOURNAL", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("input_path", metavar="[INPUT]", required=False, type=click.Path(exists=True, dir_okay=False,
                                                                                 path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path), help="CSV to write.")
@click.option("--encoding", type=_ENCODINGS, default="utf-8", show_default=True,
              help="Encoding of the CSV (and of INPUT).")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="INPUT format [default: from the suffix].")
@click.option("--region", help="As given to 'perso run' (to read INPUT the same way).")
def export_cmd(journal_path: Path, input_path: Path | None, out: Path, encoding: str, fmt: str | None,
               region: str | None) -> None:
    """Write the card-face data of every issued card (for the card printer). The data
    come from the journal (what the chips hold); with INPUT, rows whose data changed
    since are reported and the exit code is 1."""
    from personalize.journal import SqliteJournal
    from personalize.report import export_face_data

    journal = SqliteJournal(journal_path, create=False)
    try:
        items = _read(input_path, encoding, fmt, _defaults(input_path, region)) if input_path else None
        result = export_face_data(journal, items, out, encoding=encoding)
    finally:
        journal.close()
    for line in result.mismatches + result.not_in_input:
        click.echo(f"warning: {line}", err=True)
    click.echo(f"{out}: {result.written} card{'s' * (result.written != 1)}"
               + (f"; {result.not_issued} input rows not issued" if input_path and result.not_issued else ""))
    if result.mismatches or result.not_in_input:
        raise click.exceptions.Exit(1)
