"""The wire benchmark runs end to end (``--short``) and its helpers behave; never asserts on speed.

pytest does not collect doctests under ``bench/`` (``--ignore=bench``), so they run here.
"""
from __future__ import annotations

import doctest
import fcntl
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from apdu import pcscd
from apdu.errors import ServiceUnavailable
from bench import cards, floor, measure, procs, wire

ROOT = Path(__file__).resolve().parent.parent
PCSC_TARGETS = ("ours", "ours_thread", "floor")


@pytest.mark.parametrize("module", [cards, floor, measure], ids=lambda m: m.__name__)
def test_bench_doctests(module):
    failed, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failed == 0


def test_floor_answers_frames_like_a_card():
    with socket.create_server(("127.0.0.1", 0)) as listener:  # TCP: the floor sets TCP options
        card_side = socket.create_connection(listener.getsockname(), timeout=5.0)
        vpcd_side, _ = listener.accept()
    answers = {bytes.fromhex("00A4000C023F00"): bytes.fromhex("9000")}
    server = threading.Thread(target=floor.serve, args=(card_side, cards.ATR, answers), daemon=True)
    with vpcd_side, card_side:
        server.start()
        # power on (never answered), GET_ATR split over two sends, two APDUs in one send
        vpcd_side.sendall(b"\x00\x01\x01\x00")
        vpcd_side.sendall(b"\x01\x04" + floor.framed(bytes.fromhex("00A4000C023F00"))
                          + floor.framed(bytes.fromhex("00EE000000")))
        expected = floor.framed(cards.ATR) + floor.framed(b"\x90\x00") + floor.framed(b"\x6D\x00")
        received = b""
        vpcd_side.settimeout(5.0)
        while len(received) < len(expected):
            received += vpcd_side.recv(4096)
        assert received == expected
        vpcd_side.shutdown(socket.SHUT_RDWR)
        server.join(5.0)
    assert not server.is_alive()


def test_fixed_answers_refuse_a_card_whose_answers_drift():
    class Counter:
        calls = 0

        def power_on(self) -> bytes:
            return cards.ATR

        def power_off(self) -> None:
            pass

        def transmit(self, apdu: bytes) -> bytes:
            self.calls += 1
            return bytes((0x90, self.calls))

    with pytest.raises(ValueError, match="differently from one cycle to the next"):
        cards.fixed_answers(Counter(), [bytes.fromhex("0002000000")])


def test_pcsc_lock_waits_for_other_holders_but_not_for_ancestors(tmp_path):
    lock = tmp_path / "pcsc.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert procs.lock_holders(lock) == {os.getpid()}
        with pytest.raises(ServiceUnavailable, match=f"held by pid \\[{os.getpid()}\\]"):
            with procs.pcsc_lock(timeout=0.3, path=lock):
                pass
        child = ("import sys; from pathlib import Path; from bench.procs import pcsc_lock\n"
                 "with pcsc_lock(timeout=0.3, path=Path(sys.argv[1])) as how: print(how)")
        done = subprocess.run([sys.executable, "-c", child, str(lock)], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert f"held by our ancestor (pid {os.getpid()})" in done.stdout
    finally:
        os.close(fd)
    with procs.pcsc_lock(timeout=0.3, path=lock) as how:
        assert how == f"took {lock}"


@pytest.mark.pcsc
def test_wire_benchmark_short_run(tmp_path):
    status = pcscd.status()
    if status.binary is None or not status.vpcd:
        pytest.skip(f"pcscd with vsmartcard-vpcd is not installed ({pcscd.INSTALL_HINT})")
    pytest.importorskip("smartcard", reason="pyscard is not installed")
    out = tmp_path / "wire.json"
    done = subprocess.run([sys.executable, "-m", "bench.wire", "--short", "--json", str(out)], cwd=ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["mode"] == "short"
    assert [m["apdu"] for m in result["mix"]] == [a.hex().upper() for a in measure.MIX_APDUS]
    targets = result["targets"]
    assert set(targets) == set(wire.LABELS)
    for key in ("inprocess", *PCSC_TARGETS):
        assert targets[key]["status"] == "ok", targets[key]
        assert targets[key]["apdus"] == wire.SHORT.apdus and targets[key]["rate"] > 0
        assert targets[key]["answers"] == targets["inprocess"]["answers"]
    ratios = result["ratios"]
    assert ratios["latency_ratio_ours_floor"] > 0 and ratios["ours_minus_floor_p50_us"] == pytest.approx(
        (targets["ours"]["p50_ms"] - targets["floor"]["p50_ms"]) * 1000, abs=0.1)
    vicc = targets["vicc"]
    if vicc["status"] == "skipped":  # allowed only where vicc cannot be set up (no package, no network)
        assert vicc["reason"] and "vicc_speedup" not in ratios
    else:
        assert vicc["status"] == "ok", vicc
        assert 1 <= vicc["apdus"] <= wire.SHORT.vicc_apdus and vicc["rate"] > 0
        assert [a[-4:] for a in vicc["answers"]] == ["9000", "6A82", "6A82", "6A82", "6D00"]
        assert ratios["vicc_speedup"] > 0
    assert "latency ratio ours/floor" in done.stdout and result["machine"]["cpu_count"] >= 1
