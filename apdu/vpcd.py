"""Serve a card object as a PC/SC reader through vsmartcard's vpcd driver.

vpcd (the ``libifdvpcd`` driver inside pcscd) listens on TCP port ``35963 + slot``;
the *card* is the TCP client and dials in. Every message in both directions is a
2-byte big-endian length followed by the payload. A 1-byte payload is a control
message (:data:`POWER_OFF`, :data:`POWER_ON`, :data:`RESET`, :data:`GET_ATR`) and only
GET_ATR is answered; any other payload is a C-APDU answered by exactly one R-APDU.

Rules this module keeps (see docs: pcsc-vpcd.md, pitfalls 1-3 and 6):

- ``TCP_NODELAY`` is set and ``TCP_QUICKACK`` re-armed after every ``recv``; without
  it each exchange waits ~40 ms for a delayed ACK.
- A reply is never empty (vpcd would block forever in ``recv(0)``): a card that
  raises or answers fewer than 2 bytes yields ``6F00``; a card without an ATR is
  disconnected instead of answering an empty ATR.
- vpcd polls presence with GET_ATR every ~400 ms, so the first GET_ATR of a
  connection, not the TCP connect, marks the card as inserted (a stale card process
  on the same port keeps the new one queued in the listen backlog).

>>> frame(bytes.fromhex("6A82")).hex()
'00026a82'
>>> port_for_slot(1), reader_name(1)
(35964, 'Virtual PCD 00 01')
"""
from __future__ import annotations

import dataclasses
import logging
import select
import socket
import threading
from dataclasses import dataclass
from typing import Callable

from .redact import command_hex, is_secret
from .transport.base import Card

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
BASE_PORT = 0x8C7B  # 35963, vpcd's default; slot n listens on BASE_PORT + n
MAX_PAYLOAD = 0xFFFF  # the length prefix is 16 bits
MAX_FRAME = 2 + MAX_PAYLOAD  #: a length prefix and the longest payload
MAX_ATR = 33  # pcsc-lite MAX_ATR_SIZE: TS and at most 32 more characters

POWER_OFF = 0x00
POWER_ON = 0x01
RESET = 0x02
GET_ATR = 0x04

SW_NO_PRECISE_DIAGNOSIS = b"\x6F\x00"
STALE_WARNING_AFTER = 2.0  # seconds of silence after connecting before warning about a queued connection

_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def port_for_slot(slot: int, base: int = BASE_PORT) -> int:
    """TCP port of vpcd slot ``slot`` (slot 0 is ``Virtual PCD 00 00``)."""
    if not 0 <= slot <= 0xFFFF - base:
        raise ValueError(f"vpcd slot {slot} out of range")
    return base + slot


def reader_name(slot: int, friendly_name: str = "Virtual PCD") -> str:
    """The PC/SC reader name pcscd gives vpcd slot ``slot`` (``Virtual PCD 00 01`` for slot 1)."""
    return f"{friendly_name} 00 {slot:02X}"


def frame(payload: bytes) -> bytes:
    """Length-prefix one payload; refuses empty and over-long payloads (vpcd cannot take them)."""
    if not payload:
        raise ValueError("vpcd frames must not be empty (vpcd would block reading 0 bytes)")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"{len(payload)} bytes exceed the vpcd frame limit of {MAX_PAYLOAD}")
    return len(payload).to_bytes(2, "big") + payload


class ConnectionClosed(ConnectionError):
    """The peer closed the connection (possibly in the middle of a frame)."""


def _quickack(sock: socket.socket) -> None:
    if _TCP_QUICKACK is not None:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)


class FrameReader:
    """Length-prefixed frames from a socket. One ``recv`` takes whatever vpcd sent (as a
    rule one whole frame: one system call per APDU, not one for the length and one for
    the payload); short reads are joined, extra bytes kept for the next frame, and
    TCP_QUICKACK is re-armed after every ``recv``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()

    def next(self) -> bytes:
        """The next frame's payload (may be empty); :class:`ConnectionClosed` at EOF."""
        buffer = self._buffer
        while True:
            if len(buffer) >= 2:
                end = 2 + (buffer[0] << 8 | buffer[1])
                if len(buffer) >= end:
                    payload = bytes(buffer[2:end])
                    del buffer[:end]
                    return payload
            chunk = self.sock.recv(MAX_FRAME)
            _quickack(self.sock)
            if not chunk:
                raise ConnectionClosed(f"peer closed the connection {len(buffer)} bytes into a frame" if buffer
                                       else "peer closed the connection")
            buffer += chunk


@dataclass
class VpcdStats:
    """Counters of one server (read them with :attr:`VpcdServer.stats`)."""

    apdus: int = 0  # C-APDUs answered
    connects: int = 0  # TCP connections established
    disconnects: int = 0  # connections lost or closed
    insertions: int = 0  # connections on which vpcd asked for the ATR (card seen by pcscd)
    power_ons: int = 0
    power_offs: int = 0
    resets: int = 0
    atr_requests: int = 0
    card_errors: int = 0  # replies replaced by 6F00 (card raised or answered < 2 bytes)


