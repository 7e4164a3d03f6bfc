"""The card runtime: power, class checks, INS dispatch, Le handling, GET RESPONSE, and the
transient state (what is selected, security status) around a persistent file tree.

>>> from cardsim.fs import MF, DF, LinearVariableEF
>>> ssse = DF(0xDDF1, name=bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF"))
>>> _ = ssse.add(LinearVariableEF(0xEF05, sfi=5, records=[bytes.fromhex("0709484131303436393234")]))
>>> card = CardOS(MF(children=[ssse]), atr=bytes.fromhex("3B6D000000814A444686605199000001AC"))
>>> card.power_on().hex().upper()
'3B6D000000814A444686605199000001AC'
>>> card.transmit(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")).hex().upper()
'6F11840F7378312E73682EC9E7BBE1B1A3D5CF9000'
>>> card.transmit(bytes.fromhex("00B207280B")).hex().upper()  # tag 07 in SFI 5
'07094841313034363932349000'
>>> card.transmit(bytes.fromhex("00B2072805")).hex().upper()  # records are never cut
'6C0B'

Status words chosen where the standards leave room (each is tested):

* an APDU shorter than 4 bytes, or whose Lc/Le do not match its length: 6700;
* CLA FF or 20-3F/A0-FE: 6E00; logical channels (CLA b2-b1 ≠ 0, or 40-7F): 6881;
  command chaining (b5): 6884. Secure messaging bits are checked per command (see
  :meth:`CardOS._unwrap`);
* INS in neither the application's nor the OS table: 6D00;
* any exception other than ``SWError`` inside the card: 6F00, logged with the header only
  (the data may hold a PIN);
* a command while powered off (a real reader would not send it): 6F00 and a warning;
  the card does not power itself on.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Mapping

from apdu.command import CommandAPDU
from apdu.errors import APDUError, SSCardError
from apdu.sw import SW, SWError
from cardspec.access import AccessRule

from .application import Application, Handler, SecurityState, Shape, shape_of
from .filecmds import FileCommands
from .fs import DF, EF, MF, File
from .selection import SelectFile
from .persistent import CardLife
from .store import NullStore, PowerLost, Store

log = logging.getLogger(__name__)

LeMode = Literal["full", "strict6c"]
SHORT_LIMIT = 256
EXTENDED_LIMIT = 65536


class CardConfigError(SSCardError, ValueError):
    """Runtime settings or an ATR that a card cannot have."""


@dataclass(frozen=True)
class RuntimeSettings:
    """Profile choices for response shaping.

    ``t0_get_response``: a command carrying data (case 3/4) that produces response data
    answers ``61xx`` and keeps the data for GET RESPONSE, as a T=0 card does (``611E``
    for the SSSE FCI). ``le_mode``: what Le absent or 00 gets for exact-length responses
    (READ RECORD, GET DATA) and READ BINARY: ``"full"`` returns the data (what readers
    expect, ssse.md §3), ``"strict6c"`` answers ``6Cxx`` (S5 §6.10.4).
    """

    t0_get_response: bool = False
    le_mode: LeMode = "full"

    def __post_init__(self) -> None:
        if self.le_mode not in ("full", "strict6c"):
            raise CardConfigError(f"le_mode {self.le_mode!r}: use 'full' or 'strict6c'")


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


_OK = _sw(SW.OK)
_NO_KEYS: frozenset[int] = frozenset()


def _header(apdu: object) -> str:
    """The part of a C-APDU that is safe to log: header and Lc, never the data."""
    if not isinstance(apdu, (bytes, bytearray, memoryview)):
        return f"of type {type(apdu).__name__}"
    raw = bytes(apdu)
    return raw[:5].hex().upper() + (f" +{len(raw) - 5} bytes" if len(raw) > 5 else "")


def _more(count: int) -> int:
    """61xx for ``count`` bytes waiting (xx = 00 for 256 or more)."""
    return 0x6100 | (min(count, SHORT_LIMIT) & 0xFF)


def _class_error(cla: int) -> int | None:
    """The SW for a class byte the card refuses, or None (ISO 7816-4 §5.4.1)."""
    if cla == 0xFF or 0x20 <= cla <= 0x3F or cla >= 0xA0:
        return SW.CLA_NOT_SUPPORTED
    if cla & 0x40 or cla & 0x03:
        return SW.LOGICAL_CHANNEL_NOT_SUPPORTED
    if cla & 0x10:
        return SW.CHAINING_NOT_SUPPORTED
    return None


class CardOS:
    """A contact card: ``power_on() -> ATR``, ``power_off()``, ``reset() -> ATR``,
    ``transmit(C-APDU) -> R-APDU``.

    Dispatch: the current application's ``handlers`` first, then ``os_handlers`` (SELECT,
    READ/UPDATE/APPEND RECORD, READ/UPDATE BINARY, plus ``handlers`` given here).
    GET RESPONSE (C0) is answered by the runtime itself.
    """

    def __init__(self, mf: MF, *, atr: bytes, settings: RuntimeSettings | None = None,
                 store: Store | None = None, handlers: Mapping[int, Handler] | None = None,
                 life: CardLife | None = None) -> None:
        if not 2 <= len(atr) <= 33 or atr[0] not in (0x3B, 0x3F):
            raise CardConfigError(f"ATR {atr.hex().upper()}: needs 2-33 bytes starting with 3B or 3F")
        self.mf = mf
        self.atr = bytes(atr)
        self.settings = settings if settings is not None else RuntimeSettings()
        self.store: Store = store if store is not None else NullStore()
        #: card-level persistent state (lifecycle phase, CARD BLOCK, MF keys)
        self.life: CardLife = life if life is not None else CardLife()
        self.os_handlers: dict[int, Handler] = {**SelectFile(self).handlers, **FileCommands(self).handlers,
                                                **(handlers or {})}
        self.powered = False
        self._shapes: dict[Handler, Shape] = {}  # shape_of(handler), asked once per handler
        self._clear_transient()

    # --- transient state ------------------------------------------------------
    def _clear_transient(self) -> None:
        self.current_df: DF = self.mf
        self.current_ef: EF | None = None
        self.record_pointer: int | None = None  # current record of the current EF
        #: the DF whose security state is current: the current application's DF, or the
        #: current DF outside applications (see :class:`~cardsim.application.SecurityState`)
        self.security_scope: DF = self.mf
        self.security = SecurityState()
        self.application: Application | None = None
        self._pending: bytes | None = None  # data waiting for GET RESPONSE
        self._command_keys: frozenset[int] = _NO_KEYS  # keys proven by this command's MAC

    def select(self, target: File) -> None:
        """Make ``target`` current (a DF, or an EF and its parent DF).

        A different security scope starts with a fresh :class:`SecurityState`: the scope
        is the application's DF (the PIN and keys last until another application is
        selected, S7 §5.8, §6.6), or the DF itself outside applications (S5 §6.11.1).
        Application hooks run as described in :class:`~cardsim.application.Application`.
        """
        df = target if isinstance(target, DF) else target.parent
        if df is None:
            raise SWError(SW.FILE_NOT_FOUND)
        owner = df.application_owner()
        new_app = owner.application if owner is not None else None
        old_app = self.application
        scope = owner if owner is not None else df
        if scope is not self.security_scope:
            self.security, self.security_scope = SecurityState(), scope
        if new_app is not old_app and old_app is not None:
            old_app.on_deselect(self)
        self.current_df, self.application = df, new_app
        self.current_ef = target if isinstance(target, EF) else None
        self.record_pointer = None
        if new_app is not None and (new_app is not old_app or target is owner):
            new_app.on_select(self)

    def make_current(self, ef: EF) -> None:
        """An EF referenced by SFI becomes the current EF (ISO 7816-4 §7.2.2)."""
        if ef is not self.current_ef:
            self.current_ef = ef
            self.record_pointer = None

    def check_access(self, rule: AccessRule, what: str, file: File | None = None) -> None:
        """6982 unless the security state of the current DF (plus keys proven by this
        command's MAC) satisfies ``rule``; ``never`` is never satisfied and also answers 6982.
        ``what`` (followed by ``file``'s label, if given) names the refused operation in the log."""
        if rule.kind == "free":
            return
        here = None if self.current_df is self.security_scope else self.current_df.fid
        keys = self.security.keys_in(here) | self._command_keys
        if not rule.satisfied(pin_verified=self.security.pin_verified, authenticated=keys):
            log.info("%s refused: access rule %s not met", what if file is None else f"{what} {file.label}", rule)
            raise SWError(SW.SECURITY_NOT_SATISFIED)

    def durable(self, reason: str) -> None:
        """Persist a change a real card keeps in EEPROM; a failing store answers 6581.

        A :class:`~cardsim.store.PowerLost` from the store powers the card off (no hook
        runs, as no code runs on a card without power) and propagates to the caller.
        """
        try:
            self.store.commit(reason)
        except PowerLost:
            log.warning("power lost while committing %s", reason)
            self._clear_transient()
            self.powered = False
            raise
        except Exception:
            log.exception("store commit failed after %s", reason)
            raise SWError(SW.MEMORY_FAILURE) from None

    # --- power ------------------------------------------------------------------
    def power_on(self) -> bytes:
        """Cold start: the MF is selected, security state and pending data are cleared."""
        if self.powered:
            self.power_off()
        self._clear_transient()
        self.powered = True
        try:
            self.select(self.mf)
        except SWError as exc:
            log.warning("MF application answered %04X at power-on", exc.sw)
        return self.atr

    def power_off(self) -> None:
        if self.powered and self.application is not None:
            self.application.on_deselect(self)
        self._clear_transient()
        self.powered = False

    def reset(self) -> bytes:
        """Warm reset: the same as a power cycle for the card's state."""
        self.power_off()
        return self.power_on()

    # --- commands -------------------------------------------------------------
    def transmit(self, apdu: bytes) -> bytes:
        """One C-APDU in, one R-APDU (data ‖ SW1 SW2) out; never raises, never empty
        (a store's simulated :class:`~cardsim.store.PowerLost` alone goes through)."""
        try:
            raw = bytes(apdu)
            response = self._transmit(raw)
        except Exception:
            log.exception("internal fault on C-APDU %s", _header(apdu))
            self._pending = None
            return _sw(SW.UNKNOWN)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s -> %s", _header(raw), response[-2:].hex().upper())
        return response

    def _transmit(self, apdu: bytes) -> bytes:
        if not self.powered:
            log.warning("C-APDU %s while the card is powered off: answering 6F00", _header(apdu))
            return _sw(SW.UNKNOWN)
        pending, self._pending = self._pending, None  # any command but GET RESPONSE discards it
        if self.life.card_blocked:  # CARD BLOCK is final: S5 §6.2, S7 §13.1
            return _sw(SW.FUNCTION_NOT_SUPPORTED)
        if len(apdu) < 4:
            return _sw(SW.WRONG_LENGTH)
        if apdu[0] & 0x73:  # CLA 00/04/08/0C/80/84/88/8C pass every check of _class_error
            refused = _class_error(apdu[0])
            if refused is not None:
                return _sw(refused)
        try:
            cmd = CommandAPDU.parse(apdu)
        except APDUError as exc:
            log.info("malformed C-APDU %s: %s", _header(apdu), exc)
            return _sw(SW.WRONG_LENGTH)
        if cmd.ins == 0xC0:
            return self._get_response(cmd, pending)
        app = self.application
        handler: Handler | None = None
        try:
            if app is not None:
                app.before_command(cmd)
                handler = app.handlers.get(cmd.ins)
            if handler is None:
                handler = self.os_handlers.get(cmd.ins)
                if handler is None:
                    raise SWError(SW.INS_NOT_SUPPORTED)
                cmd = self._unwrap(cmd, app)
            data = handler(cmd)
        except SWError as exc:
            return exc.data + _sw(exc.sw)
        finally:
            self._command_keys = _NO_KEYS
        try:
            shape = self._shapes[handler]
        except KeyError:
            shape = self._shapes[handler] = shape_of(handler)
        except TypeError:  # a handler object that cannot be hashed
            shape = shape_of(handler)
        return self._shape(cmd, data, shape)

    def _unwrap(self, cmd: CommandAPDU, app: Application | None) -> CommandAPDU:
        """OS commands with secure messaging (CLA b3 or b4 set, e.g. 04DC) go through the
        current application's ``unwrap_sm``; without an application: 6882."""
        if not cmd.cla & 0x0C:
            return cmd
        if app is None:
            raise SWError(SW.SM_NOT_SUPPORTED)
        plain, keys = app.unwrap_sm(cmd, self)
        self._command_keys = frozenset(keys)
        return plain

    # --- response shaping -----------------------------------------------------------
    def _deliver(self, data: bytes, ne: int) -> bytes:
        """Up to ``ne`` bytes now; the rest waits for GET RESPONSE behind 61xx."""
        if len(data) <= ne:
            return data + _OK
        self._pending = data[ne:]
        return data[:ne] + _sw(_more(len(data) - ne))

    def _shape(self, cmd: CommandAPDU, data: bytes, shape: Shape) -> bytes:
        """Fit the handler's data to Le.

        * VARIABLE (and any command that carries data — a 6Cxx would make python-emv
          resend Le in the Lc position): with ``t0_get_response`` a command with data
          answers 61xx and holds everything; otherwise Le (or 256) bytes now, the rest
          behind 61xx.
        * EXACT: Le absent or 00 gives all the data (``strict6c``: 6Cxx); a shorter Le
          gives 6Cxx (6700 if the length does not fit in one byte); a longer Le gives
          the data with 9000 (TR4: ``00B20105FF`` answered 0x40 bytes and 9000).
        * TRUNCATE: like EXACT, except that a shorter Le gets exactly Le bytes.
        """
        if not data:
            return _OK
        if shape is Shape.VARIABLE or cmd.data:
            if self.settings.t0_get_response and cmd.data:
                self._pending = data
                return _sw(_more(len(data)))
            return self._deliver(data, cmd.ne or (EXTENDED_LIMIT if cmd.is_extended else SHORT_LIMIT))
        limit = EXTENDED_LIMIT if cmd.is_extended else SHORT_LIMIT
        size = len(data)
        wrong_le = _sw(0x6C00 | (size & 0xFF)) if size <= SHORT_LIMIT else _sw(SW.WRONG_LENGTH)
        if not cmd.le:  # absent or 00: "as much as there is"
            if size > limit:
                return data[:limit] + _OK if shape is Shape.TRUNCATE else _sw(SW.WRONG_LENGTH)
            if self.settings.le_mode == "strict6c" and not cmd.is_extended and size < limit:
                return wrong_le
            return data + _OK
        if cmd.le < size:
            return data[:cmd.le] + _OK if shape is Shape.TRUNCATE else wrong_le
        return data + _OK

    def _get_response(self, cmd: CommandAPDU, pending: bytes | None) -> bytes:
        """GET RESPONSE ``00C00000 Le``: the next Le bytes (00: up to 256) of held data."""
        if cmd.cla & 0x80:
            return _sw(SW.CLA_NOT_SUPPORTED)
        if cmd.cla & 0x0C:
            return _sw(SW.SM_NOT_SUPPORTED)
        if cmd.p1 or cmd.p2:
            return _sw(SW.INCORRECT_P1P2)
        if cmd.data:
            return _sw(SW.WRONG_LENGTH)
        if pending is None:
            return _sw(SW.CONDITIONS_NOT_SATISFIED)
        ne = cmd.ne or SHORT_LIMIT
        if cmd.le and len(pending) < ne and len(pending) < SHORT_LIMIT and self.settings.le_mode == "strict6c":
            self._pending = pending  # the reader retries with the right Le
            return _sw(0x6C00 | (len(pending) & 0xFF))
        return self._deliver(pending, ne)
