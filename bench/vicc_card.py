"""vsmartcard's ``Iso7816OS`` measured in-process: run by :mod:`bench.card` in ``.venv-vicc``.

    PYTHONPATH=<vicc module dir> .venv-vicc/bin/python -m bench.vicc_card < config.json

Reads a JSON config on stdin (``df_fid``, ``df_name``, ``ef_fid``, ``sfi``, ``records``
(hex), ``record`` and ``tag``: the record to read by number and by identifier, ``pin``
(hex), ``apdus``, ``warmup``), builds vicc's card the way its ``CardGenerator`` builds the iso7816 card (an ``MF`` with
file descriptor DF, a ``SAM(PIN, card number)`` tied to it, ``Iso7816OS(mf, sam)``) plus a
``DF`` with that DF name holding a linear variable SIMPLE-TLV ``RecordStructureEF`` with
the records, picks the mix, times it with :func:`bench.measure.timed` (the loop our card
is timed with; :mod:`bench.measure` imports only the standard library) and prints one
JSON object on stdout. Exit status 1, with the reason on stderr, if a step of the mix
has no APDU that vicc answers correctly.

Each step of the mix tries its candidate APDUs in order and keeps the first that answers
the expected data with 9000; the others are reported with what they answered (vicc 0.8:
SELECT with FCI raises ``TypeError`` in ``bertlv_pack``; READ RECORD with Le 00 answers
6282 "end of record before Le bytes"; READ RECORD by identifier ignores the identifier in
a linear variable SIMPLE-TLV EF, because ``hasSimpleTlv`` masks the file descriptor with
03 instead of 07, and answers every record, so by number stands in for it).
"""
from __future__ import annotations

import json
import platform
import sys
from typing import Any, Callable

from bench.measure import Stats, answers, timed, warm_up

OK = b"\x90\x00"


def build(config: dict[str, Any]) -> Any:
    """vicc's card: MF → DF (DF name) → record EF with the records, and the SAM with the PIN."""
    from virtualsmartcard.ConstantDefinitions import FDB
    from virtualsmartcard.SmartcardFilesystem import DF, MF, Record, RecordStructureEF
    from virtualsmartcard.SmartcardSAM import SAM
    from virtualsmartcard.VirtualSmartcard import Iso7816OS

    mf = MF(filedescriptor=FDB["DF"])
    sam = SAM(bytes.fromhex(config["pin"]), b"1234567890", mf=mf)
    df = DF(mf, config["df_fid"], dfname=bytes.fromhex(config["df_name"]))
    mf.append(df)
    records = [bytes.fromhex(r) for r in config["records"]]
    ef = RecordStructureEF(df, config["ef_fid"], FDB["EFSTRUCTURE_LINEAR_VARIABLESIMPLETLV"],
                           shortfid=config["sfi"], records=[Record(identifier=r[0], data=r) for r in records])
    df.append(ef)
    card = Iso7816OS(mf, sam)
    card.powerUp()
    return card


Candidate = tuple[str, bytes]  # (what the APDU does, the APDU)


def steps(config: dict[str, Any]) -> list[tuple[str, list[Candidate], bytes | None]]:
    """(step, candidates in order of preference, expected data or None for any)."""
    name = bytes.fromhex(config["df_name"])
    fid = config["ef_fid"].to_bytes(2, "big")
    records = [bytes.fromhex(r) for r in config["records"]]
    number, tag, pin = config["record"], config["tag"], bytes.fromhex(config["pin"])
    by_number = records[number - 1]
    by_tag = next(r for r in records if r[0] == tag)
    return [
        ("SELECT DF by DF name", [(f"SELECT DF by DF name, P2 {p2:02X}", bytes((0, 0xA4, 4, p2, len(name))) + name)
                                  for p2 in (0x00, 0x0C)], None),
        ("SELECT EF by FID", [(f"SELECT EF by FID, P2 {p2:02X}", bytes((0, 0xA4, 2, p2, 2)) + fid)
                              for p2 in (0x00, 0x0C)], None),
        (f"READ RECORD {number} by number", [(f"READ RECORD {number} by number, Le {le:02X}",
                                              bytes((0, 0xB2, number, 0x04, le))) for le in (0, len(by_number))],
         by_number),
        (f"READ RECORD by identifier {tag:02X}",
         [(f"READ RECORD by identifier {tag:02X}, Le {le:02X}", bytes((0, 0xB2, tag, 0x00, le)))
          for le in (0, len(by_tag))]
         + [(f"READ RECORD {number} by number (for by identifier)", bytes((0, 0xB2, number, 0x04, len(by_tag))))],
         by_tag),
        ("VERIFY", [("VERIFY (right PIN)", bytes((0, 0x20, 0, 0, len(pin))) + pin)], b""),
    ]


def _answer(transmit: Callable[[bytes], bytes], apdu: bytes) -> bytes | str:
    try:
        return transmit(apdu)
    except Exception as exc:  # vicc lets some faults escape execute(); report them as the answer
        return f"{type(exc).__name__}: {exc}"


def choose(transmit: Callable[[bytes], bytes], config: dict[str, Any]) -> list[dict[str, Any]]:
    """Walk the steps on the card, keeping per step the first candidate answered correctly."""
    chosen: list[dict[str, Any]] = []
    for step, candidates, expected in steps(config):
        rejected = []
        for name, apdu in candidates:
            got = _answer(transmit, apdu)
            if isinstance(got, bytes) and got[-2:] == OK and (expected is None or got[:-2] == expected):
                chosen.append({"name": name, "step": step, "apdu": apdu.hex().upper(), "answer": got.hex().upper(),
                               "rejected": rejected})
                break
            rejected.append({"apdu": apdu.hex().upper(), "answer": got.hex().upper() if isinstance(got, bytes) else got})
        else:
            raise SystemExit(f"vicc answers no candidate for {step}: {rejected}")
    return chosen


def main() -> int:
    config = json.load(sys.stdin)
    card = build(config)
    transmit: Callable[[bytes], bytes] = card.execute
    mix = choose(transmit, config)
    apdus = [bytes.fromhex(step["apdu"]) for step in mix]
    first = [a.hex().upper() for a in answers(transmit, apdus)]
    warm_up(transmit, config["warmup"], apdus)
    stats = Stats.from_samples(*timed(transmit, config["apdus"], apdus))
    last = [a.hex().upper() for a in answers(transmit, apdus)]
    if first != last or first != [step["answer"] for step in mix]:
        raise SystemExit(f"vicc's answers drift from one cycle to the next: {first} then {last}")
    json.dump({"python": platform.python_version(), "executable": sys.executable, "atr": card.getATR().hex().upper(),
               "mix": mix, "stats": stats.to_dict()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
