"""CPS STORE DATA through the ISD: a debit application personalized only this way answers a
full transaction whose ARQC the issuer verifies from its IMK."""
from __future__ import annotations

import pytest

from apdu.redact import is_secret
from apdu.tlv import build_ber
from cardsim.gp import AppLifecycle
from cardspec.cps import DgiReader, DgiStreamError, encode_dgi
from cardspec.crypto.emv import (ac_input, arpc_method1, cvr_from_iad, derive_udk_option_a, pboc_session_key,
                                 verify_ac)
from cardspec.crypto.scp02 import encrypt_dek
from cardspec.pboc import DEFAULTS, Dgi
from gp_support import HOLDER, IMKS, PIN, Bureau, adf_dgis, bureau, debit_data, personalize
from pboc_support import AID, PSE, PURCHASE, Terminal, afl_of, gac_fields
from personalize.scp02_host import Scp02Error, Scp02Session, store_data_blocks

H = bytes.fromhex
PSE_NAME = b"1PAY.SYS.DDF01"


def _target(level: int = 1) -> tuple[Bureau, Scp02Session]:
    b = bureau()
    session = b.session(level)
    session.install_for_personalization(bytes.fromhex(AID))
    return b, session


def _store(session: Scp02Session, p1: int, p2: int, data: bytes) -> int:
    return session.send(bytes((0x80, 0xE2, p1, p2, len(data))) + data).sw


@pytest.mark.parametrize("level", [1, 3])
def test_personalized_by_store_data_answers_a_transaction(level):
    b = bureau()
    data = debit_data()
    personalize(b, data, level)
    assert b.isd.state.registry == {PSE_NAME: AppLifecycle.PERSONALIZED,
                                    bytes.fromhex(AID): AppLifecycle.PERSONALIZED}
    t = Terminal(b.card)
    assert t.ok(f"00A40400{len(PSE) // 2:02X}{PSE}00") == build_ber(0x6F, build_ber(0x84, PSE_NAME) + data.pse_fci)
    assert t.ok("00B2010C00") == data.pse_records[0]
    assert t.select(AID)[1] == 0x9000
    gpo, sw = t.gpo({0x9F7A: b"\x00", 0x9F02: PURCHASE[0x9F02], 0x5F2A: PURCHASE[0x5F2A]})
    assert sw == 0x9000
    assert gpo.hex().upper() == "800E7D00" "08010200" "10010500" "18010201"
    tags = t.records(afl_of(gpo))
    assert tags[0x5A] == H("6228000100000010") and tags[0x8C] == DEFAULTS.cdol1
    assert t.verify(PIN) == 0x9000
    response, sw = t.gac(0x80, tags[0x8C], PURCHASE)
    cid, atc, arqc, iad = gac_fields(response)
    assert (sw, cid, atc) == (0x9000, 0x80, H("0001"))
    # the issuer side: UDK from its IMK (option A), the PBOC session key, the AC over the CDOL1 values
    sk = pboc_session_key(derive_udk_option_a(IMKS["imk_ac"], HOLDER.pan, HOLDER.psn), atc)
    assert verify_ac(sk, ac_input(PURCHASE, H("7D00"), atc, cvr_from_iad(iad)), arqc)
    assert t.send("008200000A" + arpc_method1(sk, arqc, b"00").hex() + "3030")[1] == 0x9000
    assert gac_fields(t.gac(0x40, tags[0x8D], {**PURCHASE, 0x8A: b"00"})[0])[0] == 0x40  # TC


def test_store_data_is_durable_and_ends_with_the_last_block():
    b = bureau()
    personalize(b, debit_data())
    reasons = [r for r in b.store.reasons if r.startswith("STORE DATA")]
    assert reasons[0] == "STORE DATA block 00 for 315041592E5359532E4444463031: DGIs 0101 9102"
    assert reasons[-1] == "STORE DATA block 0B for A000000333010101: last block, application personalized"
    assert b.isd.target is None


def test_a_personalized_application_refuses_a_second_personalization():
    b = bureau()
    session = personalize(b, debit_data())
    with pytest.raises(Scp02Error, match=r"INSTALL \[for personalization\] A000000333010101 answered 6985"):
        session.install_for_personalization(bytes.fromhex(AID))
    b.isd.policy = type(b.isd.policy)(reissue=True)  # [gp] reissue = true
    session.install_for_personalization(bytes.fromhex(AID))
    session.store_data([(Dgi.PIN_TRIES, H("0505"))])
    assert b.app.state.pin is not None and b.app.state.pin.max_tries == 5


def test_install_names_an_application_the_card_has():
    b = bureau()
    session = b.session()
    with pytest.raises(Scp02Error, match="answered 6A88") as err:
        session.install_for_personalization(H("A000000333010102"))  # credit: not on this card
    assert err.value.sw == 0x6A88
    assert session.send(H("80E6200013" "00000E") + PSE_NAME + H("0000")).sw == 0x6A80  # token length missing
    assert session.send(H("80E60C0014" "00000E") + PSE_NAME + H("000000")).sw == 0x6A86  # INSTALL [for install]


