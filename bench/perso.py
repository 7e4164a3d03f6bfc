"""The personalization benchmark: cards per second, personalized and verified, and the
data preparation's records per second and memory.

    python -m bench.perso [--short] [--json PATH]

Each card is a blank card taken through :func:`personalize.flow.personalize_card`, all
six steps (verification included), profile ``ssc3-sm4``, a different generated
cardholder per card (:mod:`bench.perso_data`), with the TEST issuer key file twice:
``oda`` as it is (its ``[oda]`` keys: a fresh 1024-bit ICC key per card, SDA/DDA data,
DDA checked) and ``plain`` without ``[oda]``. With ``oda`` every client takes its ICC
keys from an :class:`~personalize.icckeys.IccKeyPool` as ``sscard perso run`` does
(child processes generate them ahead, a few keys ahead when the timing starts).
Targets:

- (a) in-process: a new :func:`cardsim.factory.blank_card` behind a ``VirtualTransport``;
  (a') with ``oda``, the same with each ICC key generated on the spot, in the flow;
- (b) one slot: pyscard → pcscd → vpcd → a :class:`~bench.perso_feeder.CardFeeder` in
  its own process (a new blank card at each power cycle) and the client
  (:mod:`bench.perso_worker`) in another;
- (c) two slots in parallel, **separate processes** (a feeder and a client per slot:
  the client is CPU-bound Python, so threads would share one GIL), started together;
- (c') the same two slots driven by two threads of the benchmark process, to show the GIL;
- (d) data preparation alone (``plain`` keys): a generated CSV streamed through
  :func:`personalize.inputs.read_cardholders`, then per cardholder the flow's plans
  (:func:`personalize.plan.plan_ssse`, :func:`personalize.debit.plan_debit`: records,
  key diversification, DGIs, UDKs), at two sizes; records/s untraced, then the peak
  memory of a second pass under ``tracemalloc``. (d') the same with the ``oda`` keys, on
  a few records (the ICC key generation dominates).

Ratios: (c)/(b) cards/s (goal ≥ 1.6), (a) cards/s (goal ≥ 50), peak(large)/peak(small)
(goal ≤ 1.2). (c)/(b) can exceed 2: one slot alone pays the idle CPUs' wake-up latency on
every round trip, two busy slots much less (pcsc-vpcd.md §6), so a card takes less time
per slot with two slots. pcscd is used as found or started and stopped, under the PC/SC lock.
Results go to stdout and to JSON (default ``bench/results/perso.json``). Exit status: 0,
or 1 if a target failed.
"""
from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from apdu import pcscd
from apdu.vpcd import reader_name
from cardspec.profile import Profile

from . import measure, perso_data, procs, runner, slots
from .perso_report import CardStats, Report, card_stats, combine
from .perso_worker import PROFILE, CardsRun, bench_keys, icc_pool, run_in_process, run_reader
from .procs import pcsc_lock

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "perso.json"
VARIANTS = ("oda", "plain")
SLOTS = (0, 1)
START_MARGIN_S = 5.0  #: time the worker processes get to import, build their cardholders and warm up
WORKER_TIMEOUT_S = 900.0
PCSC_KEYS = [(target, variant) for variant in VARIANTS for target in ("one_slot", "two_procs", "two_threads")]


@dataclass(frozen=True)
class Config:
    mode: str
    inprocess_cards: int
    pcsc_cards: int  #: per slot
    data_sizes: tuple[int, int]
    oda_records: int


FULL = Config("full", inprocess_cards=200, pcsc_cards=100, data_sizes=(10_000, 100_000), oda_records=100)
SHORT = Config("short", inprocess_cards=5, pcsc_cards=5, data_sizes=(500, 2_000), oda_records=5)


