"""The APDU mix, the timing loop and the latency statistics of the wire benchmark.

The mix is sent cyclically, the same bytes to every target. Each APDU is one that all
targets answer (vicc's iso7816 card answers errors to most, which is fine: the round
trip is what is measured):

=====================================  ======================  ========  ========
APDU                                   what                    ours      vicc
=====================================  ======================  ========  ========
``00A4000C023F00``                     SELECT MF, no FCI       9000      9000
``00A404000F7378…D5CF``                SELECT SSSE by AID      FCI 9000  6A82
``00B2072C00``                         READ RECORD 7, SFI 5    rec 9000  6A82
``00B0850000``                         READ BINARY, SFI 5      6981      6A82
``0002000000``                         unknown INS 02          6D00      6D00
=====================================  ======================  ========  ========

Latencies come from ``time.perf_counter_ns()`` taken back to back, so they add up to
the loop's wall time; the rate is APDUs over that time. Percentiles use the
nearest-rank method:

>>> s = Stats.from_samples([1_000_000] * 98 + [2_000_000, 5_000_000], wall_ns=105_000_000)
>>> s.apdus, s.rate, s.p50_ms, s.p99_ms, s.max_ms
(100, 952.4, 1.0, 2.0, 5.0)
"""
from __future__ import annotations

import gc
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Sequence

Transmit = Callable[[bytes], bytes]

MIX: tuple[tuple[str, bytes], ...] = tuple((name, bytes.fromhex(apdu)) for name, apdu in (
    ("SELECT MF (no FCI)", "00A4000C023F00"),
    ("SELECT SSSE by AID", "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"),
    ("READ RECORD 7 of SFI 5", "00B2072C00"),
    ("READ BINARY of SFI 5", "00B0850000"),
    ("unknown INS 02", "0002000000"),
))
MIX_APDUS: tuple[bytes, ...] = tuple(apdu for _, apdu in MIX)


def percentile(sorted_values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of ascending values (q in 0..100).

    >>> percentile(list(range(1, 101)), 90), percentile([7], 50)
    (90, 7)
    """
    if not sorted_values:
        raise ValueError("no samples")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Stats:
    """One target's numbers (latencies in ms, rate in APDU/s)."""

    apdus: int
    seconds: float
    rate: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @classmethod
    def from_samples(cls, latencies_ns: Sequence[int], wall_ns: int) -> "Stats":
        ordered = sorted(latencies_ns)
        n = len(ordered)

        def ms(ns: float) -> float:
            return round(ns / 1e6, 4)

        return cls(apdus=n, seconds=round(wall_ns / 1e9, 4), rate=round(n / (wall_ns / 1e9), 1),
                   p50_ms=ms(percentile(ordered, 50)), p90_ms=ms(percentile(ordered, 90)),
                   p99_ms=ms(percentile(ordered, 99)), max_ms=ms(ordered[-1]), mean_ms=ms(sum(ordered) / n))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def answers(transmit: Transmit, apdus: Iterable[bytes] = MIX_APDUS) -> list[bytes]:
    """One pass over the mix; every R-APDU must carry at least SW1 SW2."""
    out = []
    for apdu in apdus:
        response = transmit(apdu)
        if len(response) < 2:
            raise ValueError(f"{apdu.hex().upper()} was answered with {len(response)} bytes, not an R-APDU")
        out.append(response)
    return out


def warm_up(transmit: Transmit, count: int, apdus: Sequence[bytes] = MIX_APDUS) -> None:
    for i in range(count):
        transmit(apdus[i % len(apdus)])


def timed(transmit: Transmit, count: int, apdus: Sequence[bytes] = MIX_APDUS,
          budget_s: float | None = None) -> tuple[list[int], int]:
    """Send ``count`` APDUs of the mix (fewer if ``budget_s`` runs out); returns (latencies, wall) in ns.

    The garbage collector is off during the loop, so a collection's pause is not charged to one APDU.
    """
    clock = time.perf_counter_ns
    latencies = [0] * count
    n = len(apdus)
    deadline = None if budget_s is None else clock() + int(budget_s * 1e9)
    done = count
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = before = clock()
        for i in range(count):
            transmit(apdus[i % n])
            after = clock()
            latencies[i] = after - before
            before = after
            if deadline is not None and after >= deadline:
                done = i + 1
                break
    finally:
        if was_enabled:
            gc.enable()
    return latencies[:done], before - start


def interleaved(transmits: dict[str, Transmit], count: int, rounds: int,
                apdus: Sequence[bytes] = MIX_APDUS) -> dict[str, Stats]:
    """Measure several targets in alternating blocks so slow drift (CPU clock, noise) hits all alike.

    Each target gets ``count`` APDUs in ``rounds`` blocks; the order of the targets flips
    every round. Blocks start at a mix boundary.
    """
    rounds = max(1, min(rounds, count // len(apdus) or 1))
    per_round = [count // rounds + (1 if r < count % rounds else 0) for r in range(rounds)]
    samples: dict[str, list[int]] = {name: [] for name in transmits}
    walls = dict.fromkeys(transmits, 0)
    names = list(transmits)
    for r, block in enumerate(per_round):
        for name in (names if r % 2 == 0 else names[::-1]):
            latencies, wall = timed(transmits[name], block, apdus)
            samples[name] += latencies
            walls[name] += wall
    return {name: Stats.from_samples(samples[name], walls[name]) for name in names}


def save_results(path: "Path", data: object) -> None:
    """Write a benchmark's JSON results (creating the directory) and say where."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"results: {path}")
