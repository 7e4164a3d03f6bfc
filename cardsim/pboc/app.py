"""The debit application (PBOC 2.0/3.0, JR/T 0025; pboc.md): selection, GPO, GET DATA, VERIFY.

The zone is independent of the social-security application: its own DFs
(1PAY.SYS.DDF01 under the MF, the ADF A000000333010101 and, when enabled, 2PAY.SYS.DDF01
below it), its own PIN and keys (:class:`~cardsim.pboc.state.PbocState`), its own
transaction state. It never reads or sets the runtime's ``SecurityState``.

Commands (CLA/INS; other classes answer 6E00, other P1-P2 6A86):

* ``80A8`` GPO ``83 L <PDOL data>``: data not starting with 83: 6A80; 83 whose length
  disagrees with Lc, or PDOL data of the wrong length: 6700, except the bare ``8300``
  (python-emv), accepted as a debit/credit transaction unless the profile says
  ``accept_bare_8300 = false``. Out of sequence (:mod:`~cardsim.pboc.transaction`), a
  blocked application, an unpersonalized one or an ATC at FFFF: 6985. The ATC is
  incremented and made durable before the answer: format 1 ``80 L AIP AFL`` or format 2
  ``77{82, 94}`` (profile ``gpo_format``). The PDOL values are kept for the log only:
  the electronic-cash path (9F7A = 01, DGI 9203) is not modelled, every GPO is D/C.
* ``80CA P1P2`` GET DATA: 9F36 ATC, 9F13 last online ATC, 9F17 PIN try counter, the
  internal data of DGIs 0D01/0E01 in :data:`~cardspec.pboc.GET_DATA_TAGS` (EC tags only
  with ``ec = true``); anything else 6A88. The answer is the whole TLV, Le as READ RECORD.
* ``0020 0080 08 <format-2 PIN block>`` VERIFY (a trailing Le is accepted): the try
  counter is decremented and made durable *before* the comparison and restored after a
  match (a power cut in between costs a try, never grants one); wrong PIN 63Cx; a PIN
  at 0 tries 6983; a block that is not format 2: 6A80 (no try used). Without data:
  9000 once the PIN was verified since the selection, else 63Cx (ISO 7816-4 §11.5.6).
  P1-P2 other than 0080 (e.g. 0088, enciphered PIN): 6A86; no PIN personalized: 6A88.
* READ RECORD is the OS's (records work before GPO: python-emv reads them so); GENERATE
  AC and EXTERNAL AUTHENTICATE: :mod:`~cardsim.pboc.authorization`; issuer scripts:
  :mod:`~cardsim.pboc.scripts`; INTERNAL AUTHENTICATE (DDA): :mod:`~cardsim.pboc.oda`.

A blocked application (APPLICATION BLOCK script) answers its SELECT with 6283 and the
FCI and refuses GPO (6985), so no transaction starts; a transaction already under way
when the block arrives ends with an AAC (EMV Book 3 §6.5.1).
"""
from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any, Callable

from apdu.dol import build_dol_data, dol_length, split_dol_data
from apdu.errors import TLVError
from apdu.sw import SW, SWError
from apdu.tlv import build_ber, find, parse_ber, parse_one
from cardspec.crypto import CryptoError
from cardspec.crypto.emv import parse_pin_block_format2
from cardspec.pboc import ADF_FID, EC_TAGS, GET_DATA_TAGS, PbocDataError
from cardspec.profile import PbocPolicy

from ..application import BaseApplication, Shape, shaped
from ..fs import DF
from ..persistent import encode_pin
from .authorization import Authorization
from .directory import DirectoryApplication
from .files import LogEF, log_geometry, record_ef
from .oda import Dda
from .personalize import apply_dgi
from .scripts import IssuerScripts, SCRIPT_WRITE
from .state import PbocState
from .transaction import Phase, Transaction, expect_class

if TYPE_CHECKING:
    from apdu.command import CommandAPDU

    from ..runtime import CardOS

__all__ = ["PbocApplication"]

ATC_MAX = 0xFFFF


