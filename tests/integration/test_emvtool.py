"""The unmodified ``emvtool`` of python-emv 1.0.14 (PyPI ``emv``) against the financial zone
of the sample card, served through pcscd + vpcd (pboc.md §6).

emvtool lives in its own venv, ``.venv-emv`` at the repository root, because 1.0.14 pins
old releases (pyscard 2.0.0, click 7.1.2, pycountry 20.7.3). The venv is created on
first use under a lock (concurrent runs wait, then reuse it) and reused while its stamp
says emv 1.0.14 is installed; building pyscard 2.0.0 needs swig and the PC/SC headers
(scripts/setup.sh installs them). The test is skipped only when pip cannot reach the
package index; any other installation failure fails it.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from apdu.filelock import LockTimeout, exclusive

from cardsim.factory import personalized_sample_card
from cardsim.pboc import PbocApplication, find_pboc
from cardspec.profile import Profile

pytestmark = pytest.mark.pcsc

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-emv"
EMV_VERSION = "1.0.14"
STAMP = VENV / f".sscard-emv-{EMV_VERSION}"
LOCK = Path(tempfile.gettempdir()) / "sscard-venv-emv.lock"
LOCK_TIMEOUT = 900.0
PIP_TIMEOUT = 900.0
TOOL_TIMEOUT = 120.0
#: pip's words for "the index cannot be reached" (urllib3/requests messages it prints)
NETWORK_FAILURES = ("Failed to establish a new connection", "Temporary failure in name resolution",
                    "Name or service not known", "Network is unreachable", "Connection refused",
                    "ProxyError", "Read timed out", "ConnectTimeoutError", "Could not fetch URL")


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _install() -> None:
    python = shutil.which("python3") or sys.executable
    made = _run([python, "-m", "venv", "--clear", str(VENV)], 300)
    if made.returncode != 0:
        pytest.fail(f"python3 -m venv {VENV} failed: {(made.stderr or made.stdout).strip()[-500:]}")
    pip = _run([str(VENV / "bin" / "pip"), "install", "--disable-pip-version-check", f"emv=={EMV_VERSION}"],
               PIP_TIMEOUT)
    if pip.returncode != 0:
        output = pip.stdout + pip.stderr
        reason = next((hint for hint in NETWORK_FAILURES if hint in output), None)
        if reason is not None:
            pytest.skip(f"pip cannot reach the package index to install emv=={EMV_VERSION} ({reason})")
        pytest.fail(f"pip install emv=={EMV_VERSION} into {VENV} failed:\n{output.strip()[-2000:]}")
    STAMP.write_text(f"emv=={EMV_VERSION}\n")


@pytest.fixture(scope="session")
def emvtool() -> Path:
    """The emvtool executable of ``.venv-emv``, installed on first use."""
    try:
        with exclusive(LOCK, LOCK_TIMEOUT, poll=0.5, what="while installing emvtool"):
            exe = VENV / "bin" / "emvtool"
            if not (STAMP.is_file() and exe.is_file()):
                _install()
            version = _run([str(exe), "version"], TOOL_TIMEOUT)
            assert version.stdout.strip() == EMV_VERSION, version.stdout + version.stderr
            return exe
    except LockTimeout as exc:
        pytest.fail(str(exc))


@pytest.fixture
def dual_card(serve_card):
    """The factory's sample card (SSSE and financial zone), in vpcd slot 1 (slot 0 is
    where ``sscard sim serve`` puts a card by default)."""
    card = personalized_sample_card(Profile.load("ssc3-sm4"))  # both zones
    return serve_card(card, 1)


def _reader_index(emvtool: Path, reader: str) -> int:
    listed = _run([str(emvtool), "readers"], TOOL_TIMEOUT)
    assert listed.returncode == 0, listed.stderr
    for line in listed.stdout.splitlines():
        index, _, name = line.partition(": ")
        if name.strip() == reader and index.isdigit():
            return int(index)
    raise AssertionError(f"{reader} not in emvtool's reader list:\n{listed.stdout}")


def _emvtool(emvtool: Path, reader: int, *args: str) -> str:
    done = _run([str(emvtool), "-r", str(reader), *args], TOOL_TIMEOUT)
    assert done.returncode == 0, f"emvtool {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def _zone(served) -> PbocApplication:
    app = find_pboc(served.card)
    assert app is not None
    return app


def test_listapps_finds_the_debit_application_through_the_pse(emvtool, dual_card):
    out = _emvtool(emvtool, _reader_index(emvtool, dual_card.reader), "listapps")
    assert "PBOC DEBIT" in out and "[A0 00 00 03 33 01 01 01]" in out
    assert _zone(dual_card).state.atc == 0


def test_info_reads_records_without_gpo(emvtool, dual_card):
    out = _emvtool(emvtool, _reader_index(emvtool, dual_card.reader), "info")
    assert "6228000100000010" in out  # 5A, rendered as a decimal number
    assert "30/12/31" in out  # 5F24
    assert '"WANG/XIUYING"' in out  # 5F20
    assert "2PAY.SYS.DDF01 not available" in out  # PPSE off in this profile
    assert "pin_retries" in out and "atc" in out  # GET DATA 9F17, 9F36, 9F13
    assert _zone(dual_card).state.atc == 0  # info starts no transaction


def test_appdata_runs_gpo_with_the_bare_8300_and_reads_the_afl(emvtool, dual_card):
    out = _emvtool(emvtool, _reader_index(emvtool, dual_card.reader), "appdata", "0")
    assert "Processing Options" in out and "Application Data" in out
    assert "6228000100000010" in out and "30/12/31" in out and '"WANG/XIUYING"' in out
    assert _zone(dual_card).state.atc == 1  # one GPO


def test_info_after_a_transaction_with_log_records(emvtool, dual_card):
    """Log records (SFI 11) are not 70 templates; emvtool must still get through."""
    app = _zone(dual_card)
    app.state.log.insert(0, bytes.fromhex("260315" "101500" "000000001234" "000000000000" "0156" "0156")
                         + b"SSCARD TEST MERCHANT" + bytes.fromhex("00" "0001"))
    out = _emvtool(emvtool, _reader_index(emvtool, dual_card.reader), "info")
    assert "6228000100000010" in out
