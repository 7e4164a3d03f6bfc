"""vsmartcard's reference card ``vicc`` (Debian package vsmartcard-vpicc) as a benchmark peer.

Debian's ``vicc`` is broken as packaged (pcsc-vpcd.md §8): its module directory is not
on ``sys.path`` and it imports ``Crypto`` (pycryptodome), which Debian only ships as
``Cryptodome``. So it runs as ``PYTHONPATH=<module dir> .venv-vicc/bin/python
/usr/bin/vicc -t iso7816 -P <port>``, with the venv created on first use.

Known vicc 0.8 defects that shape the benchmark's APDU mix: SELECT of the MF *with*
FCI (``00A40000023F00``) raises ``TypeError`` inside vicc (bytes vs int in
``bertlv_pack``) and kills it; ``00A4000C023F00`` (no response data) answers 9000.
It never sets TCP_NODELAY/QUICKACK, so each APDU waits ~40 ms for a delayed ACK.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

VICC_BIN = Path("/usr/bin/vicc")
VICC_MODULES = Path("/usr/lib/python3/site-packages/virtualsmartcard")
VENV_DIR = Path(__file__).resolve().parent.parent / ".venv-vicc"
PIP_TIMEOUT = 300.0


class ViccUnavailable(Exception):
    """vicc cannot run here; the message is the reason the benchmark reports."""


def _has_crypto(python: Path) -> bool:
    try:
        done = subprocess.run([str(python), "-c", "import Crypto.Cipher"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ViccUnavailable(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ViccUnavailable(f"{what} failed (exit {done.returncode}): {last[0]}")


def ensure_python(venv: Path = VENV_DIR) -> Path:
    """The venv interpreter that can run vicc, creating the venv on first use.

    Raises ViccUnavailable with the reason (package missing, no network for pip, ...).
    """
    if not VICC_BIN.is_file() or not (VICC_MODULES / "virtualsmartcard" / "VirtualSmartcard.py").is_file():
        raise ViccUnavailable(f"vicc is not installed ({VICC_BIN} or {VICC_MODULES} missing): "
                              "apt-get install vsmartcard-vpicc")
    python = venv / "bin" / "python"
    if python.exists() and _has_crypto(python):
        return python
    system_python = shutil.which("python3")
    if system_python is None:
        raise ViccUnavailable("no python3 on PATH to create the vicc venv")
    _run([system_python, "-m", "venv", str(venv)], f"creating {venv}")
    _run([str(venv / "bin" / "pip"), "install", "--quiet", "pycryptodome"], f"pip install pycryptodome into {venv}")
    if not _has_crypto(python):
        raise ViccUnavailable(f"{python} still cannot import Crypto after installing pycryptodome")
    return python


def command(python: Path, port: int) -> list[str]:
    """vicc's command line for an iso7816 card dialling vpcd on ``port``."""
    return [str(python), str(VICC_BIN), "-t", "iso7816", "-P", str(port)]


def environment() -> dict[str, str]:
    """Our environment plus vicc's module directory on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(VICC_MODULES), env.get("PYTHONPATH", "")) if p)
    return env