class _CardFault(Exception):
    """The card cannot produce an ATR; the connection is dropped (the reader shows no card)."""


class VpcdServer:
    """Present ``card`` in vpcd slot ``slot``: dial vpcd, answer its frames, redial when it goes away.

    Use :meth:`start`/:meth:`stop` (or ``with VpcdServer(card) as server:``) for a
    background thread, or :meth:`serve_forever` in the foreground. :meth:`remove`,
    :meth:`insert` and :meth:`swap_card` script card movements; :attr:`inserted` is set
    once vpcd has asked for the ATR on the current connection.
    """

    def __init__(self, card: Card, slot: int = 0, *, host: str = DEFAULT_HOST, port: int | None = None,
                 retry_interval: float = 0.3, connect_timeout: float = 2.0) -> None:
        self.host = host
        self.port = port_for_slot(slot) if port is None else port
        self.slot = slot
        self.retry_interval = retry_interval
        self.connect_timeout = connect_timeout
        #: set after vpcd's first GET_ATR on the current connection; cleared when it ends
        self.inserted = threading.Event()
        self._card = card
        self._atr: bytes | None = None
        self._stats = VpcdStats()
        self._cond = threading.Condition(threading.RLock())  # guards the fields below
        self._sock: socket.socket | None = None
        self._stopping = False
        self._present = True  # False after remove(): stay disconnected
        self._generation = 0  # bumped by remove(): a late GET_ATR of the old connection cannot set `inserted`
        self._conn_generation = -1
        self._fault_streak = 0  # consecutive connections dropped because the card had no ATR
        self._thread: threading.Thread | None = None

    # --- public control -------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def reader(self) -> str:
        """The reader name clients see (with the default FRIENDLYNAME)."""
        return reader_name(self.slot)

    @property
    def card(self) -> Card:
        return self._card

    @property
    def stats(self) -> VpcdStats:
        """A snapshot of the counters."""
        return dataclasses.replace(self._stats)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "VpcdServer":
        """Serve in a daemon thread; returns ``self``."""
        with self._cond:
            if self.running:
                raise RuntimeError(f"vpcd server for {self.address} is already running")
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=f"vpcd-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect and end the serving loop; joins the background thread."""
        with self._cond:
            self._stopping = True
            self._drop_socket()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("vpcd server for %s did not stop within %.1f s", self.address, timeout)
            else:
                self._thread = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` or KeyboardInterrupt."""
        with self._cond:
            self._stopping = False
        try:
            self._run()
        except KeyboardInterrupt:
            log.info("vpcd server for %s interrupted", self.address)
        finally:
            with self._cond:
                self._drop_socket()

    def remove(self) -> None:
        """Pull the card: close the connection and stay disconnected until :meth:`insert`."""
        with self._cond:
            self._present = False
            self._generation += 1
            self._drop_socket()
            self._cond.notify_all()
            self.inserted.clear()

    def insert(self) -> None:
        """Put the card back: the serving loop dials vpcd again."""
        with self._cond:
            self._present = True
            self._cond.notify_all()

    def swap_card(self, card: Card) -> None:
        """Replace the card: a removal followed by an insertion of ``card``.

        vpcd notices the closed connection at its next poll, so pcscd reports the
        removal before the new card's insertion (each ~400 ms apart).
        """
        self.remove()
        with self._cond:
            self._card = card
            self._atr = None
        self.insert()

    def wait_inserted(self, timeout: float = 5.0) -> bool:
        """True once vpcd has asked this card for its ATR (see :attr:`inserted`)."""
        return self.inserted.wait(timeout)

    def __enter__(self) -> "VpcdServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the serving loop -----------------------------------------------------
    def _drop_socket(self) -> None:
        """Shut the current socket down (wakes a blocked recv). Call with the lock held."""
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _open_socket(self) -> socket.socket:
        """Dial vpcd; subclasses may override (tests wrap the socket)."""
        return socket.create_connection((self.host, self.port), timeout=self.connect_timeout)

    def _run(self) -> None:
        failures = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._present)
                if self._stopping:
                    return
            try:
                sock = self._open_socket()
            except OSError as exc:
                failures += 1
                if failures == 1:
                    log.warning("vpcd at %s not reachable (%s); retrying every %.1f s",
                                self.address, exc.strerror or exc, self.retry_interval)
                self._back_off()
                continue
            if failures:
                log.info("vpcd at %s reachable again after %d attempts", self.address, failures + 1)
            failures = 0
            if not self._serve_connection(sock):
                self._back_off()

    def _back_off(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._stopping or not self._present, timeout=self.retry_interval)

    def _serve_connection(self, sock: socket.socket) -> bool:
        """Answer frames until the connection ends; False asks the caller to back off before redialling."""
        with self._cond:
            if self._stopping or not self._present:
                sock.close()
                return True
            self._sock = sock
            self._conn_generation = self._generation
            self._atr = None  # every connection is an insertion: the first GET_ATR powers the card up
        self._stats.connects += 1
        frames = 0
        healthy = True
        reason = "vpcd closed the connection"
        try:
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _quickack(sock)
            log.info("connected to vpcd at %s", self.address)
            self._await_first_frame(sock)
            frames_in = FrameReader(sock)
            while True:
                payload = frames_in.next()
                frames += 1
                reply = self._handle(payload)
                if reply is not None:
                    sock.sendall(frame(reply))
        except ConnectionClosed:
            healthy = frames > 0  # accepted and dropped at once: do not spin
        except _CardFault as exc:
            reason, healthy = "", False
            self._fault_streak += 1
            if self._fault_streak == 1:
                log.error("slot %d: %s; retrying every %.1f s (repeats are logged at debug level)",
                          self.slot, exc, self.retry_interval, exc_info=exc.__cause__)
            else:
                log.debug("slot %d: %s", self.slot, exc)
        except OSError as exc:
            reason = f"connection error: {exc}"
        finally:
            with self._cond:
                self._sock = None
                stopping, present = self._stopping, self._present
            sock.close()
            self.inserted.clear()
            self._stats.disconnects += 1
        if stopping or not present:
            log.info("disconnected from vpcd at %s (%s)", self.address, "stopped" if stopping else "card removed")
            return True
        if reason:
            log.info("disconnected from vpcd at %s (%s); reconnecting", self.address, reason)
        return healthy

    def _await_first_frame(self, sock: socket.socket) -> None:
        """Block until vpcd talks; warn once if it stays silent (another card may hold the slot)."""
        readable, _, _ = select.select([sock], [], [], STALE_WARNING_AFTER)
        if not readable:
            log.warning("vpcd at %s accepted the connection but has not polled for %.0f s: "
                        "another card process may be holding this slot", self.address, STALE_WARNING_AFTER)

    def _handle(self, payload: bytes) -> bytes | None:
        """Answer one frame: None for control messages that vpcd does not expect an answer to."""
        if len(payload) == 1:
            return self._control(payload[0])
        self._stats.apdus += 1
        return self._transmit(payload)

    def _control(self, code: int) -> bytes | None:
        card = self._card
        if code == GET_ATR:
            self._stats.atr_requests += 1
            if self._atr is None:
                self._atr = self._power(card.power_on, "power on at insertion")
                self._fault_streak = 0
            if not self.inserted.is_set():
                with self._cond:
                    if self._conn_generation == self._generation:
                        self._stats.insertions += 1
                        self.inserted.set()
            return self._atr
        if code == POWER_ON:
            self._stats.power_ons += 1
            self._atr = self._power(card.power_on, "power on")
        elif code == RESET:
            self._stats.resets += 1
            self._atr = self._power(card.reset, "reset")
        elif code == POWER_OFF:
            self._stats.power_offs += 1
            try:
                card.power_off()
            except Exception:
                self._stats.card_errors += 1
                log.exception("card raised during power off (ignored)")
        else:
            log.warning("ignoring unknown vpcd control code %02X", code)
        return None

    def _power(self, action: Callable[[], bytes], what: str) -> bytes:
        try:
            atr = action()
        except Exception as exc:
            self._stats.card_errors += 1
            raise _CardFault(f"card raised during {what}: {exc!r}; it is shown as removed") from exc
        if not isinstance(atr, (bytes, bytearray)) or not 2 <= len(atr) <= MAX_ATR:
            self._stats.card_errors += 1
            raise _CardFault(f"card returned {atr!r} during {what}, not an ATR of 2 to {MAX_ATR} bytes; "
                             "it is shown as removed")
        return bytes(atr)

    def _transmit(self, command: bytes) -> bytes:
        try:
            response = self._card.transmit(command)
        except Exception:
            self._stats.card_errors += 1
            log.exception("card raised on C-APDU %s; answering 6F00", command_hex(command))
            return SW_NO_PRECISE_DIAGNOSIS
        if not isinstance(response, (bytes, bytearray)) or not 2 <= len(response) <= MAX_PAYLOAD:
            self._stats.card_errors += 1
            what = (f"{len(response)} bytes" if isinstance(response, (bytes, bytearray))
                    else f"a {type(response).__name__}")
            log.error("card answered C-APDU %s with %s, not an R-APDU of 2 to %d bytes; answering 6F00",
                      command_hex(command), what, MAX_PAYLOAD)
            return SW_NO_PRECISE_DIAGNOSIS
        if log.isEnabledFor(logging.DEBUG):
            shown = response[-2:] if is_secret(command) else response
            log.debug("slot %d: %s -> %s", self.slot, command_hex(command), bytes(shown).hex().upper())
        return bytes(response)
