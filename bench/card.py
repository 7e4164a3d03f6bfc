"""The in-process card benchmark: APDUs per second of the card object itself, ours and vicc's.

    python -m bench.card [--short] [--json PATH] [--apdus N] [--vicc-apdus N]

No transport: ``card.transmit`` (ours) and ``Iso7816OS.execute`` (vicc) are called
directly, in the same timing loop (:func:`bench.measure.timed`), on a reader-like mix
sent cyclically (each target's mix is checked before it is timed: answers must be 9000
and the same from one cycle to the next). Targets:

- ``ours``: the sample card (:func:`cardsim.factory.personalized_sample_card`), profile
  ``ssc3-sm4``: SELECT SSSE by DF name (T=0: 611E), GET RESPONSE, SELECT EF05 by FID,
  READ RECORD 7 by number, READ RECORD by tag 07, VERIFY with the right PIN;
- ``ours_ssc2``: the same on profile ``ssc2-3des``. Both profiles are T=0 cards (their
  SELECT answers 61xx), so neither avoids the GET RESPONSE; both are measured;
- ``ours_vicc_mix``: the ``ssc3-sm4`` card on exactly vicc's APDUs below;
- ``vicc``: vsmartcard's ``Iso7816OS`` in ``.venv-vicc`` (:mod:`bench.vicc_card`, in a
  subprocess) with an MF, a DF with the SSSE DF name and a record EF holding the sample
  card's EF05 records, on the nearest mix vicc answers correctly: SELECT without FCI
  (P2 0C), READ RECORD with the exact Le, READ RECORD by number where by identifier
  fails (see :mod:`bench.vicc_card`). Skipped, with the reason, when vicc cannot run.

Ratios (goal: ours ≥ 10x vicc): ``apdu_rate`` = APDU/s of ``ours`` / ``vicc`` (the
headline); ``cycle_rate`` = reader passes per second (the two mixes differ in length);
``same_apdus`` = ``ours_vicc_mix`` / ``vicc``. Results go to stdout and to JSON (default
``bench/results/card.json``). Exit status: 0, or 1 if a target failed.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from apdu.transport.base import Card
from cardspec.ids import SSSE_DF_NAME, SSSE_FID, SsseTag
from cardspec.profile import Profile

from . import measure, runner, vicc
from .cards import fixed_answers

if TYPE_CHECKING:
    from cardsim.runtime import CardOS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "card.json"
GOAL = 10.0
#: EF05 of the SSSE; its record 7 is the card number (tag 07), read by number and by tag
EF05_FID, EF05_SFI, RECORD, TAG = 0xEF05, 5, 7, SsseTag.CARD_NUMBER
PIN = bytes.fromhex("123456")  # the profiles' default PIN, packed BCD
VICC_TIMEOUT_S = 600.0
LABELS = {
    "ours": "sscard ssc3-sm4, reader mix",
    "ours_ssc2": "sscard ssc2-3des, reader mix",
    "ours_vicc_mix": "sscard ssc3-sm4, vicc's APDUs",
    "vicc": "vicc Iso7816OS, nearest mix",
}
PROFILES = {"ours": "ssc3-sm4", "ours_ssc2": "ssc2-3des", "ours_vicc_mix": "ssc3-sm4"}


@dataclass(frozen=True)
class Config:
    mode: str
    apdus: int
    warmup: int
    vicc_apdus: int
    vicc_warmup: int


FULL = Config("full", apdus=300_000, warmup=3_000, vicc_apdus=100_000, vicc_warmup=1_000)
SHORT = Config("short", apdus=6_000, warmup=300, vicc_apdus=2_000, vicc_warmup=100)


@dataclass
class Result:
    key: str
    status: str = "pending"  # ok, skipped, error
    reason: str = ""
    stats: measure.Stats | None = None
    mix: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": LABELS[self.key], "status": self.status}
        if self.key in PROFILES:
            out["profile"] = PROFILES[self.key]
        if self.reason:
            out["reason"] = self.reason
        if self.stats:
            out.update(self.stats.to_dict())
        if self.mix:
            out["mix"] = self.mix
        return out


def sample_card(profile: str) -> CardOS:
    from cardsim.factory import personalized_sample_card

    return personalized_sample_card(Profile.load(profile))


def reader_mix(card: Card) -> list[tuple[str, bytes]]:
    """Our reader mix; a GET RESPONSE follows the SELECT when the card answers it 61xx.

    >>> [apdu.hex().upper() for _, apdu in reader_mix(sample_card("ssc2-3des"))]
    ['00A404000F7378312E73682EC9E7BBE1B1A3D5CF', '00C0000018', '00A4020002EF05', '00B2070400', '00B2070000',
     '0020000003123456']
    """
    select = bytes((0x00, 0xA4, 0x04, 0x00, len(SSSE_DF_NAME))) + SSSE_DF_NAME
    card.power_on()
    answer = card.transmit(select)
    card.power_off()
    mix = [("SELECT SSSE by DF name", select)]
    if len(answer) == 2 and answer[0] == 0x61:
        mix.append(("GET RESPONSE (T=0)", bytes((0x00, 0xC0, 0x00, 0x00, answer[1]))))
    return mix + [
        ("SELECT EF05 by FID", bytes((0x00, 0xA4, 0x02, 0x00, 0x02)) + EF05_FID.to_bytes(2, "big")),
        (f"READ RECORD {RECORD} by number", bytes((0x00, 0xB2, RECORD, 0x04, 0x00))),
        (f"READ RECORD by tag {TAG:02X}", bytes((0x00, 0xB2, TAG, 0x00, 0x00))),
        ("VERIFY (right PIN)", bytes((0x00, 0x20, 0x00, 0x00, len(PIN))) + PIN),
    ]


def checked_mix(card: Card, mix: Sequence[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """The mix with the card's answers; raises ValueError unless every answer is 9000 (a
    61xx only when GET RESPONSE comes next) and each is the same from one cycle to the next.

    >>> checked_mix(sample_card("ssc3-sm4"), [("READ RECORD 7", bytes.fromhex("00B2070400"))])
    Traceback (most recent call last):
    ValueError: READ RECORD 7 (00B2070400) answered 6986, not 9000
    """
    answers = fixed_answers(card, [apdu for _, apdu in mix])
    out = []
    for i, (name, apdu) in enumerate(mix):
        answer = answers[apdu]
        fetched = answer[0] == 0x61 and len(answer) == 2 and i + 1 < len(mix) and mix[i + 1][1][1] == 0xC0
        if answer[-2:] != b"\x90\x00" and not fetched:
            raise ValueError(f"{name} ({apdu.hex().upper()}) answered {answer.hex().upper()}, not 9000")
        out.append({"name": name, "apdu": apdu.hex().upper(), "answer": answer.hex().upper()})
    return out


def vicc_config(config: Config) -> dict[str, Any]:
    """What :mod:`bench.vicc_card` builds and runs: the sample card's SSSE DF name, EF05 records and PIN."""
    from cardsim.fs import DF, RecordEF

    card = sample_card(PROFILES["ours"])
    ssse = card.mf.child(SSSE_FID)
    ef05 = ssse.child(EF05_FID) if isinstance(ssse, DF) else None
    if not isinstance(ef05, RecordEF):
        raise ValueError(f"the sample card has no record EF {EF05_FID:04X} under {SSSE_FID:04X}")
    return {"df_fid": SSSE_FID, "df_name": SSSE_DF_NAME.hex(), "ef_fid": EF05_FID, "sfi": EF05_SFI,
            "records": [r.hex() for r in ef05.records], "record": RECORD, "tag": TAG, "pin": PIN.hex(),
            "apdus": config.vicc_apdus, "warmup": config.vicc_warmup}


