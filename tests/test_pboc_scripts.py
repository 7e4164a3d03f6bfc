"""Issuer scripts on the debit application: MACed over ATC ‖ ARQC with SK-MAC, PIN data
enciphered with SK-ENC (pboc.md §3.3); a wrong MAC changes nothing but the CVR bookkeeping."""
from __future__ import annotations

import pytest

from apdu.tlv import build_ber
from cardspec.crypto.emv import (arpc_method1, build_script_command, encipher_pin_for_script, pboc_session_key,
                                 pin_block_iso9564_format2)
from cardspec.pboc import DEFAULTS
from pboc_support import AID, PURCHASE, Terminal, gac_fields, sample_card

H = bytes.fromhex
GPO_DC = "80A800000B8309" + "00" * 9 + "00"


class Online:
    """A card in the middle of an online transaction, and the issuer's keys for it."""

    def __init__(self, **policy: object) -> None:
        self.card, self.app, self.store = sample_card(**policy)
        self.t = Terminal(self.card)
        self.start()

    def start(self) -> None:
        assert self.t.select(AID)[1] in (0x9000, 0x6283)
        self.t.ok(GPO_DC)
        _, self.atc, self.arqc, _ = gac_fields(self.t.gac(0x80, DEFAULTS.cdol1, PURCHASE)[0])
        self.sk_mac = pboc_session_key(self.app.state.udk(2), self.atc)
        self.sk_enc = pboc_session_key(self.app.state.udk(3), self.atc)

    def script(self, header: str, data: bytes = b"", *, arqc: bytes | None = None) -> int:
        command = build_script_command(self.sk_mac, H(header), self.atc, arqc or self.arqc, data)
        return self.t.send(command)[1]

    def authenticate(self) -> None:
        sk = pboc_session_key(self.app.state.udk(1), self.atc)
        self.t.ok("008200000A" + arpc_method1(sk, self.arqc, b"00").hex() + "3030")

    def finish(self, p1: int = 0x40) -> int:
        return gac_fields(self.t.gac(p1, DEFAULTS.cdol2, {**PURCHASE, 0x8A: b"00"})[0])[0]


def test_application_block_then_aac_then_6283():
    s = Online()
    s.authenticate()
    assert s.script("841E0000") == 0x9000
    assert s.app.state.secrets.blocked and s.store.reasons[-1] == "issuer script 841E0000: application blocked"
    assert s.finish() == 0x00  # a blocked application ends with an AAC
    assert s.t.select(AID)[1] == 0x6283
    assert s.t.send(GPO_DC)[1] == 0x6985


def test_block_and_unblock_in_one_transaction():
    s = Online()
    assert (s.script("841E0000"), s.script("84180000")) == (0x9000, 0x9000)
    s.authenticate()
    assert s.finish() == 0x40
    assert s.app.state.history == H("0020")  # two script commands on the last transaction


def test_wrong_mac_changes_nothing_but_the_cvr_bookkeeping():
    s = Online()
    command = bytearray(build_script_command(s.sk_mac, H("841E0000"), s.atc, s.arqc))
    command[-1] ^= 0x01
    assert s.t.send(bytes(command))[1] == 0x6988
    assert s.script("841E0000", arqc=bytes(8)) == 0x6988  # MACed over another ARQC
    assert not s.app.state.secrets.blocked
    assert s.store.reasons[-1] == "issuer script 841E0000 failed with 6988"
    s.authenticate()
    s.finish()
    assert s.app.state.history == H("0028")  # 2 commands, script processing failed
    s.t.select(AID)
    s.t.ok(GPO_DC)
    iad = gac_fields(s.t.gac(0x00, DEFAULTS.cdol1, PURCHASE)[0])[3]
    assert iad[4:7].hex().upper() == "800028"  # what the last transaction did, reported once
    assert s.app.state.history == H("0000")  # this one had no scripts


@pytest.mark.parametrize("header, data", [
    ("841E0000", b""), ("84180000", b""), ("84160000", b""), ("84240000", b""), ("84240002", bytes(16)),
    ("04DA9F79", H("000000000388")), ("04DC010C", H("7003880101")),
])
def test_every_script_command_with_a_wrong_mac_is_6988_and_changes_nothing(header, data):
    s = Online(ec=True)
    s.app.state.pin.tries_left = 1
    before = s.app.state.to_dict()
    command = bytearray(build_script_command(s.sk_mac, H(header), s.atc, s.arqc, data))
    command[-2] ^= 0x80
    assert s.t.send(bytes(command))[1] == 0x6988
    after = s.app.state.to_dict()
    assert (before.pop("history"), after.pop("history")) == ("8000", "8018")  # 1 command, failed
    assert after == before and not s.card.life.card_blocked


