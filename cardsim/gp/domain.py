"""The issuer security domain: SCP02 sessions, INSTALL [for personalization], STORE DATA.

Bureaus personalize the financial zone through it (pboc.md §2.3, EMV CPS, GP Card Spec
2.2 Appendix E, ``i`` = 15): SELECT the ISD by its AID (profile ``[gp] isd_aid``; it is
not selected implicitly, the MF is current after reset), open a secure channel, name the
target application, send its DGIs.

=================================  ===========================================================
command                            notes
=================================  ===========================================================
``8050 kv 00 08 host-chal 00``     INITIALIZE UPDATE: KDD ‖ KVN 02 ‖ counter ‖ card challenge ‖
                                   card cryptogram (28 bytes). kv 00 or the key version, else
                                   6A88; P2 ≠ 00 6A86; Lc ≠ 8 6700; counter at FFFF 6985.
``8482 SL 00 10 host-crypto MAC``  EXTERNAL AUTHENTICATE, right after INITIALIZE UPDATE (else
                                   6985): SL 01 C-MAC or 03 C-MAC + C-DECRYPTION (else 6A86);
                                   a wrong host cryptogram or C-MAC 6300; class 80 (no C-MAC)
                                   6982. Any failure ends the initiation. Success makes the
                                   sequence counter +1 durable before the answer.
``84E6 2000 Lc … MAC``             INSTALL [for personalization] (:mod:`cardspec.cps` format):
                                   the target of the next STORE DATA, answer ``00``. Other P1
                                   6A86 (the instances exist from the factory); a bad data
                                   field 6A80; no application with a ``store_dgi`` of that
                                   AID 6A88; already personalized 6985 (``[gp] reissue``).
``84E2 P1 P2 Lc DGIs MAC``         STORE DATA: see :meth:`SecurityDomain.store_data`.
=================================  ===========================================================

Inside a session every INSTALL/STORE DATA must carry a valid C-MAC (CLA 84, ICV chained
as ``i`` = 15 says): class 80 or a wrong C-MAC answers 6982 and closes the session;
without an authenticated session they answer 6985. Any command other than EXTERNAL
AUTHENTICATE after INITIALIZE UPDATE aborts the initiation; selecting any DF (the ISD
again included), reset and power-off end the session. Other classes than 80/84: 6E00.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from secrets import token_bytes
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

from apdu.command import CommandAPDU
from apdu.errors import SSCardError
from apdu.sw import SW, SWError
from apdu.tlv import build_ber
from cardspec.cps import (P1_DGI, P1_ENCRYPTED, P1_LAST, DgiReader, DgiStreamError,
                          parse_install_for_personalization)
from cardspec.crypto import CryptoError
from cardspec.crypto.scp02 import (CLA_SM, I15, ZERO_ICV, InitUpdateResponse, SessionKeys, card_cryptogram,
                                   decrypt_dek, next_icv, unwrap_command, verify_host_cryptogram)
from cardspec.pboc import is_encrypted
from cardspec.profile import GpPolicy

from ..application import BaseApplication
from ..fs import DF
from .state import COUNTER_MAX, AppLifecycle, GpState

if TYPE_CHECKING:
    from ..runtime import CardOS

__all__ = ["SecurityDomain", "Personalizable", "ISD_FID", "LEVEL_C_MAC", "LEVEL_C_DEC"]

log = logging.getLogger(__name__)

ISD_FID = 0xA000  #: FID of the ISD's DF under the MF (sscard's choice: bureaus select it by AID)
LEVEL_C_MAC = 0x01
LEVEL_C_DEC = 0x03  #: C-DECRYPTION and C-MAC


@runtime_checkable
class Personalizable(Protocol):
    """An application STORE DATA can personalize: PBOC ADF, PSE, PPSE instances."""

    def store_dgi(self, dgi: int, data: bytes) -> None: ...


@dataclass
class _Session:
    """One secure channel: pending after INITIALIZE UPDATE, open after EXTERNAL AUTHENTICATE."""

    keys: SessionKeys
    counter: bytes
    card_challenge: bytes
    host_challenge: bytes
    level: int | None = None  #: the security level once authenticated
    icv: bytes = ZERO_ICV


@dataclass
class _Target:
    """The application INSTALL [for personalization] named, and its STORE DATA progress."""

    aid: bytes
    app: Personalizable
    next_block: int = 0
    reader: DgiReader = field(default_factory=DgiReader)


class SecurityDomain(BaseApplication):
    """The ISD; add :attr:`df` under the MF (see :func:`cardsim.gp.add_isd`)."""

    def __init__(self, state: GpState, policy: GpPolicy = GpPolicy(), *,
                 random: Callable[[int], bytes] = token_bytes) -> None:
        self.state, self.policy, self.random = state, policy, random
        self.df = DF(ISD_FID, name=state.aid, application=self)
        self.session: _Session | None = None
        self.target: _Target | None = None
        self._card: CardOS | None = None
        self.handlers = {0x50: self.initialize_update, 0x82: self.external_authenticate,
                         0xE6: self.install, 0xE2: self.store_data}

    # --- application hooks -----------------------------------------------------------
    def fci(self, df: DF) -> bytes | None:
        """``6F{84 AID, A5{9F65 01 FF}}``: the largest command data field is 255 bytes (GP 2.2 SELECT response)."""
        return build_ber(0x6F, build_ber(0x84, self.state.aid) + build_ber(0xA5, build_ber(0x9F65, b"\xFF")))

    def on_select(self, card: CardOS) -> None:
        self._card = card
        self._close()

    def on_deselect(self, card: CardOS) -> None:
        self._close()

    def before_command(self, cmd: CommandAPDU) -> None:
        if self.session is not None and self.session.level is None and cmd.ins != 0x82:
            self._close()  # EXTERNAL AUTHENTICATE must follow INITIALIZE UPDATE

    def _close(self) -> None:
        self.session, self.target = None, None

    # --- the secure channel ---------------------------------------------------------
    def initialize_update(self, cmd: CommandAPDU) -> bytes:
        if cmd.cla != 0x80:
            raise SWError(SW.CLA_NOT_SUPPORTED)
        self._close()
        state = self.state
        if cmd.p2:
            raise SWError(SW.INCORRECT_P1P2)
        if cmd.p1 not in (0x00, state.kvn):
            log.info("INITIALIZE UPDATE: key version %02X requested, the ISD has %02X", cmd.p1, state.kvn)
            raise SWError(SW.REFERENCE_NOT_FOUND)
        if len(cmd.data) != 8:
            raise SWError(SW.WRONG_LENGTH)
        if state.counter >= COUNTER_MAX:
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        counter = state.counter_bytes
        keys = SessionKeys.derive(state.enc, state.mac, state.dek, counter)
        challenge = self.random(6)
        self.session = _Session(keys, counter, challenge, cmd.data)
        cryptogram = card_cryptogram(keys.enc, cmd.data, counter, challenge)
        return InitUpdateResponse(state.kdd, state.kvn, counter, challenge, cryptogram).to_bytes()

    def external_authenticate(self, cmd: CommandAPDU) -> bytes:
        session = self.session
        try:
            if cmd.cla not in (0x80, 0x84):
                raise SWError(SW.CLA_NOT_SUPPORTED)
            if session is None or session.level is not None:
                raise SWError(SW.CONDITIONS_NOT_SATISFIED)
            if cmd.cla != 0x84:
                raise SWError(SW.SECURITY_NOT_SATISFIED)
            if cmd.p1 not in (LEVEL_C_MAC, LEVEL_C_DEC) or cmd.p2:
                raise SWError(SW.INCORRECT_P1P2)
            if len(cmd.data) != 16:
                raise SWError(SW.WRONG_LENGTH)
            keys = session.keys
            if not verify_host_cryptogram(keys.enc, session.counter, session.card_challenge,
                                          session.host_challenge, cmd.data[:8]):
                log.info("EXTERNAL AUTHENTICATE: wrong host cryptogram")
                raise SWError(SW.VERIFY_FAILED)
            try:
                _, mac = unwrap_command(keys.c_mac, cmd.to_bytes(), ZERO_ICV, I15)
            except CryptoError:
                log.info("EXTERNAL AUTHENTICATE: wrong C-MAC")
                raise SWError(SW.VERIFY_FAILED) from None
        except SWError:
            self._close()
            raise
        self.state.counter += 1
        self.card.durable(f"EXTERNAL AUTHENTICATE: SCP02 sequence counter {self.state.counter:04X}")
        session.level, session.icv = cmd.p1, next_icv(keys.c_mac, mac, I15)
        return b""

    def _secured(self, cmd: CommandAPDU) -> CommandAPDU:
        """The plain command of a C-MAC'd one (C-DECRYPTION at level 03); see the module notes."""
        if cmd.cla not in (0x80, 0x84):
            raise SWError(SW.CLA_NOT_SUPPORTED)
        session = self.session
        if session is None or session.level is None:
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        if not cmd.cla & CLA_SM:
            log.info("%02X%02X without C-MAC in an SCP02 session: session closed", cmd.cla, cmd.ins)
            self._close()
            raise SWError(SW.SECURITY_NOT_SATISFIED)
        keys = session.keys
        try:
            plain, mac = unwrap_command(keys.c_mac, cmd.to_bytes(), session.icv, I15,
                                        keys.enc if session.level == LEVEL_C_DEC else None)
        except CryptoError as exc:
            log.info("SCP02: %s: session closed", exc)
            self._close()
            raise SWError(SW.SECURITY_NOT_SATISFIED) from None
        session.icv = next_icv(keys.c_mac, mac, I15)
        return CommandAPDU.parse(plain)

    # --- INSTALL [for personalization] -------------------------------------------------------
    def install(self, cmd: CommandAPDU) -> bytes:
        plain = self._secured(cmd)
        if plain.p1 != 0x20 or plain.p2:
            raise SWError(SW.INCORRECT_P1P2)
        try:
            aid = parse_install_for_personalization(plain.data)
        except DgiStreamError as exc:
            log.info("%s", exc)
            raise SWError(SW.WRONG_DATA) from None
        app = self._application(aid)
        if app is None:
            log.info("INSTALL [for personalization]: no personalizable application %s", aid.hex().upper())
            raise SWError(SW.REFERENCE_NOT_FOUND)
        if self.state.lifecycle(aid) is AppLifecycle.PERSONALIZED and not self.policy.reissue:
            log.info("INSTALL [for personalization]: %s is already personalized", aid.hex().upper())
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        self.target = _Target(aid, app)
        return b"\x00"

    def _application(self, aid: bytes) -> Personalizable | None:
        for df in self.card.mf.walk():
            if df.name == aid and df.application is not self and isinstance(df.application, Personalizable):
                return df.application
        return None

    # --- STORE DATA ------------------------------------------------------------------------
    def store_data(self, cmd: CommandAPDU) -> bytes:
        """STORE DATA to the target of INSTALL [for personalization] (else 6985).

        P1: b3-b1 RFU, b5-b4 other than 00/01 (DGI), b7-b6 = 01/10: 6A86. P2 must be the
        previous block's + 1 (00 first), else 6A86; no data 6700. With b7-b6 = 11 every
        DGI's data is decrypted with the session DEK; DGIs 8000-8FFF must come so. A
        malformed DGI field, an encrypted DGI not a multiple of 8 bytes or cut, a DGI cut
        at the last block, or a DGI the application refuses: 6A80, after the DGIs before
        it were kept (durable) and without advancing the block number. The last block
        (b8) makes the application PERSONALIZED in the registry and ends the target.
        """
        plain = self._secured(cmd)
        target, session = self.target, self.session
        if target is None or session is None:
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        p1 = plain.p1
        if p1 & 0x07 or p1 & 0x18 not in (0x00, P1_DGI) or p1 & P1_ENCRYPTED not in (0x00, P1_ENCRYPTED):
            raise SWError(SW.INCORRECT_P1P2)
        if plain.p2 != target.next_block:
            log.info("STORE DATA: block %02X, expected %02X", plain.p2, target.next_block)
            raise SWError(SW.INCORRECT_P1P2)
        if not plain.data:
            raise SWError(SW.WRONG_LENGTH)
        encrypted, last = p1 & P1_ENCRYPTED == P1_ENCRYPTED, bool(p1 & P1_LAST)
        reader = target.reader.copy()  # kept only if every DGI it completes is applied
        try:
            if encrypted and reader.pending is not None:
                raise DgiStreamError(f"{reader.pending} continues into an encrypted block")
            dgis = reader.feed(plain.data, whole=encrypted or last)
        except DgiStreamError as exc:
            log.info("STORE DATA block %02X: %s", plain.p2, exc)
            raise SWError(SW.WRONG_DATA) from None
        where = f"STORE DATA block {plain.p2:02X} for {target.aid.hex().upper()}"
        applied: list[str] = []
        try:
            for dgi, data in dgis:
                target.app.store_dgi(dgi, self._plaintext(dgi, data, encrypted, session.keys.dek))
                applied.append(f"{dgi:04X}")
        except SSCardError as exc:
            log.info("%s: %s", where, exc)
            if applied:
                self.card.durable(f"{where}: DGIs {' '.join(applied)} before a refused one")
            raise SWError(SW.WRONG_DATA) from None
        if applied:
            self.card.durable(f"{where}: DGIs {' '.join(applied)}")
        target.reader, target.next_block = reader, (plain.p2 + 1) & 0xFF
        if last:
            self.state.registry[target.aid] = AppLifecycle.PERSONALIZED
            self.target = None
            self.card.durable(f"{where}: last block, application personalized")
        return b""

    @staticmethod
    def _plaintext(dgi: int, data: bytes, encrypted: bool, dek: bytes) -> bytes:
        if not encrypted:
            if is_encrypted(dgi):
                raise DgiStreamError(f"DGI {dgi:04X} must come DEK-encrypted (P1 b7-b6 = 11)")
            return data
        try:
            return decrypt_dek(dek, data)
        except CryptoError as exc:
            raise DgiStreamError(f"DGI {dgi:04X}: {exc}") from None
