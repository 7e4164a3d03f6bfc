"""The two zones of one card do not touch each other: the SSSE (factory sample card) and the
financial zone (PBOC sample) have separate PINs, try counters, block flags and security
states (pboc.md §3.2 [P11]: independent keys and separate PINs)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from cardsim.factory import personalized_sample_card
from cardsim.pboc import PbocApplication
from cardsim.pboc.section import find_pboc
from cardsim.ssse_app import SsseApplication
from cardspec.profile import Profile
from pboc_support import AID, IMKS, PURCHASE, Terminal, gac_fields

SELECT_SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"
SSSE_PIN = "0020000003123456"
FINANCIAL_PIN = "888888"
GPO_DC = "80A800000B8309" + "00" * 9 + "00"


@pytest.fixture
def dual() -> tuple[Terminal, SsseApplication, PbocApplication]:
    profile = Profile.load("ssc3-sm4")
    # the factory's sample card holds both zones; give the financial PIN its own value
    card = personalized_sample_card(replace(profile, pboc=replace(profile.pboc, default_pin=FINANCIAL_PIN)))
    app = find_pboc(card)
    assert app is not None
    card.power_on()
    ssse = card.mf.child(0xDDF1).application  # type: ignore[union-attr]
    assert isinstance(ssse, SsseApplication)
    return Terminal(card), ssse, app


def financial_transaction(t: Terminal) -> int:
    assert t.send(f"00A4040008{AID}00")[1] == 0x9000
    t.ok(GPO_DC)
    return gac_fields(t.gac(0x80, bytes.fromhex("9F02069F03069F1A0295055F2A029A039F21039C019F37049F4E14"),
                            PURCHASE)[0])[0]


def test_ssse_pin_lockout_leaves_the_financial_pin(dual):
    t, ssse, app = dual
    t.ok(SELECT_SSSE)
    answers = [t.send("0020000003654321")[1] for _ in range(ssse.secrets.pin.max_tries)]
    assert answers[-1] == 0x63C0 and t.send(SSSE_PIN)[1] == 0x6983
    assert t.send(f"00A4040008{AID}00")[1] == 0x9000
    assert t.verify(FINANCIAL_PIN) == 0x9000
    assert app.state.pin.tries_left == 3
    assert financial_transaction(t) == 0x80
    t.ok(SELECT_SSSE)
    assert t.send(SSSE_PIN)[1] == 0x6983  # the financial VERIFY unblocked nothing


def test_financial_pin_lockout_leaves_the_ssse_pin(dual):
    t, ssse, app = dual
    t.send(f"00A4040008{AID}00")
    assert [t.verify("000000") for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
    t.ok(SELECT_SSSE)
    assert t.send(SSSE_PIN)[1] == 0x9000
    assert ssse.secrets.pin.tries_left == ssse.secrets.pin.max_tries
    t.send(f"00A4040008{AID}00")
    assert t.verify(FINANCIAL_PIN) == 0x6983


def test_verified_states_do_not_cross(dual):
    t, _, _ = dual
    t.ok(SELECT_SSSE)
    t.ok(SSSE_PIN)
    assert t.send("0020000000")[1] == 0x9000  # the SSSE PIN counts as verified
    t.send(f"00A4040008{AID}00")
    assert t.send("0020008000")[1] == 0x63C3  # not for the financial PIN
    assert t.verify(FINANCIAL_PIN) == 0x9000
    t.ok(SELECT_SSSE)
    assert t.send("0020000000")[1] >> 4 == 0x63C  # and not the other way round


def test_blocked_applications_stay_in_their_zone(dual):
    t, ssse, app = dual
    ssse.secrets.blocked = True
    assert t.send(SELECT_SSSE)[1] == 0x9303
    assert financial_transaction(t) == 0x80
    ssse.secrets.blocked = False
    app.state.secrets.blocked = True
    assert t.send(f"00A4040008{AID}00")[1] == 0x6283
    assert t.send(SELECT_SSSE)[1] == 0x9000
    assert t.send(SSSE_PIN)[1] == 0x9000
