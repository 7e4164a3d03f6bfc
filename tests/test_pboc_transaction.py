"""The debit application as a terminal sees it: a full online transaction verified from the
issuer's side, and every command's status words (selection, GPO, records, GET DATA,
VERIFY, GENERATE AC, EXTERNAL AUTHENTICATE, the log)."""
from __future__ import annotations

import pytest
from pyemv import ac as pyemv_ac
from pyemv import kd as pyemv_kd
from pyemv import tools as pyemv_tools

from apdu.dol import build_dol_data, split_dol_data
from apdu.tlv import find, parse_one
from cardsim.store import PowerLost
from cardsim.store import RecordingStore
from cardspec.crypto.emv import (ac_input, arpc_method1, cvr_from_iad, derive_udk_option_a, generate_ac,
                                 pboc_session_key)
from cardspec.pboc import DEFAULTS, Cvr, AcType
from pboc_support import AID, IMKS, PSE, PURCHASE, Terminal, afl_of, gac_fields, sample_card

H = bytes.fromhex
PDOL = DEFAULTS.pdol
GPO_DC = "80A800000B8309" + "00" + "000000001234" + "0156" + "00"


def selected(**policy: object) -> tuple[Terminal, object, RecordingStore]:
    card, app, store = sample_card(**policy)
    t = Terminal(card)
    assert t.select(AID)[1] == 0x9000
    return t, app, store


# --- a whole transaction, checked by the issuer -------------------------------------------------

def test_online_transaction_verified_by_the_issuer():
    card, app, _ = sample_card()
    t = Terminal(card)
    fci = t.ok(f"00A40400{len(PSE) // 2:02X}{PSE}00")
    sfi = find(fci, 0x88).value[0]
    directory = t.ok(bytes((0x00, 0xB2, 1, sfi << 3 | 4, 0x00)))
    assert t.send(bytes((0x00, 0xB2, 2, sfi << 3 | 4, 0x00)))[1] == 0x6A83
    aid = find(directory, 0x4F).value
    adf_fci = t.ok(b"\x00\xA4\x04\x00" + bytes((len(aid),)) + aid + b"\x00")
    pdol = find(adf_fci, 0x9F38).value
    gpo = t.gpo({0x9F7A: b"\x00", 0x9F02: PURCHASE[0x9F02], 0x5F2A: PURCHASE[0x5F2A]}, pdol)
    assert gpo[1] == 0x9000
    data = t.records(afl_of(gpo[0]))
    assert t.verify("123456") == 0x9000
    arqc_response = t.gac(0x80, data[0x8C], PURCHASE)[0]
    cid, atc, arqc, iad = gac_fields(arqc_response)
    assert (cid, atc) == (0x80, b"\x00\x01")
    # issuer side: UDK from the IMK and the PAN/PSN the card shows, both implementations
    pan, psn = data[0x5A].hex().upper().rstrip("F"), data[0x5F34].hex()
    udk = derive_udk_option_a(IMKS["imk_ac"], pan, psn)
    assert udk == pyemv_kd.derive_icc_mk_a(IMKS["imk_ac"], pan, psn)
    sk = pboc_session_key(udk, atc)
    atc_xor = bytes(b ^ 0xFF for b in atc)
    assert sk == pyemv_tools.encrypt_tdes_ecb(udk, bytes(6) + atc + bytes(6) + atc_xor)  # pboc.md §4.2 step 2
    values = split_dol_data(data[0x8C], build_dol_data(data[0x8C], PURCHASE))
    mac_input = ac_input(values, gpo[0][2:4], atc, cvr_from_iad(iad))
    assert arqc == generate_ac(sk, mac_input) == pyemv_ac.generate_ac(sk, mac_input)
    assert Cvr.parse(cvr_from_iad(iad)).gac1 is AcType.ARQC
    arpc = arpc_method1(sk, arqc, b"00")
    assert arpc == pyemv_ac.generate_arpc_1(sk, arqc, b"00")
    assert t.send("008200000A" + arpc.hex() + "3030")[1] == 0x9000
    tc_response = t.gac(0x40, data[0x8D], {**PURCHASE, 0x8A: b"00"})[0]
    cid, atc2, tc, iad2 = gac_fields(tc_response)
    assert (cid, atc2) == (0x40, atc)
    values2 = split_dol_data(data[0x8D], build_dol_data(data[0x8D], {**PURCHASE, 0x8A: b"00"}))
    assert tc == pyemv_ac.generate_ac(sk, ac_input(values2, gpo[0][2:4], atc, cvr_from_iad(iad2)))
    assert cvr_from_iad(iad2).hex().upper() == "0364" "10" "00"  # TC, ARQC, PIN performed; new card
    assert app.state.last_online_atc == 1 and app.state.history == bytes(2)
    assert t.send("80AE40001D" + "00" * 0x1D + "00")[1] == 0x6985  # a third GENERATE AC


