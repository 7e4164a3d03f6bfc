"""Putting a card into a vpcd slot for the benchmark, and taking it out again.

Every context manager here waits for pcscd to show the slot's reader PRESENT before it
yields and EMPTY after it stops the card, so the next target finds the slot free (vpcd
has two slots, reused from target to target). A slot that is not EMPTY to begin with
is refused: a stale card process would be measured instead of ours.
"""
from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from apdu.pcsc_status import reader_states, wait_for_state
from apdu.transport.base import Card
from apdu.transport.channel import Channel
from apdu.transport.pcsc import PcscTransport
from apdu.vpcd import VpcdServer, reader_name

from . import procs

STATE_TIMEOUT = 6.0  # pcscd polls vpcd every ~400 ms; vicc also needs ~0.5 s to start


class SlotError(Exception):
    """A card did not appear in (or leave) its slot; the message says which and why."""


def _require_empty(slot: int) -> str:
    reader = reader_name(slot)
    if not wait_for_state(reader, present=False, timeout=STATE_TIMEOUT):
        raise SlotError(f"{reader} shows a card before the benchmark put one there: "
                        f"another card process holds vpcd slot {slot}")
    return reader


def _wait_present(reader: str, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + STATE_TIMEOUT
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SlotError(f"the card process for {reader} exited with status {proc.returncode}"
                            f"{procs.tail(log) if log else ''}")
        if wait_for_state(reader, present=True, timeout=0.1):
            return
    raise SlotError(f"{reader} did not show the card within {STATE_TIMEOUT:.0f} s: {reader_states()}"
                    f"{procs.tail(log) if log else ''}")


def _wait_empty(reader: str) -> None:
    if not wait_for_state(reader, present=False, timeout=STATE_TIMEOUT):
        raise SlotError(f"{reader} still shows a card {STATE_TIMEOUT:.0f} s after the card was stopped")


@contextlib.contextmanager
def card_process(argv: Sequence[str], slot: int, log: Path, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run a card program (it dials vpcd slot ``slot``) for the block; stopped and reaped after."""
    reader = _require_empty(slot)
    with open(log, "wb") as log_file:
        proc = procs.spawn(argv, log_file, env=env, cwd=cwd)
    try:
        _wait_present(reader, proc, log)
        yield proc
    finally:
        procs.stop(proc)
    _wait_empty(reader)


@contextlib.contextmanager
def card_thread(card: Card, slot: int) -> Iterator[VpcdServer]:
    """Serve ``card`` with a :class:`VpcdServer` thread of this process for the block."""
    reader = _require_empty(slot)
    server = VpcdServer(card, slot, retry_interval=0.2).start()
    try:
        if not server.wait_inserted(STATE_TIMEOUT):
            raise SlotError(f"vpcd slot {slot} (port {server.port}) never asked our server for the ATR")
        _wait_present(reader)
        yield server
    finally:
        server.stop()
    if server.running:
        raise SlotError(f"the VpcdServer thread for {reader} did not stop")
    _wait_empty(reader)


@contextlib.contextmanager
def connected(slot: int) -> Iterator[Channel]:
    """A connected channel without processors on the slot's reader (pyscard through pcscd)."""
    transport = PcscTransport(reader_name(slot))
    channel = Channel(transport)
    channel.connect()
    # PcscTransport.disconnect() leaves the PC/SC context to pyscard's __del__, which an
    # interrupt's traceback can delay until pcscd is gone ("Exception ignored ... release"):
    # release it here while pcscd still runs.
    connection = getattr(transport, "_conn", None)
    try:
        yield channel
    finally:
        channel.disconnect()
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.release()
