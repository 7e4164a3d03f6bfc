"""Statistics, ratios, table and JSON of the personalization benchmark (:mod:`bench.perso`).

>>> run = CardsRun(cards=4, start=10.0, end=12.0, apdus=616, card_ms=[400.0, 500.0, 600.0, 500.0])
>>> s = card_stats(run); s.rate, s.p50_ms, s.p90_ms, s.apdus_per_card
(2.0, 500.0, 600.0, 154.0)
>>> both = combine([s, card_stats(CardsRun(cards=2, start=11.0, end=13.0, apdus=308, card_ms=[900.0, 900.0]))])
>>> both.cards, both.seconds, both.rate, both.max_ms
(6, 3.0, 2.0, 900.0)
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from .measure import percentile
from .perso_data import PrepStats
from .perso_worker import CardsRun

__all__ = ["CardStats", "card_stats", "combine", "Report", "LABELS", "GOAL_TWO_ONE", "GOAL_INPROCESS",
           "GOAL_PEAK_RATIO"]

GOAL_TWO_ONE, GOAL_INPROCESS, GOAL_PEAK_RATIO = 1.6, 50.0, 1.2
LABELS = {
    "inprocess": "(a)  in-process, VirtualTransport",
    "inprocess_spot": "(a') in-process, ICC key made per card",
    "one_slot": "(b)  pcscd+vpcd, one slot",
    "two_procs": "(c)  pcscd+vpcd, two slots, 2 processes",
    "two_threads": "(c') pcscd+vpcd, two slots, 2 threads",
}


@dataclass(frozen=True)
class CardStats:
    """One target's cards: rate in cards/s over ``seconds`` of wall time; per-card times in ms."""

    cards: int
    seconds: float
    rate: float
    p50_ms: float
    p90_ms: float
    max_ms: float
    apdus_per_card: float
    start: float = field(repr=False)
    end: float = field(repr=False)
    card_ms: tuple[float, ...] = field(repr=False)

    def to_dict(self) -> dict[str, float]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("start", "end", "card_ms")}


def _stats(cards: int, start: float, end: float, apdus: int, card_ms: Sequence[float]) -> CardStats:
    ordered = sorted(card_ms)
    seconds = end - start
    return CardStats(cards, round(seconds, 3), round(cards / seconds, 2), round(percentile(ordered, 50), 2),
                     round(percentile(ordered, 90), 2), round(ordered[-1], 2), round(apdus / cards, 1), start, end,
                     tuple(card_ms))


def card_stats(run: CardsRun) -> CardStats:
    """The statistics of one client's run; raises RuntimeError if a card failed."""
    if run.error:
        raise RuntimeError(run.error)
    if not run.cards:
        raise RuntimeError("no card was personalized")
    return _stats(run.cards, run.start, run.end, run.apdus, run.card_ms)


def combine(parts: Sequence[CardStats]) -> CardStats:
    """Clients that ran at the same time: all their cards over the span from the first start to the last end."""
    cards = sum(p.cards for p in parts)
    apdus = round(sum(p.apdus_per_card * p.cards for p in parts))
    return _stats(cards, min(p.start for p in parts), max(p.end for p in parts), apdus,
                  [ms for p in parts for ms in p.card_ms])


@dataclass
class _Result:
    status: str = "pending"  # ok, skipped, error
    reason: str = ""
    stats: CardStats | None = None
    per_slot: list[CardStats] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.reason:
            out["reason"] = self.reason
        if self.stats is not None:
            out.update(self.stats.to_dict())
        if self.per_slot:
            out["per_slot"] = [s.to_dict() for s in self.per_slot]
        return out


