"""sscard's pre-personalization dialect and the card manager at the MF
(docs/prepersonalization.md is the full reference; ssse.md §6: the spec leaves these
commands to the COS vendor).

A card leaves the factory BLANK: the MF and the transport key (MF key 00). The issuer
opens it with the transport key, builds the file tree, loads keys and the PIN, and ends
pre-personalization, after which the structure is frozen:

==========================  ====================================  =========================
command                     APDU                                  phases
==========================  ====================================  =========================
GET CHALLENGE (MF)          ``0084 0000 Le``                      all
EXTERNAL AUTHENTICATE (MF)  ``0082 00 KID 10 auth original``      all
CREATE FILE                 ``00E0 0000 Lc 62 FCP``               BLANK, PREPERSONALIZATION
WRITE KEY, plain            ``80D4 00 KID 13 alg ver tries key``  BLANK, PREPERSONALIZATION
WRITE KEY, protected (MF)   ``84D4 00 KID Lc enc MAC``            all
SET PIN                     ``802C 0000 Lc tries PIN``            BLANK, PREPERSONALIZATION
END PERSONALIZATION (MF)    ``8044 0000``                         BLANK, PREPERSONALIZATION
==========================  ====================================  =========================

*Transport session.* A successful EXTERNAL AUTHENTICATE with MF key 00 while the MF is
current opens it. It is a card-global security status (ISO 7816-4 §5.4): it survives
SELECT and CREATE FILE (which selects the new file) and ends at power-off, reset, a
failed authentication with key 00, or END PERSONALIZATION. Without it the plain
pre-personalization commands answer 6982; after END PERSONALIZATION they answer 6985.
The first accepted change moves a BLANK card to PREPERSONALIZATION.
"""
from __future__ import annotations

import logging
from secrets import token_bytes
from typing import Callable, Mapping

from apdu.command import CommandAPDU
from apdu.sw import SW, SWError
from cardspec.crypto import CryptoError, VerificationError
from cardspec.crypto.blockcipher import CARD_KEY_SIZE, Algorithm
from cardspec.crypto.ssse import AUTH_SIZE, unwrap_command_data, verify_external_auth
from cardspec.ids import SSSE_DF_NAME
from cardspec.profile import Profile

from .application import SPECIFIC_KEY, BaseApplication, Handler, SecurityState
from .auth import challenge_sizes
from .fcp import FcpError, FileParams, cost, new_file, parse_fcp
from .fs import DF, MF, File
from .guard import attempt, check_class, tries_sw
from .persistent import AppSecrets, CardLife, Key, Lifecycle, Pin, pin_wellformed
from .runtime import CardConfigError, CardOS, RuntimeSettings
from .selection import SelectFile
from .store import Store

log = logging.getLogger(__name__)

#: MF key 00: the card master key; a blank card holds the transport key there
MASTER_KID = 0x00
#: try counter of the MF master (and transport) key
MASTER_TRIES = 15
#: bytes of file space on an sscard card (fcp.cost counts data and bookkeeping)
CAPACITY = 0x10000
KEY_RECORD_SIZE = 3 + CARD_KEY_SIZE  # alg ‖ version ‖ tries ‖ key


