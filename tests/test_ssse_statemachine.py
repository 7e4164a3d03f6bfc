"""The SSSE's PIN and lifecycle against a model: a hypothesis state machine drives VERIFY
(right, wrong, status), CHANGE PIN, PUK-authenticated unblock and reset (good and bad
MACs), moves between the SSSE, DF04 and the MF, resets, power cycles, and the two
permanent blocks, and checks every status word and the persistent state after each
step, for both profiles."""
from __future__ import annotations

from hypothesis import assume, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from cardsim.persistent import encode_pin
from cardspec.ids import KeyId
from cardspec.profile import Profile

from ssse_testcard import SELECT_DF04, SELECT_SSSE, Host, build_card

PINS = st.text("0123456789", min_size=4, max_size=12)
OK, BLOCKED, APP_BLOCKED, CARD_BLOCKED = "9000", "6983", "9303", "6A81"


def machine(profile_name: str) -> type[RuleBasedStateMachine]:
    class SsseModel(RuleBasedStateMachine):
        """Model: PIN digits, tries left, verified, application blocked, card blocked."""

        def __init__(self) -> None:
            super().__init__()
            self.profile = Profile.load(profile_name)
            self.host = Host(build_card(self.profile))
            self.limit = self.profile.pin.try_limit
            self.pin, self.tries, self.verified = self.profile.pin.default, self.limit, False
            self.app_blocked = self.card_blocked = False
            assert self.host.sw(SELECT_SSSE) == OK

        def expect(self, sw: str) -> str:
            """What the card answers while the SSSE is current: ``sw`` unless blocked."""
            return CARD_BLOCKED if self.card_blocked else APP_BLOCKED if self.app_blocked else sw

        @property
        def live(self) -> bool:
            return not (self.card_blocked or self.app_blocked)

        def failed_try(self) -> str:
            self.tries -= 1
            self.verified = False
            return f"63C{self.tries}"

        # --- PIN ----------------------------------------------------------------------------
        @rule(right=st.booleans(), other=PINS)
        def verify(self, right: bool, other: str) -> None:
            digits = self.pin if right else other
            assume(right or other != self.pin)
            if not self.live:
                expected = self.expect("")
            elif self.tries == 0:
                expected = BLOCKED
            elif right:
                expected, self.tries, self.verified = OK, self.limit, True
            else:
                expected = self.failed_try()
            assert self.host.verify(digits) == expected

        @rule()
        def pin_status(self) -> None:
            expected = BLOCKED if self.tries == 0 else OK if self.verified else f"63C{self.tries}"
            assert self.host.sw("00200000") == self.expect(expected)

        @rule(right=st.booleans(), other=PINS, new=PINS)
        def change_pin(self, right: bool, other: str, new: str) -> None:
            old = self.pin if right else other
            assume(right or other != self.pin)
            old_bcd, new_bcd = encode_pin(old), encode_pin(new)
            apdu = f"805E0100{len(old_bcd) + 1 + len(new_bcd):02X}{old_bcd.hex()}FF{new_bcd.hex()}"
            if not self.live:
                expected = self.expect("")
            elif self.tries == 0:
                expected = BLOCKED
            elif right:
                expected, self.pin, self.tries, self.verified = OK, new, self.limit, True
            else:
                expected = self.failed_try()
            assert self.host.sw(apdu) == expected

        @rule(new=st.none() | PINS, good_mac=st.booleans())
        def issuer_unblock(self, new: str | None, good_mac: bool) -> None:
            if not self.live:
                assert self.host.sw("0084000008") == self.expect("")
                return
            assert self.host.ext_auth(KeyId.PUK) == OK
            plaintext = encode_pin(new) if new is not None else None
            sw = self.host.protected(0x84, 0x24, 0x00, 0x01 if new is not None else 0x00, plaintext, good=good_mac)
            if not good_mac:
                assert sw == "9302"
                return
            assert sw == OK
            self.tries, self.verified = self.limit, False
            if new is not None:
                self.pin = new

        # --- selection and power --------------------------------------------------------------
        @rule()
        def visit_df04(self) -> None:
            """DF04 EF05 is "pin|key:84": readable exactly when the SSSE's PIN is verified."""
            assert self.host.sw(SELECT_DF04) == self.expect(OK)
            assert self.host.sw("00B2012C00") == self.expect(OK if self.verified else "6982")
            assert self.host.sw(SELECT_SSSE) == self.expect(OK)

        @rule()
        def leave_and_return(self) -> None:
            assert self.host.sw("00A40000023F00") == (CARD_BLOCKED if self.card_blocked else OK)
            if not self.card_blocked:  # a refused SELECT selects nothing
                self.verified = False  # another application (none) was selected: S7 §5.8
            assert self.host.sw(SELECT_SSSE) == self.expect(OK)

        @rule(warm=st.booleans())
        def power_cycle(self, warm: bool) -> None:
            if warm:
                self.host.card.reset()
            else:
                self.host.power_cycle()
            self.verified = False
            assert self.host.sw(SELECT_SSSE) == self.expect(OK)

        # --- permanent blocks (rare: one draw in eight goes ahead) -------------------------------
        @rule(go=st.integers(0, 7), good_mac=st.booleans())
        def application_block(self, go: int, good_mac: bool) -> None:
            if go or not self.live:
                return
            sw = self.host.protected(0x84, 0x1E, 0x00, 0x01, good=good_mac)
            assert sw == (OK if good_mac else "9302")
            self.app_blocked = good_mac

        @rule(go=st.integers(0, 7), good_mac=st.booleans())
        def card_block(self, go: int, good_mac: bool) -> None:
            if go or not self.live:
                return
            assert self.host.ext_auth(KeyId.BK) == OK
            sw = self.host.protected(0x84, 0x16, 0x00, 0x00, good=good_mac)
            assert sw == (OK if good_mac else "9302")
            self.card_blocked = good_mac

        # --- the card agrees with the model after every step -------------------------------------
        @invariant()
        def persistent_state(self) -> None:
            secrets = self.host.tc.secrets
            assert secrets.pin is not None
            assert secrets.pin.tries_left == self.tries
            assert secrets.pin.value == encode_pin(self.pin)
            assert secrets.blocked == self.app_blocked
            assert self.host.card.life.card_blocked == self.card_blocked

        @invariant()
        def security_state(self) -> None:
            assert self.host.card.security.pin_verified == self.verified

    SsseModel.__name__ = SsseModel.__qualname__ = f"SsseModel_{profile_name.replace('-', '_')}"
    return SsseModel


_SETTINGS = settings(max_examples=50, stateful_step_count=30, deadline=None)
TestSsseSm4 = machine("ssc3-sm4").TestCase
TestSsseSm4.settings = _SETTINGS
TestSsse3Des = machine("ssc2-3des").TestCase
TestSsse3Des.settings = _SETTINGS
