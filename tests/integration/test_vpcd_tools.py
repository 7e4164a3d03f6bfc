"""Unmodified PC/SC command-line clients against a card served through vpcd."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from minicard import AID

pytestmark = pytest.mark.pcsc

SELECT_HEX = "00A404000F" + AID.hex().upper()


def run_tool(*argv: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed (apt-get install pcsc-tools opensc)")
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_opensc_tool_sends_exactly_our_apdus(vpcd_card):
    done = run_tool("opensc-tool", "-c", "default", "-r", "0", "-s", SELECT_HEX, "-s", "00B2070400",
                    "-s", "00DA000000")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.strip() for line in lines if line.startswith("Received")] == [
        "Received (SW1=0x90, SW2=0x00):",
        "Received (SW1=0x90, SW2=0x00):",
        "Received (SW1=0x6D, SW2=0x00)",
    ]
    assert "07 09 48 41 31 30 34 36 39 32 34 ..HA1046924" in [line.strip() for line in lines]
    # -c default skips OpenSC's card-driver probing: the card saw our three APDUs only
    assert [apdu.hex().upper() for apdu in vpcd_card.card.received] == [SELECT_HEX, "00B2070400", "00DA000000"]


def test_scriptor_script_file(vpcd_card, tmp_path):
    script = tmp_path / "minicard.apdu"
    script.write_text(f"# MiniCard through scriptor\nreset\n{SELECT_HEX}\n00B2070400\n00DA000000\nexit\n")
    done = run_tool("scriptor", "-r", vpcd_card.reader, str(script))
    assert done.returncode == 0, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert "Using T=0 protocol" in lines
    assert "< OK: 3B 6D 00 00 00 81 4A 44 46 86 60 51 99 00 00 01 AC" in lines
    assert "A3 D5 CF A5 09 88 01 1E 9F 0C 03 86 01 03 90 00 : Normal processing." in lines
    assert "< 07 09 48 41 31 30 34 36 39 32 34 90 00 : Normal processing." in lines
    assert "< 6D 00 : Instruction code not supported or invalid." in lines


def test_pcsc_scan_shows_the_atr(vpcd_card):
    done = run_tool("pcsc_scan", "-c")
    assert done.returncode == 0, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    at = lines.index("Reader 0: Virtual PCD 00 00")
    assert lines[at + 2] == "Card state: Card inserted,"
    assert lines[at + 3] == "ATR: 3B 6D 00 00 00 81 4A 44 46 86 60 51 99 00 00 01 AC"
