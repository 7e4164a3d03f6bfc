"""Helper processes and the machine-wide PC/SC lock, for the benchmarks.

- :func:`pcsc_lock` takes the same ``flock`` as the integration tests
  (``tests/integration/conftest.py``), so a benchmark never shares pcscd and the vpcd
  slots with a test run. A lock held by one of our ancestors counts as ours: that is
  a test session running the benchmark as a subprocess and waiting for it.
- :func:`spawn` starts a child in its own session (a terminal Ctrl-C reaches only us,
  and we stop children in order) that receives SIGTERM if we die, even by SIGKILL
  (Linux ``PR_SET_PDEATHSIG``, set by a tiny guard that then execs the real program).
- :func:`stop` terminates, waits, kills after a timeout and always reaps.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterator, Mapping, Sequence

from apdu import pcscd
from apdu.filelock import LockTimeout, exclusive
from apdu.errors import ServiceUnavailable

LOCK_PATH = Path(tempfile.gettempdir()) / "sscard-pcsc-tests.lock"

# Run with `python -I -c`: argv = [-c, parent pid, program, args...]. PR_SET_PDEATHSIG is 1;
# it survives execve. If the parent already died, exit at once instead of running orphaned.
_GUARD = ("import ctypes, os, signal, sys\n"
          "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
          "if os.getppid() != int(sys.argv[1]):\n"
          "    sys.exit(70)\n"
          "os.execv(sys.argv[2], sys.argv[2:])\n")


def _parent_of(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat[stat.rindex(")") + 2:].split()[1])


def ancestors(pid: int | None = None) -> set[int]:
    """The PIDs of the parent, grandparent, ... of ``pid`` (default: this process)."""
    found: set[int] = set()
    current = _parent_of(os.getpid() if pid is None else pid)
    while current > 1 and current not in found:
        found.add(current)
        current = _parent_of(current)
    return found


def lock_holders(path: Path = LOCK_PATH) -> set[int]:
    """PIDs holding a ``flock`` on ``path``, from /proc/locks (waiters, marked ``->``, are left out)."""
    try:
        st = os.stat(path)
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return set()
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders = set()
    for line in lines:
        fields = line.split()  # "7: FLOCK  ADVISORY  WRITE 1234 00:2f:56789 0 EOF"
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
            holders.add(int(fields[4]))
    return holders


@contextlib.contextmanager
def pcsc_lock(timeout: float = 900.0, path: Path = LOCK_PATH) -> Iterator[str]:
    """Hold the PC/SC lock for the block; yields how it was obtained (for the report).

    Raises ServiceUnavailable when another process keeps it for ``timeout`` seconds.
    """
    def ours() -> str | None:
        inherited = lock_holders(path) & ancestors()
        return f"{path} is held by our ancestor (pid {min(inherited)})" if inherited else None

    try:
        with exclusive(path, timeout, already_ours=ours) as how:
            yield how
    except LockTimeout:
        raise ServiceUnavailable(f"{path} has been held by pid {sorted(lock_holders(path)) or '?'} for "
                                 f"{timeout:.0f} s (a test run or another benchmark)") from None


def spawn(argv: Sequence[str], log: IO[bytes], env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` (argv[0] an absolute path) guarded as described in the module docstring."""
    if not os.path.isabs(argv[0]):
        raise ValueError(f"spawn needs an absolute program path, got {argv[0]!r}")
    command = list(argv)
    if sys.platform.startswith("linux"):
        command = [sys.executable, "-I", "-c", _GUARD, str(os.getpid()), *argv]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            env=None if env is None else dict(env), cwd=cwd, start_new_session=True)


def stop(proc: subprocess.Popen[bytes], timeout: float = 3.0) -> int:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; always reaps (as for pcscd)."""
    return pcscd.stop(proc, timeout)


def tail(path: Path, lines: int = 8) -> str:
    """The last lines of a child's log, for error messages ("" when empty)."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return ("; log: " + " | ".join(text)) if text else ""
