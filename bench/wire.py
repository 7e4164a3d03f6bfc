"""The wire benchmark: APDU round trips per second and latency percentiles, four ways.

    python -m bench.wire [--short] [--json PATH] [--apdus N] [--vicc-apdus N]

Targets (all send the same cyclic mix, :data:`bench.measure.MIX`, through a
:class:`~apdu.transport.channel.Channel` without processors; connect once, then loop):

- ``inprocess`` (a): ``VirtualTransport`` around :func:`bench.cards.bench_card`;
- ``ours`` (b): pyscard → pcscd → vpcd → ``VpcdServer`` serving the same card, in its own
  process (``python -m bench.serve_card``), so it does not share the client's GIL;
- ``ours_thread`` (b'): the same, with the ``VpcdServer`` as a thread of the client process;
- ``floor`` (c): :mod:`bench.floor`, a stdlib-only responder replaying the card's answers
  from a dict, in its own process. ``ours`` and ``floor`` run in alternating blocks
  (slots 0 and 1 at once) so that machine drift hits both alike;
- ``vicc`` (d): vsmartcard's ``vicc -t iso7816`` in ``.venv-vicc`` (~44 ms per APDU, so far
  fewer APDUs and a time budget). Skipped, with the reason, when it cannot run.

Headline ratios: ``latency_ratio_ours_floor`` = p50(ours) / p50(floor) (goal ≤ 1.25) and
``vicc_speedup`` = p50(vicc) / p50(ours) (goal ≥ 100). Results go to stdout and to JSON
(default ``bench/results/wire.json``). pcscd is used as found or started and stopped;
the PC/SC test lock is held meanwhile. Exit status: 0, or 1 if a target failed.
"""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from apdu import pcscd
from apdu.transport.channel import Channel
from apdu.transport.virtual import VirtualTransport

from . import measure, runner, slots, vicc
from .cards import ATR, bench_card, fixed_answers
from .procs import pcsc_lock

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "wire.json"
OURS_SLOT, PEER_SLOT = 0, 1
GOAL_RATIO, GOAL_SPEEDUP = 1.25, 100.0
LABELS = {
    "inprocess": "(a)  in-process VirtualTransport",
    "ours": "(b)  pcscd+vpcd, VpcdServer own process",
    "ours_thread": "(b') pcscd+vpcd, VpcdServer thread",
    "floor": "(c)  pcscd+vpcd, floor responder",
    "vicc": "(d)  pcscd+vpcd, vicc -t iso7816",
}


@dataclass(frozen=True)
class Config:
    mode: str
    apdus: int
    warmup: int
    rounds: int
    vicc_apdus: int
    vicc_warmup: int
    vicc_budget_s: float


FULL = Config("full", apdus=20_000, warmup=1_000, rounds=10, vicc_apdus=50, vicc_warmup=3, vicc_budget_s=20.0)
SHORT = Config("short", apdus=200, warmup=50, rounds=2, vicc_apdus=5, vicc_warmup=1, vicc_budget_s=3.0)


@dataclass
class Result:
    key: str
    status: str = "pending"  # ok, skipped, error
    reason: str = ""
    stats: measure.Stats | None = None
    atr: bytes = b""
    answers: list[bytes] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": LABELS[self.key], "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        if self.stats:
            out.update(self.stats.to_dict())
        if self.atr:
            out["atr"] = self.atr.hex().upper()
        if self.answers:
            out["answers"] = [a.hex().upper() for a in self.answers]
        return out