class PbocApplication(BaseApplication):
    """The debit ADF with its directories; put :attr:`zone` under the MF."""

    def __init__(self, state: PbocState, policy: PbocPolicy = PbocPolicy()) -> None:
        self.state, self.policy = state, policy
        self.adf = DF(ADF_FID, name=state.aid, application=self)
        for sfi, records in sorted(state.records.items()):
            record_ef(self.adf, sfi, records, SCRIPT_WRITE)
        self.log_ef: LogEF | None = None
        self.ensure_log()
        self.pse = DirectoryApplication(state.pse) if state.pse is not None else None
        self.ppse = DirectoryApplication(state.ppse) if state.ppse is not None else None
        if self.pse is not None:
            self.pse.df.add(self.adf)
            if self.ppse is not None:
                self.pse.df.add(self.ppse.df)
        self.txn = Transaction()
        self._card: CardOS | None = None
        self.authorization = Authorization(self)
        self.scripts = IssuerScripts(self)
        #: DGI -> handler for DGIs other extensions personalize (the ODA key set, 8201-8205)
        self.dgi_handlers: dict[int, Callable[[bytes], None]] = {}
        self.handlers = {0xA8: self.get_processing_options, 0xCA: self.get_data, 0x20: self.verify,
                         **self.authorization.handlers, **self.scripts.handlers}
        self.dda = Dda(self)  # INTERNAL AUTHENTICATE (88) and the ICC key DGIs 8201-8205

    # --- the zone in the file tree --------------------------------------------------
    @property
    def zone(self) -> list[DF]:
        """The DFs to add under the MF: the PSE (holding the ADF and the PPSE), or the ADF
        and the PPSE side by side on a card without a PSE."""
        if self.pse is not None:
            return [self.pse.df]
        return [self.adf] + ([self.ppse.df] if self.ppse is not None else [])

    def ensure_log(self) -> None:
        """Create the log EF once the FCI (9F4D) and the log format (9F4F) are known."""
        geometry = log_geometry(self.state.fci, self.state.internal.get(0x9F4F))
        if geometry is None or self.log_ef is not None:
            return
        sfi, count, length = geometry
        if self.adf.ef_by_sfi(sfi) is not None:
            raise PbocDataError(f"log SFI {sfi} (FCI 9F4D) is already a record file of the ADF")
        if any(len(r) != length for r in self.state.log):
            raise PbocDataError(f"log records are not all {length} bytes (the 9F4F format)")
        del self.state.log[count:]
        self.log_ef = self.adf.add(LogEF(sfi=sfi, record_length=length, max_records=count, storage=self.state.log))

    def store_dgi(self, dgi: int, data: bytes) -> None:
        """Personalize one DGI of the ADF instance (plaintext; see :mod:`~cardsim.pboc.personalize`)."""
        apply_dgi(self, dgi, data)

    def to_dict(self) -> dict[str, Any]:
        """The image section ``sections["pboc"]``."""
        return self.state.to_dict()

    @classmethod
    def from_dict(cls, d: dict[str, Any], policy: PbocPolicy = PbocPolicy()) -> "PbocApplication":
        return cls(PbocState.from_dict(d), policy)

    # --- application hooks ---------------------------------------------------------
    def fci(self, df: DF) -> bytes | None:
        return build_ber(0x6F, build_ber(0x84, self.state.aid) + self.state.fci)

    def on_select(self, card: CardOS) -> None:
        self._card = card
        self.txn = Transaction()
        if self.state.secrets.blocked:
            raise SWError(SW.WARNING_BLOCKED_SELECTED)

    def on_deselect(self, card: CardOS) -> None:
        self.txn = Transaction()

    def unwrap_sm(self, cmd: CommandAPDU, card: CardOS) -> tuple[CommandAPDU, frozenset[int]]:
        """``04DC`` UPDATE RECORD from an issuer script (:meth:`IssuerScripts.unwrap_sm`)."""
        return self.scripts.unwrap_sm(cmd, card)

    def note_dda(self) -> None:
        """INTERNAL AUTHENTICATE (the ODA extension) calls this: CVR byte 4 "DDA performed"."""
        self.txn.dda_performed = True

    # --- data the handlers share ----------------------------------------------------
    def record_tag(self, tag: int) -> bytes | None:
        """The value of ``tag`` in the ADF's records (CDOL1 8C, CDOL2 8D, …)."""
        for records in self.state.records.values():
            for record in records:
                found = find(record, tag)
                if found is not None:
                    return found.value
        return None

    def gpo_values(self) -> dict[int, bytes]:
        """AIP (82) and AFL (94) of DGI 9104."""
        return {obj.tag: obj.value for obj in parse_ber(self.state.gpo)}

    def append_log(self) -> None:
        """One log record in the 9F4F format from this transaction's terminal data and ATC."""
        log_format = self.state.internal.get(0x9F4F)
        if self.log_ef is None or log_format is None:
            return
        values = {**self.txn.terminal, 0x9F36: self.txn.atc_bytes}
        self.log_ef.append(build_dol_data(log_format, values))

    def _personalized(self) -> bool:
        state = self.state
        return bool(state.gpo and state.iad) and state.keys_present and self.record_tag(0x8C) is not None

    # --- GET PROCESSING OPTIONS -----------------------------------------------------
    def get_processing_options(self, cmd: CommandAPDU) -> bytes:
        expect_class(cmd, 0x80)
        if cmd.p1 or cmd.p2:
            raise SWError(SW.INCORRECT_P1P2)
        if not cmd.data:
            raise SWError(SW.WRONG_LENGTH)
        if cmd.data[0] != 0x83:
            raise SWError(SW.WRONG_DATA)
        try:
            pdol_data = parse_one(cmd.data, tag=0x83, allow_padding=False).value
        except TLVError:
            raise SWError(SW.WRONG_LENGTH) from None
        pdol_entry = find(self.state.fci, 0x9F38) if self.state.fci else None
        pdol = pdol_entry.value if pdol_entry is not None else b""
        bare = not pdol_data and bool(pdol)
        if len(pdol_data) != dol_length(pdol) and not (bare and self.policy.accept_bare_8300):
            raise SWError(SW.WRONG_LENGTH)
        state = self.state
        if (self.txn.phase is not Phase.SELECTED or state.secrets.blocked or not self._personalized()
                or state.atc >= ATC_MAX):
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        state.atc += 1
        self.card.durable(f"GET PROCESSING OPTIONS: ATC {state.atc:04X}")
        terminal = {} if bare else split_dol_data(pdol, pdol_data)
        before = self.txn  # a VERIFY before GPO still counts
        self.txn = Transaction(Phase.READY, state.atc, state.history, new_card=state.last_online_atc == 0,
                               terminal=terminal, pin_verified=before.pin_verified,
                               pin_performed=before.pin_performed, pin_failed=before.pin_failed)
        if self.policy.gpo_format == 2:
            return build_ber(0x77, state.gpo)
        values = self.gpo_values()
        return build_ber(0x80, values[0x82] + values[0x94])

    # --- GET DATA ---------------------------------------------------------------------
    @shaped(Shape.EXACT)
    def get_data(self, cmd: CommandAPDU) -> bytes:
        expect_class(cmd, 0x80)
        if cmd.data:
            raise SWError(SW.WRONG_LENGTH)
        tag = cmd.p1 << 8 | cmd.p2 if cmd.p1 else cmd.p2
        value = self._data_object(tag)
        if value is None:
            raise SWError(SW.REFERENCE_NOT_FOUND)
        return build_ber(tag, value)

    def _data_object(self, tag: int) -> bytes | None:
        state = self.state
        if tag == 0x9F36:
            return state.atc.to_bytes(2, "big")
        if tag == 0x9F13:
            return state.last_online_atc.to_bytes(2, "big")
        if tag == 0x9F17:
            return bytes((state.pin.tries_left,)) if state.pin is not None else None
        if tag not in GET_DATA_TAGS or (tag in EC_TAGS and not self.policy.ec):
            return None
        return state.internal.get(tag)

    # --- VERIFY -----------------------------------------------------------------------
    def verify(self, cmd: CommandAPDU) -> bytes:
        expect_class(cmd, 0x00)
        if cmd.p1 != 0x00 or cmd.p2 != 0x80:
            raise SWError(SW.INCORRECT_P1P2)
        pin = self.state.pin
        if pin is None:
            raise SWError(SW.REFERENCE_NOT_FOUND)
        if not cmd.data:
            if pin.blocked:
                raise SWError(SW.AUTH_METHOD_BLOCKED)
            if self.txn.pin_verified:
                return b""
            raise SWError(0x63C0 | pin.tries_left)
        if len(cmd.data) != 8:
            raise SWError(SW.WRONG_LENGTH)
        if pin.blocked:
            raise SWError(SW.AUTH_METHOD_BLOCKED)
        try:
            offered = encode_pin(parse_pin_block_format2(cmd.data))
        except CryptoError:
            raise SWError(SW.WRONG_DATA) from None
        pin.tries_left -= 1
        self.card.durable("VERIFY: PIN try counter decremented before the comparison")
        self.txn.pin_performed = True
        if hmac.compare_digest(offered, pin.value):
            pin.tries_left = pin.max_tries
            self.card.durable("VERIFY: PIN correct, try counter reset")
            self.txn.pin_failed, self.txn.pin_verified = False, True
            return b""
        self.txn.pin_failed, self.txn.pin_verified = True, False
        raise SWError(0x63C0 | pin.tries_left)
