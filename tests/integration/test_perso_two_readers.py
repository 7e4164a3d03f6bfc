"""The sample batch personalized through pcscd + vpcd on two virtual readers in parallel,
with the unmodified ``sscard perso run --reader ... --reader ...`` command: every card
passes verification (including a test transaction whose ARQC the flow checks against
the issuer keys), and every cardholder is issued exactly once."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cardsim.factory import blank_card
from cardsim.persistent import Lifecycle
from cardspec.ids import SSSE_DF_NAME
from cardspec.profile import Profile

pytestmark = pytest.mark.pcsc
ROOT = Path(__file__).resolve().parents[2]


class Operator:
    """Plays the operator at one reader: when a personalized card is powered off (the batch
    is done with it), pull it out and put in the next blank card."""

    def __init__(self, profile: Profile, first_serial: int) -> None:
        self.profile = profile
        self.serial = first_serial
        self.issued: list = []
        self.done = threading.Event()
        self.server = None
        self.card = self._blank()
        self._swap = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _blank(self):
        card = blank_card(self.profile, serial=self.serial.to_bytes(4, "big"))
        self.serial += 1
        return card

    # the card object vpcd talks to
    def power_on(self) -> bytes:
        return self.card.power_on()

    def reset(self) -> bytes:
        return self.card.reset()

    def transmit(self, apdu: bytes) -> bytes:
        return self.card.transmit(apdu)

    def power_off(self) -> None:
        self.card.power_off()
        if self.card.life.phase is Lifecycle.PERSONALIZED:
            self._swap.set()

    def start(self, server) -> None:
        self.server = server
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._swap.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._swap.wait()
            self._swap.clear()
            if self._stop.is_set():
                return
            self.issued.append(self.card)
            self.card = self._blank()
            self.server.swap_card(self)  # removal, then insertion (pcscd sees each at its next poll)


def test_batch_on_two_readers_in_parallel(serve_card, tmp_path):
    profile = Profile.load("ssc3-sm4")
    operators = [Operator(profile, 0x1000), Operator(profile, 0x2000)]
    for slot, operator in enumerate(operators):
        operator.start(serve_card(operator, slot).server)
    journal = tmp_path / "journal.sqlite"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", "import sys, cli; sys.exit(cli.main())", "perso", "run",
             "vectors/sample_cardholders.csv", "--keys", "vectors/test-issuer-keys.toml", "--insecure-keys",
             "--reader", "Virtual PCD 00 00", "--reader", "Virtual PCD 00 01", "--journal", str(journal),
             "--card-timeout", "30", "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        for operator in operators:
            operator.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = subprocess.run([sys.executable, "-c", "import sys, cli; sys.exit(cli.main())", "perso", "status",
                             str(journal), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    report = json.loads(status.stdout)
    assert report["counts"] == {"pending": 0, "in_progress": 0, "done": 5, "failed": 0}
    rows = report["rows"]
    assert all(row["verified"] for row in rows)  # read back, PIN checked, ARQC checked against IMK-AC
    assert len({row["key"] for row in rows}) == 5 and len({row["atr_serial"] for row in rows}) == 5
    # both readers worked, and every personalized card holds exactly one of the cardholders
    issued = [card for operator in operators for card in operator.issued]
    issued += [op.card for op in operators if op.card.life.phase is Lifecycle.PERSONALIZED]
    assert all(operator.issued or operator.card.life.phase is Lifecycle.PERSONALIZED for operator in operators)
    ssns = []
    for card in issued:
        ssse = next(df for df in card.mf.walk() if df.name == SSSE_DF_NAME)
        record = ssse.child(0xEF06).records[0]
        assert record[0] == 0x08
        ssns.append(record[2:].decode("ascii"))
    assert sorted(ssns) == sorted(row["key"] for row in rows)
