"""PC/SC transport through pyscard (and so through pcscd on Linux).

Readers are chosen by index (``0``), a name fragment (``"PCD 00 01"``, case-insensitive)
or a regular expression (``re:^Virtual.*01$``). Errors are translated into one-line
messages: service not running, no such reader (listing those there are), no card,
card removed.
"""
from __future__ import annotations

import re
from typing import Iterable

from ..errors import CardRemoved, NoCard, NoSuchReader, ServiceUnavailable, TransportError
from .base import Transport

# PC/SC error codes (winscard.h) that deserve their own message.
SCARD_E_NO_SERVICE = 0x8010001D
SCARD_E_SERVICE_STOPPED = 0x8010001E
SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
SCARD_E_NO_SMARTCARD = 0x8010000C
SCARD_W_REMOVED_CARD = 0x80100069
SCARD_W_RESET_CARD = 0x80100068
SCARD_E_PROTO_MISMATCH = 0x8010000F
SCARD_E_NOT_TRANSACTED = 0x80100016
SCARD_E_SHARING_VIOLATION = 0x8010000B
SCARD_W_UNRESPONSIVE_CARD = 0x80100066
SCARD_E_READER_UNAVAILABLE = 0x80100017

_PROTOCOLS = {"auto": None, "T=0": "T0", "T=1": "T1", "t0": "T0", "t1": "T1", "T0": "T0", "T1": "T1"}


def _hresult(exc: BaseException) -> int:
    value = getattr(exc, "hresult", 0) or 0
    return value & 0xFFFFFFFF


def _translate(exc: BaseException, where: str) -> TransportError:
    """Map a pyscard exception onto sscard's one-line transport errors."""
    code = _hresult(exc)
    if code in (SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED):
        return ServiceUnavailable("PC/SC service not running (start pcscd: pcscd --foreground &, or see 'sscard doctor')")
    if code == SCARD_E_NO_SMARTCARD or type(exc).__name__ == "NoCardException":
        return NoCard(f"no card in reader {where}")
    if code in (SCARD_W_REMOVED_CARD, SCARD_E_NOT_TRANSACTED, SCARD_W_UNRESPONSIVE_CARD, SCARD_E_READER_UNAVAILABLE):
        return CardRemoved(f"card removed from reader {where} (or it stopped answering)")
    if code == SCARD_E_PROTO_MISMATCH:
        return TransportError(f"reader {where}: the card's ATR does not offer the requested protocol")
    if code == SCARD_E_SHARING_VIOLATION:
        return TransportError(f"reader {where} is in exclusive use by another program")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return TransportError(f"reader {where}: {text}")


def list_readers() -> list[str]:
    """Names of the PC/SC readers; raises ServiceUnavailable when pcscd is not running."""
    try:
        from smartcard.scard import (SCARD_S_SUCCESS, SCARD_SCOPE_USER, SCardEstablishContext,
                                     SCardListReaders, SCardReleaseContext)
    except ImportError as exc:  # pragma: no cover - pyscard is a dependency
        raise ServiceUnavailable(f"pyscard is not importable: {exc}") from exc
    rc, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
    if rc != SCARD_S_SUCCESS:
        if (rc & 0xFFFFFFFF) in (SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED):
            raise ServiceUnavailable("PC/SC service not running (start pcscd: pcscd --foreground &, or see 'sscard doctor')")
        raise TransportError(f"PC/SC: cannot establish a context (0x{rc & 0xFFFFFFFF:08X})")
    try:
        rc, readers = SCardListReaders(ctx, [])
        if (rc & 0xFFFFFFFF) == SCARD_E_NO_READERS_AVAILABLE:
            return []
        if rc != SCARD_S_SUCCESS:
            raise TransportError(f"PC/SC: cannot list readers (0x{rc & 0xFFFFFFFF:08X})")
        return list(readers)
    finally:
        SCardReleaseContext(ctx)