class CardManager(BaseApplication):
    """The application at the MF: authentication with the MF keys, the protected WRITE
    KEY at the MF, and (``os_handlers``) the pre-personalization commands everywhere.

    ``CardManager(profile, life)``; :func:`assemble` binds it to its card. Its secrets
    are ``life.mf``; its FCI is the MF's default one.
    """

    def __init__(self, profile: Profile, life: CardLife, *, random: Callable[[int], bytes] = token_bytes) -> None:
        self.profile = profile
        self.life = life
        self.random = random
        self.algorithm = Algorithm.from_id(int(profile.card.algorithm_id))
        self._card: CardOS | None = None
        self._select: SelectFile | None = None
        self._session: SecurityState | None = None  # the security state that holds the transport session
        self.handlers: Mapping[int, Handler] = {0x84: self.get_challenge, 0x82: self.external_authenticate,
                                                0xD4: self.write_key}
        self.os_handlers: dict[int, Handler] = {0xA4: self.select, 0xE0: self.create_file, 0xD4: self.write_key,
                                                0x2C: self.set_pin, 0x44: self.end_personalization}

    @property
    def secrets(self) -> AppSecrets:
        return self.life.mf

    def bind(self, card: CardOS) -> None:
        self._card, self._select = card, SelectFile(card)

    @property
    def card(self) -> CardOS:
        if self._card is None:
            raise RuntimeError("card manager used before assemble() bound it to a card")
        return self._card

    # --- the transport session -------------------------------------------------------
    @property
    def session_open(self) -> bool:
        return self._session is not None and self._session is self.card.security

    def _carry(self, was_open: bool) -> None:
        """After a selection: the session moves to whatever security state is now current."""
        self._session = self.card.security if was_open else None

    def _preperso(self, cmd: CommandAPDU, cla: int) -> None:
        """Class, phase (6985 once PERSONALIZED) and transport session (6982) checks."""
        check_class(cmd, cla)
        if self.life.phase is Lifecycle.PERSONALIZED:
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        if not self.session_open:
            raise SWError(SW.SECURITY_NOT_SATISFIED)

    def _changed(self, reason: str) -> None:
        if self.life.phase is Lifecycle.BLANK:
            self.life.phase = Lifecycle.PREPERSONALIZATION
        self.card.durable(reason)

    # --- key spaces --------------------------------------------------------------------
    def key_space(self, df: DF, kid: int, *, create: bool = False) -> tuple[dict[int, Key], Algorithm | None]:
        """Where key ``kid`` of ``df`` lives, and the algorithm its application demands.

        The scope DF (the MF, or a DF with an application) keeps its keys in its
        application's ``secrets.keys``; a DF below it keeps ids with b8 = 1 in
        ``secrets.df_keys[fid]`` (6A86 for a global id there, which belongs to the
        scope). ``create``: add an empty key space for the DF if it has none yet.
        """
        owner = df.application_owner()
        secrets = getattr(owner.application, "secrets", None) if owner is not None else None
        if owner is None or not isinstance(secrets, AppSecrets):
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        algorithm = getattr(owner.application, "algorithm", None)
        if df is owner:
            return secrets.keys, algorithm
        if not kid & SPECIFIC_KEY:
            raise SWError(SW.INCORRECT_P1P2)
        if create:
            return secrets.df_keys.setdefault(df.fid, {}), algorithm
        return secrets.df_keys.get(df.fid, {}), algorithm

    # --- GET CHALLENGE / EXTERNAL AUTHENTICATE at the MF ----------------------------------
    def get_challenge(self, cmd: CommandAPDU) -> bytes:
        """``0084 0000 Le``: Le random bytes (04, 08; SM4 also 10), the current challenge."""
        check_class(cmd, 0x00)
        if cmd.p1 or cmd.p2:
            raise SWError(SW.INCORRECT_P1P2)
        if cmd.data or cmd.ne not in challenge_sizes(self.algorithm):
            raise SWError(SW.WRONG_LENGTH)
        self.card.security.challenge = self.random(cmd.ne)
        return self.card.security.challenge

    def external_authenticate(self, cmd: CommandAPDU) -> bytes:
        """``0082 00 KID 10 ‖ authData ‖ original [‖ keyVer]`` with an MF key (or, for
        ids with b8 = 1 in a DF below the MF, that DF's own key; S5 §6.4 formulas). Key
        00 at the MF opens (or, failing, closes) the transport session. 6A86 P1, 6A88 no
        key or another version, 6700 Lc, 6983 blocked, 6984 no challenge, 63Cx wrong
        cryptogram (the try spent and committed first)."""
        check_class(cmd, 0x00)
        if cmd.p1:
            raise SWError(SW.INCORRECT_P1P2)
        card, kid = self.card, cmd.p2
        here = card.current_df
        specific = bool(kid & SPECIFIC_KEY) and here is not card.security_scope
        keys = self.key_space(here, kid)[0] if specific else self.life.mf.keys
        key = keys.get(kid)
        if key is None:
            raise SWError(SW.REFERENCE_NOT_FOUND)
        if len(cmd.data) not in (2 * AUTH_SIZE, 2 * AUTH_SIZE + 1):
            raise SWError(SW.WRONG_LENGTH)
        if len(cmd.data) > 2 * AUTH_SIZE and cmd.data[-1] != key.version:
            raise SWError(SW.REFERENCE_NOT_FOUND)
        if key.blocked:
            raise SWError(SW.AUTH_METHOD_BLOCKED)
        challenge = card.security.take_challenge()
        if challenge is None:
            raise SWError(SW.REFERENCE_DATA_INVALID)
        cryptogram, original = cmd.data[:AUTH_SIZE], cmd.data[AUTH_SIZE:2 * AUTH_SIZE]
        where = here.fid if specific else None
        master = kid == MASTER_KID and here is card.mf

        def matches() -> bool:
            try:
                return verify_external_auth(key.algorithm, key.value, challenge, cryptogram, original)
            except CryptoError:  # a challenge the key's algorithm cannot use (16 bytes for 3DES)
                return False

        if attempt(card, key, f"EXTERNAL AUTHENTICATE MF key {kid:02X}", matches):
            card.security.grant(kid, where)
            if master:
                self._session = card.security
            return b""
        card.security.revoke(kid, where)
        if master:
            self._session = None
        raise SWError(SW.VERIFY_FAILED if key.tries_left is None else tries_sw(key.tries_left))

    # --- SELECT with the transport session carried along -----------------------------------
    def select(self, cmd: CommandAPDU) -> bytes:
        """The OS SELECT; the transport session stays open across it."""
        assert self._select is not None
        was_open = self.session_open
        try:
            return self._select.select(cmd)
        finally:
            self._carry(was_open)

    # --- CREATE FILE -------------------------------------------------------------------
    def create_file(self, cmd: CommandAPDU) -> bytes:
        """``00E0 0000 Lc 62…``: create a file under the current DF and select it
        (ISO 7816-9 §6.1). A DF named with the SSSE's DF name gets the SSSE application.
        6A86 P1-P2, 6700 no data, 6A80 bad FCP, 6A89 FID (or SFI) taken in this DF, 6A8A
        DF name taken on the card, 6A84 no space (:data:`CAPACITY`)."""
        self._preperso(cmd, 0x00)
        if cmd.p1 or cmd.p2:
            raise SWError(SW.INCORRECT_P1P2)
        if not cmd.data:
            raise SWError(SW.WRONG_LENGTH)
        try:
            params = parse_fcp(cmd.data)
        except FcpError as exc:
            log.info("CREATE FILE refused: %s", exc)
            raise SWError(SW.WRONG_DATA) from None
        card = self.card
        parent = card.current_df
        if parent.fid == params.fid or parent.child(params.fid) is not None or (
                params.sfi is not None and params.kind != "df" and parent.ef_by_sfi(params.sfi) is not None):
            raise SWError(SW.FILE_EXISTS)
        if params.name is not None and any(df.name == params.name for df in card.mf.walk()):
            raise SWError(SW.DF_NAME_EXISTS)
        new = self._build(params)
        if cost(card.mf) + cost(new) > CAPACITY:
            raise SWError(SW.NOT_ENOUGH_SPACE)
        parent.add(new)
        self._changed(f"CREATE FILE {new.label}")
        was_open = self.session_open
        try:
            card.select(new)
        finally:
            self._carry(was_open)
        return b""

    def _build(self, params: FileParams) -> File:
        new = new_file(params)
        if isinstance(new, DF) and params.name == SSSE_DF_NAME:
            from .ssse_app import SsseApplication  # the SSSE is the only application sscard installs by name

            new.application = SsseApplication(self.profile, AppSecrets())
        return new

    # --- WRITE KEY ---------------------------------------------------------------------
    def write_key(self, cmd: CommandAPDU) -> bytes:
        """``80D4 00 KID 13 record`` in a transport session before END PERSONALIZATION,
        or ``84D4 00 KID Lc enc ‖ MAC`` at the MF in any phase: the record enciphered and
        MACed under the card master key (00) with the current challenge
        (:func:`~cardspec.crypto.ssse.wrap_command_data`). Record = algorithm (the
        card's: 01 3DES, 03 SM4) ‖ version ‖ tries (00: no counter, 01-0F) ‖ key (16).
        The key goes to the current DF's key space (:meth:`key_space`), replacing any
        key with that id, with a full counter."""
        card, kid = self.card, cmd.p2
        if cmd.cla & 0x0C:
            check_class(cmd, 0x84)
            record = self._unwrap_key(cmd)
        else:
            self._preperso(cmd, 0x80)
            record = cmd.data
        if cmd.p1:
            raise SWError(SW.INCORRECT_P1P2)
        _, algorithm = self.key_space(card.current_df, kid)
        if len(record) != KEY_RECORD_SIZE:
            raise SWError(SW.WRONG_LENGTH if not cmd.cla & 0x0C else SW.WRONG_DATA)
        alg_id, version, tries, value = record[0], record[1], record[2], record[3:]
        if alg_id != self.algorithm.value or (algorithm is not None and alg_id != algorithm.value) or tries > 15:
            raise SWError(SW.WRONG_DATA)
        counter = tries or None
        keys = self.key_space(card.current_df, kid, create=True)[0]
        keys[kid] = Key(kid, Algorithm(alg_id), bytes(value), version, counter, counter)
        self._changed(f"WRITE KEY {card.current_df.label} key {kid:02X} version {version:02X}")
        return b""

    def _unwrap_key(self, cmd: CommandAPDU) -> bytes:
        """The plain key record of an ``84D4``: 6985 away from the MF, 6A88 without a
        master key, 6984 without a challenge, 6988 wrong MAC, 6A80 bad cryptogram."""
        card = self.card
        if card.current_df is not card.mf:
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        master = self.life.mf.keys.get(MASTER_KID)
        if master is None:
            raise SWError(SW.REFERENCE_NOT_FOUND)
        challenge = card.security.take_challenge()
        if challenge is None:
            raise SWError(SW.REFERENCE_DATA_INVALID)
        try:
            plain = unwrap_command_data(master.algorithm, master.value, challenge, cmd.cla, cmd.ins, cmd.p1,
                                        cmd.p2, cmd.data)
        except VerificationError:
            raise SWError(SW.SM_DATA_INCORRECT) from None
        except CryptoError:
            raise SWError(SW.WRONG_DATA) from None
        return plain or b""

    # --- SET PIN, END PERSONALIZATION --------------------------------------------------
    def set_pin(self, cmd: CommandAPDU) -> bytes:
        """``802C 0000 Lc tries ‖ PIN``: the current application's PIN (packed BCD, only
        the last nibble F) with a try limit of 01-0F and a full counter. 6985 where no
        application keeps a PIN (the MF), 6700 a PIN length outside the profile's
        ``[pin]`` bytes, 6A80 a malformed PIN or try limit."""
        self._preperso(cmd, 0x80)
        if cmd.p1 or cmd.p2:
            raise SWError(SW.INCORRECT_P1P2)
        owner = self.card.current_df.application_owner()
        app = owner.application if owner is not None else None
        if owner is None or owner is self.card.mf or not isinstance(getattr(app, "secrets", None), AppSecrets):
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        if len(cmd.data) < 2:
            raise SWError(SW.WRONG_LENGTH)
        tries, value = cmd.data[0], cmd.data[1:]
        if not self.profile.pin.min_bytes <= len(value) <= self.profile.pin.max_bytes:
            raise SWError(SW.WRONG_LENGTH)
        if not 1 <= tries <= 15 or not pin_wellformed(value):
            raise SWError(SW.WRONG_DATA)
        app.secrets.pin = Pin(bytes(value), tries, tries)  # type: ignore[union-attr]
        self._changed(f"SET PIN {owner.label} try limit {tries}")
        return b""

    def end_personalization(self, cmd: CommandAPDU) -> bytes:
        """``8044 0000`` at the MF: the card becomes PERSONALIZED (structure frozen, plain
        key loading off) and the transport session ends. 6985 away from the MF."""
        self._preperso(cmd, 0x80)
        if cmd.p1 or cmd.p2:
            raise SWError(SW.INCORRECT_P1P2)
        if cmd.data:
            raise SWError(SW.WRONG_LENGTH)
        if self.card.current_df is not self.card.mf:
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        self.life.phase = Lifecycle.PERSONALIZED
        self._session = None
        self.card.durable("END PERSONALIZATION")
        return b""


def assemble(mf: MF, *, profile: Profile, atr: bytes, settings: RuntimeSettings, life: CardLife,
             store: Store | None = None, random: Callable[[int], bytes] = token_bytes) -> CardOS:
    """An sscard card: ``mf`` with a :class:`CardManager` attached, the pre-personalization
    handlers installed, ``life`` as its card-level state."""
    if mf.application is not None and not isinstance(mf.application, CardManager):
        raise CardConfigError(f"the MF already carries {type(mf.application).__name__}; sscard puts its card "
                              "manager there")
    manager = CardManager(profile, life, random=random)
    mf.application = manager
    card = CardOS(mf, atr=atr, settings=settings, store=store, handlers=manager.os_handlers, life=life)
    manager.bind(card)
    return card


def card_manager(card: CardOS) -> CardManager:
    """The card manager of an sscard card (CardConfigError for other cards)."""
    manager = card.mf.application
    if not isinstance(manager, CardManager):
        raise CardConfigError("not an sscard card: no card manager at the MF")
    return manager