@pytest.mark.parametrize("apdu, sw", [
    ("801E000004" "00000000", 0x6982),  # the plain class of a script command
    ("001E000004" "00000000", 0x6E00),
    ("841E010004" "00000000", 0x6A86),
    ("841E000008" "0000000000000000", 0x6700),
])
def test_script_syntax_errors(apdu, sw):
    s = Online()
    assert s.t.send(apdu)[1] == sw
    assert not s.app.state.secrets.blocked


def test_scripts_need_an_arqc_in_this_transaction():
    card, app, _ = sample_card()
    t = Terminal(card)
    t.select(AID)
    t.ok(GPO_DC)
    assert t.send("841E000004" "00000000")[1] == 0x6985
    t.gac(0x00, DEFAULTS.cdol1, PURCHASE)  # an AAC gives no ARQC to MAC over
    assert t.send("841E000004" "00000000")[1] == 0x6985
    assert app.state.history == H("0000")


def test_scripts_after_the_second_gac():
    s = Online()
    s.authenticate()
    assert s.finish() == 0x40
    assert s.script("841E0000") == 0x9000  # template 72
    assert s.app.state.secrets.blocked


def test_card_block_silences_the_card():
    s = Online()
    assert s.script("84160000") == 0x9000
    assert s.card.life.card_blocked
    assert s.t.send("00A4040008" + AID + "00")[1] == 0x6A81
    s.card.reset()
    assert s.t.send("00A4040008" + AID + "00")[1] == 0x6A81


def test_pin_unblock_and_change():
    s = Online()
    s.app.state.pin.tries_left = 0
    assert s.script("84240000") == 0x9000
    assert s.app.state.pin.tries_left == 3
    data = encipher_pin_for_script(s.sk_enc, pin_block_iso9564_format2("8888"))
    assert s.script("84240002", data) == 0x9000
    assert s.store.reasons[-1] == "issuer script 84240002: PIN changed"
    assert s.t.verify("123456") == 0x63C2 and s.t.verify("8888") == 0x9000


def test_pin_change_with_the_masked_block():
    s = Online(pin_block_mask="udk-enc")
    udk_enc = s.app.state.udk(3)
    data = encipher_pin_for_script(s.sk_enc, pin_block_iso9564_format2("24680"), udk_for_xor=udk_enc)
    assert s.script("84240002", data) == 0x9000
    assert s.t.verify("24680") == 0x9000


@pytest.mark.parametrize("header, block", [
    ("84240002", H("1412345FFFFFFFFF")),  # not format 2: 6A80 after a good MAC
    ("84240001", pin_block_iso9564_format2("8888")),  # P2 01 (with the old PIN): not offered
])
def test_pin_change_refusals_keep_the_pin(header, block):
    s = Online()
    sw = s.script(header, encipher_pin_for_script(s.sk_enc, block))
    assert sw == (0x6A80 if header.endswith("02") else 0x6A86)
    assert s.t.verify("123456") == 0x9000


def test_put_data_electronic_cash_balance():
    s = Online(ec=True)
    assert s.script("04DA9F79", H("000000000388")) == 0x9000
    assert s.t.ok("80CA9F7900").hex().upper() == "9F7906000000000388"
    assert s.script("04DA9F79", H("0388")) == 0x6700
    assert s.script("04DA9F36", H("0001")) == 0x6A88  # the ATC is the card's own


def test_put_data_without_electronic_cash():
    s = Online()
    assert s.script("04DA9F79", H("000000000388")) == 0x6A88


def test_update_record_through_the_os():
    s = Online()
    record = build_ber(0x70, build_ber(0x5F20, b"WANG/WU") + build_ber(0x9F61, b"110101199001011234") + H("9F620100"))
    assert s.t.send(f"00DC010C{len(record):02X}" + record.hex())[1] == 0x6982  # plain: never
    assert s.script("04DC020C", record) == 0x9000
    assert s.t.ok("00B2020C00") == record
    assert s.app.state.records[1][1] == record
    assert s.script("04DC030C", record) == 0x6A83
    assert s.script("04DC0208", record) == 0x6A86  # by number only
    assert s.script("04DC025C", H("7000")) == 0x6A82  # the log is not a script target
    assert s.script("04DC020C", H("6100")) == 0x6A80
    assert s.t.send("0CDC020C05" + "7003880101")[1] == 0x6882
