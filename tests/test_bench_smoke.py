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
from bench import cards, floor, measure, procs, runner, wire

ROOT = Path(__file__).resolve().parent.parent
PCSC_TARGETS = ("ours", "ours_thread", "floor")


@pytest.mark.parametrize("module", [cards, floor, measure, runner], ids=lambda m: m.__name__)
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


def _require_pcsc_stack() -> None:
    """Skip unless pcscd with vpcd and pyscard are installed (the benchmark starts pcscd itself)."""
    status = pcscd.status()
    if status.binary is None or not status.vpcd:
        pytest.skip(f"pcscd with vsmartcard-vpcd is not installed ({pcscd.INSTALL_HINT})")
    pytest.importorskip("smartcard", reason="pyscard is not installed")


@pytest.mark.pcsc
def test_wire_benchmark_short_run(tmp_path):
    _require_pcsc_stack()
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


# --- bench.card: the in-process card benchmark -----------------------------------------
READER_MIX = ["00A404000F7378312E73682EC9E7BBE1B1A3D5CF", "00C000001E", "00A4020002EF05", "00B2070400",
              "00B2070000", "0020000003123456"]


def test_card_bench_doctests():
    from bench import card

    failed, attempted = doctest.testmod(card, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failed == 0


def _vicc_like(records: list[bytes]):
    """A transmit answering like vicc 0.8's Iso7816OS: SELECT with FCI raises, Le 00 on a
    record warns 6282, by identifier ignores the identifier."""
    def transmit(apdu: bytes) -> bytes:
        ins, p1, p2 = apdu[1], apdu[2], apdu[3]
        if ins == 0xA4:
            if p2 == 0x00:
                raise TypeError("sequence item 0: expected a bytes-like object, int found")
            return b"\x90\x00"
        if ins == 0xB2:
            data = records[p1 - 1] if p2 == 0x04 else b"".join(records)
            le = apdu[4] or 256
            return data[:le] + (b"\x62\x82" if le > len(data) else b"\x90\x00")
        return b"\x90\x00" if apdu == bytes.fromhex("0020000003123456") else b"\x63\x00"
    return transmit


def test_vicc_mix_takes_the_first_apdu_vicc_answers_right():
    from bench import card, vicc_card

    config = card.vicc_config(card.SHORT)
    records = [bytes.fromhex(r) for r in config["records"]]
    mix = vicc_card.choose(_vicc_like(records), config)
    assert [step["apdu"] for step in mix] == ["00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF", "00A4020C02EF05",
                                              "00B207040B", "00B207040B", "0020000003123456"]
    assert [step["answer"] for step in mix] == ["9000", "9000", "07094B38303336323135339000",
                                                "07094B38303336323135339000", "9000"]
    assert mix[0]["rejected"] == [{"apdu": "00A404000F7378312E73682EC9E7BBE1B1A3D5CF",
                                   "answer": "TypeError: sequence item 0: expected a bytes-like object, int found"}]
    assert mix[2]["rejected"] == [{"apdu": "00B2070400", "answer": "07094B38303336323135336282"}]
    assert [r["apdu"] for r in mix[3]["rejected"]] == ["00B2070000", "00B207000B"]
    assert mix[3]["name"] == "READ RECORD 7 by number (for by identifier)"
    with pytest.raises(SystemExit, match="vicc answers no candidate for VERIFY"):
        vicc_card.choose(_vicc_like(records), {**config, "pin": "123457"})


def test_card_benchmark_short_run(tmp_path):
    from bench import card

    out = tmp_path / "card.json"
    done = subprocess.run([sys.executable, "-m", "bench.card", "--short", "--json", str(out)], cwd=ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert (result["benchmark"], result["mode"]) == ("card", "short") and result["machine"]["cpu_count"] >= 1
    targets, ratios = result["targets"], result["ratios"]
    assert set(targets) == set(card.LABELS)
    for key, get_response in (("ours", "00C000001E"), ("ours_ssc2", "00C0000018")):
        target = targets[key]
        assert target["status"] == "ok", target
        assert target["apdus"] == card.SHORT.apdus and target["rate"] > 0 and target["p99_ms"] > 0
        assert [m["apdu"] for m in target["mix"]] == READER_MIX[:1] + [get_response] + READER_MIX[2:]
        assert [m["answer"][-4:] for m in target["mix"]] == [f"61{get_response[-2:]}", *["9000"] * 5]
    vicc = targets["vicc"]
    if vicc["status"] == "skipped":  # allowed only where vicc cannot be set up (no package, no network)
        assert vicc["reason"] and targets["ours_vicc_mix"]["status"] == "skipped" and "apdu_rate" not in ratios
        return
    assert vicc["status"] == "ok", vicc
    assert vicc["apdus"] == card.SHORT.vicc_apdus and vicc["rate"] > 0 and len(vicc["mix"]) == 5
    same = targets["ours_vicc_mix"]
    assert same["status"] == "ok" and same["rate"] > 0
    assert [m["apdu"] for m in same["mix"]] == [m["apdu"] for m in vicc["mix"]]
    assert [m["answer"] for m in same["mix"]] == [m["answer"] for m in vicc["mix"]]  # both cards answer alike
    assert all(m["answer"].endswith("9000") for m in vicc["mix"])
    assert ratios["apdu_rate"] > 0 and ratios["cycle_rate"] > 0 and ratios["same_apdus"] > 0
    assert "ours/vicc:" in done.stdout


# --- bench.perso: the personalization benchmark -------------------------------------------
def test_perso_bench_doctests():
    from bench import perso_data, perso_feeder, perso_report

    for module in (perso_data, perso_feeder, perso_report):
        failed, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert attempted > 0 and failed == 0, module.__name__


def _perso_short(tmp_path, *flags):
    from bench import perso

    out = tmp_path / "perso.json"
    done = subprocess.run([sys.executable, "-m", "bench.perso", "--short", "--json", str(out), *flags], cwd=ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert (result["benchmark"], result["mode"], result["profile"]) == ("perso", "short", "ssc3-sm4")
    return perso.SHORT, result, done.stdout


def test_perso_benchmark_short_run_in_process_and_data(tmp_path):
    config, result, stdout = _perso_short(tmp_path, "--no-pcsc")
    targets = result["targets"]
    assert set(targets) == {"oda", "plain"}
    for variant, target in targets.items():
        inprocess = target["inprocess"]
        assert inprocess["status"] == "ok", inprocess
        assert inprocess["cards"] == config.inprocess_cards and inprocess["rate"] > 0
        assert inprocess["p50_ms"] <= inprocess["p90_ms"] <= inprocess["max_ms"]
        assert {target[k]["status"] for k in ("one_slot", "two_procs", "two_threads")} == {"skipped"}
    # the ODA data (ICC key DGIs, DDA) take more commands than the plain card's
    assert targets["oda"]["inprocess"]["apdus_per_card"] > targets["plain"]["inprocess"]["apdus_per_card"]
    # (a') the same flow with each ICC key generated on the spot instead of taken from the pool
    spot = targets["oda"]["inprocess_spot"]
    assert spot["status"] == "ok" and spot["cards"] == config.inprocess_cards
    assert spot["apdus_per_card"] == targets["oda"]["inprocess"]["apdus_per_card"]
    assert "inprocess_spot" not in targets["plain"] and "(a') in-process, ICC key made per card" in stdout
    small, large = config.data_sizes
    plain = result["data_preparation"]["plain"]
    assert set(plain) == {str(small), str(large)}
    for size in (small, large):
        timed, traced = plain[str(size)]["timed"], plain[str(size)]["traced"]
        assert timed["records"] == traced["records"] == size and timed["rate"] > 0 and timed["peak_bytes"] is None
        assert traced["peak_bytes"] > 0
    oda = result["data_preparation"]["oda"][str(config.oda_records)]
    assert oda["timed"]["records"] == config.oda_records and oda["traced"] is None
    ratios = result["ratios"]
    assert ratios["peak_ratio"] == pytest.approx(plain[str(large)]["traced"]["peak_bytes"]
                                                 / plain[str(small)]["traced"]["peak_bytes"], abs=0.001)
    assert "two_one_oda" not in ratios and "in-process (plain):" in stdout and "peak memory" in stdout


@pytest.mark.pcsc
def test_perso_benchmark_short_run_through_pcscd(tmp_path):
    _require_pcsc_stack()
    config, result, stdout = _perso_short(tmp_path, "--no-data")
    for variant, target in result["targets"].items():
        apdus = target["inprocess"]["apdus_per_card"]
        for key, slots in (("one_slot", 1), ("two_procs", 2), ("two_threads", 2)):
            run = target[key]
            assert run["status"] == "ok", (variant, key, run)
            assert run["cards"] == slots * config.pcsc_cards and run["rate"] > 0
            assert run["apdus_per_card"] == apdus  # the same flow as in-process, through pcscd
            if slots == 2:
                assert [s["cards"] for s in run["per_slot"]] == [config.pcsc_cards] * 2
        ratios = result["ratios"]
        assert ratios[f"two_one_{variant}"] > 0 and ratios[f"two_threads_one_{variant}"] > 0
    assert "data_preparation" in result and result["data_preparation"] == {}
    assert "two slots / one slot (oda):" in stdout
