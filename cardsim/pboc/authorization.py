"""GENERATE AC and EXTERNAL AUTHENTICATE: the card's decision, cryptogram, CVR and history.

``80AE P1 00 Lc <CDOL data> 00`` (pboc.md §4.1). P1 b8-b7 is the requested type (00 AAC,
40 TC, 80 ARQC; 11 is RFU: 6A86), b5 asks for CDA and is accepted (the response stays
format 1 until the ODA extension signs), any other bit or P2 ≠ 00: 6A86. CDOL1 data
for the first GENERATE AC, CDOL2 data for the second, of exactly the CDOL's length
(else 6700). Out of sequence: 6985 (:mod:`~cardsim.pboc.transaction`).

The card is online-only debit. Its decisions:

* first GENERATE AC: AAC when the terminal asks AAC; otherwise ARQC (a TC request is
  answered with an ARQC: the card never approves offline).
* second GENERATE AC: ARQC requested again: 6A86. TC when the terminal asks TC, the
  terminal went online (CDOL2 ARC not Y3/Z3), the application is not blocked, and issuer
  authentication succeeded, or was not performed while not required (required = AIP
  byte 1 b3 and 9F56 b8). Otherwise AAC.

The response is format 1: ``80 L CID ‖ ATC ‖ AC ‖ IAD`` with the IAD of DGI 9200 carrying
the CVR; AC = ``generate_ac(pboc_session_key(UDK-AC, ATC), ac_input(CDOL values, AIP,
ATC, CVR))``. An ARQC makes the card remember "last online transaction not completed"
until the second GENERATE AC; a TC or AAC ends the transaction and writes the log.

``0082 0000 0A ARPC ‖ ARC`` (method 1, once, after the ARQC): a good ARPC sets the last
online ATC; a wrong one sets CVR "issuer authentication failed" (this and the next
transaction) and answers 6300. Both are made durable before the answer.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from apdu.dol import split_dol_data
from apdu.errors import TLVError
from apdu.sw import SW, SWError
from apdu.tlv import build_ber
from cardspec.crypto.emv import ac_input, generate_ac, pboc_session_key, verify_arpc
from cardspec.pboc import AcType, Cvr3, Cvr4, Iad

from ..application import Handler
from .state import PbocKey
from .transaction import TVR_DDA_OR_CDA_FAILED, TVR_SDA_FAILED, Phase, expect_class, update_history

if TYPE_CHECKING:
    from apdu.command import CommandAPDU

    from .app import PbocApplication

__all__ = ["Authorization", "ISSUER_AUTH_SUPPORTED", "UNABLE_TO_GO_ONLINE_ARCS"]

ISSUER_AUTH_SUPPORTED = 0x04  #: AIP byte 1 b3
UNABLE_TO_GO_ONLINE_ARCS = (b"Y3", b"Z3")  #: ARCs a terminal sets itself when it could not go online
_CDA_REQUESTED = 0x10
_P1_RFU_BITS = 0x2F


class Authorization:
    """The GENERATE AC and EXTERNAL AUTHENTICATE handlers of a :class:`PbocApplication`."""

    def __init__(self, app: PbocApplication) -> None:
        self.app = app

    @property
    def handlers(self) -> dict[int, Handler]:
        return {0xAE: self.generate_ac, 0x82: self.external_authenticate}

    def _session_key(self) -> bytes:
        return pboc_session_key(self.app.state.udk(PbocKey.AC), self.app.txn.atc_bytes)

    # --- GENERATE AC -------------------------------------------------------------------
    def generate_ac(self, cmd: CommandAPDU) -> bytes:
        expect_class(cmd, 0x80)
        app, txn = self.app, self.app.txn
        requested = AcType.from_p1(cmd.p1)
        if requested is None or cmd.p1 & _P1_RFU_BITS or cmd.p2:
            raise SWError(SW.INCORRECT_P1P2)
        if txn.phase is Phase.READY:
            second, dol = False, app.record_tag(0x8C)
        elif txn.phase is Phase.ONLINE:
            second, dol = True, app.record_tag(0x8D)
        else:
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        if second and requested is AcType.ARQC:
            raise SWError(SW.INCORRECT_P1P2)
        if dol is None:
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        try:
            values = split_dol_data(dol, cmd.data)
        except TLVError:
            raise SWError(SW.WRONG_LENGTH) from None
        txn.terminal.update(values)
        decision = self._decide(requested, values) if second else (
            AcType.AAC if requested is AcType.AAC else AcType.ARQC)
        state = app.state
        pin = state.pin
        cvr = txn.cvr(decision, second=second, pin_blocked=pin is not None and pin.blocked)
        aip = app.gpo_values()[0x82]
        cryptogram = generate_ac(self._session_key(), ac_input(values, aip, txn.atc_bytes, cvr))
        self._remember(decision, second, values, cryptogram)
        iad = Iad.parse(state.iad).with_cvr(cvr).to_bytes()
        return build_ber(0x80, bytes((decision,)) + txn.atc_bytes + cryptogram + iad)

    def _decide(self, requested: AcType, values: dict[int, bytes]) -> AcType:
        """The second GENERATE AC's answer (see the module documentation)."""
        app, txn = self.app, self.app.txn
        txn.unable_online = values.get(0x8A) in UNABLE_TO_GO_ONLINE_ARCS
        if requested is not AcType.TC or txn.unable_online or app.state.secrets.blocked:
            return AcType.AAC
        if txn.issuer_auth is False:
            return AcType.AAC
        if txn.issuer_auth is None and self._issuer_auth_required():
            return AcType.AAC
        return AcType.TC

    def _issuer_auth_required(self) -> bool:
        indicator = self.app.state.internal.get(0x9F56, b"\x00")
        return bool(self.app.gpo_values()[0x82][0] & ISSUER_AUTH_SUPPORTED and indicator[0] & 0x80)

    def _remember(self, decision: AcType, second: bool, values: dict[int, bytes], cryptogram: bytes) -> None:
        """Update the transaction, the CVR history and the log; durable before the answer."""
        app, txn, state = self.app, self.app.txn, self.app.state
        if not second:  # "last transaction" bits now describe this one: start them afresh
            txn.gac1 = decision
            update_history(state, clear3=Cvr3.SDA_FAILED_DECLINED,
                           clear4=0xF0 | Cvr4.SCRIPT_FAILED | Cvr4.DDA_FAILED_DECLINED)
        if decision is AcType.ARQC:
            txn.phase, txn.arqc = Phase.ONLINE, cryptogram
            update_history(state, set3=Cvr3.LAST_ONLINE_NOT_COMPLETED)
            app.card.durable(f"GENERATE AC: ARQC at ATC {txn.atc:04X}, online transaction pending")
            return
        txn.phase = Phase.DONE
        if second:
            not_performed = txn.issuer_auth is None and not txn.unable_online
            update_history(state, clear3=Cvr3.LAST_ONLINE_NOT_COMPLETED | Cvr3.ISSUER_AUTH_NOT_PERFORMED
                           | Cvr3.ISSUER_AUTH_FAILED_LAST_ONLINE,
                           set3=(Cvr3.ISSUER_AUTH_NOT_PERFORMED if not_performed else 0)
                           | (Cvr3.ISSUER_AUTH_FAILED_LAST_ONLINE if txn.issuer_auth is False else 0))
            if not app.gpo_values()[0x82][0] & ISSUER_AUTH_SUPPORTED and not txn.unable_online:
                state.last_online_atc = txn.atc  # no issuer authentication to wait for
        else:  # declined offline at the first GENERATE AC
            tvr = values.get(0x95, bytes(5))
            update_history(state, set3=Cvr3.SDA_FAILED_DECLINED if tvr[0] & TVR_SDA_FAILED else 0,
                           set4=Cvr4.DDA_FAILED_DECLINED if tvr[0] & TVR_DDA_OR_CDA_FAILED else 0)
        app.append_log()
        app.card.durable(f"GENERATE AC: {decision.name} at ATC {txn.atc:04X}, transaction logged")

    # --- EXTERNAL AUTHENTICATE ------------------------------------------------------
    def external_authenticate(self, cmd: CommandAPDU) -> bytes:
        expect_class(cmd, 0x00)
        if cmd.p1 or cmd.p2:
            raise SWError(SW.INCORRECT_P1P2)
        if len(cmd.data) != 10:
            raise SWError(SW.WRONG_LENGTH)
        app, txn = self.app, self.app.txn
        if txn.phase is not Phase.ONLINE or txn.issuer_auth is not None or txn.arqc is None:
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        arpc, arc = cmd.data[:8], cmd.data[8:]
        ok = verify_arpc(self._session_key(), txn.arqc, arc, arpc)
        txn.issuer_auth = ok
        if ok:
            app.state.last_online_atc = txn.atc
            update_history(app.state, clear3=Cvr3.ISSUER_AUTH_FAILED_LAST_ONLINE)
        else:
            update_history(app.state, set3=Cvr3.ISSUER_AUTH_FAILED_LAST_ONLINE)
        app.card.durable(f"EXTERNAL AUTHENTICATE: issuer {'authenticated' if ok else 'authentication failed'}")
        if not ok:
            raise SWError(SW.VERIFY_FAILED)
        return b""
