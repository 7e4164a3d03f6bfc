"""The social-security application (SSSE) of the virtual card: PIN, keys and
authentication, lifecycle and MAC-protected writes (ssse.md §4, §5, §7).

Attach it to the SSSE DDF; it serves the SSSE and the application DFs below it
(DF01-DF07), which share its PIN and security state:

>>> from cardspec.profile import Profile
>>> from cardsim.fs import DF, MF
>>> from cardsim.runtime import CardOS
>>> profile = Profile.load("ssc3-sm4")
>>> secrets = ssse_secrets(profile, {KeyId.RK: bytes(16)}, pin="123456")
>>> ssse = DF(0xDDF1, name=SSSE_DF_NAME, application=SsseApplication(profile, secrets))
>>> card = CardOS(MF(children=[ssse]), atr=profile.atr_bytes())
>>> _ = card.power_on()
>>> card.transmit(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")).hex().upper()
'6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C038601039000'
>>> [card.transmit(bytes.fromhex(a)).hex().upper() for a in ("0020000003123457", "0020000003123456")]
['63C5', '9000']

Commands (each class byte is fixed; another answers 6E00, 6987 or 6882, see
:func:`~cardsim.guard.check_class`):

* ``0020`` VERIFY, ``805E`` CHANGE PIN, ``8424`` PIN UNBLOCK/RESET: :mod:`cardsim.pin`;
* ``0084`` GET CHALLENGE, ``0088`` INTERNAL and ``0082`` EXTERNAL AUTHENTICATE: :mod:`cardsim.auth`;
* ``841E`` APPLICATION BLOCK, ``8416`` CARD BLOCK: :mod:`cardsim.lifecycle`;
* ``04DC``/``04D6``/``04E2``: the OS file commands with a MAC (:meth:`SsseApplication.unwrap_sm`).

Keys are found by identifier: ids with b8 = 1 (82-8F, cardspec ``DfKeyId``) are the
current DF's own keys (``secrets.df_keys[fid]`` in DF01-DF07), the others the SSSE's
(``secrets.keys``: IRK 00, STK 02, UK 04, BK 05, PUK 06, RK 0A), as ISO 7816-4 reads
P2 b8 ("specific" versus "global" reference data).

A blocked application (``secrets.blocked``, set by APPLICATION BLOCK) answers 9303 to
a SELECT of the SSSE or of any file below it and to every command while it is
current, except a SELECT that leaves it: the financial zone stays reachable
(S5 §6.1, S7 §13.2).
"""
from __future__ import annotations

from secrets import token_bytes
from typing import TYPE_CHECKING, Callable, Mapping

from apdu.command import CommandAPDU
from apdu.sw import SW, SWError
from cardspec.crypto import CryptoError, VerificationError
from cardspec.crypto.blockcipher import CARD_KEY_SIZE, Algorithm
from cardspec.crypto.ssse import MAC_SIZE, mac_input, unwrap_command_data, verify_command_mac
from cardspec.ids import SSSE_DF_NAME, DfKeyId, KeyId
from cardspec.profile import Profile

from .application import SPECIFIC_KEY, BaseApplication, Handler, SecurityState
from .auth import AuthCommands, has_try_counter
from .fs import DF, EF
from .lifecycle import LifecycleCommands
from .persistent import AppSecrets, Key, Pin, pin_wellformed
from .pin import PinCommands
from .runtime import CardConfigError
from .selection import SelectFile

if TYPE_CHECKING:
    from .runtime import CardOS

__all__ = ["SsseApplication", "ssse_key", "ssse_secrets"]

_SM_MAC_LAST = 0x04  # CLA b4-b3 = 01: proprietary secure messaging, MAC last (ssse.md §3)
_SM_WRITES = (0xD6, 0xDC, 0xE2)  # UPDATE BINARY, UPDATE RECORD, APPEND RECORD


def ssse_key(profile: Profile, kid: int, value: bytes, version: int = 0) -> Key:
    """A key of the SSSE or of a DF below it, with the profile's algorithm and, for
    external-authentication keys other than BK, the profile's try counter
    (``keys.ext_auth_tries``; SC appendix A: 3).

    >>> k = ssse_key(Profile.load("ssc2-3des"), KeyId.PUK, bytes(16))
    >>> k.algorithm.name, k.tries_left, ssse_key(Profile.load("ssc2-3des"), KeyId.STK, bytes(16)).tries_left
    ('TDES', 3, None)
    """
    tries = profile.keys.ext_auth_tries if has_try_counter(kid) else None
    return Key(kid, Algorithm.from_id(int(profile.card.algorithm_id)), bytes(value), version, tries, tries)