def test_gpo_format_2():
    t, _, _ = selected(gpo_format=2)
    assert t.ok(GPO_DC).hex().upper() == "770E82027D00940808010200" "18010201"


def test_gpo_ppse_and_ec_profile():
    card, app, _ = sample_card(ppse=True, ec=True, version="3.0")
    t = Terminal(card)
    fci = t.ok("00A404000E325041592E5359532E444446303100")
    assert fci.hex().upper() == ("6F30840E325041592E5359532E4444463031" "A51E" "BF0C1B" "6119"
                                 "4F08A000000333010101" "500A50424F43204445424954" "870101")
    t.select(AID)
    assert t.ok("80CA9F7900").hex().upper() == "9F7906000000100000"
    assert find(t.select(AID)[0], 0xDF4D).value == H("0C0A")


def test_ppse_absent_by_default_and_ec_tags_hidden():
    t, _, _ = selected()
    assert t.send("80CA9F7900")[1] == 0x6A88
    assert t.select("325041592E5359532E4444463031")[1] == 0x6A82


# --- GET PROCESSING OPTIONS ------------------------------------------------------------------

@pytest.mark.parametrize("apdu, sw", [
    ("80A8000002830000", 0x9000),  # python-emv's bare 8300: a D/C transaction
    ("80A800000A8308" + "00" * 8 + "00", 0x6700),  # 8 bytes for a 9-byte PDOL
    ("80A800000B8409" + "00" * 9 + "00", 0x6A80),  # not the command template 83
    ("80A800000B830A" + "00" * 9 + "00", 0x6700),  # 83 says 10 bytes, 9 follow
    ("80A8000000", 0x6700),  # no data at all
    ("80A801000B8309" + "00" * 9 + "00", 0x6A86),
    ("00A800000B8309" + "00" * 9 + "00", 0x6E00),
])
def test_gpo_status_words(apdu, sw):
    t, app, _ = selected()
    assert t.send(apdu)[1] == sw
    assert app.state.atc == (1 if sw == 0x9000 else 0)


def test_gpo_strict_profile_refuses_the_bare_8300():
    t, app, _ = selected(accept_bare_8300=False)
    assert t.send("80A8000002830000")[1] == 0x6700
    assert t.ok(GPO_DC)[:4].hex().upper() == "800A7D00"


def test_gpo_sequence_and_atc():
    t, app, store = selected()
    assert t.send("80AE80003500" + "00" * 0x34 + "00")[1] == 0x6985  # GENERATE AC before GPO
    t.ok(GPO_DC)
    assert store.reasons[-1] == "GET PROCESSING OPTIONS: ATC 0001"
    assert t.send(GPO_DC)[1] == 0x6985  # GPO twice
    t.select(AID)  # a new selection starts a new transaction
    t.ok(GPO_DC)
    assert t.ok("80CA9F3600").hex().upper() == "9F36020002"
    app.state.atc = 0xFFFF
    t.select(AID)
    assert t.send(GPO_DC)[1] == 0x6985  # the ATC cannot wrap
    assert app.state.atc == 0xFFFF


def test_any_selection_of_the_adf_starts_afresh_and_ef_selection_does_not():
    t, app, _ = selected()
    t.ok(GPO_DC)
    assert t.send("00A4020C02EF01")[1] == 0x9000  # an EF of the ADF: same transaction
    assert t.send(GPO_DC)[1] == 0x6985
    fci = t.ok("00A4080004DDF2ADF100")  # the ADF by path: a new transaction
    assert find(fci, 0x84).value == H(AID)
    t.ok(GPO_DC)
    t.ok(f"00A40400{len(PSE) // 2:02X}{PSE}00")
    assert t.send(GPO_DC)[1] == 0x6D00  # GPO belongs to the ADF only
    assert app.state.atc == 2


