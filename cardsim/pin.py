"""The SSSE's PIN: VERIFY, CHANGE PIN and PIN UNBLOCK/RESET (ssse.md §4; S5 §6.3, §6.8,
§6.14; S7 §5.6-5.8).

One PIN per SSSE, packed BCD with only the last nibble F-padded (``123456``,
``12345F``); its length in bytes is bounded by the profile (``[pin] min_bytes`` ..
``max_bytes``, VERIFY Lc 2-8). A verified PIN lasts until power-off, reset or the
selection of another application (the runtime's security scope), also in DF01-DF07
whose rules read "pin|key:84".

Choices where the sources leave room (each is tested):

* VERIFY without data: 9000 when no PIN is set or the PIN is already verified in this
  session (ISO 7816-4 §11.5.6: no verification needed), 6983 when blocked, otherwise
  ``63Cx`` without spending a try (S7 §5.6).
* Order of checks: class, P1-P2 (6A86), no PIN on the card (6A88), blocked (6983, also
  for a malformed PIN), Lc (6700), format (6A80); only then is a try spent.
* A failed VERIFY or CHANGE PIN clears the verified state; a successful CHANGE PIN sets
  it (the holder has just presented the PIN); PIN UNBLOCK/RESET clears it.
* PIN UNBLOCK/RESET needs EXTERNAL AUTHENTICATE with PUK (06) in this session (6982
  otherwise) and a MAC under STK (02) with the current challenge; a wrong MAC answers
  9302 (S5 table 5 "MAC invalid"; PBOC COSes answer 6988) and changes nothing.
"""
from __future__ import annotations

from hmac import compare_digest
from typing import TYPE_CHECKING

from apdu.command import CommandAPDU
from apdu.sw import SW, SWError
from cardspec.crypto.blockcipher import block_size
from cardspec.crypto.ssse import MAC_SIZE
from cardspec.ids import KeyId

from .application import Handler
from .guard import attempt, check_class, tries_sw
from .persistent import Pin, pin_wellformed

if TYPE_CHECKING:
    from .ssse_app import SsseApplication

_SEPARATOR = b"\xff"  # CHANGE PIN: old ‖ FF ‖ new (S5 §6.3)


class PinCommands:
    """VERIFY (0020), CHANGE PIN (805E) and PIN UNBLOCK/RESET (8424) of one SSSE."""

    def __init__(self, app: SsseApplication) -> None:
        self.app = app

    @property
    def handlers(self) -> dict[int, Handler]:
        return {0x20: self.verify, 0x5E: self.change_pin, 0x24: self.unblock}

    # --- helpers ---------------------------------------------------------------------------
    def _pin(self) -> Pin:
        pin = self.app.secrets.pin
        if pin is None:
            raise SWError(SW.REFERENCE_NOT_FOUND)
        return pin

    def _wellformed(self, value: bytes) -> bool:
        policy = self.app.profile.pin
        return policy.min_bytes <= len(value) <= policy.max_bytes and pin_wellformed(value)

    def _fail(self, pin: Pin) -> SWError:
        self.app.security.pin_verified = False
        return SWError(tries_sw(pin.tries_left))

    # --- commands ----------------------------------------------------------------------------
    def verify(self, cmd: CommandAPDU) -> bytes:
        """``0020 0000 Lc PIN``; without data, the PIN status (see the module notes)."""
        check_class(cmd, 0x00)
        if cmd.p1 or cmd.p2:
            raise SWError(SW.INCORRECT_P1P2)
        state, pin = self.app.security, self.app.secrets.pin
        if not cmd.data:
            if pin is None:
                return b""
            if pin.blocked:
                raise SWError(SW.AUTH_METHOD_BLOCKED)
            if state.pin_verified:
                return b""
            raise SWError(tries_sw(pin.tries_left))
        pin = self._pin()
        if pin.blocked:
            raise SWError(SW.AUTH_METHOD_BLOCKED)
        policy = self.app.profile.pin
        if not policy.min_bytes <= len(cmd.data) <= policy.max_bytes:
            raise SWError(SW.WRONG_LENGTH)
        if not pin_wellformed(cmd.data):
            raise SWError(SW.WRONG_DATA)
        presented = cmd.data
        if not attempt(self.app.card, pin, "VERIFY", lambda: compare_digest(pin.value, presented)):
            raise self._fail(pin)
        state.pin_verified = True
        return b""

    def change_pin(self, cmd: CommandAPDU) -> bytes:
        """``805E 0100 Lc old ‖ FF ‖ new``: a wrong old PIN spends a try (63Cx); a match
        stores the new PIN and restores the counter in one commit."""
        check_class(cmd, 0x80)
        if (cmd.p1, cmd.p2) != (0x01, 0x00):
            raise SWError(SW.INCORRECT_P1P2)
        pin = self._pin()
        if pin.blocked:
            raise SWError(SW.AUTH_METHOD_BLOCKED)
        policy = self.app.profile.pin
        if not 2 * policy.min_bytes + 1 <= len(cmd.data) <= 2 * policy.max_bytes + 1:
            raise SWError(SW.WRONG_LENGTH)
        old, separator, new = cmd.data.partition(_SEPARATOR)
        if not separator or not self._wellformed(old) or not self._wellformed(new):
            raise SWError(SW.WRONG_DATA)

        def store_new() -> None:
            pin.value = new

        if not attempt(self.app.card, pin, "CHANGE PIN", lambda: compare_digest(pin.value, old), store_new):
            raise self._fail(pin)
        self.app.security.pin_verified = True
        return b""

    def unblock(self, cmd: CommandAPDU) -> bytes:
        """``8424 00 P2 Lc data`` after EXTERNAL AUTHENTICATE with PUK. P2 00: unblock,
        data = MAC (Lc 04). P2 01: reset, data = encrypted ``LD ‖ PIN ‖ 80 00…`` ‖ MAC
        (Lc 0C with 3DES, 14 with SM4; longer PINs take more blocks). Both restore the
        try counter."""
        check_class(cmd, 0x84)
        if cmd.p1 or cmd.p2 not in (0x00, 0x01):
            raise SWError(SW.INCORRECT_P1P2)
        pin = self._pin()
        if not self.app.authenticated(KeyId.PUK):
            raise SWError(SW.SECURITY_NOT_SATISFIED)
        body = len(cmd.data) - MAC_SIZE
        block = block_size(self.app.algorithm)
        if (body != 0) if cmd.p2 == 0x00 else (body <= 0 or body % block):
            raise SWError(SW.WRONG_LENGTH)
        new = self.app.open_maintenance(cmd)
        if cmd.p2 == 0x01 and (new is None or not self._wellformed(new)):
            raise SWError(SW.WRONG_DATA)
        if new is not None:
            pin.value = new
        pin.tries_left = pin.max_tries
        self.app.security.pin_verified = False
        self.app.card.durable("PIN RESET: new PIN stored, try counter restored" if new is not None
                              else "PIN UNBLOCK: try counter restored")
        return b""
