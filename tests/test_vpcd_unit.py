"""VpcdServer against a fake vpcd (a listening socket in the test): framing, control
messages, robustness, reconnection, removal and shutdown; no pcscd needed."""
from __future__ import annotations

import logging
import socket
import struct
import threading

import pytest

from apdu import vpcd
from apdu.vpcd import GET_ATR, POWER_OFF, POWER_ON, RESET, VpcdServer, frame, port_for_slot

ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
OTHER_ATR = bytes.fromhex("3B6D000000814A444686605199000001AC")
WAIT = 5.0  # generous bound for state waits; nothing here asserts on timing


class EchoCard:
    """Answers 9000 to SELECT (INS A4), 6700 to frames shorter than a header, else 6D00."""

    def __init__(self, atr: bytes = ATR) -> None:
        self.atr = atr
        self.calls: list[str] = []
        self.received: list[bytes] = []

    def power_on(self) -> bytes:
        self.calls.append("power_on")
        return self.atr

    def power_off(self) -> None:
        self.calls.append("power_off")

    def reset(self) -> bytes:
        self.calls.append("reset")
        return self.atr

    def transmit(self, apdu: bytes) -> bytes:
        self.received.append(apdu)
        if len(apdu) < 4:
            return b"\x67\x00"
        return b"\x90\x00" if apdu[1] == 0xA4 else b"\x6D\x00"


class FaultyCard(EchoCard):
    """Misbehaves on chosen INS bytes: raises, answers nothing, one byte, or too much."""

    def transmit(self, apdu: bytes) -> bytes:
        ins = apdu[1]
        if ins == 0x01:
            raise RuntimeError("card bug")
        if ins == 0x02:
            return b""
        if ins == 0x03:
            return b"\x90"
        if ins == 0x04:
            return bytes(0x10000)
        return super().transmit(apdu)


class NoAtrCard(EchoCard):
    def __init__(self, atr: bytes = b"", fail: bool = False) -> None:
        super().__init__(atr)
        self.fail = fail

    def power_on(self) -> bytes:
        if self.fail:
            raise RuntimeError("cannot power up")
        return self.atr


