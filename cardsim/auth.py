"""GET CHALLENGE, INTERNAL AUTHENTICATE and EXTERNAL AUTHENTICATE of the SSSE (ssse.md
§5; S5 §6.4-6.7; S7 §6.5-6.6; S9 §7.1.5). The formulas are
:mod:`cardspec.crypto.ssse`'s, shared with the host.

Keys by use (the key id decides; ``KeyId``/``DfKeyId``):

>>> [key_use(k).name for k in (0x00, 0x02, 0x82, 0x04, 0x0A, 0x84)]
['INTERNAL', 'MAINTENANCE', 'MAINTENANCE', 'EXTERNAL', 'EXTERNAL', 'EXTERNAL']
>>> has_try_counter(0x06), has_try_counter(0x05), has_try_counter(0x00)
(True, False, False)

BK (05), the card-block control key, has no try counter: "a failed ext-auth or MAC on
block commands does not lock the key" (S7 §13.1-13.2), and a lockable BK would let
anyone stop a lost card from being blocked. A failed EXTERNAL AUTHENTICATE with it
answers 6300.

Status words: 6A86 P1 not 00; 6A88 no such key, a key not of the command's use, or a
key-version byte that differs from the key's; 6700 Lc other than 10 (or 11 with the
version byte), GET CHALLENGE Le other than 04/08 (DES family) or 04/08/10 (SM4), the
sizes S4 §8.4 makes session keys from; 6983 a blocked key; 6984 no challenge;
``63Cx`` a wrong cryptogram, the try already spent and committed.
"""
from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from apdu.command import CommandAPDU
from apdu.sw import SW, SWError
from cardspec.crypto.blockcipher import Algorithm
from cardspec.crypto.ssse import AUTH_SIZE, internal_auth_response, verify_external_auth
from cardspec.ids import DfKeyId, KeyId

from .application import Handler
from .guard import attempt, check_class, tries_sw
from .persistent import Key

if TYPE_CHECKING:
    from .ssse_app import SsseApplication


class KeyUse(Enum):
    INTERNAL = "internal authentication (0088)"
    MAINTENANCE = "maintenance MAC (841E, 8416, 8424, 04-class writes)"
    EXTERNAL = "external authentication (0082)"


def key_use(kid: int) -> KeyUse:
    """What a key id is for: IRK 00 internal, STK 02 / STKDFxx 82 MACs, the rest external."""
    if kid == KeyId.IRK:
        return KeyUse.INTERNAL
    if kid in (KeyId.STK, DfKeyId.STK):
        return KeyUse.MAINTENANCE
    return KeyUse.EXTERNAL


def has_try_counter(kid: int) -> bool:
    """External-authentication keys count failures, except BK (see the module notes)."""
    return key_use(kid) is KeyUse.EXTERNAL and kid != KeyId.BK


def challenge_sizes(alg: Algorithm) -> tuple[int, ...]:
    """GET CHALLENGE lengths the session key can be made from (S4 §8.4, S5 §6.5)."""
    return (4, 8) if alg is Algorithm.TDES else (4, 8, 16)


class AuthCommands:
    """GET CHALLENGE (0084), INTERNAL (0088) and EXTERNAL (0082) AUTHENTICATE."""

    def __init__(self, app: SsseApplication) -> None:
        self.app = app

    @property
    def handlers(self) -> dict[int, Handler]:
        return {0x84: self.get_challenge, 0x88: self.internal_authenticate, 0x82: self.external_authenticate}

    def get_challenge(self, cmd: CommandAPDU) -> bytes:
        """``0084 0000 Le``: Le fresh random bytes, which become the current challenge
        (replacing any earlier one) and serve one authentication or MAC."""
        check_class(cmd, 0x00)
        if cmd.p1 or cmd.p2:
            raise SWError(SW.INCORRECT_P1P2)
        if cmd.data or cmd.ne not in challenge_sizes(self.app.algorithm):
            raise SWError(SW.WRONG_LENGTH)
        challenge = self.app.random(cmd.ne)
        self.app.security.challenge = challenge
        return challenge

    def _parse(self, cmd: CommandAPDU, use: KeyUse) -> tuple[Key, int | None, bytes, bytes]:
        """Common checks of both AUTHENTICATEs: the key P2 names, where it is recorded
        (see :meth:`SsseApplication.find_key`), the first 8 data bytes and the original."""
        if cmd.p1:
            raise SWError(SW.INCORRECT_P1P2)
        key, where = self.app.find_key(cmd.p2)
        if key_use(cmd.p2) is not use:
            raise SWError(SW.REFERENCE_NOT_FOUND)
        if len(cmd.data) not in (2 * AUTH_SIZE, 2 * AUTH_SIZE + 1):
            raise SWError(SW.WRONG_LENGTH)
        if len(cmd.data) > 2 * AUTH_SIZE and cmd.data[-1] != key.version:
            raise SWError(SW.REFERENCE_NOT_FOUND)
        return key, where, cmd.data[:AUTH_SIZE], cmd.data[AUTH_SIZE:2 * AUTH_SIZE]

    def internal_authenticate(self, cmd: CommandAPDU) -> bytes:
        """``0088 00 KID 10 ‖ procFactor ‖ original [‖ keyVer]`` → 8 bytes of auth data
        (S5 §6.7); KID (P2) 00 is the IRK, the only internal-authentication key."""
        check_class(cmd, 0x00)
        key, _, proc_factor, original = self._parse(cmd, KeyUse.INTERNAL)
        return internal_auth_response(self.app.algorithm, key.value, proc_factor, original)

    def external_authenticate(self, cmd: CommandAPDU) -> bytes:
        """``0082 00 KID 10 ‖ authData ‖ original [‖ keyVer]``: the session key comes from
        the current challenge, which is consumed (S9 §7.1.5). Success records KID as
        authenticated until power-off, reset or another application (S7 §6.6)."""
        check_class(cmd, 0x00)
        key, where, cryptogram, original = self._parse(cmd, KeyUse.EXTERNAL)
        if key.blocked:
            raise SWError(SW.AUTH_METHOD_BLOCKED)
        challenge = self.app.take_challenge()
        alg, state = self.app.algorithm, self.app.security

        def matches() -> bool:
            return verify_external_auth(alg, key.value, challenge, cryptogram, original)

        if attempt(self.app.card, key, f"EXTERNAL AUTHENTICATE key {key.kid:02X}", matches):
            state.grant(key.kid, where)
            return b""
        state.revoke(key.kid, where)
        raise SWError(SW.VERIFY_FAILED if key.tries_left is None else tries_sw(key.tries_left))
