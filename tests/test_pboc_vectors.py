"""The published PBOC vectors (pboc.md §4.3) through the card's own command path.

Vector A [P1]: a card personalized with UDK-AC 0D2E…9679 and AIP 7C00 (DGIs 8000, 9104);
the ATC stands at 000D so that GPO makes it 000E. CVR 03A4B904: A4 = ARQC with the
offline PIN verified in this transaction (the test VERIFYs); B9 04 is the history the
vector's card carried in — last online transaction not completed, velocity exceeded,
issuer authentication failed last time, SDA and DDA failed on an offline decline — which
the test presets as the card's persistent history (``PbocState.history = A904``); the
"new card" bit (10) is live: the last online ATC is 0.

Vector B [P2]: a card built from the test IMK-AC with PAN 6228000100001 / PSN 01 (the
UDK is derived on the card's personalization path) reaches CVR 03A04002 naturally: an
earlier online transaction sets the last online ATC (not a new card), three wrong
VERIFYs block the PIN (40), INTERNAL AUTHENTICATE's hook records DDA performed (02). Only
the ATC is preset (023F, so that GPO makes it 0240).
"""
from __future__ import annotations

import pytest

from cardspec.crypto.emv import arpc_method1, pboc_session_key
from cardspec.pboc import DEFAULTS, Dgi, PbocHolder
from pboc_support import AID, PSE, PURCHASE, Terminal, afl_of, gac_fields, sample_card

H = bytes.fromhex
UDK_A = H("0D2E3CB0BC1F9E03AED58F663A2F9679")
VECTOR_A = {0x9F02: H("000000001234"), 0x9F03: H("000000000034"), 0x9F1A: H("0156"), 0x95: H("D86004A800"),
            0x5F2A: H("0156"), 0x9A: H("120516"), 0x9C: H("01"), 0x9F37: H("01010101")}
VECTOR_B = {0x9F02: H("000000000001"), 0x9F03: bytes(6), 0x9F1A: H("0156"), 0x95: H("0080046000"),
            0x5F2A: H("0156"), 0x9A: H("140701"), 0x9C: H("00"), 0x9F37: H("1E78EEBC")}
CDOL1 = DEFAULTS.cdol1


def test_vector_a_terminal_data_is_the_published_ac_input():
    from cardspec.crypto.emv import AC_TAGS

    assert b"".join(VECTOR_A[t] for t in AC_TAGS).hex().upper() == \
        "0000000012340000000000340156D86004A80001561205160101010101"


def test_vector_a_arqc_through_the_card():
    card, app, _ = sample_card(aip=H("7C00"))
    app.store_dgi(Dgi.UDKS, UDK_A + bytes(range(16)) + bytes(range(16, 32)))  # the vector's UDK-AC
    app.store_dgi(Dgi.IAD, H("9F1008" "0702010300000001"))  # DKI 02, as the vector's IAD
    app.state.atc = 0x000D
    app.state.history = H("A904")
    t = Terminal(card)
    t.ok(f"00A40400{len(AID) // 2:02X}{AID}00")
    gpo = t.ok("80A800000B8309" + "00" + "000000001234" + "0156" + "00")
    assert gpo.hex().upper() == "800A7C000801020018010201"
    assert t.verify("123456") == 0x9000
    response, sw = t.gac(0x80, CDOL1, {**VECTOR_A, 0x9F21: H("101010"), 0x9F4E: b"MERCHANT"})
    assert sw == 0x9000
    # [P1]: 80 1E 80 000E F294D7022FA9B058 07 02 01 03A4B904 01 ‖ EC IDD (not on this D/C card)
    assert response.hex().upper() == "801380000EF294D7022FA9B058" "0702010" "3A4B90401"
    # the issuer's ARPC for ARC "00" (pboc.md §4.3, our computation) is accepted
    arpc = arpc_method1(pboc_session_key(UDK_A, H("000E")), H("F294D7022FA9B058"), b"00")
    assert arpc.hex().upper() == "3846EEB4C8D34271"
    assert t.send("008200000A" + arpc.hex() + "3030")[1] == 0x9000
    assert app.state.last_online_atc == 0x000E


