"""One personalization client of the benchmark: cards personalized and verified one after
the other, in-process (a new blank card per cardholder) or through one PC/SC reader fed
by :mod:`bench.perso_feeder`.

``python -m bench.perso_worker --reader NAME --cards N --first I --start-at T --out FILE``
is the client process of targets (b) and (c): it loads the keys, builds its cardholders
and personalizes one warm-up card, waits until ``time.monotonic()`` reaches ``T`` (the
clock is system-wide on Linux, so two workers start together), personalizes N cards,
and writes a JSON :class:`CardsRun` to ``FILE``.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from apdu.transport.base import Transport
from apdu.transport.channel import Channel, default_processors
from apdu.transport.pcsc import PcscTransport
from apdu.transport.virtual import VirtualTransport
from cardspec.profile import Profile
from personalize.cardholder import Cardholder
from personalize.flow import personalize_card
from personalize.icckeys import IccKeyPool, IccKeySource, generate_now
from personalize.keys import IssuerKeys
from personalize.mfkeys import MfKeys
from personalize.oda import ICC_BITS, ICC_EXPONENT

from .perso_data import cardholders

__all__ = ["CardsRun", "bench_keys", "icc_pool", "run_in_process", "run_reader", "KEY_FILE", "PROFILE"]

KEY_FILE = Path(__file__).resolve().parent.parent / "vectors" / "test-issuer-keys.toml"
PROFILE = "ssc3-sm4"  #: the profile of the key file's algorithm (SM4)


@dataclass
class CardsRun:
    """How one client's cards went; ``start``/``end`` are ``time.monotonic()``."""

    cards: int = 0
    start: float = 0.0
    end: float = 0.0
    apdus: int = 0
    card_ms: list[float] = field(default_factory=list)
    error: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> CardsRun:
        return cls(**data)  # type: ignore[arg-type]


def bench_keys(oda: bool) -> tuple[IssuerKeys, MfKeys]:
    """The test issuer key file (TEST keys); without its ``[oda]`` keys unless ``oda``."""
    keys = IssuerKeys.load(KEY_FILE, insecure=True)  # published test keys; git keeps no modes
    if not oda:
        keys = dataclasses.replace(keys, oda=None)
    return keys, MfKeys.of(keys)


def _run(transports: Callable[[], Transport], holders: Sequence[Cardholder], keys: IssuerKeys, mf: MfKeys,
         profile: Profile, icc_keys: IccKeySource) -> CardsRun:
    run = CardsRun(start=time.monotonic())
    clock = time.perf_counter
    for holder in holders:
        before = clock()
        try:
            with Channel(transports(), default_processors()) as channel:
                result = personalize_card(channel, holder, keys, profile, mf_keys=mf, icc_keys=icc_keys)
        except Exception as exc:  # a benchmark reports the failure instead of dying
            run.error = f"card {run.cards + 1}: {type(exc).__name__}: {exc}"
            break
        run.card_ms.append(round((clock() - before) * 1000, 3))
        if not result.verified or result.card_number != holder.social.card_number:
            run.error = f"card {run.cards + 1}: personalized as {result.card_number}, verified={result.verified}"
            break
        run.cards += 1
        run.apdus += sum(step.apdus for step in result.steps)
    run.end = time.monotonic()
    return run


def run_in_process(holders: Sequence[Cardholder], keys: IssuerKeys, mf: MfKeys, profile: Profile,
                   icc_keys: IccKeySource = generate_now) -> CardsRun:
    """(a): each cardholder on a new blank card behind a :class:`VirtualTransport`."""
    from cardsim.factory import blank_card

    return _run(lambda: VirtualTransport(blank_card(profile), "blank card"), holders, keys, mf, profile, icc_keys)


class _UnpoweringTransport(PcscTransport):
    """Power-cycles the card when done with it (``SCardReconnect(SCARD_UNPOWER_CARD)``): the
    feeder's cue to put in the next card, which the disconnect then leaves unpowered."""

    def disconnect(self) -> None:
        from smartcard.scard import SCARD_UNPOWER_CARD

        if self._conn is not None:  # a plain disconnect after the flow's warm reset would only reset the card
            self._conn.reconnect(disposition=SCARD_UNPOWER_CARD)
        super().disconnect()


def run_reader(reader: str, holders: Sequence[Cardholder], keys: IssuerKeys, mf: MfKeys,
               profile: Profile, icc_keys: IccKeySource = generate_now) -> CardsRun:
    """(b)/(c): each cardholder on the next card of the feeder in ``reader`` (pyscard → pcscd → vpcd)."""
    return _run(lambda: _UnpoweringTransport(reader), holders, keys, mf, profile, icc_keys)


def icc_pool(keys: IssuerKeys) -> contextlib.AbstractContextManager[IccKeySource]:
    """The ICC key source ``sscard perso run`` uses with these keys: a pool when they have
    ``[oda]`` keys (:class:`~personalize.icckeys.IccKeyPool`), else none is needed."""
    if keys.oda is None:
        return contextlib.nullcontext(generate_now)
    return IccKeyPool(ICC_BITS, ICC_EXPONENT)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perso_worker", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--reader", required=True, help="PC/SC reader name")
    parser.add_argument("--cards", type=int, required=True, help="cards to personalize")
    parser.add_argument("--first", type=int, default=0, help="number of the first generated cardholder")
    parser.add_argument("--oda", action="store_true", help="with the key file's [oda] keys")
    parser.add_argument("--start-at", type=float, default=0.0, help="time.monotonic() to start at")
    parser.add_argument("--out", type=Path, required=True, help="JSON result file")
    args = parser.parse_args(argv)
    profile = Profile.load(PROFILE)
    keys, mf = bench_keys(args.oda)
    holders = list(cardholders(args.cards + 1, args.first))
    with icc_pool(keys) as icc_keys:
        run = run_reader(args.reader, holders[:1], keys, mf, profile, icc_keys)  # warm-up: imports, caches, pcscd
        late = time.monotonic() - args.start_at
        if not run.error:
            if late < 0:
                time.sleep(-late)
            run = run_reader(args.reader, holders[1:], keys, mf, profile, icc_keys)
    args.out.write_text(json.dumps(dataclasses.asdict(run)) + "\n")
    print(f"perso_worker: {args.reader}: {run.cards} cards{f', started {late:.2f} s late' if late > 0 else ''}"
          f"{f'; {run.error}' if run.error else ''}", flush=True)
    return 1 if run.error else 0


if __name__ == "__main__":
    sys.exit(main())