class Bench:
    """One run; a failing target is recorded in :attr:`report` and the others go on."""

    def __init__(self, config: Config, workdir: Path, *, pcsc: bool = True, data: bool = True) -> None:
        self.config, self.workdir = config, workdir
        self.with_pcsc, self.with_data = pcsc, data
        self.profile = Profile.load(PROFILE)
        self.report = Report(config.mode, PROFILE)

    def run(self) -> None:
        for variant in VARIANTS:
            with self.report.guard(("inprocess", variant)):
                self.inprocess(variant)
        if self.with_pcsc:
            self.pcsc()
        else:
            self.report.skip(PCSC_KEYS, "--no-pcsc")
        if self.with_data:
            with self.report.guard(("data", "plain")):
                self.data()
        else:
            self.report.notes.append("data preparation (d) not run (--no-data)")

    def inprocess(self, variant: str) -> None:
        keys, mf = bench_keys(variant == "oda")
        holders = list(perso_data.cardholders(self.config.inprocess_cards))
        with icc_pool(keys) as icc_keys:
            run_in_process(holders[:1], keys, mf, self.profile, icc_keys)  # warm-up: imports, caches
            self.report.cards(("inprocess", variant),
                              card_stats(run_in_process(holders, keys, mf, self.profile, icc_keys)))
        if variant == "oda":
            self.report.cards(("inprocess_spot", variant), card_stats(run_in_process(holders, keys, mf, self.profile)))

    # --- (b), (c), (c') ---------------------------------------------------------------------
    def pcsc(self) -> None:
        keys = PCSC_KEYS
        status = pcscd.status()
        if status.binary is None or not status.vpcd:
            self.report.skip(keys, f"pcscd with vsmartcard-vpcd is not installed ({pcscd.INSTALL_HINT})")
            return
        try:
            import smartcard  # noqa: F401  (pyscard)
        except ImportError as exc:
            self.report.skip(keys, f"pyscard is not importable: {exc}")
            return
        with self.report.guard(*keys), pcsc_lock() as how:
            self.report.notes.append(f"PC/SC lock: {how}")
            with pcscd.ensure_running(self.workdir / "pcscd.log") as handle:
                self.report.notes.append(f"pcscd: started for the run (pid {handle.proc.pid})" if handle.started
                                         else f"pcscd: already running (pid {handle.status.pid})")
                for variant in VARIANTS:
                    with self.report.guard(("one_slot", variant)), self.feeders(SLOTS[:1]):
                        self.report.cards(("one_slot", variant), self.processes(SLOTS[:1], variant, 1_000_000)[0])
                    with self.report.guard(("two_procs", variant)), self.feeders(SLOTS):
                        runs = self.processes(SLOTS, variant, 2_000_000)
                        self.report.cards(("two_procs", variant), combine(runs), per_slot=runs)
                    with self.report.guard(("two_threads", variant)), self.feeders(SLOTS):
                        runs = self.threads(SLOTS, variant, 4_000_000)
                        self.report.cards(("two_threads", variant), combine(runs), per_slot=runs)

    @contextlib.contextmanager
    def feeders(self, slot_numbers: Sequence[int]) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for slot in slot_numbers:
                argv = [sys.executable, "-m", "bench.perso_feeder", "--slot", str(slot), "--profile", PROFILE]
                stack.enter_context(slots.card_process(argv, slot, self.workdir / f"feeder{slot}.log", cwd=ROOT))
            yield

    def processes(self, slot_numbers: Sequence[int], variant: str, first: int) -> list[CardStats]:
        """One :mod:`bench.perso_worker` process per slot, all starting at the same instant."""
        start_at = time.monotonic() + START_MARGIN_S
        children = []
        try:
            for i, slot in enumerate(slot_numbers):
                out, log = self.workdir / f"worker{slot}.json", self.workdir / f"worker{slot}.log"
                out.unlink(missing_ok=True)
                argv = [sys.executable, "-m", "bench.perso_worker", "--reader", reader_name(slot),
                        "--cards", str(self.config.pcsc_cards), "--first", str(first + i * 100_000),
                        "--start-at", repr(start_at), "--out", str(out)] + (["--oda"] if variant == "oda" else [])
                with open(log, "wb") as log_file:
                    children.append((procs.spawn(argv, log_file, cwd=ROOT), out, log))
            for proc, _, _ in children:
                proc.wait(timeout=WORKER_TIMEOUT_S)
        finally:
            for proc, _, _ in children:
                procs.stop(proc)
        runs = []
        for proc, out, log in children:
            if not out.exists():
                raise RuntimeError(f"bench.perso_worker exited {proc.returncode} without a result{procs.tail(log)}")
            runs.append(card_stats(CardsRun.from_dict(json.loads(out.read_text()))))
            self.report.notes.extend(line for line in log.read_text().splitlines() if "late" in line)
        return runs

    def threads(self, slot_numbers: Sequence[int], variant: str, first: int) -> list[CardStats]:
        """The same clients as threads of this process (after one warm-up card each), behind a barrier."""
        keys, mf = bench_keys(variant == "oda")
        holders = [list(perso_data.cardholders(self.config.pcsc_cards + 1, first + i * 100_000))
                   for i in range(len(slot_numbers))]
        barrier = threading.Barrier(len(slot_numbers))
        runs: list[CardsRun] = [CardsRun() for _ in slot_numbers]

        def work(i: int) -> None:
            reader = reader_name(slot_numbers[i])
            warm = run_reader(reader, holders[i][:1], keys, mf, self.profile, icc_keys)
            barrier.wait()
            runs[i] = warm if warm.error else run_reader(reader, holders[i][1:], keys, mf, self.profile, icc_keys)

        with icc_pool(keys) as icc_keys:  # one pool for the process, as in ``sscard perso run``
            workers = [threading.Thread(target=work, args=(i,), name=f"perso-slot{s}")
                       for i, s in enumerate(slot_numbers)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        return [card_stats(run) for run in runs]

    # --- (d) ------------------------------------------------------------------------------
    def data(self) -> None:
        for variant, sizes in (("plain", self.config.data_sizes), ("oda", (self.config.oda_records,))):
            keys, mf = bench_keys(variant == "oda")
            for size in sizes:
                path = perso_data.write_csv(self.workdir / f"holders-{size}.csv", size)
                timed = perso_data.prepare(path, keys, mf, self.profile, trace=False)
                traced = perso_data.prepare(path, keys, mf, self.profile, trace=True) if variant == "plain" else None
                self.report.data(variant, size, timed, traced)
                path.unlink()


def main(argv: Sequence[str] | None = None) -> int:
    parser = runner.parser("python -m bench.perso", __doc__, DEFAULT_JSON, "CI mode: a few cards, small files")
    parser.add_argument("--no-pcsc", action="store_true", help="skip (b), (c), (c'): no pcscd")
    parser.add_argument("--no-data", action="store_true", help="skip (d), the data preparation")
    args = parser.parse_args(argv)
    config = SHORT if args.short else FULL

    def run(workdir: Path) -> Bench:
        bench = Bench(config, workdir, pcsc=not args.no_pcsc, data=not args.no_data)
        bench.run()
        return bench

    bench = runner.run_in_workdir("bench.perso", "sscard-bench-perso-", run)
    if bench is None:
        return 130
    print(f"personalization benchmark ({config.mode}): profile {PROFILE}, {config.inprocess_cards} cards in-process, "
          f"{config.pcsc_cards} per slot through pcscd, data preparation of "
          f"{' and '.join(f'{n:,}' for n in config.data_sizes)} records ({config.oda_records} with ODA)")
    print(bench.report.table())
    result = bench.report.to_json(config={k: v for k, v in vars(config).items() if k != "mode"},
                                  timestamp=runner.timestamp(), machine=runner.machine())
    measure.save_results(args.json, result)
    return 1 if bench.report.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
