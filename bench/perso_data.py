"""Cardholders for the personalization benchmark, and its data-preparation target (d).

:func:`rows` makes valid, distinct input rows (deterministic: row ``i`` is always the
same), so no two cards get the same card number, PAN or keys:

>>> first = next(rows(1))
>>> first["ssn"], first["name"], first["card_number"], first["pan"]
('110105195001010004', '王伟', 'A00000003', '6228480000000000000')
>>> from personalize.cardholder import Cardholder
>>> Cardholder.from_row(first, row_number=2, defaults=defaults()).social.sex  # 17th digit 0: even
'2'

:func:`prepare` is (d): every row of a CSV streamed through
:func:`personalize.inputs.read_cardholders` (validation), then for each cardholder what
the flow computes before the first command (:func:`personalize.plan.plan_ssse`: SSSE
records, the per-card keys diversified from the masters, the MF keys;
:func:`personalize.debit.plan_debit`: the debit data set and its DGIs, the UDKs) with
the card's ATR historical bytes carrying the row's serial, so every card's keys differ.
Nothing is kept: memory must stay flat whatever the file size (peak by ``tracemalloc``).
"""
from __future__ import annotations

import csv
import dataclasses
import gc
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from cardspec.profile import Profile
from cardspec.records import ssn_check
from personalize.cardholder import COLUMNS, BatchDefaults, Cardholder
from personalize.debit import plan_debit
from personalize.inputs import read_cardholders
from personalize.keys import IssuerKeys
from personalize.mfkeys import MfKeys
from personalize.plan import plan_ssse
from personalize.validate import luhn_check_digit, new_card_number

__all__ = ["rows", "cardholders", "write_csv", "historical_for", "PrepStats", "prepare", "TODAY"]

#: the day the rows are checked against (their dates are fixed, so the check must be too)
TODAY = date(2025, 1, 1)
_REGIONS = ("110105", "310104", "440305", "511302", "330106", "420111", "610113", "210102")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂"
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def rows(count: int, start: int = 0) -> Iterator[dict[str, str]]:
    """``count`` valid input rows, numbers ``start`` to ``start + count - 1``."""
    for i in range(start, start + count):
        region = _REGIONS[i % len(_REGIONS)]
        born = date(1950, 1, 1) + timedelta(days=(i // len(_REGIONS)) % 20_000)
        body = f"{region}{born:%Y%m%d}{i % 1000:03d}"
        given = _GIVEN[i // len(_SURNAMES) % len(_GIVEN)] + (_GIVEN[i % 7 * 3 % len(_GIVEN)] if i % 3 else "")
        pan_body = f"622848{i:012d}"
        yield {"ssn": body + ssn_check(body), "name": _SURNAMES[i % len(_SURNAMES)] + given,
               "card_number": new_card_number(_LETTERS[i // 10_000_000 % len(_LETTERS)], i % 10_000_000),
               "region": region[:4] + "00", "issue_date": "2024-03-15", "pan": pan_body + luhn_check_digit(pan_body)}


def defaults() -> BatchDefaults:
    """What the rows are checked with (PIN policy fixed:123456, the batch default)."""
    return BatchDefaults(today=TODAY)


def cardholders(count: int, start: int = 0) -> Iterator[Cardholder]:
    """The cardholders of :func:`rows`."""
    d = defaults()
    for n, row in enumerate(rows(count, start)):
        yield Cardholder.from_row(row, row_number=n + 2, defaults=d)


def write_csv(path: Path, count: int) -> Path:
    """A CSV input file (header + ``count`` rows, UTF-8) written row by row."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in rows(count):
            writer.writerow(row)
    return path


def historical_for(profile: Profile, serial: int) -> bytes:
    """The profile's ATR historical bytes with ``serial`` in the card serial (bytes 10-13)."""
    historical = profile.atr.historical()
    return historical[:9] + (serial & 0xFFFFFFFF).to_bytes(4, "big") + historical[13:]


@dataclass(frozen=True)
class PrepStats:
    records: int
    seconds: float
    rate: float  #: records per second
    peak_bytes: int | None = None  #: tracemalloc peak above the start of the pass (None: not traced)

    def to_dict(self) -> dict[str, float | int | None]:
        return dataclasses.asdict(self)


def _one_pass(path: Path, keys: IssuerKeys, mf: MfKeys, profile: Profile) -> int:
    done = 0
    for item in read_cardholders(path, fmt="csv", defaults=defaults()):
        if not isinstance(item, Cardholder):
            raise ValueError(f"{path}: generated row rejected: {item}")
        plan_ssse(item, keys, mf, profile, historical_for(profile, done))
        plan_debit(item, keys, profile)
        done += 1
    return done


def prepare(path: Path, keys: IssuerKeys, mf: MfKeys, profile: Profile, *, trace: bool) -> PrepStats:
    """One pass of (d) over ``path``; with ``trace``, under ``tracemalloc`` (slower: time
    it without, measure memory with)."""
    gc.collect()
    if trace:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
    start = time.perf_counter()
    try:
        done = _one_pass(path, keys, mf, profile)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] - base if trace else None
    finally:
        if trace:
            tracemalloc.stop()
    return PrepStats(done, round(seconds, 3), round(done / seconds, 1), peak)