def ssse_secrets(profile: Profile, keys: Mapping[int, bytes], *, pin: str | None,
                 df_keys: Mapping[int, Mapping[int, bytes]] | None = None) -> AppSecrets:
    """Fresh SSSE secrets: ``keys`` by id, ``df_keys`` by DF FID then id, and the PIN
    digits (None: no PIN) with the profile's try limit."""
    return AppSecrets(
        keys={kid: ssse_key(profile, kid, value) for kid, value in keys.items()},
        pin=Pin.from_digits(pin, profile.pin.try_limit) if pin is not None else None,
        df_keys={fid: {kid: ssse_key(profile, kid, value) for kid, value in ks.items()}
                 for fid, ks in (df_keys or {}).items()})


class SsseApplication(BaseApplication):
    """The SSSE: ``SsseApplication(profile, secrets)`` attached with ``DF(..., application=app)``.

    ``secrets`` holds all persistent security state (keys, PIN, block flag); handlers
    change it and commit through ``card.durable`` before answering. ``random`` makes
    GET CHALLENGE answers (default: the OS random source).
    """

    def __init__(self, profile: Profile, secrets: AppSecrets, *,
                 random: Callable[[int], bytes] = token_bytes) -> None:
        self.profile = profile
        self.secrets = secrets
        self.algorithm = Algorithm.from_id(int(profile.card.algorithm_id))
        self.random = random
        _check_secrets(profile, secrets, self.algorithm)
        self._card: CardOS | None = None
        self._df: DF | None = None
        self._fci: bytes | None = None
        self.handlers: Mapping[int, Handler] = {
            **PinCommands(self).handlers, **AuthCommands(self).handlers, **LifecycleCommands(self).handlers}

    # --- the card this application is current on ---------------------------------------
    @property
    def df(self) -> DF:
        """The SSSE DDF (the DF this application is attached to)."""
        if self._df is None:
            raise RuntimeError("SSSE handler called before the application was selected")
        return self._df

    @property
    def security(self) -> SecurityState:
        return self.card.security

    # --- Application hooks -------------------------------------------------------------
    def fci(self, df: DF) -> bytes | None:
        """The profile's SSSE FCI for the SSSE itself; the default FCI for DF01-DF07."""
        if df.application is not self:
            return None
        if self._fci is None:  # the profile is immutable: build the FCI once
            self._fci = self.profile.ssse_fci()
        return self._fci

    def on_select(self, card: CardOS) -> None:
        self._card = card
        self._df = card.current_df.application_owner()
        if self.secrets.blocked:
            raise SWError(SW.APP_PERMANENTLY_BLOCKED)

    def before_command(self, cmd: CommandAPDU) -> None:
        if self.secrets.blocked and not (cmd.ins == 0xA4 and self._leaves(cmd)):
            raise SWError(SW.APP_PERMANENTLY_BLOCKED)

    def _leaves(self, cmd: CommandAPDU) -> bool:
        """Does this SELECT name a file outside the SSSE? (A malformed one goes on to the
        OS, which answers it the same way.)"""
        try:
            target = SelectFile(self.card).resolve(cmd)
        except SWError:
            return True
        df = target if isinstance(target, DF) else target.parent
        owner = df.application_owner() if df is not None else None
        return owner is None or owner.application is not self

    def unwrap_sm(self, cmd: CommandAPDU, card: CardOS) -> tuple[CommandAPDU, frozenset[int]]:
        """``04DC``/``04D6``/``04E2``: data ‖ MAC, the MAC under the current DF's STK (02 in
        the SSSE, 82 in DF01-DF07) with the current challenge, over ``CLA INS P1 P2 Lc ‖
        data`` (S4 §8.2; the same formula as 841E/8416/8424). A correct MAC proves, for
        this command only, every write key named by the current DF's EFs, i.e. it stands
        in for the external authentication with the update key.

        6882: ISO SM (CLA 08/0C) or an SM command other than these writes; 6E00: CLA 84;
        6988: no room for the MAC; 6700: data too long for the 1-byte Lc of the MAC
        input; 6A88: no STK in this DF; 6984: no challenge; 9302: wrong MAC.
        """
        if cmd.cla & 0x0C != _SM_MAC_LAST or cmd.ins not in _SM_WRITES:
            raise SWError(SW.SM_NOT_SUPPORTED)
        if cmd.cla & 0x80:
            raise SWError(SW.CLA_NOT_SUPPORTED)
        if len(cmd.data) < MAC_SIZE:
            raise SWError(SW.SM_DATA_INCORRECT)
        body, received = cmd.data[:-MAC_SIZE], cmd.data[-MAC_SIZE:]
        try:
            header = mac_input(cmd.cla, cmd.ins, cmd.p1, cmd.p2, body)
        except CryptoError:
            raise SWError(SW.WRONG_LENGTH) from None
        here = card.current_df
        stk = self.key_in_df(DfKeyId.STK if here is not self.df else KeyId.STK, here)
        challenge = self.take_challenge()
        if not verify_command_mac(self.algorithm, stk.value, challenge, header, received):
            raise SWError(SW.MAC_INVALID)
        write_keys = frozenset(ef.write.key for ef in here.children
                               if isinstance(ef, EF) and ef.write.key is not None)
        return cmd.replace(cla=cmd.cla & ~0x0C & 0xFF, data=body), write_keys

    # --- keys and the security state ----------------------------------------------------
    def key_in_df(self, kid: int, df: DF) -> Key:
        """Key ``kid`` of ``df``'s own key space (the SSSE or a DF below it); 6A88 if absent."""
        keys = self.secrets.keys if df is self.df else self.secrets.df_keys.get(df.fid, {})
        key = keys.get(kid)
        if key is None:
            raise SWError(SW.REFERENCE_NOT_FOUND)
        return key

    def find_key(self, kid: int) -> tuple[Key, int | None]:
        """The key a command names from the current DF, and where it is recorded once
        authenticated (None: the SSSE's own; else the FID of the DF below it)."""
        here = self.card.current_df
        if kid & SPECIFIC_KEY and here is not self.df:
            return self.key_in_df(kid, here), here.fid
        return self.key_in_df(kid, self.df), None

    def authenticated(self, kid: int) -> bool:
        """Has the SSSE key ``kid`` (a global id such as PUK 06 or BK 05) been
        externally authenticated in this session?"""
        return kid in self.security.authenticated_keys

    def take_challenge(self) -> bytes:
        """The current GET CHALLENGE random, consumed (S5 §6.5); 6984 when there is none."""
        challenge = self.security.take_challenge()
        if challenge is None:
            raise SWError(SW.REFERENCE_DATA_INVALID)
        return challenge

    def open_maintenance(self, cmd: CommandAPDU) -> bytes | None:
        """Check a maintenance command's MAC (STK 02, current challenge) and decrypt its
        data, if any: :func:`~cardspec.crypto.ssse.unwrap_command_data`. 6A88 without
        an STK, 6984 without a challenge, 9302 for a wrong MAC, 6A80 for a field that
        does not decrypt to ``LD ‖ data ‖ 80 00…``."""
        stk = self.key_in_df(KeyId.STK, self.df)
        challenge = self.take_challenge()
        try:
            return unwrap_command_data(self.algorithm, stk.value, challenge, cmd.cla, cmd.ins, cmd.p1, cmd.p2,
                                       cmd.data)
        except VerificationError:
            raise SWError(SW.MAC_INVALID) from None
        except CryptoError:
            raise SWError(SW.WRONG_DATA) from None