def test_cvr_reports_offline_pin_failed_and_limit_exceeded():
    t, _, _ = selected()
    assert [t.verify("000000") for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
    t.ok(GPO_DC)
    iad = gac_fields(t.gac(0x80, DEFAULTS.cdol1, PURCHASE)[0])[3]
    assert cvr_from_iad(iad).hex().upper() == "03A6" "50" "00"  # performed + failed; limit exceeded, new card


def test_atc_is_durable_before_the_answer():
    card, app, store = sample_card()
    t = Terminal(card)
    t.select(AID)

    def cut(reason: str) -> None:
        raise PowerLost(reason)

    store.commit = cut  # type: ignore[method-assign]
    with pytest.raises(PowerLost):
        card.transmit(H(GPO_DC))
    assert app.state.atc == 1 and not card.powered


def test_gpo_before_personalization_is_refused():
    t, app, _ = selected()
    app.state.secrets.keys.clear()
    assert t.send(GPO_DC)[1] == 0x6985


# --- READ RECORD and GET DATA ------------------------------------------------------------------

def test_records_are_readable_before_gpo():
    t, _, _ = selected()
    assert t.ok("00B2010C00")[:2] == H("7019")
    assert t.send("00B2030C00")[1] == 0x6A83
    assert t.send("00B2011400")[1] == 0x6A82  # SFI 2: no ODA data on this card
    assert t.send("00B2015C00")[1] == 0x6A83  # the log exists but is empty
    assert t.send("00B2010C05")[1] == 0x6C1B  # records are never cut


def test_strict6c_profile_answers_6cxx_to_le_00():
    card, _, _ = sample_card()
    card.settings = type(card.settings)(t0_get_response=True, le_mode="strict6c")
    t = Terminal(card)
    t.select(AID)
    assert t.send("00B2010C00")[1] == 0x6C1B
    assert t.ok("00B2010C1B")[:2] == H("7019")


@pytest.mark.parametrize("apdu, answer", [
    ("80CA9F3600", "9F36020000"), ("80CA9F1300", "9F13020000"), ("80CA9F1700", "9F170103"),
    ("80CA9F4F00", "9F4F19" + DEFAULTS.log_format.hex().upper()), ("80CA9F36", "9F36020000"),
])
def test_get_data(apdu, answer):
    t, _, _ = selected()
    assert t.ok(apdu).hex().upper() == answer


@pytest.mark.parametrize("apdu, sw", [("80CA9F5200", 0x6A88), ("80CA5A00", 0x6A88), ("00CA9F3600", 0x6E00),
                                      ("80CA9F3602", 0x6C05)])
def test_get_data_errors(apdu, sw):
    t, _, _ = selected()
    assert t.send(apdu)[1] == sw


# --- VERIFY -------------------------------------------------------------------------------------

def test_verify_counts_down_blocks_and_resets():
    t, app, store = selected()
    assert t.send("0020008000")[1] == 0x63C3
    assert [t.verify("000000") for _ in range(2)] == [0x63C2, 0x63C1]
    assert t.verify("123456") == 0x9000 and app.state.pin.tries_left == 3
    assert t.send("0020008000")[1] == 0x9000  # verified in this selection
    assert store.reasons[-2:] == ["VERIFY: PIN try counter decremented before the comparison",
                                  "VERIFY: PIN correct, try counter reset"]
    assert [t.verify("999999") for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
    assert t.verify("123456") == 0x6983 and t.send("0020008000")[1] == 0x6983
    assert t.ok("80CA9F1700").hex().upper() == "9F170100"


@pytest.mark.parametrize("apdu, sw", [
    ("00200080083612FFFFFFFFFFFF", 0x6A80),  # control nibble 3: not format 2
    ("0020008007261234FFFFFFFF", 0x6700),
    ("0020008808241234FFFFFFFFFF", 0x6A86),  # enciphered PIN: not on this card
    ("8020008008241234FFFFFFFFFF", 0x6E00),
])
def test_verify_errors_leave_the_counter(apdu, sw):
    t, app, _ = selected()
    assert t.send(apdu)[1] == sw
    assert app.state.pin.tries_left == 3


def test_verify_anti_tearing_keeps_the_decrement():
    card, app, store = sample_card()
    t = Terminal(card)
    t.select(AID)
    store.commit = lambda reason: (_ for _ in ()).throw(PowerLost(reason))  # type: ignore[method-assign]
    with pytest.raises(PowerLost):
        card.transmit(H("0020008008" "26123456FFFFFFFF"))  # even the right PIN
    assert app.state.pin.tries_left == 2


# --- GENERATE AC decisions and the log --------------------------------------------------------------

def test_first_gac_tc_request_goes_online_and_aac_ends():
    t, app, _ = selected()
    t.ok(GPO_DC)
    assert gac_fields(t.gac(0x40, DEFAULTS.cdol1, PURCHASE)[0])[0] == 0x80
    t.select(AID)
    t.ok(GPO_DC)
    cid, atc, _, iad = gac_fields(t.gac(0x00, DEFAULTS.cdol1, {**PURCHASE, 0x95: H("4800000000")})[0])
    # 80: GAC1 AAC, no GAC2; 90: the abandoned online transaction of ATC 1, new card
    assert cid == 0x00 and cvr_from_iad(iad).hex().upper() == "03809000"
    assert t.send("80AE00001F" + "00" * 0x1F + "00")[1] == 0x6985
    assert app.state.history == H("8104")  # still pending; SDA and DDA failed on an offline decline
    assert app.state.log[0][-2:] == atc  # AAC logged; the unfinished ARQC of ATC 1 is not


@pytest.mark.parametrize("p1, sw", [(0xC0, 0x6A86), (0x81, 0x6A86), (0x90, 0x9000)])
def test_gac_p1(p1, sw):
    t, _, _ = selected()
    t.ok(GPO_DC)
    assert t.gac(p1, DEFAULTS.cdol1, PURCHASE)[1] == sw


def test_gac_wrong_cdol_length_and_second_arqc():
    t, _, _ = selected()
    t.ok(GPO_DC)
    assert t.send("80AE80000400000000" + "00")[1] == 0x6700
    t.gac(0x80, DEFAULTS.cdol1, PURCHASE)
    assert t.gac(0x80, DEFAULTS.cdol2, PURCHASE)[1] == 0x6A86


@pytest.mark.parametrize("arc, auth, expected_cid, cvr, history", [
    (b"00", False, 0x00, "0320" "10" "00", 0x04),  # issuer authentication required (9F56 80), not done
    (b"Z3", False, 0x00, "0321" "10" "00", 0x00),  # the terminal could not go online
    (b"00", True, 0x40, "0360" "10" "00", 0x00),
])
def test_second_gac_decisions(arc, auth, expected_cid, cvr, history):
    t, app, _ = selected()
    t.ok(GPO_DC)
    _, atc, arqc, _ = gac_fields(t.gac(0x80, DEFAULTS.cdol1, PURCHASE)[0])
    if auth:
        sk = pboc_session_key(app.state.udk(1), atc)
        t.ok("008200000A" + arpc_method1(sk, arqc, arc).hex() + arc.hex())
    cid, _, _, iad = gac_fields(t.gac(0x40, DEFAULTS.cdol2, {**PURCHASE, 0x8A: arc})[0])
    assert cid == expected_cid
    assert cvr_from_iad(iad).hex().upper() == cvr
    assert app.state.history[0] == history  # 04 next time: "issuer authentication not performed"


def test_log_records_in_the_9f4f_format_newest_first():
    t, app, _ = selected()
    for amount in range(1, 13):
        t.select(AID)
        t.ok(GPO_DC)
        t.gac(0x00, DEFAULTS.cdol1, {**PURCHASE, 0x9F02: amount.to_bytes(6, "big")})
    records = [t.ok(bytes((0x00, 0xB2, n, 0x5C, 0x00))) for n in range(1, 11)]
    assert t.send("00B20B5C00")[1] == 0x6A83  # ten records kept
    fields = split_dol_data(DEFAULTS.log_format, records[0])
    assert fields[0x9F02] == (12).to_bytes(6, "big") and fields[0x9F36] == H("000C")
    assert fields[0x9F4E] == PURCHASE[0x9F4E] and fields[0x9A] == PURCHASE[0x9A]
    assert split_dol_data(DEFAULTS.log_format, records[-1])[0x9F36] == H("0003")


# --- blocked application -------------------------------------------------------------------------

def test_blocked_application_selects_with_6283_and_starts_nothing():
    card, app, _ = sample_card()
    app.state.secrets.blocked = True
    t = Terminal(card)
    fci, sw = t.select(AID)
    assert sw == 0x6283 and parse_one(fci, tag=0x6F)
    assert t.send(GPO_DC)[1] == 0x6985
    assert t.ok("00B2010C00")[:1] == b"\x70"  # data stay readable
