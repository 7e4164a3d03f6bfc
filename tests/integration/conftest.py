"""Fixtures for tests through the real PC/SC stack: pcscd + vpcd + a card served by VpcdServer.

``pcscd`` (session) uses a running pcscd or starts one for the session and stops it
afterwards; the tests are skipped only when pcscd or vsmartcard-vpcd is not
installed. ``serve_card`` puts a card into a vpcd slot and waits until pcscd reports
it PRESENT; on teardown it stops the server and waits for EMPTY, so every test
starts with empty readers.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from apdu import pcscd as pcscd_control
from apdu.filelock import LockTimeout, exclusive
from apdu.pcsc_status import reader_states, wait_for_state
from apdu.transport.base import Card
from apdu.vpcd import VpcdServer, reader_name

from minicard import DualProtocolMiniCard, MiniCard

STATE_TIMEOUT = 5.0  # pcscd polls vpcd every ~400 ms; this leaves a wide margin
# The vpcd slots and pcscd are machine-wide: concurrent test runs take turns on this lock.
SESSION_LOCK = Path(tempfile.gettempdir()) / "sscard-pcsc-tests.lock"
SESSION_LOCK_TIMEOUT = 900.0


@dataclass
class Served:
    """A card in a vpcd slot, as a test sees it."""

    server: VpcdServer
    card: Card
    reader: str


@pytest.fixture(scope="session")
def pcsc_session_lock() -> Iterator[None]:
    """Exclusive use of pcscd and the vpcd slots by this test session (other runs wait)."""
    try:
        with exclusive(SESSION_LOCK, SESSION_LOCK_TIMEOUT, what="(another test run)"):
            yield
    except LockTimeout as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def pcscd(pcsc_session_lock: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[pcscd_control.PcscdHandle]:
    current = pcscd_control.status()
    if current.binary is None or not current.vpcd:
        pytest.skip(f"pcscd with vsmartcard-vpcd is not installed ({pcscd_control.INSTALL_HINT})")
    pytest.importorskip("smartcard", reason="pyscard is not installed")
    log_path = Path(tmp_path_factory.mktemp("pcscd")) / "pcscd.log"
    with pcscd_control.ensure_running(log_path) as handle:
        yield handle


@pytest.fixture
def serve_card(pcscd: pcscd_control.PcscdHandle) -> Iterator[Callable[..., Served]]:
    """Factory: ``serve_card(card, slot=0)`` returns a :class:`Served` once the reader shows the card."""
    served: list[Served] = []

    def _serve(card: Card, slot: int = 0) -> Served:
        reader = reader_name(slot)
        if not wait_for_state(reader, present=False, timeout=STATE_TIMEOUT):
            pytest.fail(f"{reader} still shows a card before the test: another card process holds slot {slot}")
        server = VpcdServer(card, slot, retry_interval=0.2).start()
        entry = Served(server, card, reader)
        served.append(entry)
        if not server.wait_inserted(STATE_TIMEOUT):
            pytest.fail(f"vpcd slot {slot} (port {server.port}) never asked for the ATR: "
                        "is another card process connected to that port?")
        if not wait_for_state(reader, present=True, timeout=STATE_TIMEOUT):
            pytest.fail(f"{reader} did not show the card within {STATE_TIMEOUT} s: {reader_states()}")
        return entry

    yield _serve
    problems = []
    for entry in served:
        entry.server.stop()
        if entry.server.running:
            problems.append(f"server for {entry.reader} did not stop")
        elif not wait_for_state(entry.reader, present=False, timeout=STATE_TIMEOUT):
            problems.append(f"{entry.reader} still shows a card after the server stopped")
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def pyscard_connect(pcscd: pcscd_control.PcscdHandle) -> Iterator[Callable[..., object]]:
    """Factory: ``pyscard_connect(reader, protocol=None)`` -> a connected pyscard connection (closed after)."""
    from smartcard.Exceptions import CardConnectionException
    from smartcard.System import readers

    connections = []

    def _connect(reader: str, protocol: int | None = None) -> object:
        matches = [r for r in readers() if str(r) == reader]
        assert matches, f"{reader} not among the PC/SC readers {[str(r) for r in readers()]}"
        connection = matches[0].createConnection()
        connections.append(connection)
        connection.connect(protocol)
        return connection

    yield _connect
    for connection in connections:
        try:
            connection.disconnect()
        except CardConnectionException:
            pass  # the card may be gone: that is what some tests do
        connection.release()


@pytest.fixture
def vpcd_card(serve_card: Callable[..., Served]) -> Served:
    """The T=0-only MiniCard in slot 0 (``Virtual PCD 00 00``)."""
    return serve_card(MiniCard(), 0)


@pytest.fixture
def vpcd_card_slot1(serve_card: Callable[..., Served]) -> Served:
    """The T=0/T=1 MiniCard in slot 1 (``Virtual PCD 00 01``)."""
    return serve_card(DualProtocolMiniCard(), 1)