def _online_transaction(t: Terminal, cdol1: bytes, cdol2: bytes, udk_ac: bytes) -> None:
    """SELECT, GPO, GAC1 ARQC, EXTERNAL AUTHENTICATE (ARC 00), GAC2 TC."""
    assert t.select(AID)[1] == 0x9000
    t.ok("80A800000B8309" + "00" * 9 + "00")
    cid, atc, arqc, _ = gac_fields(t.gac(0x80, cdol1, PURCHASE)[0])
    arpc = arpc_method1(pboc_session_key(udk_ac, atc), arqc, b"00")
    assert t.send("008200000A" + arpc.hex() + "3030")[1] == 0x9000
    cid2 = gac_fields(t.gac(0x40, cdol2, {**PURCHASE, 0x8A: b"00"})[0])[0]
    assert (cid, cid2) == (0x80, 0x40)


def test_vector_b_arqc_and_arpc_through_the_card():
    holder = PbocHolder(pan="6228000100001", expiry="251231", name="LI/SI", id_number="110101199001011234")
    card, app, _ = sample_card("ssc2-3des", holder=holder)
    udk_ac = app.state.udk(1)
    assert udk_ac.hex().upper() == "014C986ECD8F49157CC8B59E3BCDFD98"  # pboc.md §4.3
    t = Terminal(card)
    _online_transaction(t, CDOL1, DEFAULTS.cdol2, udk_ac)
    assert app.state.last_online_atc == 1 and app.state.history == bytes(2)
    card.reset()
    assert t.select(AID)[1] == 0x9000
    assert [t.verify("000000") for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
    card.reset()
    app.state.atc = 0x023F
    t.ok(f"00A40400{len(PSE) // 2:02X}{PSE}00")
    assert t.select(AID)[1] == 0x9000
    gpo = t.ok("80A800000B8309" + "00" + "000000000001" + "0156" + "00")
    t.records(afl_of(gpo))
    app.note_dda()  # what INTERNAL AUTHENTICATE does
    response, sw = t.gac(0x80, CDOL1, {**VECTOR_B, 0x9F21: H("120000")})
    assert sw == 0x9000
    assert response.hex().upper() == "80138002405D016C91005E7CC2" "07010103A0400201"
    assert t.send("008200000A" "21415243527CE78F" "3031")[1] == 0x9000  # ARC "01"
    assert app.state.last_online_atc == 0x0240


@pytest.mark.parametrize("arpc", ["21415243527CE78E", "3846EEB4C8D34271"])
def test_vector_b_wrong_arpc_is_6300_and_recorded(arpc):
    holder = PbocHolder(pan="6228000100001", expiry="251231", name="LI/SI", id_number="110101199001011234")
    card, app, _ = sample_card("ssc2-3des", holder=holder)
    app.state.atc = 0x023F
    app.state.last_online_atc = 0x0100
    t = Terminal(card)
    t.select(AID)
    t.ok("80A800000B8309" + "00" * 9 + "00")
    t.gac(0x80, CDOL1, VECTOR_B)
    assert t.send("008200000A" + arpc + "3031")[1] == 0x6300
    assert app.state.last_online_atc == 0x0100
    assert app.state.history[0] & 0x08  # "issuer authentication failed on the last online transaction"
    assert t.send("008200000A21415243527CE78F3031")[1] == 0x6985  # once per transaction
    _, _, _, iad = gac_fields(t.gac(0x40, DEFAULTS.cdol2, {**VECTOR_B, 0x8A: b"01"})[0])
    assert iad[3:7].hex().upper() == "03280000"  # GAC2 AAC, GAC1 ARQC, issuer authentication failed
    assert app.state.history == H("0800")  # what the next transaction reports in CVR byte 3