def select_reader(spec: str | int | None, readers: Iterable[str]) -> str:
    """Pick one reader by index, name fragment or ``re:REGEX`` (or a bare regex).

    >>> rs = ["Virtual PCD 00 00", "Virtual PCD 00 01"]
    >>> select_reader("1", rs), select_reader("pcd 00 00", rs), select_reader("re:01$", rs)
    ('Virtual PCD 00 01', 'Virtual PCD 00 00', 'Virtual PCD 00 01')
    >>> select_reader("ACS", rs)
    Traceback (most recent call last):
    apdu.errors.NoSuchReader: no reader matches 'ACS'; readers: 0: Virtual PCD 00 00, 1: Virtual PCD 00 01
    """
    names = list(readers)
    listing = ", ".join(f"{i}: {n}" for i, n in enumerate(names)) or "none"
    if not names:
        raise NoSuchReader("no PC/SC readers found (is the reader plugged in, or vpcd installed? see 'sscard doctor')")
    if spec is None or spec == "":
        if len(names) == 1:
            return names[0]
        raise NoSuchReader(f"several readers, choose one with --reader; readers: {listing}")
    text = str(spec)
    if text.isdigit():
        index = int(text)
        if index < len(names):
            return names[index]
        raise NoSuchReader(f"no reader with index {index}; readers: {listing}")
    exact = [n for n in names if n == text]
    if exact:
        return exact[0]
    fragment = [n for n in names if text.lower() in n.lower()]
    if len(fragment) == 1:
        return fragment[0]
    if len(fragment) > 1:
        raise NoSuchReader(f"{text!r} matches several readers ({', '.join(fragment)}); be more specific")
    pattern = text[3:] if text.startswith("re:") else text
    try:
        regex = re.compile(pattern, re.IGNORECASE)
    except re.error:
        regex = None
    matched = [n for n in names if regex and regex.search(n)]
    if len(matched) == 1:
        return matched[0]
    if len(matched) > 1:
        raise NoSuchReader(f"{text!r} matches several readers ({', '.join(matched)}); be more specific")
    raise NoSuchReader(f"no reader matches {text!r}; readers: {listing}")


class PcscTransport(Transport):
    """One card in one PC/SC reader."""

    def __init__(self, reader: str | int | None = None, *, protocol: str = "auto", exclusive: bool = False) -> None:
        if protocol not in _PROTOCOLS:
            raise TransportError(f"unknown protocol {protocol!r}: use auto, T=0 or T=1")
        self.reader_spec = reader
        self.requested_protocol = protocol
        self.exclusive = exclusive
        self.reader_name: str | None = None
        self.description = f"PC/SC reader {reader!r}" if reader is not None else "PC/SC reader"
        self._conn = None
        self._atr = b""

    def connect(self) -> bytes:
        from smartcard.CardConnection import CardConnection
        from smartcard.System import readers as pyscard_readers
        from smartcard.scard import SCARD_SHARE_EXCLUSIVE, SCARD_SHARE_SHARED

        name = select_reader(self.reader_spec, list_readers())
        self.reader_name = name
        reader = next((r for r in pyscard_readers() if str(r) == name), None)
        if reader is None:
            raise NoSuchReader(f"reader {name!r} disappeared")
        proto_name = _PROTOCOLS[self.requested_protocol]
        protocol = None if proto_name is None else getattr(CardConnection, f"{proto_name}_protocol")
        mode = SCARD_SHARE_EXCLUSIVE if self.exclusive else SCARD_SHARE_SHARED
        conn = reader.createConnection()
        try:
            conn.connect(protocol=protocol, mode=mode)
        except Exception as exc:  # pyscard raises several unrelated types
            raise _translate(exc, repr(name)) from None
        self._conn = conn
        self._atr = bytes(conn.getATR())
        active = conn.getProtocol()
        self.protocol = "T=1" if active == CardConnection.T1_protocol else "T=0" if active == CardConnection.T0_protocol else "raw"
        self.description = f"PC/SC reader {name!r} ({self.protocol})"
        return self._atr

    @property
    def atr(self) -> bytes:
        if self._conn is None:
            raise TransportError(f"{self.description}: not connected")
        return self._atr

    def reset(self) -> bytes:
        """Warm reset through SCardReconnect(SCARD_RESET_CARD)."""
        from smartcard.scard import SCARD_RESET_CARD, SCARD_SHARE_EXCLUSIVE, SCARD_SHARE_SHARED

        if self._conn is None:
            raise TransportError(f"{self.description}: not connected")
        mode = SCARD_SHARE_EXCLUSIVE if self.exclusive else SCARD_SHARE_SHARED
        try:
            self._conn.reconnect(mode=mode, disposition=SCARD_RESET_CARD)
            self._atr = bytes(self._conn.getATR())
        except Exception as exc:
            raise _translate(exc, repr(self.reader_name)) from None
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        if self._conn is None:
            raise TransportError(f"{self.description}: not connected")
        try:
            data, sw1, sw2 = self._conn.transmit(list(apdu))
        except Exception as exc:
            raise _translate(exc, repr(self.reader_name)) from None
        return bytes(data) + bytes((sw1, sw2))

    def disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            for step in (conn.disconnect, getattr(conn, "release", None)):
                if step is None:
                    continue
                try:
                    step()
                except Exception:  # the card or pcscd may be gone already: nothing left to release
                    pass
