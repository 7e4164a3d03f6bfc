"""Reader and card presence as pcscd sees it (for ``sscard readers`` and ``doctor``)."""
from __future__ import annotations

import time
from dataclasses import dataclass

from .errors import ServiceUnavailable, TransportError
from .transport.pcsc import SCARD_E_NO_READERS_AVAILABLE, SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED


@dataclass(frozen=True)
class ReaderState:
    name: str
    present: bool
    atr: bytes
    flags: int


def reader_states(timeout_ms: int = 0) -> list[ReaderState]:
    """One entry per reader; raises ServiceUnavailable when pcscd is not running."""
    from smartcard import scard

    rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rc != scard.SCARD_S_SUCCESS:
        if (rc & 0xFFFFFFFF) in (SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED):
            raise ServiceUnavailable("PC/SC service not running (start pcscd: pcscd --foreground &, or see 'sscard doctor')")
        raise TransportError(f"PC/SC: cannot establish a context (0x{rc & 0xFFFFFFFF:08X})")
    try:
        rc, names = scard.SCardListReaders(ctx, [])
        if (rc & 0xFFFFFFFF) == SCARD_E_NO_READERS_AVAILABLE or not names:
            return []
        if rc != scard.SCARD_S_SUCCESS:
            raise TransportError(f"PC/SC: cannot list readers (0x{rc & 0xFFFFFFFF:08X})")
        query = [(name, scard.SCARD_STATE_UNAWARE) for name in names]
        rc, states = scard.SCardGetStatusChange(ctx, timeout_ms, query)
        if rc != scard.SCARD_S_SUCCESS:
            raise TransportError(f"PC/SC: cannot read reader states (0x{rc & 0xFFFFFFFF:08X})")
        return [ReaderState(name, bool(flags & scard.SCARD_STATE_PRESENT), bytes(atr), flags)
                for name, flags, atr in states]
    finally:
        scard.SCardReleaseContext(ctx)


def wait_for_state(reader: str, present: bool, timeout: float = 5.0) -> bool:
    """Poll until the reader shows (or no longer shows) a card; pcscd polls vpcd every ~400 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for state in reader_states():
            if state.name == reader and state.present == present:
                return True
        time.sleep(0.05)
    return False
