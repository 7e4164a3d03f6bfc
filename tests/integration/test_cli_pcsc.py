"""The sscard CLI against a card served through real pcscd + vpcd."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from apdu.pcsc_status import wait_for_state

pytestmark = pytest.mark.pcsc
ROOT = Path(__file__).resolve().parents[2]


def sscard(*args, timeout=60):
    return subprocess.run([sys.executable, "-c", "import sys, cli; sys.exit(cli.main())", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_readers_and_atr(vpcd_card):
    proc = sscard("readers", "--json")
    assert proc.returncode == 0, proc.stderr
    readers = {r["name"]: r for r in json.loads(proc.stdout)}
    assert readers["Virtual PCD 00 00"]["card"] is True
    assert readers["Virtual PCD 00 00"]["atr"] == vpcd_card.card.power_on().hex().upper()
    proc = sscard("atr", "--reader", "PCD 00 00")
    assert proc.returncode == 0, proc.stderr
    assert "ATR: 3B 6D 00 00" in proc.stdout and "protocols: T=0" in proc.stdout


def test_apdu_sends_exactly_what_was_typed(vpcd_card, tmp_path):
    trace = tmp_path / "trace.jsonl"
    proc = sscard("apdu", "--reader", "0", "--trace", str(trace), "--trace-format", "jsonl",
                  "00A4 0400 0F", "73:78:31:2E:73:68:2E:C9:E7:BB:E1:B1:A3:D5:CF")
    assert proc.returncode == 0, proc.stderr
    assert "SW 9000" in proc.stdout
    exchanges = [json.loads(line) for line in trace.read_text().splitlines() if '"c"' in line]
    assert [e["c"] for e in exchanges] == ["00A404000F7378312E73682EC9E7BBE1B1A3D5CF"]


def test_unknown_reader_lists_the_readers(vpcd_card):
    proc = sscard("apdu", "--reader", "ACS ACR38", "00A40000")
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("error: no reader matches 'ACS ACR38'; readers: 0: Virtual PCD 00 00, "
                                   "1: Virtual PCD 00 01")


def test_empty_reader_is_a_clear_error(pcscd):
    assert wait_for_state("Virtual PCD 00 01", False, 5.0)
    proc = sscard("apdu", "--reader", "1", "00A40000")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: no card in reader 'Virtual PCD 00 01'"


def test_script_through_the_reader(vpcd_card, tmp_path):
    script = tmp_path / "s.apdu"
    script.write_text(textwrap.dedent("""\
        reset
        00A404000F 7378312E73682EC9E7BBE1B1A3D5CF = 6F1C* 9000
        00B2070400 = 0709 484131303436393234 9000
        00EE000000 = 6F00
        00B2070400 = 6A83
        """))
    proc = sscard("script", "run", "--reader", "0", str(script))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "3 passed, 1 failed" in proc.stdout


def test_doctor_sees_the_card(vpcd_card):
    proc = sscard("doctor", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert any(r["name"] == "Virtual PCD 00 00" and r["card"] for r in report["readers"])