def _check_secrets(profile: Profile, secrets: AppSecrets, alg: Algorithm) -> None:
    """Refuse secrets this card cannot use: a key of another algorithm or length, a key
    filed under another id, counters out of range, a PIN outside the profile's policy."""
    where = f"profile {profile.name}"
    spaces = [("SSSE", secrets.keys), *((f"DF {fid:04X}", keys) for fid, keys in sorted(secrets.df_keys.items()))]
    for space, keys in spaces:
        for kid, key in keys.items():
            name = f"{where}: {space} key {kid:02X}"
            if key.kid != kid:
                raise CardConfigError(f"{name} is filed under id {kid:02X} but has id {key.kid:02X}")
            if key.algorithm is not alg:
                raise CardConfigError(f"{name} is {key.algorithm.name}; the card uses {alg.name}")
            if len(key.value) != CARD_KEY_SIZE:
                raise CardConfigError(f"{name} has {len(key.value)} bytes; card keys have {CARD_KEY_SIZE}")
            if (key.tries_left is None) != (key.max_tries is None) or (
                    key.tries_left is not None and key.max_tries is not None
                    and not 0 <= key.tries_left <= key.max_tries <= 15):
                raise CardConfigError(f"{name}: try counter {key.tries_left}/{key.max_tries} is not 0..max<=15 "
                                      "(or None/None for no counter)")
    pin = secrets.pin
    if pin is not None:
        lo, hi = profile.pin.min_bytes, profile.pin.max_bytes
        if not pin_wellformed(pin.value) or not lo <= len(pin.value) <= hi:
            raise CardConfigError(f"{where}: the stored PIN is not {lo}-{hi} bytes of packed BCD "
                                  "(only the last nibble may be F)")
        if not 0 <= pin.tries_left <= pin.max_tries <= 15:
            raise CardConfigError(f"{where}: PIN try counter {pin.tries_left}/{pin.max_tries} is not 0..max<=15")
