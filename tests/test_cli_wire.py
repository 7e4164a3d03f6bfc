"""CLI tests for the wire-level commands (CliRunner, and a subprocess for pcscd-less runs)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main, sscard

ROOT = Path(__file__).resolve().parent.parent
SSC_ATR = "3B6D000000814A44468660519900000001AC"


def run(*args):
    return CliRunner().invoke(sscard, list(args), catch_exceptions=False, standalone_mode=False)


def run_main(*args, env=None):
    """The real entry point in a subprocess: exit code and one-line errors as users see them."""
    return subprocess.run([sys.executable, "-c", "import sys, cli; sys.exit(cli.main())", *args],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60)


def test_atr_breakdown_from_hex():
    result = CliRunner().invoke(sscard, ["atr", "3B 6D 00 00", "00 81 4A 44 46 86 60 51 99 00 00 01 AC"])
    assert result.exit_code == 0, result.output
    assert "ATR: 3B 6D 00 00 00 81 4A 44 46 86 60 51 99 00 00 01 AC" in result.output
    assert "T=0" in result.output and "5199" in result.output.replace(" ", "")


def test_atr_json():
    result = CliRunner().invoke(sscard, ["atr", "--json", "3B8F8001804F0CA000000306030001000000006A"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["protocols"] == ["T=0", "T=1"] and data["tck_correct"] is True


@pytest.mark.parametrize("args, message", [
    (["atr", "3B 6D 0G"], "ATR: bad hex character 'G' at position 8"),
    (["atr", "3B6D0000"], "ATR"),
    (["apdu", "--card", "x.card", "00A4 04G0"], "APDU: bad hex character 'G' at position 8"),
    (["apdu", "--card", "x.card", "00A4"], "APDU too short: 2 bytes"),
])
def test_bad_input_is_one_line_and_nonzero(args, message):
    proc = run_main(*args)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_pcscd_is_a_clear_error():
    proc = run_main("readers", env={"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"})
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("error: PC/SC service not running (start pcscd: pcscd --foreground &, "
                                   "or see 'sscard doctor')")


def test_reader_and_card_are_exclusive():
    result = CliRunner().invoke(sscard, ["apdu", "--reader", "0", "--card", "x", "00A40000"])
    assert result.exit_code == 2 and "either --reader or --card" in result.output


def test_expect_pattern_validated():
    result = CliRunner().invoke(sscard, ["apdu", "--card", "x", "--expect", "90G0", "00A40000"])
    assert result.exit_code == 2 and "status-word pattern" in result.output
