"""Crash test of ``sscard perso run``: a batch of virtual cards killed with SIGKILL at
seeded random moments, rerun until it completes, then every card image and the journal
are checked against each other.

What must hold after any number of kills:
* every holder is issued exactly once (one ``done`` card in the journal);
* each ``done`` card's image exists under its journaled name and holds that holder
  (EF06 tag 08 read back through the card's own APDUs, after external authentication);
* no image that is not set aside holds a holder unless the journal lists that very image
  as the holder's card (images that are not set aside and not journaled are blank);
* every set-aside image (``.failed`` / ``.interrupted``) is a journaled card attempt;
* no holder is on two good cards.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from perso_rows import row, write_csv

from apdu.atr import parse_atr
from apdu.transport.channel import Channel, default_processors
from apdu.transport.virtual import VirtualTransport
from cardsim.image import load_image
from cardspec.crypto.ssse import external_auth_cryptogram
from cardspec.ids import SSSE_DF_NAME
from cardspec.records import decode_record
from personalize.journal import SqliteJournal, State
from personalize.keys import IssuerKeys

ROOT = Path(__file__).resolve().parent.parent
KEYS = ROOT / "vectors" / "test-issuer-keys.toml"
SEED = int(os.environ.get("SSCARD_CRASH_SEED", "20251124"))
HOLDERS = 20
KILLS = 15


def read_holder(path: Path, keys: IssuerKeys) -> str | None:
    """The SSN on the card image ``path`` (None: no SSSE data, i.e. blank or half built)."""
    card = load_image(path)
    channel = Channel(VirtualTransport(card), default_processors())
    historical = parse_atr(channel.connect()).historical
    if channel.send(bytes.fromhex("00A404000F") + SSSE_DF_NAME).sw != 0x9000:
        return None
    ef05 = channel.send(bytes.fromhex("00B2012C00"))  # EF05 (SFI 5) record 1: the 卡识别码
    if ef05.sw != 0x9000:
        return None
    _, card_id = decode_record(ef05.data, file="SSSE/EF05")
    rk = keys.ssse_card_keys(card_id.region, historical)["rk"]
    challenge = channel.send(bytes.fromhex("0084000008"))
    original = bytes(range(8))
    auth = external_auth_cryptogram(keys.ssse_algorithm, rk, challenge.data, original) + original
    assert channel.send(bytes.fromhex("0082000A10") + auth).sw == 0x9000, f"{path}: RK refused"
    ef06 = channel.send(bytes.fromhex("00B2083000"))  # EF06 (SFI 6), first record with tag 08
    assert ef06.sw == 0x9000, f"{path}: EF06 tag 08 answered {ef06.sw:04X}"
    tag, ssn = decode_record(ef06.data, file="SSSE/EF06")
    channel.disconnect()
    assert tag == 0x08
    return str(ssn)


def issued(journal: Path) -> int:
    """Holders the journal lists as done (0 before the journal exists)."""
    if not journal.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(journal, timeout=5)) as db:
            return int(db.execute("SELECT count(*) FROM cardholders WHERE state = 'done'").fetchone()[0])
    except sqlite3.OperationalError:  # created but no tables yet
        return 0


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    rows = [row(i) for i in range(HOLDERS)]
    source = write_csv(tmp_path / "people.csv", rows)
    cards = tmp_path / "cards"
    journal_path = tmp_path / "people.csv.journal.sqlite"
    cmd = [sys.executable, "-m", "cli", "perso", "run", str(source), "--cards", str(cards), "--keys", str(KEYS),
           "--insecure-keys", "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(SEED)
    # kill points spread over the whole batch: after the Nth issued holder plus a random
    # slice of a card's time, and now and then early (start-up, resume, the first card)
    targets = sorted(rng.randrange(HOLDERS) for _ in range(KILLS))
    killed = 0
    for target in targets:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.05, 0.6))
        else:
            deadline = time.monotonic() + 30
            while proc.poll() is None and issued(journal_path) < target and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.25))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
    assert killed >= KILLS - 3, "the kills land while the batch runs, not after it"
    for _ in range(3):
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        summary = json.loads(done.stdout)
        if summary["stopped"] is None:
            break
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary["done"] + summary["already_issued"] == HOLDERS

    keys = IssuerKeys.load(KEYS, insecure=True)
    journal = SqliteJournal(journal_path, create=False)
    entries = {e.key: e for e in journal.entries()}
    attempts = journal.cards()
    journal.close()
    ssns = [r["ssn"] for r in rows]
    assert sorted(entries) == sorted(ssns)
    assert all(e.state is State.DONE for e in entries.values()), [e for e in entries.values()]
    done_cards = [c for c in attempts if c.outcome == "done"]
    assert Counter(c.key for c in done_cards) == Counter(ssns), "each holder issued exactly once"
    assert all(c.released and c.outcome is not None for c in attempts), "no card left in a reader"
    good_label = {c.label: c.key for c in done_cards}
    interrupted = sum(e.interrupted for e in entries.values())

    on_good_cards: list[str] = []
    set_aside = []
    for image in sorted(cards.iterdir()):
        if image.name.startswith("."):  # a temp file of an atomic write the kill cut short
            continue
        if image.name.endswith((".failed", ".interrupted")):
            set_aside.append(image.name)
            assert any(c.label == str(image) and c.outcome in ("failed", "interrupted") for c in attempts), image
            continue
        holder = read_holder(image, keys)
        if str(image) in good_label:
            assert holder == good_label[str(image)], f"{image.name} holds another holder than the journal says"
            on_good_cards.append(holder)
        else:
            assert holder is None, f"{image.name} holds {holder}, but the journal does not list it as issued"
    assert sorted(on_good_cards) == sorted(ssns), "every holder on exactly one good card"
    assert any(name.endswith(".interrupted") for name in set_aside), "some kills hit a card mid-personalization"
    print(f"\n{killed} kills, {interrupted} holders interrupted, {len(set_aside)} images set aside")
