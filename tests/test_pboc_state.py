"""The zone's persistent state: personalization DGI by DGI, the image round trip, and a
state machine over the transaction sequence (ATC monotonic across power cycles, at most
two GENERATE AC per transaction, blocked means blocked)."""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from cardsim import MF, CardOS
from cardsim.pboc import PbocApplication, PbocState, dump_section, is_financial, load_section
from cardspec.crypto.emv import arpc_method1, build_script_command, pboc_session_key
from cardspec.pboc import DEFAULTS, Dgi, PbocDataError
from pboc_support import AID, PSE, PURCHASE, Terminal, gac_fields, sample_card

H = bytes.fromhex
GPO_DC = "80A800000B8309" + "00" * 9 + "00"


# --- personalization -----------------------------------------------------------------------------

@pytest.mark.parametrize("dgi, data, message", [
    (0x0101, H("6103880101"), "expected tag 70, found 61"),
    (0x0104, H("7003880101"), "record 4 before record 3"),
    (0x9104, H("82027D00"), "needs exactly 82 (AIP) and 94"),
    (0x9104, H("82027D009403080102"), "tag 94 (Application File Locator (AFL)): 3 bytes, must be 4-252"),
    (0x9104, H("82027D00940508010200FF"), "needs exactly 82 (AIP) and 94 (AFL, 4-byte entries)"),
    (0x9200, H("9F10080801010300000001"), "must start with length 07"),
    (0x9000, H("000000000000000000"), "do not match the stored UDKs"),
    (0x8010, H("3412FFFFFFFFFFFF"), "control field is 3"),
    (0x9010, H("0304"), "limit (1-15) ‖ remaining"),
    (0x0D01, H("9F58020000"), "tag 9F58 (Lower Consecutive Offline Limit): 2 bytes, must be 1"),
    (0x9203, H("82027D00"), "not personalized by the debit application"),
    (0x0B01, H("7003880101"), "SFI 11 is the transaction log"),
])
def test_bad_dgis_are_refused_by_name(dgi, data, message):
    _, app, _ = sample_card()
    before = app.state.to_dict()
    with pytest.raises(PbocDataError) as caught:
        app.store_dgi(dgi, data)
    assert str(caught.value).startswith(f"DGI {dgi:04X} (") and message in str(caught.value)
    assert app.state.to_dict() == before


def test_dgi_order_and_extension_handlers():
    app = PbocApplication(PbocState(aid=H(AID)))
    with pytest.raises(PbocDataError, match="comes after DGI 8010"):
        app.store_dgi(Dgi.PIN_TRIES, H("0303"))
    with pytest.raises(PbocDataError, match="comes after DGI 8000"):
        app.store_dgi(Dgi.KCVS, bytes(9))
    seen: list[bytes] = []
    app.dgi_handlers[0x8201] = seen.append  # the ODA extension's ICC key
    app.store_dgi(0x8201, b"\x01\x02")
    assert seen == [b"\x01\x02"]


def test_log_file_appears_with_fci_and_format():
    app = PbocApplication(PbocState(aid=H(AID)))
    app.store_dgi(Dgi.FCI, H("A508BF0C059F4D020B0A"))
    assert app.log_ef is None
    app.store_dgi(Dgi.INTERNAL, H("9F4F039F3602"))
    assert app.log_ef is not None and (app.log_ef.sfi, app.log_ef.max_records, app.log_ef.record_length) == (11, 10, 2)


def test_a_log_sfi_taken_by_records_undoes_the_fci():
    app = PbocApplication(PbocState(aid=H(AID)))
    app.store_dgi(0x0B01, H("7003880101"))  # SFI 11 as a record file, before the FCI says "log"
    app.store_dgi(Dgi.INTERNAL, H("9F4F039F3602"))
    with pytest.raises(PbocDataError, match="DGI 9102 .*log SFI 11 .*already a record file"):
        app.store_dgi(Dgi.FCI, H("A508BF0C059F4D020B0A"))
    assert app.state.fci == b"" and app.log_ef is None


# --- image round trip ------------------------------------------------------------------------------

def test_image_round_trip_keeps_every_counter_and_the_log():
    card, app, _ = sample_card(ppse=True)
    t = Terminal(card)
    t.select(AID)
    t.ok(GPO_DC)
    t.gac(0x00, DEFAULTS.cdol1, PURCHASE)
    assert t.verify("000000") == 0x63C2
    data = dump_section(card)
    copy = CardOS(MF(), atr=card.atr)
    restored = load_section(copy, data)
    assert restored.state == app.state and restored.state.log == app.state.log
    assert [is_financial(df) for df in copy.mf.walk()] == [False, True, True, True]
    t2 = Terminal(copy)
    copy.power_on()
    t2.select(AID)
    assert t2.ok("00B2015C00") == app.state.log[0]
    assert t2.ok("80CA9F1700").hex().upper() == "9F170102"
    assert t2.select("325041592E5359532E4444463031")[1] == 0x9000
    with pytest.raises(PbocDataError, match="already holds"):
        load_section(copy, data)
    with pytest.raises(PbocDataError, match="unreadable"):
        load_section(CardOS(MF(), atr=card.atr), {"aid": "A0"})


