"""Card side of the financial zone's personalization: one DGI at a time (pboc.md §2.3).

The STORE DATA handler (SCP02, DEK decryption of DGIs 8000-8FFF) is not here: it calls
``app.store_dgi(dgi, plaintext)`` for the ADF instance and
``DirectoryApplication.store_dgi`` for the PSE/PPSE instances. A bad DGI raises
:class:`~cardspec.pboc.PbocDataError` (STORE DATA answers 6A80) and changes nothing.

=========  =====================================================================
DGI        effect
=========  =====================================================================
SSRR       record RR of SFI SS (a 70 template), replacing or appending
9102       FCI proprietary template A5 (its BF0C 9F4D creates the log file)
9104       AIP and AFL (82, 94) for GPO
9200       IAD template (9F10, JR/T 0025 layout)
0D01/0E01  internal data (GET/PUT DATA, log format 9F4F)
8000       UDK-AC ‖ UDK-MAC ‖ UDK-ENC, plaintext here
9000       their KCVs: must match the UDKs already stored
8010       the PIN as a format-2 block (a fresh PIN keeps the try limit, default 3)
9010       PIN try limit ‖ remaining
others     ``app.dgi_handlers`` (e.g. the ICC RSA key 8201-8205), else refused
=========  =====================================================================
"""
from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from apdu.dol import dol_length
from apdu.errors import TLVError
from apdu.tlv import find, parse_ber, parse_one
from cardspec.crypto import CryptoError
from cardspec.crypto.emv import parse_pin_block_format2, udk_kcvs
from cardspec.pboc import Dgi, Iad, PbocDataError, check_value, describe_dgi, dgi_record, split_udks

from ..persistent import Pin, encode_pin
from .files import put_record, record_ef
from .scripts import SCRIPT_WRITE
from .state import PbocKey

if TYPE_CHECKING:
    from .app import PbocApplication

__all__ = ["apply_dgi", "DEFAULT_PIN_TRIES"]

DEFAULT_PIN_TRIES = 3  #: before DGI 9010 arrives (pboc.md §3.2)


def _tlvs(where: str, data: bytes) -> dict[int, bytes]:
    try:
        objects = parse_ber(data, allow_padding=False)
    except TLVError as exc:
        raise PbocDataError(f"{where}: {exc}") from None
    out: dict[int, bytes] = {}
    for obj in objects:
        if obj.tag in out:
            raise PbocDataError(f"{where}: tag {obj.tag:02X} twice")
        out[obj.tag] = check_value(obj.tag, obj.value)
    return out


def _template(where: str, data: bytes, tag: int) -> bytes:
    try:
        return parse_one(data, tag=tag, allow_padding=False).value
    except TLVError as exc:
        raise PbocDataError(f"{where}: {exc}") from None


def apply_dgi(app: PbocApplication, dgi: int, data: bytes) -> None:
    """Store one plaintext DGI in ``app``; the caller makes the change durable. Errors
    start with ``DGI xxxx (what it carries):``."""
    where = f"DGI {dgi:04X} ({describe_dgi(dgi)})"
    try:
        _apply(app, dgi, bytes(data), where)
    except PbocDataError as exc:
        if str(exc).startswith(where):
            raise
        raise PbocDataError(f"{where}: {exc}") from None


def _apply(app: PbocApplication, dgi: int, data: bytes, where: str) -> None:
    state = app.state
    place = dgi_record(dgi)
    if place is not None:
        sfi, number = place
        if app.log_ef is not None and sfi == app.log_ef.sfi:
            raise PbocDataError(f"{where}: SFI {sfi} is the transaction log")
        _template(where, data, 0x70)  # before an EF is created for it
        put_record(record_ef(app.adf, sfi, state.records.setdefault(sfi, []), SCRIPT_WRITE), number, data, where)
    elif dgi == Dgi.FCI:
        content = _template(where, data, 0xA5)
        pdol = find(content, 0x9F38) if content else None
        if pdol is not None:
            _dol(where, pdol.value)
        saved = (state.fci, dict(state.internal))
        state.fci = data
        _complete_log(app, saved)
    elif dgi == Dgi.GPO_DC:
        values = _tlvs(where, data)
        if set(values) != {0x82, 0x94} or len(values[0x94]) % 4:
            raise PbocDataError(f"{where}: needs exactly 82 (AIP) and 94 (AFL, 4-byte entries)")
        state.gpo = data
    elif dgi == Dgi.IAD:
        iad = _template(where, data, 0x9F10)
        Iad.parse(iad)
        state.iad = iad
    elif dgi in (Dgi.INTERNAL, Dgi.INTERNAL_2):
        values = _tlvs(where, data)
        for tag in (0x9F4F, 0xDF4F):
            if tag in values:
                _dol(where, values[tag])
        saved = (state.fci, dict(state.internal))
        state.internal.update(values)
        _complete_log(app, saved)
    elif dgi == Dgi.UDKS:
        state.set_udks(*split_udks(data))
    elif dgi == Dgi.KCVS:
        _check_kcvs(app, where, data)
    elif dgi == Dgi.PIN:
        try:
            value = encode_pin(parse_pin_block_format2(data))
        except CryptoError as exc:
            raise PbocDataError(f"{where}: {exc}") from None
        old = state.secrets.pin
        limit = old.max_tries if old is not None else DEFAULT_PIN_TRIES
        state.secrets.pin = Pin(value, limit, limit)
    elif dgi == Dgi.PIN_TRIES:
        pin = state.secrets.pin
        if pin is None:
            raise PbocDataError(f"{where}: comes after DGI 8010 (the PIN)")
        if len(data) != 2 or not 1 <= data[0] <= 15 or data[1] > data[0]:
            raise PbocDataError(f"{where}: {data.hex().upper()} must be limit (1-15) ‖ remaining (≤ limit)")
        pin.max_tries, pin.tries_left = data[0], data[1]
    elif dgi in app.dgi_handlers:
        app.dgi_handlers[dgi](data)
    else:
        raise PbocDataError(f"{where}: not personalized by the debit application")


def _complete_log(app: PbocApplication, saved: tuple[bytes, dict[int, bytes]]) -> None:
    """Create the log file the new FCI or log format completes; on failure put the FCI and
    the internal data back as they were (``saved``)."""
    try:
        app.ensure_log()
    except PbocDataError:
        app.state.fci = saved[0]
        app.state.internal.clear()
        app.state.internal.update(saved[1])
        raise


def _dol(where: str, dol: bytes) -> None:
    try:
        dol_length(dol)
    except TLVError as exc:
        raise PbocDataError(f"{where}: {exc}") from None


def _check_kcvs(app: PbocApplication, where: str, data: bytes) -> None:
    state = app.state
    if not state.keys_present:
        raise PbocDataError(f"{where}: comes after DGI 8000 (the UDKs)")
    expected = udk_kcvs(*(state.udk(k) for k in PbocKey))
    if not hmac.compare_digest(expected, data):
        raise PbocDataError(f"{where}: check values {data.hex().upper()} do not match the stored UDKs "
                            f"({expected.hex().upper()})")
