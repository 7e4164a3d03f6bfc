"""One transaction of the debit application: its phase, what happened so far, and the CVR.

A transaction lives from a selection of the ADF to the next one, to the selection of
another DF outside the ADF, or to power-off/reset (the runtime calls
``on_select``/``on_deselect``). Every selection of the ADF itself starts afresh, whether
by name, FID or path; selecting an EF inside the ADF does not. Nothing of a transaction
survives except what the handlers write into :class:`~cardsim.pboc.state.PbocState`
(ATC, CVR history, log). While another DF is current, the ADF's instructions (GPO,
GENERATE AC, …) are unknown there: 6D00.

Sequence (anything else answers 6985 "conditions of use not satisfied")::

    SELECTED --GPO--> READY --GAC1 ARQC--> ONLINE --GAC2 TC/AAC--> DONE
                        └--GAC1 AAC-----------------------------> DONE

* GPO only in SELECTED (a second GPO, or one after a GENERATE AC, is out of sequence).
* GENERATE AC: the first in READY (CDOL1), the second in ONLINE (CDOL2); a third, or one
  before GPO, is out of sequence. EXTERNAL AUTHENTICATE once, in ONLINE.
* Issuer scripts need the ARQC of this transaction (they are MACed over it): after an
  ARQC, before and after the second GENERATE AC (templates 71 and 72).

The CVR (pboc.md §4.1) combines this transaction's bits (byte 2, DDA performed) with the
persistent history the card carried in at GPO, "new card" (the last online ATC was 0 at
GPO) and one live bit, PIN try limit exceeded (the PIN's counter is 0 now):

>>> t = Transaction(Phase.READY, atc=0x0E, carried=bytes.fromhex("A904"), new_card=True, pin_performed=True)
>>> t.cvr(AcType.ARQC, pin_blocked=False).hex().upper()  # pboc.md §4.3 vector A
'03A4B904'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from apdu.command import CommandAPDU
from apdu.sw import SW, SWError
from cardspec.pboc import AcType, Cvr, Cvr2, Cvr3, Cvr4

from .state import HISTORY_BITS_3, HISTORY_BITS_4, PbocState

__all__ = ["Phase", "Transaction", "update_history", "expect_class", "TVR_SDA_FAILED", "TVR_DDA_OR_CDA_FAILED"]

TVR_SDA_FAILED = 0x40  #: TVR byte 1 b7 (EMV Book 3 Annex C5)
TVR_DDA_OR_CDA_FAILED = 0x0C  #: TVR byte 1 b4 (DDA failed) and b3 (CDA failed)


class Phase(Enum):
    SELECTED = "selected"  #: the ADF was selected; no transaction started
    READY = "ready"  #: GPO done: records, VERIFY, first GENERATE AC
    ONLINE = "online"  #: ARQC given: EXTERNAL AUTHENTICATE, scripts, second GENERATE AC
    DONE = "done"  #: TC or AAC given: only scripts (after an ARQC) and reads


@dataclass
class Transaction:
    """Transient state of the current transaction (cleared by every selection)."""

    phase: Phase = Phase.SELECTED
    atc: int = 0  #: the ATC this transaction got at GPO
    carried: bytes = bytes(2)  #: CVR bytes 3-4 history as it stood at GPO
    new_card: bool = False  #: no online transaction completed before this one (last online ATC 0 at GPO)
    gac1: AcType | None = None
    arqc: bytes | None = None  #: the ARQC of the first GENERATE AC (script MACs cover it)
    terminal: dict[int, bytes] = field(default_factory=dict)  #: PDOL and CDOL values (for the log)
    pin_verified: bool = False  #: a VERIFY succeeded since the selection
    pin_performed: bool = False
    pin_failed: bool = False  #: the last VERIFY with a PIN failed
    issuer_auth: bool | None = None  #: EXTERNAL AUTHENTICATE result, None before it
    unable_online: bool = False  #: CDOL2 ARC Y3/Z3 (the terminal could not go online)
    dda_performed: bool = False  #: set by INTERNAL AUTHENTICATE (the ODA extension)

    @property
    def atc_bytes(self) -> bytes:
        return self.atc.to_bytes(2, "big")

    def cvr(self, result: AcType, *, second: bool = False, pin_blocked: bool) -> bytes:
        """The CVR reported with cryptogram ``result`` (of the first or second GENERATE AC)."""
        flags2 = Cvr2(0)
        if self.issuer_auth is False:
            flags2 |= Cvr2.ISSUER_AUTH_FAILED
        if self.pin_performed:
            flags2 |= Cvr2.OFFLINE_PIN_PERFORMED
        if self.pin_failed:
            flags2 |= Cvr2.OFFLINE_PIN_FAILED
        if self.unable_online:
            flags2 |= Cvr2.UNABLE_TO_GO_ONLINE
        flags3 = Cvr3(self.carried[0] & HISTORY_BITS_3)
        if pin_blocked:
            flags3 |= Cvr3.PIN_TRY_LIMIT_EXCEEDED
        if self.new_card:
            flags3 |= Cvr3.NEW_CARD
        carried4 = self.carried[1] & HISTORY_BITS_4
        flags4 = Cvr4(carried4 & 0x0F) | (Cvr4.DDA_PERFORMED if self.dda_performed else Cvr4(0))
        gac1 = self.gac1 if second and self.gac1 is not None else result
        return Cvr(gac1, result if second else None, flags2, flags3, flags4, carried4 >> 4).to_bytes()


def update_history(state: PbocState, *, set3: int = 0, clear3: int = 0, set4: int = 0, clear4: int = 0) -> None:
    """Change the CVR history the next transaction carries (the caller makes it durable)."""
    b3, b4 = state.history
    b3 = (b3 & ~clear3 | set3) & HISTORY_BITS_3
    b4 = (b4 & ~clear4 | set4) & HISTORY_BITS_4
    state.history = bytes((b3, b4))


def expect_class(cmd: CommandAPDU, cla: int) -> None:
    """6E00 unless the command has the class its instruction is defined with."""
    if cmd.cla != cla:
        raise SWError(SW.CLA_NOT_SUPPORTED)
