"""Issuer script commands (EMV Book 3 §6.5, Book 2 §9.2; pboc.md §3.3).

Each carries a 4-byte MAC: ISO 9797-1 alg. 3 with SK-MAC = PBOC session key of UDK-MAC
and the ATC, over ``CLA INS P1 P2 Lc ‖ ATC ‖ ARQC ‖ data`` (Lc counts the MAC). The ARQC is
this transaction's, so a script is valid only after an ARQC in the current selection
(before or after the second GENERATE AC); otherwise 6985.

* ``841E 0000 04`` APPLICATION BLOCK; ``8418 0000 04`` APPLICATION UNBLOCK;
  ``8416 0000 04`` CARD BLOCK (every later command of the card answers 6A81).
* ``8424 0000 04`` PIN UNBLOCK (try counter back to the limit); ``8424 0002 14``
  PIN CHANGE: data = 3DES-ECB_SK-ENC(``08`` ‖ format-2 PIN block ‖ ``80 00…``), the new
  PIN with a full counter. ``[pboc] pin_block_mask`` decides the optional XOR with a UDK.
* ``04DA tag Lc value ‖ MAC`` PUT DATA of a :data:`~cardspec.pboc.PUT_DATA_TAGS` value the
  card holds (EC tags only with EC), of its present length.
* ``04DC P1 P2 Lc record ‖ MAC`` UPDATE RECORD by number (P2 = SFI << 3 | 4): the OS's
  handler writes it after :meth:`IssuerScripts.unwrap_sm` checked the MAC; the record
  files' write rule is the MAC key (:data:`SCRIPT_WRITE`), so a plain ``00DC`` gets 6982.

Status words, in the order checked: another class 6E00 (the plain class 80/00 of an
84/04 command: 6982; 04DC in an ISO SM class: 6882); no ARQC in this transaction 6985;
bad P1-P2 6A86; unknown PUT DATA tag 6A88; wrong Lc 6700; wrong MAC 6988; a PIN block
that is not format 2 6A80. A rejected command changes nothing but the CVR's script
bookkeeping: every script command after the ARQC counts in CVR byte 4 (b8-b5), and a
failed one sets "issuer script processing failed"; both are durable.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from apdu.command import CommandAPDU
from apdu.sw import SW, SWError
from cardspec.access import AccessRule
from cardspec.crypto import CryptoError
from cardspec.crypto.emv import (SCRIPT_MAC_SIZE, decipher_pin_from_script, parse_pin_block_format2,
                                 pboc_session_key, verify_script_mac)
from cardspec.pboc import EC_TAGS, PUT_DATA_TAGS, Cvr4

from ..application import Handler
from ..persistent import encode_pin
from .files import TemplateRecordEF
from .state import PbocKey
from .transaction import update_history

if TYPE_CHECKING:
    from ..runtime import CardOS
    from .app import PbocApplication

__all__ = ["IssuerScripts", "SCRIPT_WRITE"]

#: Write rule of the ADF's record files: only UPDATE RECORD with a good script MAC.
SCRIPT_WRITE = AccessRule("key", PbocKey.MAC)
_PIN_DATA = 16  # enciphered 08 ‖ PIN block ‖ padding
_MASK_KEYS = {"udk-ac": PbocKey.AC, "udk-enc": PbocKey.ENC}


class IssuerScripts:
    """The issuer script handlers of a :class:`PbocApplication`, and its ``unwrap_sm``."""

    def __init__(self, app: PbocApplication) -> None:
        self.app = app

    @property
    def handlers(self) -> dict[int, Handler]:
        return {0x1E: self.application_block, 0x18: self.application_unblock, 0x16: self.card_block,
                0x24: self.pin_change_unblock, 0xDA: self.put_data}

    # --- the frame every script command shares -------------------------------------
    def _run(self, cmd: CommandAPDU, cla: int, action: Callable[[], str]) -> bytes:
        """Class and sequence checks, then ``action`` (which checks the rest and returns
        what it changed); counts the command and makes everything durable."""
        if cmd.cla != cla:
            raise SWError(SW.SECURITY_NOT_SATISFIED if cmd.cla == cla & ~0x0C else SW.CLA_NOT_SUPPORTED)
        app = self.app
        if app.txn.arqc is None:
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        count = min(app.state.history[1] >> 4, 14) + 1
        update_history(app.state, clear4=0xF0, set4=count << 4)
        try:
            done = action()
        except SWError as exc:
            update_history(app.state, set4=Cvr4.SCRIPT_FAILED)
            app.card.durable(f"issuer script {cmd.header.hex().upper()} failed with {exc.sw:04X}")
            raise
        app.card.durable(f"issuer script {cmd.header.hex().upper()}: {done}")
        return b""

    def _verified_data(self, cmd: CommandAPDU, lengths: tuple[int, ...]) -> bytes:
        """The command data without its MAC, once Lc and the MAC are right (6700, 6988)."""
        if cmd.is_extended or cmd.lc - SCRIPT_MAC_SIZE not in lengths:
            raise SWError(SW.WRONG_LENGTH)
        data, mac = cmd.data[:-SCRIPT_MAC_SIZE], cmd.data[-SCRIPT_MAC_SIZE:]
        txn, state = self.app.txn, self.app.state
        assert txn.arqc is not None
        sk_mac = pboc_session_key(state.udk(PbocKey.MAC), txn.atc_bytes)
        header_lc = cmd.header + bytes((cmd.lc,))
        if not verify_script_mac(sk_mac, header_lc, txn.atc_bytes, txn.arqc, data, mac):
            raise SWError(SW.SM_DATA_INCORRECT)
        return data

    @staticmethod
    def _p1p2(cmd: CommandAPDU, *allowed: tuple[int, int]) -> None:
        if (cmd.p1, cmd.p2) not in allowed:
            raise SWError(SW.INCORRECT_P1P2)

    # --- application and card lifecycle ---------------------------------------------------
    def application_block(self, cmd: CommandAPDU) -> bytes:
        def block() -> str:
            self._p1p2(cmd, (0, 0))
            self._verified_data(cmd, (0,))
            self.app.state.secrets.blocked = True
            return "application blocked"
        return self._run(cmd, 0x84, block)

    def application_unblock(self, cmd: CommandAPDU) -> bytes:
        def unblock() -> str:
            self._p1p2(cmd, (0, 0))
            self._verified_data(cmd, (0,))
            self.app.state.secrets.blocked = False
            return "application unblocked"
        return self._run(cmd, 0x84, unblock)

    def card_block(self, cmd: CommandAPDU) -> bytes:
        def block_card() -> str:
            self._p1p2(cmd, (0, 0))
            self._verified_data(cmd, (0,))
            self.app.card.life.card_blocked = True
            return "card blocked"
        return self._run(cmd, 0x84, block_card)

    # --- PIN -------------------------------------------------------------------------------
    def pin_change_unblock(self, cmd: CommandAPDU) -> bytes:
        def change() -> str:
            self._p1p2(cmd, (0, 0), (0, 2))
            pin = self.app.state.pin
            if pin is None:
                raise SWError(SW.REFERENCE_NOT_FOUND)
            data = self._verified_data(cmd, (_PIN_DATA,) if cmd.p2 == 2 else (0,))
            if cmd.p2 == 2:
                pin.value = self._new_pin(data)
            pin.tries_left = pin.max_tries
            return "PIN changed" if cmd.p2 == 2 else "PIN unblocked"
        return self._run(cmd, 0x84, change)

    def _new_pin(self, data: bytes) -> bytes:
        state = self.app.state
        sk_enc = pboc_session_key(state.udk(PbocKey.ENC), self.app.txn.atc_bytes)
        mask = _MASK_KEYS.get(self.app.policy.pin_block_mask)
        try:
            block = decipher_pin_from_script(sk_enc, data, state.udk(mask) if mask is not None else None)
            return encode_pin(parse_pin_block_format2(block))
        except CryptoError:
            raise SWError(SW.WRONG_DATA) from None

    # --- data --------------------------------------------------------------------------------
    def put_data(self, cmd: CommandAPDU) -> bytes:
        def put() -> str:
            tag = cmd.p1 << 8 | cmd.p2 if cmd.p1 else cmd.p2
            internal = self.app.state.internal
            if tag not in PUT_DATA_TAGS or tag not in internal or (tag in EC_TAGS and not self.app.policy.ec):
                raise SWError(SW.REFERENCE_NOT_FOUND)
            internal[tag] = self._verified_data(cmd, (len(internal[tag]),))
            return f"PUT DATA {tag:04X}"
        return self._run(cmd, 0x04, put)

    def unwrap_sm(self, cmd: CommandAPDU, card: CardOS) -> tuple[CommandAPDU, frozenset[int]]:
        """``04DC``: check the script MAC and what the OS will write, then hand the OS the
        plain ``00DC`` and the MAC key as proven for this command."""
        if cmd.ins != 0xDC or cmd.cla != 0x04:
            raise SWError(SW.SM_NOT_SUPPORTED)
        plain: list[CommandAPDU] = []

        def update() -> str:
            sfi, number = cmd.p2 >> 3, cmd.p1
            if cmd.p2 & 0x07 != 0b100 or number == 0:
                raise SWError(SW.INCORRECT_P1P2)
            ef = self.app.adf.ef_by_sfi(sfi)
            if not isinstance(ef, TemplateRecordEF):
                raise SWError(SW.FILE_NOT_FOUND)
            if cmd.lc <= SCRIPT_MAC_SIZE:
                raise SWError(SW.WRONG_LENGTH)
            record = self._verified_data(cmd, (cmd.lc - SCRIPT_MAC_SIZE,))
            ef.record(number)  # 6A83 before the OS would say it
            ef.check_record(record)
            plain.append(cmd.replace(cla=0x00, data=record, le=None))
            return f"UPDATE RECORD SFI {sfi} record {number} authorized"
        self._run(cmd, 0x04, update)
        return plain[0], frozenset({PbocKey.MAC})