class Bench:
    """One run: fills :attr:`results` target by target; never raises for a single target's failure."""

    def __init__(self, config: Config, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.results = {key: Result(key) for key in LABELS}
        self.expected = fixed_answers(bench_card(), measure.MIX_APDUS)
        self.notes: list[str] = []

    def _pending(self, keys: Sequence[str]) -> list[Result]:
        return [self.results[k] for k in keys if self.results[k].status == "pending"]

    @contextlib.contextmanager
    def _guard(self, *keys: str) -> Iterator[None]:
        """Record an error for the targets of ``keys`` still pending when the block fails."""
        try:
            yield
        except Exception as exc:  # a benchmark reports a failed target and goes on; Ctrl-C still ends it
            for result in self._pending(keys):
                result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"

    def _skip(self, keys: Sequence[str], reason: str) -> None:
        for result in self._pending(keys):
            result.status, result.reason = "skipped", reason

    def _check(self, key: str, channel: Channel) -> None:
        """Record ATR and answers; our card and the floor must answer exactly like the bench card."""
        result = self.results[key]
        result.atr = channel.atr
        result.answers = measure.answers(channel.transmit)
        if key != "vicc":
            wanted = [self.expected[a] for a in measure.MIX_APDUS]
            if result.atr != ATR or result.answers != wanted:
                raise ValueError(f"{key} answered ATR {result.atr.hex().upper()} and "
                                 f"{[a.hex().upper() for a in result.answers]}, not the bench card's answers: "
                                 "is another card process in the slot?")

    def _done(self, key: str, stats: measure.Stats) -> None:
        self.results[key].status, self.results[key].stats = "ok", stats

    def run(self) -> None:
        with self._guard("inprocess"):
            self.inprocess()
        keys = ("ours", "floor", "ours_thread", "vicc")
        status = pcscd.status()
        if status.binary is None or not status.vpcd:
            self._skip(keys, f"pcscd with vsmartcard-vpcd is not installed ({pcscd.INSTALL_HINT})")
            return
        try:
            import smartcard  # noqa: F401  (pyscard)
        except ImportError as exc:
            self._skip(keys, f"pyscard is not importable: {exc}")
            return
        try:
            vicc_python: Path | None = vicc.ensure_python()
        except vicc.ViccUnavailable as exc:
            vicc_python = None
            self._skip(["vicc"], str(exc))
        with self._guard(*keys), pcsc_lock() as how:
            self.notes.append(f"PC/SC lock: {how}")
            with pcscd.ensure_running(self.workdir / "pcscd.log") as handle:
                self.notes.append(f"pcscd: started for the run (pid {handle.proc.pid})" if handle.started
                                  else f"pcscd: already running (pid {handle.status.pid})")
                with self._guard("ours", "floor"):
                    self.ours_and_floor()
                with self._guard("ours_thread"):
                    self.ours_thread()
                if vicc_python is not None:
                    with self._guard("vicc"):
                        self.run_vicc(vicc_python)

    def inprocess(self) -> None:
        with Channel(VirtualTransport(bench_card(), "bench card")) as channel:
            self._check("inprocess", channel)
            measure.warm_up(channel.transmit, self.config.warmup)
            self._done("inprocess", measure.Stats.from_samples(*measure.timed(channel.transmit, self.config.apdus)))

    def ours_and_floor(self) -> None:
        ours = [sys.executable, "-m", "bench.serve_card", "--slot", str(OURS_SLOT)]
        floor = [sys.executable, "-m", "bench.floor", "--slot", str(PEER_SLOT), "--atr", ATR.hex()]
        floor += [f"--answer={c.hex()}={r.hex()}" for c, r in self.expected.items()]
        with contextlib.ExitStack() as stack:
            stack.enter_context(slots.card_process(ours, OURS_SLOT, self.workdir / "serve_card.log", cwd=ROOT))
            stack.enter_context(slots.card_process(floor, PEER_SLOT, self.workdir / "floor.log", cwd=ROOT))
            channels = {"ours": stack.enter_context(slots.connected(OURS_SLOT)),
                        "floor": stack.enter_context(slots.connected(PEER_SLOT))}
            for key, channel in channels.items():
                self._check(key, channel)
                measure.warm_up(channel.transmit, self.config.warmup)
            transmits = {key: channel.transmit for key, channel in channels.items()}
            for key, stats in measure.interleaved(transmits, self.config.apdus, self.config.rounds).items():
                self._done(key, stats)

    def ours_thread(self) -> None:
        with slots.card_thread(bench_card(), OURS_SLOT), slots.connected(OURS_SLOT) as channel:
            self._check("ours_thread", channel)
            measure.warm_up(channel.transmit, self.config.warmup)
            self._done("ours_thread", measure.Stats.from_samples(*measure.timed(channel.transmit, self.config.apdus)))

    def run_vicc(self, vicc_python: Path) -> None:
        port = pcscd.VPCD_DEFAULT_PORT + PEER_SLOT
        with slots.card_process(vicc.command(vicc_python, port), PEER_SLOT, self.workdir / "vicc.log",
                                env=vicc.environment()), slots.connected(PEER_SLOT) as channel:
            self._check("vicc", channel)
            measure.warm_up(channel.transmit, self.config.vicc_warmup)
            samples = measure.timed(channel.transmit, self.config.vicc_apdus, budget_s=self.config.vicc_budget_s)
            self._done("vicc", measure.Stats.from_samples(*samples))

    # --- report -----------------------------------------------------------------
    def ratios(self) -> dict[str, Any]:
        stats = {k: r.stats for k, r in self.results.items() if r.stats}
        out: dict[str, Any] = {"goal_latency_ratio_ours_floor": GOAL_RATIO, "goal_vicc_speedup": GOAL_SPEEDUP}
        if "ours" in stats and "floor" in stats:
            ours, floor = stats["ours"], stats["floor"]
            out["latency_ratio_ours_floor"] = round(ours.p50_ms / floor.p50_ms, 3)
            out["latency_ratio_ours_floor_p90"] = round(ours.p90_ms / floor.p90_ms, 3)
            out["latency_ratio_ours_floor_mean"] = round(ours.mean_ms / floor.mean_ms, 3)
            out["ours_minus_floor_p50_us"] = round((ours.p50_ms - floor.p50_ms) * 1000, 1)
            out["latency_ratio_ours_floor_met"] = out["latency_ratio_ours_floor"] <= GOAL_RATIO
            if "ours_thread" in stats:
                out["latency_ratio_ours_thread_floor"] = round(stats["ours_thread"].p50_ms / floor.p50_ms, 3)
        if "ours" in stats and "vicc" in stats:
            out["vicc_speedup"] = round(stats["vicc"].p50_ms / stats["ours"].p50_ms, 1)
            out["vicc_speedup_met"] = out["vicc_speedup"] >= GOAL_SPEEDUP
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": "wire", "mode": self.config.mode,
            "timestamp": runner.timestamp(), "machine": runner.machine(),
            "config": {k: v for k, v in vars(self.config).items() if k != "mode"},
            "mix": [{"name": name, "apdu": apdu.hex().upper()} for name, apdu in measure.MIX],
            "targets": {key: result.to_dict() for key, result in self.results.items()},
            "ratios": self.ratios(), "notes": self.notes,
        }

    def table(self) -> str:
        lines = [f"{'target':<40} {'APDUs':>6} {'APDU/s':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
        for key, result in self.results.items():
            s = result.stats
            if s is None:
                lines.append(f"{LABELS[key]:<40} {result.status}: {result.reason}")
            else:
                lines.append(f"{LABELS[key]:<40} {s.apdus:>6} {s.rate:>10,.0f} {s.p50_ms:>8.4f} {s.p90_ms:>8.4f} "
                             f"{s.p99_ms:>8.4f} {s.max_ms:>8.3f}")
        r = self.ratios()
        if "latency_ratio_ours_floor" in r:
            lines.append(f"latency ratio ours/floor (p50): {r['latency_ratio_ours_floor']:.3f} "
                         f"(p90 {r['latency_ratio_ours_floor_p90']:.3f}, "
                         f"+{r['ours_minus_floor_p50_us']:.1f} us); goal <= {GOAL_RATIO}: "
                         f"{'met' if r['latency_ratio_ours_floor_met'] else 'NOT met'}")
        if "vicc_speedup" in r:
            lines.append(f"vicc/ours speed-up (p50): {r['vicc_speedup']:.0f}x; goal >= {GOAL_SPEEDUP:.0f}x: "
                         f"{'met' if r['vicc_speedup_met'] else 'NOT met'}")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def main(argv: Sequence[str] | None = None) -> int:
    parser = runner.parser("python -m bench.wire", __doc__, DEFAULT_JSON, "CI mode: few APDUs, a few seconds")
    runner.add_counts(parser, "APDUs per target for (a)-(c)", "APDUs for vicc (it takes ~44 ms each)")
    args = parser.parse_args(argv)
    config = runner.with_counts(SHORT if args.short else FULL, args)

    def run(workdir: Path) -> Bench:
        bench = Bench(config, workdir)
        bench.run()
        return bench

    bench = runner.run_in_workdir("bench.wire", "sscard-bench-", run)
    if bench is None:
        return 130
    print(f"wire benchmark ({config.mode}): {len(measure.MIX)} APDUs cycled, "
          f"{config.apdus} per target, {config.vicc_apdus} for vicc")
    print(bench.table())
    measure.save_results(args.json, bench.to_json())
    return 1 if any(r.status == "error" for r in bench.results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