class Report:
    """Results keyed by (target, keys variant), plus the data-preparation passes."""

    def __init__(self, mode: str, profile: str) -> None:
        self.mode, self.profile = mode, profile
        self.results: dict[tuple[str, str], _Result] = {}
        self.prep: dict[str, dict[int, dict[str, PrepStats | None]]] = {}
        self.notes: list[str] = []

    def _get(self, key: tuple[str, str]) -> _Result:
        return self.results.setdefault(key, _Result())

    @contextlib.contextmanager
    def guard(self, *keys: tuple[str, str]) -> Iterator[None]:
        """Record an error for the targets of ``keys`` still pending when the block fails."""
        try:
            yield
        except Exception as exc:  # a benchmark reports a failed target and goes on; Ctrl-C still ends it
            for key in keys:
                if self._get(key).status == "pending":
                    self.results[key] = _Result("error", f"{type(exc).__name__}: {exc}")

    def skip(self, keys: Sequence[tuple[str, str]], reason: str) -> None:
        for key in keys:
            self.results[key] = _Result("skipped", reason)

    def cards(self, key: tuple[str, str], stats: CardStats, per_slot: Sequence[CardStats] = ()) -> None:
        self.results[key] = _Result("ok", stats=stats, per_slot=list(per_slot))

    def data(self, variant: str, size: int, timed: PrepStats, traced: PrepStats | None) -> None:
        self.prep.setdefault(variant, {})[size] = {"timed": timed, "traced": traced}
        self._get(("data", variant)).status = "ok"

    def failed(self) -> bool:
        return any(r.status in ("error", "pending") for r in self.results.values())

    def _rate(self, target: str, variant: str) -> float | None:
        result = self.results.get((target, variant))
        return result.stats.rate if result is not None and result.stats is not None else None

    def ratios(self) -> dict[str, Any]:
        out: dict[str, Any] = {"goal_two_one": GOAL_TWO_ONE, "goal_inprocess_cards_per_s": GOAL_INPROCESS,
                               "goal_peak_ratio": GOAL_PEAK_RATIO}
        for variant in ("oda", "plain"):
            one, two, threads = (self._rate(t, variant) for t in ("one_slot", "two_procs", "two_threads"))
            if one and two:
                out[f"two_one_{variant}"] = round(two / one, 2)
                out[f"two_one_{variant}_met"] = two / one >= GOAL_TWO_ONE
            if one and threads:
                out[f"two_threads_one_{variant}"] = round(threads / one, 2)
            inprocess = self._rate("inprocess", variant)
            if inprocess:
                out[f"inprocess_{variant}_met"] = inprocess >= GOAL_INPROCESS
            spot = self._rate("inprocess_spot", variant)
            if inprocess and spot:
                out[f"pool_gain_{variant}"] = round(inprocess / spot, 2)
        sizes = sorted(self.prep.get("plain", {}))
        if len(sizes) == 2:
            small, large = (self.prep["plain"][s]["traced"] for s in sizes)
            if small is not None and large is not None and small.peak_bytes and large.peak_bytes is not None:
                out["peak_ratio"] = round(large.peak_bytes / small.peak_bytes, 3)
                out["peak_ratio_met"] = out["peak_ratio"] <= GOAL_PEAK_RATIO
        return out

    def to_json(self, **extra: Any) -> dict[str, Any]:
        targets: dict[str, dict[str, Any]] = {}
        for (target, variant), result in self.results.items():
            if target != "data":
                targets.setdefault(variant, {})[target] = {"label": LABELS[target], **result.to_dict()}
        data = {variant: {str(size): {k: v.to_dict() if v is not None else None for k, v in passes.items()}
                          for size, passes in sizes.items()} for variant, sizes in self.prep.items()}
        return {"benchmark": "perso", "mode": self.mode, "profile": self.profile, **extra, "targets": targets,
                "data_preparation": data, "ratios": self.ratios(), "notes": self.notes}

    def table(self) -> str:
        lines = [f"{'target':<42} {'keys':<5} {'cards':>5} {'seconds':>8} {'cards/s':>8} {'p50 ms':>8} "
                 f"{'p90 ms':>8} {'APDUs/card':>10}"]
        for (target, variant), r in self.results.items():
            if target == "data":
                continue
            s = r.stats
            if s is None:
                lines.append(f"{LABELS[target]:<42} {variant:<5} {r.status}: {r.reason}")
                continue
            lines.append(f"{LABELS[target]:<42} {variant:<5} {s.cards:>5} {s.seconds:>8.2f} {s.rate:>8.1f} "
                         f"{s.p50_ms:>8.1f} {s.p90_ms:>8.1f} {s.apdus_per_card:>10.1f}")
        lines.append(f"{'(d)  data preparation':<29} {'keys':<5} {'records':>8} {'seconds':>8} {'records/s':>10} "
                     f"{'peak KiB':>9} {'traced s':>9}")
        for variant, sizes in self.prep.items():
            for size, passes in sizes.items():
                timed, traced = passes["timed"], passes["traced"]
                assert timed is not None
                peak = f"{traced.peak_bytes / 1024:>9.0f} {traced.seconds:>9.1f}" if traced and traced.peak_bytes \
                    is not None else f"{'-':>9} {'-':>9}"
                lines.append(f"{'':<29} {variant:<5} {size:>8,} {timed.seconds:>8.2f} {timed.rate:>10.1f} {peak}")
        failed = self.results.get(("data", "plain"))
        if failed is not None and failed.status == "error":
            lines.append(f"(d)  data preparation: error: {failed.reason}")
        lines += self._ratio_lines()
        return "\n".join(lines + [f"note: {n}" for n in self.notes])

    def _ratio_lines(self) -> list[str]:
        r, out = self.ratios(), []
        for variant in ("oda", "plain"):
            if f"two_one_{variant}" in r:
                threads = f", 2 threads {r[f'two_threads_one_{variant}']:.2f}x" \
                    if f"two_threads_one_{variant}" in r else ""
                out.append(f"two slots / one slot ({variant}): {r[f'two_one_{variant}']:.2f}x with 2 processes"
                           f"{threads}; goal >= {GOAL_TWO_ONE}x: {'met' if r[f'two_one_{variant}_met'] else 'NOT met'}")
            inprocess = self._rate("inprocess", variant)
            if inprocess:
                out.append(f"in-process ({variant}): {inprocess:.1f} cards/s; goal >= {GOAL_INPROCESS:.0f}: "
                           f"{'met' if r[f'inprocess_{variant}_met'] else 'NOT met'}")
            if f"pool_gain_{variant}" in r:
                out.append(f"in-process ({variant}), ICC keys from the pool / made per card: "
                           f"{r[f'pool_gain_{variant}']:.2f}x")
        if "peak_ratio" in r:
            out.append(f"data preparation peak memory, large/small file: {r['peak_ratio']:.3f}; goal <= "
                       f"{GOAL_PEAK_RATIO}: {'met' if r['peak_ratio_met'] else 'NOT met'}")
        return out