class FakeVpcd:
    """Plays vpcd: listens, accepts the card, sends frames, reads replies."""

    def __init__(self, port: int = 0) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self, timeout: float = WAIT) -> socket.socket:
        self.listener.settimeout(timeout)
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(timeout)
        return self.conn

    def send(self, payload: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(struct.pack("!H", len(payload)) + payload)

    def recv(self) -> bytes:
        assert self.conn is not None
        head = self._read(2)
        return self._read(struct.unpack("!H", head)[0])

    def _read(self, n: int) -> bytes:
        assert self.conn is not None
        out = b""
        while len(out) < n:
            chunk = self.conn.recv(n - len(out))
            if not chunk:
                raise EOFError(f"card closed the connection after {len(out)} of {n} bytes")
            out += chunk
        return out

    def exchange(self, payload: bytes) -> bytes:
        self.send(payload)
        return self.recv()

    def expect_eof(self) -> None:
        assert self.conn is not None
        assert self.conn.recv(1) == b""

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


@pytest.fixture
def fake():
    f = FakeVpcd()
    yield f
    f.close()


@pytest.fixture
def serve(fake):
    servers: list[VpcdServer] = []

    def _serve(card=None, server_cls=VpcdServer, **kw) -> VpcdServer:
        kw.setdefault("retry_interval", 0.05)
        server = server_cls(card or EchoCard(), host="127.0.0.1", port=fake.port, **kw)
        servers.append(server.start())
        return server

    yield _serve
    for server in servers:
        server.stop()
        assert not server.running


def test_frame_and_ports():
    assert frame(b"\x04") == b"\x00\x01\x04"
    assert frame(bytes(0xFFFF))[:2] == b"\xFF\xFF"
    with pytest.raises(ValueError, match="must not be empty"):
        frame(b"")
    with pytest.raises(ValueError, match="65536 bytes exceed"):
        frame(bytes(0x10000))
    assert (port_for_slot(0), port_for_slot(1)) == (35963, 35964)


def test_inserted_on_first_get_atr_not_on_connect(fake, serve):
    card = EchoCard()
    server = serve(card)
    fake.accept()
    assert not server.wait_inserted(0.2)
    assert fake.exchange(bytes([GET_ATR])) == ATR
    assert server.wait_inserted(WAIT)
    assert card.calls == ["power_on"]  # activation at insertion
    assert fake.exchange(bytes([GET_ATR])) == ATR  # presence polls do not power the card again
    assert card.calls == ["power_on"]


def test_control_messages_are_not_answered(fake, serve):
    card = EchoCard()
    server = serve(card)
    fake.accept()
    for code in (POWER_ON, RESET, POWER_OFF, 0x03):  # 03 is unknown: ignored
        fake.send(bytes([code]))
    # the next frame read is the answer to GET_ATR, so none of the above produced a reply
    assert fake.exchange(bytes([GET_ATR])) == ATR
    assert card.calls == ["power_on", "reset", "power_off"]
    stats = server.stats
    assert (stats.power_ons, stats.resets, stats.power_offs, stats.atr_requests) == (1, 1, 1, 1)


def test_apdus_and_garbage_frames(fake, serve):
    card = EchoCard()
    server = serve(card)
    fake.accept()
    assert fake.exchange(bytes.fromhex("00A4040000")) == b"\x90\x00"
    assert fake.exchange(bytes.fromhex("00A4")) == b"\x67\x00"  # 2-byte frame
    assert fake.exchange(bytes.fromhex("00A404")) == b"\x67\x00"  # 3-byte frame
    assert fake.exchange(b"") == b"\x67\x00"  # zero-length frame goes to the card too
    assert fake.exchange(b"\x00\xDA\x00\x00" + bytes(0xFFFF - 4)) == b"\x6D\x00"  # largest frame
    assert fake.exchange(bytes.fromhex("00A4040000")) == b"\x90\x00"
    assert card.received[1:4] == [bytes.fromhex("00A4"), bytes.fromhex("00A404"), b""]
    assert server.stats.apdus == 6
    assert server.running


def test_short_reads_are_reassembled(fake, serve):
    serve()
    fake.accept()
    fake.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for byte in struct.pack("!H", 5) + bytes.fromhex("00A4040000"):
        fake.conn.sendall(bytes([byte]))
        threading.Event().wait(0.01)
    assert fake.recv() == b"\x90\x00"


@pytest.mark.parametrize("ins", [0x01, 0x02, 0x03, 0x04], ids=["raises", "empty", "one-byte", "oversize"])
def test_card_faults_answer_6f00(fake, serve, ins, caplog):
    server = serve(FaultyCard())
    fake.accept()
    with caplog.at_level(logging.ERROR, logger="apdu.vpcd"):
        assert fake.exchange(bytes([0x00, ins, 0x00, 0x00])) == b"\x6F\x00"
    assert any("6F00" in record.getMessage() for record in caplog.records)
    assert fake.exchange(bytes.fromhex("00A4040000")) == b"\x90\x00"
    assert server.stats.card_errors == 1


@pytest.mark.parametrize("card", [NoAtrCard(b""), NoAtrCard(fail=True)], ids=["empty-atr", "raises"])
def test_card_without_atr_is_dropped_never_answered_empty(fake, serve, card):
    server = serve(card)
    fake.accept()
    fake.send(bytes([GET_ATR]))
    fake.expect_eof()  # the connection closes instead of carrying an empty ATR
    assert not server.inserted.is_set()
    fake.accept()  # and the server keeps trying (after a back-off)
    assert server.running


def test_quickack_rearmed_after_every_recv(fake, serve):
    events: list[tuple] = []

    class RecordingSocket(socket.socket):
        def recv(self, bufsize, flags=0):
            data = super().recv(bufsize, flags)
            events.append(("recv", len(data)))
            return data

        def setsockopt(self, level, option, value, *rest):
            events.append(("setsockopt", level, option, value))
            return super().setsockopt(level, option, value, *rest)

    class RecordingServer(VpcdServer):
        def _open_socket(self) -> socket.socket:
            sock = RecordingSocket(socket.AF_INET, socket.SOCK_STREAM)
            sock.connect((self.host, self.port))
            return sock

    serve(server_cls=RecordingServer)
    fake.accept()
    assert fake.exchange(bytes([GET_ATR])) == ATR
    assert fake.exchange(bytes.fromhex("00A4040000")) == b"\x90\x00"
    quickack = ("setsockopt", socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    assert ("setsockopt", socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) in events
    recvs = [i for i, event in enumerate(events) if event[0] == "recv"]
    assert len(recvs) >= 2  # two frames
    assert all(events[i + 1] == quickack for i in recvs if i + 1 < len(events))


def test_frames_are_joined_from_short_reads_and_split_from_long_ones(fake):
    card_side = socket.create_connection(("127.0.0.1", fake.port))
    vpcd_side = fake.accept()
    with card_side:
        frames = vpcd.FrameReader(card_side)
        vpcd_side.sendall(b"\x00")  # a length split across reads
        threading.Event().wait(0.05)
        vpcd_side.sendall(b"\x03\xAA")
        threading.Event().wait(0.05)
        vpcd_side.sendall(b"\xBB\xCC\x00\x00\x00\x01\x04\x00\x04\x01\x02")  # the rest, an empty frame, two more
        assert [frames.next() for _ in range(3)] == [b"\xAA\xBB\xCC", b"", b"\x04"]
        vpcd_side.shutdown(socket.SHUT_WR)
        with pytest.raises(vpcd.ConnectionClosed, match="4 bytes into a frame"):
            frames.next()


def test_reconnects_when_vpcd_drops_the_connection(fake, serve):
    server = serve()
    fake.accept()
    assert fake.exchange(bytes([GET_ATR])) == ATR
    fake.conn.close()
    fake.accept()
    assert fake.exchange(bytes([GET_ATR])) == ATR
    assert server.wait_inserted(WAIT)
    stats = server.stats
    assert (stats.connects, stats.disconnects, stats.insertions) == (2, 1, 2)


def test_waits_for_vpcd_and_logs_the_outage_once(caplog):
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens on `port` now
    attempts = threading.Semaphore(0)

    class CountingServer(VpcdServer):
        def _open_socket(self) -> socket.socket:
            attempts.release()
            return super()._open_socket()

    server = CountingServer(EchoCard(), port=port, retry_interval=0.02)
    with caplog.at_level(logging.INFO, logger="apdu.vpcd"), server:
        for _ in range(5):
            assert attempts.acquire(timeout=WAIT)
        late = FakeVpcd(port)
        try:
            late.accept()
            assert late.exchange(bytes([GET_ATR])) == ATR
        finally:
            late.close()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("not reachable" in m for m in messages) == 1
    assert any("reachable again" in m for m in messages)
    assert not server.running


def test_remove_insert_and_swap(fake, serve):
    server = serve(EchoCard())
    fake.accept()
    assert fake.exchange(bytes([GET_ATR])) == ATR
    assert server.wait_inserted(WAIT)
    server.remove()
    assert not server.inserted.is_set()
    fake.expect_eof()
    with pytest.raises(TimeoutError):
        fake.accept(timeout=0.3)  # stays out while removed
    server.insert()
    fake.accept()
    assert fake.exchange(bytes([GET_ATR])) == ATR
    server.swap_card(EchoCard(OTHER_ATR))
    fake.expect_eof()
    fake.accept()
    assert fake.exchange(bytes([GET_ATR])) == OTHER_ATR
    assert server.wait_inserted(WAIT)
    assert server.stats.insertions == 3


def test_stop_interrupts_a_blocked_recv(fake):
    server = VpcdServer(EchoCard(), port=fake.port).start()
    fake.accept()
    assert fake.exchange(bytes([GET_ATR])) == ATR
    server.stop()
    assert not server.running
    fake.expect_eof()


def test_stop_interrupts_the_back_off():
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = VpcdServer(EchoCard(), port=port, retry_interval=3600).start()
    server.stop()
    assert not server.running


def test_serve_forever_returns_on_stop(fake):
    server = VpcdServer(EchoCard(), port=fake.port)
    worker = threading.Thread(target=server.serve_forever)
    worker.start()
    try:
        fake.accept()
        assert fake.exchange(bytes([GET_ATR])) == ATR
    finally:
        server.stop()
        worker.join(WAIT)
    assert not worker.is_alive()
    assert server.stats.disconnects == 1


def test_context_manager_and_double_start(fake):
    with VpcdServer(EchoCard(), port=fake.port) as server:
        assert server.running
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    assert not server.running