class Bench:
    """One run: fills :attr:`results` target by target; never raises for a single target's failure."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.results = {key: Result(key) for key in LABELS}
        self.notes: list[str] = []
        self.vicc_python = ""

    def _fail(self, key: str, exc: Exception) -> None:
        self.results[key].status, self.results[key].reason = "error", f"{type(exc).__name__}: {exc}"

    def run(self) -> None:
        try:
            self.run_vicc()
        except vicc.ViccUnavailable as exc:
            self.results["vicc"].status, self.results["vicc"].reason = "skipped", str(exc)
        except Exception as exc:  # a benchmark reports a failed target and goes on
            self._fail("vicc", exc)
        vicc_mix = self.results["vicc"].mix
        for key, profile in PROFILES.items():
            try:
                card = sample_card(profile)
                if key == "ours_vicc_mix":
                    if not vicc_mix:
                        self.results[key].status, self.results[key].reason = "skipped", "no vicc mix (vicc did not run)"
                        continue
                    mix = [(step["name"], bytes.fromhex(step["apdu"])) for step in vicc_mix]
                else:
                    mix = reader_mix(card)
                self.run_ours(key, card, mix)
            except Exception as exc:
                self._fail(key, exc)

    def run_ours(self, key: str, card: Card, mix: Sequence[tuple[str, bytes]]) -> None:
        result = self.results[key]
        result.mix = checked_mix(card, mix)
        apdus = [apdu for _, apdu in mix]
        card.power_on()
        measure.warm_up(card.transmit, self.config.warmup, apdus)
        result.stats = measure.Stats.from_samples(*measure.timed(card.transmit, self.config.apdus, apdus))
        result.status = "ok"

    def run_vicc(self) -> None:
        python = vicc.ensure_python()
        done = subprocess.run([str(python), "-m", "bench.vicc_card"], input=json.dumps(vicc_config(self.config)),
                              capture_output=True, text=True, cwd=ROOT, env=vicc.environment(),
                              timeout=VICC_TIMEOUT_S)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"bench.vicc_card exited {done.returncode}: {last}")
        out = json.loads(done.stdout)
        result = self.results["vicc"]
        result.mix, result.stats = out["mix"], measure.Stats(**out["stats"])
        result.status = "ok"
        self.vicc_python = out["python"]
        for step in out["mix"]:
            for r in step["rejected"]:
                self.notes.append(f"vicc {step['step']}: {r['apdu']} answered {r['answer']}; "
                                  f"sent {step['apdu']} instead")

    # --- report -----------------------------------------------------------------
    def ratios(self) -> dict[str, Any]:
        s = {k: r for k, r in self.results.items() if r.stats is not None}
        out: dict[str, Any] = {"goal": GOAL}
        if "ours" in s and "vicc" in s:
            ours, peer = s["ours"], s["vicc"]
            assert ours.stats is not None and peer.stats is not None
            out["apdu_rate"] = round(ours.stats.rate / peer.stats.rate, 2)
            out["cycle_rate"] = round((ours.stats.rate / len(ours.mix)) / (peer.stats.rate / len(peer.mix)), 2)
            if "ours_vicc_mix" in s:
                same = s["ours_vicc_mix"].stats
                assert same is not None
                out["same_apdus"] = round(same.rate / peer.stats.rate, 2)
            out["goal_met"] = out["apdu_rate"] >= GOAL
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": "card", "mode": self.config.mode,
            "timestamp": runner.timestamp(), "machine": runner.machine(vicc_python=self.vicc_python or None),
            "config": {k: v for k, v in vars(self.config).items() if k != "mode"},
            "targets": {key: result.to_dict() for key, result in self.results.items()},
            "ratios": self.ratios(), "notes": self.notes,
        }

    def table(self) -> str:
        lines = [f"{'target':<32} {'APDUs':>7} {'mix':>3} {'APDU/s':>10} {'p50 us':>8} {'p90 us':>8} "
                 f"{'p99 us':>8} {'max us':>8}"]
        for key, result in self.results.items():
            st = result.stats
            if st is None:
                lines.append(f"{LABELS[key]:<32} {result.status}: {result.reason}")
                continue
            lines.append(f"{LABELS[key]:<32} {st.apdus:>7} {len(result.mix):>3} {st.rate:>10,.0f} "
                         f"{st.p50_ms * 1000:>8.1f} {st.p90_ms * 1000:>8.1f} {st.p99_ms * 1000:>8.1f} "
                         f"{st.max_ms * 1000:>8.1f}")
        r = self.ratios()
        if "apdu_rate" in r:
            same = f", same APDUs {r['same_apdus']:.1f}x" if "same_apdus" in r else ""
            lines.append(f"ours/vicc: {r['apdu_rate']:.1f}x APDU/s (reader passes/s {r['cycle_rate']:.1f}x{same}); "
                         f"goal >= {GOAL:.0f}x: {'met' if r['goal_met'] else 'NOT met'}")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def main(argv: Sequence[str] | None = None) -> int:
    parser = runner.parser("python -m bench.card", __doc__, DEFAULT_JSON, "CI mode: a second or two")
    runner.add_counts(parser, "APDUs per sscard target", "APDUs for vicc")
    args = parser.parse_args(argv)
    config = runner.with_counts(SHORT if args.short else FULL, args)
    bench = Bench(config)
    bench.run()
    print(f"card benchmark ({config.mode}, in-process): {config.apdus} APDUs per sscard target, "
          f"{config.vicc_apdus} for vicc")
    print(bench.table())
    measure.save_results(args.json, bench.to_json())
    return 1 if any(r.status == "error" for r in bench.results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
