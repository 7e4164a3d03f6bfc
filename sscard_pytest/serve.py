"""Putting a card into a vpcd slot for one test, under the machine-wide PC/SC lock.

pcscd and the vpcd slots are shared by every process on the machine: sscard's own test
runs and benchmarks take ``/tmp/sscard-pcsc-tests.lock`` (an ``flock``) before they use
them, and so does :func:`served`. A lock held by this process (a test session that
took it for its integration tests) or by an ancestor (a benchmark or test run that
started this pytest) counts as ours.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from apdu.errors import SSCardError
from apdu.filelock import LockTimeout, exclusive
from apdu.pcsc_status import reader_states, wait_for_state
from apdu.transport.base import Card
from apdu.vpcd import VpcdServer, reader_name
from bench.procs import ancestors, lock_holders

__all__ = ["LOCK_PATH", "LOCK_TIMEOUT", "STATE_TIMEOUT", "SlotError", "pcsc_lock", "served"]

LOCK_PATH = Path(tempfile.gettempdir()) / "sscard-pcsc-tests.lock"
LOCK_TIMEOUT = 900.0  #: seconds to wait for another test run or benchmark
STATE_TIMEOUT = 5.0  #: pcscd polls vpcd every ~400 ms; this leaves a wide margin


class SlotError(SSCardError):
    """The card did not appear in (or leave) its vpcd slot; the message says which and why."""


def _ours(path: Path) -> str | None:
    holders = lock_holders(path)
    if os.getpid() in holders:
        return f"{path} is held by this process"
    inherited = holders & ancestors()
    return f"{path} is held by our ancestor (pid {min(inherited)})" if inherited else None


@contextlib.contextmanager
def pcsc_lock(path: Path = LOCK_PATH, timeout: float = LOCK_TIMEOUT) -> Iterator[str]:
    """Hold the machine-wide PC/SC lock for the block; yields how it was obtained.
    Raises :class:`~apdu.filelock.LockTimeout` naming the holders after ``timeout`` s."""
    try:
        with exclusive(path, timeout, already_ours=lambda: _ours(path)) as how:
            yield how
    except LockTimeout:
        raise LockTimeout(f"{path} has been held by pid {sorted(lock_holders(path)) or '?'} for {timeout:.0f} s "
                          "(another test run or a benchmark)") from None


@contextlib.contextmanager
def served(card: Card, slot: int) -> Iterator[str]:
    """Serve ``card`` in vpcd slot ``slot`` (a :class:`~apdu.vpcd.VpcdServer` thread) and
    yield the reader name once pcscd shows the card; afterwards stop the server and wait
    until the reader is EMPTY again. Raises :class:`SlotError`."""
    reader = reader_name(slot)
    if not wait_for_state(reader, present=False, timeout=STATE_TIMEOUT):
        raise SlotError(f"{reader} shows a card before the test put one there: another card process holds "
                        f"vpcd slot {slot} (choose another with --sscard-slot)")
    server = VpcdServer(card, slot, retry_interval=0.2).start()
    try:
        if not server.wait_inserted(STATE_TIMEOUT):
            raise SlotError(f"vpcd slot {slot} (port {server.port}) never asked for the ATR within "
                            f"{STATE_TIMEOUT:.0f} s: is another card process connected to that port?")
        if not wait_for_state(reader, present=True, timeout=STATE_TIMEOUT):
            raise SlotError(f"{reader} did not show the card within {STATE_TIMEOUT:.0f} s: {reader_states()}")
        yield reader
    finally:
        server.stop()
    if server.running:
        raise SlotError(f"the vpcd server for {reader} did not stop")
    if not wait_for_state(reader, present=False, timeout=STATE_TIMEOUT):
        raise SlotError(f"{reader} still shows a card {STATE_TIMEOUT:.0f} s after its server stopped")
