"""Machine-wide exclusive use of a resource through an advisory ``flock`` on a file.

pcscd and the two vpcd slots are shared by every process on the machine, so test runs,
benchmarks and installers take a lock file before using them.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Callable, Iterator

from .errors import SSCardError


class LockTimeout(SSCardError):
    """Another process kept the lock for longer than we were willing to wait."""


@contextlib.contextmanager
def exclusive(path: Path | str, timeout: float, *, poll: float = 0.2,
              already_ours: Callable[[], str | None] | None = None, what: str = "") -> Iterator[str]:
    """Hold an exclusive lock on ``path`` for the block; yields how it was obtained.

    ``already_ours`` is asked while the lock is busy: a non-empty answer (e.g. "held by
    our parent") means the holder is on our side, and the block runs without the lock.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                how = f"took {path}"
                break
            except BlockingIOError:
                inherited = already_ours() if already_ours is not None else None
                if inherited:
                    how = inherited
                    break
                if time.monotonic() >= deadline:
                    suffix = f" {what}" if what else ""
                    raise LockTimeout(f"{path} has been held by another process for {timeout:.0f} s{suffix}") from None
                time.sleep(poll)
        yield how
    finally:
        os.close(fd)  # closing the descriptor releases the lock if we took it