# --- the transaction sequence as a state machine -------------------------------------------------

class TransactionMachine(RuleBasedStateMachine):
    """A terminal doing anything in any order; a model predicts every status word."""

    @initialize()
    def setup(self) -> None:
        self.card, self.app, _ = sample_card()
        self.t = Terminal(self.card)
        self.atc = 0
        self.tries = 3
        self.blocked = False
        self.phase = "none"  # none (ADF not current), selected, ready, online, done
        self.gacs = 0
        self.arqc: bytes | None = None
        self.auth: bool | None = None

    def _expect(self, apdu: str | bytes, sw: int) -> bytes:
        data, got = self.t.send(apdu)
        assert got == sw, f"{apdu if isinstance(apdu, str) else apdu.hex().upper()}: {got:04X}, model {sw:04X}"
        return data

    @rule()
    def power_cycle(self) -> None:
        self.card.reset()
        self.phase, self.gacs, self.arqc, self.auth = "none", 0, None, None

    @rule()
    def select_pse(self) -> None:
        self._expect(f"00A40400{len(PSE) // 2:02X}{PSE}00", 0x9000)
        self.phase, self.gacs, self.arqc, self.auth = "none", 0, None, None

    @rule()
    def select_adf(self) -> None:
        self._expect(f"00A4040008{AID}00", 0x6283 if self.blocked else 0x9000)
        self.phase, self.gacs, self.arqc, self.auth = "selected", 0, None, None

    @rule()
    def gpo(self) -> None:
        if self.phase == "none":
            self._expect(GPO_DC, 0x6D00)
        elif self.phase == "selected" and not self.blocked:
            self._expect(GPO_DC, 0x9000)
            self.atc, self.phase = self.atc + 1, "ready"
        else:
            self._expect(GPO_DC, 0x6985)

    @rule(p1=st.sampled_from([0x00, 0x40, 0x80]))
    def generate_ac(self, p1: int) -> None:
        dol = DEFAULTS.cdol2 if self.phase == "online" else DEFAULTS.cdol1
        if self.phase == "none":
            assert self.t.gac(p1, dol, PURCHASE)[1] == 0x6D00
            return
        if self.phase not in ("ready", "online"):
            assert self.t.gac(p1, dol, PURCHASE)[1] == 0x6985
            return
        if self.phase == "online" and p1 == 0x80:
            assert self.t.gac(p1, dol, PURCHASE)[1] == 0x6A86
            return
        response, sw = self.t.gac(p1, dol, {**PURCHASE, 0x8A: b"00"})
        assert sw == 0x9000
        self.gacs += 1
        assert self.gacs <= 2
        cid, atc, ac, _ = gac_fields(response)
        assert int.from_bytes(atc, "big") == self.atc
        if self.phase == "ready":
            assert cid == (0x00 if p1 == 0x00 else 0x80)
            self.phase, self.arqc = ("done", None) if cid == 0x00 else ("online", ac)
        else:
            approve = p1 == 0x40 and self.auth is True and not self.blocked
            assert cid == (0x40 if approve else 0x00)
            self.phase = "done"

    @rule(good=st.booleans())
    def external_authenticate(self, good: bool) -> None:
        arpc = bytes(8)
        if self.arqc is not None and good:
            arpc = arpc_method1(pboc_session_key(self.app.state.udk(1), self.atc.to_bytes(2, "big")), self.arqc, b"00")
        apdu = "008200000A" + arpc.hex() + "3030"
        if self.phase == "none":
            self._expect(apdu, 0x6D00)
        elif self.phase != "online" or self.auth is not None:
            self._expect(apdu, 0x6985)
        else:
            self._expect(apdu, 0x9000 if good else 0x6300)
            self.auth = good

    @rule(correct=st.booleans())
    def verify(self, correct: bool) -> None:
        if self.phase == "none":
            assert self.t.verify("123456") == 0x6D00
            return
        sw = self.t.verify("123456" if correct else "654321")
        if self.tries == 0:
            assert sw == 0x6983
        elif correct:
            assert sw == 0x9000
            self.tries = 3
        else:
            self.tries -= 1
            assert sw == 0x63C0 | self.tries

    @rule(block=st.booleans())
    def script(self, block: bool) -> None:
        header = "841E0000" if block else "84180000"
        if self.phase == "none":
            self._expect(header + "04" + "00" * 4, 0x6D00)
            return
        if self.arqc is None:
            self._expect(header + "04" + "00" * 4, 0x6985)
            return
        atc = self.atc.to_bytes(2, "big")
        sk = pboc_session_key(self.app.state.udk(2), atc)
        self._expect(build_script_command(sk, H(header), atc, self.arqc), 0x9000)
        self.blocked = block

    @invariant()
    def persistent_state_matches_the_model(self) -> None:
        state = self.app.state
        assert state.atc == self.atc  # monotonic: only GPO moves it, by one, durably
        assert state.secrets.blocked == self.blocked
        assert state.pin is not None and state.pin.tries_left == self.tries
        assert len(state.log) <= 10


TransactionMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40)
test_transaction_sequence = TransactionMachine.TestCase