def test_store_data_needs_a_target():
    b = bureau()
    session = b.session()
    assert _store(session, 0x80, 0x00, encode_dgi(0x9010, H("0303"))) == 0x6985


@pytest.mark.parametrize("p1, p2, data, sw", [
    (0x00, 0x01, encode_dgi(0x9010, H("0303")), 0x6A86),  # the first block is 00
    (0x20, 0x00, encode_dgi(0x9010, H("0303")), 0x6A86),  # application-dependent encryption
    (0x10, 0x00, encode_dgi(0x9010, H("0303")), 0x6A86),  # BER-TLV structure
    (0x01, 0x00, encode_dgi(0x9010, H("0303")), 0x6A86),  # RFU bit
    (0x00, 0x00, b"", 0x6700),
    (0x00, 0x00, H("9104"), 0x6A80),  # a cut header
    (0x00, 0x00, encode_dgi(0x8010, H("26123456FFFFFFFF")), 0x6A80),  # 8000-8FFF must come encrypted
    (0x60, 0x00, encode_dgi(0x8010, H("26123456FFFFFF")), 0x6A80),  # not a multiple of 8
    (0x80, 0x00, encode_dgi(0x0101, H("7003")), 0x6A80),  # a DGI cut at the last block
    (0x00, 0x00, encode_dgi(0x9104, H("8202")), 0x6A80),  # the application refuses it
])
def test_store_data_errors(p1, p2, data, sw):
    b, session = _target()
    assert _store(session, p1, p2, data) == sw
    assert b.isd.target is not None and b.isd.target.next_block == 0  # nothing moved on
    assert _store(session, 0x00, 0x00, encode_dgi(0x9102, debit_data().fci)) == 0x9000


def test_a_refused_dgi_keeps_the_ones_before_and_the_block_can_be_resent():
    b, session = _target()
    good, bad = encode_dgi(0x0101, debit_data().records[(1, 1)]), encode_dgi(0x9104, H("8202"))
    assert _store(session, 0x00, 0x00, good + bad) == 0x6A80
    assert b.app.state.records[1] == [debit_data().records[(1, 1)]]
    assert b.store.reasons[-1] == "STORE DATA block 00 for A000000333010101: DGIs 0101 before a refused one"
    assert _store(session, 0x00, 0x00, good) == 0x9000
    assert _store(session, 0x00, 0x01, good) == 0x9000


def test_encrypted_dgis_are_deciphered_with_the_session_dek():
    b, session = _target()
    udks = adf_dgis(debit_data())
    session.store_data([d for d in udks if d[0] in (Dgi.UDKS, Dgi.KCVS)], last=False)
    secret = next(a for a in b.sent if a[:4] == H("84E26000"))
    assert is_secret(secret)  # traces hide it (apdu.redact: P1 & 60 = 60)
    assert dict(udks)[Dgi.UDKS] not in secret
    assert b.app.state.keys_present
    with pytest.raises(Scp02Error, match="DGI 8000 .8000-8FFF. must be DEK-encrypted"):
        session.store_data([(Dgi.UDKS, dict(udks)[Dgi.UDKS])], encrypted=())
    with pytest.raises(Scp02Error, match="DGI 8010: DEK-encrypted data must be a positive multiple of 8"):
        session.store_data([(Dgi.PIN, H("2612345F"))])


def test_a_dgi_longer_than_a_block_continues_in_the_next():
    b, session = _target()
    record = build_ber(0x70, build_ber(0x9F4B, bytes(range(244))))  # 251 bytes, 254 with its DGI header
    dgis = [(0x0201, debit_data().records[(2, 1)]), (0x0401, record), (0x0E01, debit_data().dgis()[0x0E01])]
    assert [len(data) for _, data, _ in store_data_blocks([(d, v, False) for d, v in dgis])] == [185 + 54, 200 + 21]
    session.store_data(dgis)
    assert b.app.state.records[4] == [record]
    t = Terminal(b.card)
    assert t.select(AID)[1] == 0x9000 and t.ok("00B2012400") == record


def test_an_encrypted_dgi_may_not_continue():
    b, session = _target()
    dek = session._session.dek  # type: ignore[union-attr]
    head = encode_dgi(0x8000, encrypt_dek(dek, bytes(48)))[:27]
    assert _store(session, 0x60, 0x00, head) == 0x6A80
    with pytest.raises(Scp02Error, match="DGI 8201: 243 encrypted bytes do not fit one STORE DATA"):
        session.store_data([(0x8201, bytes(240))])


def test_dgi_reader_keeps_its_state_on_error():
    reader = DgiReader()
    assert reader.feed(H("0101 05 7003")) == []
    with pytest.raises(DgiStreamError, match="offset 3: 2 bytes left"):
        reader.feed(H("5A0112 0102"))
    assert reader.feed(H("5A0112")) == [(0x0101, H("70035A0112"))]
