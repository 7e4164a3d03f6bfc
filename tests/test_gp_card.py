"""The issuer security domain: SCP02 session set-up and C-MAC enforcement, card against host
(cardsim.gp.domain ↔ personalize.scp02_host through VirtualTransport and Channel)."""
from __future__ import annotations

import pytest

from apdu.tlv import build_ber
from cardsim.gp import AppLifecycle, GpState, SecurityDomain, find_isd, kdd_of
from cardsim.imagecodec import card_from_dict, card_to_dict
from cardspec.crypto.scp02 import (I15, ZERO_ICV, InitUpdateResponse, SessionKeys, host_cryptogram, next_icv,
                                   wrap_command)
from cardspec.profile import Profile
from gp_support import ISD_AID, Bureau, bureau, kmc_keys
from personalize.scp02_host import Scp02Error, Scp02Session

H = bytes.fromhex
OTHER_KMC = H("505152535455565758595A5B5C5D5E5F")
PSE = b"1PAY.SYS.DDF01"


def _install(b: Bureau, session: Scp02Session, name: bytes = PSE) -> int:
    data = b"\x00\x00" + bytes((len(name),)) + name + bytes(3)
    return session.send(bytes((0x80, 0xE6, 0x20, 0x00, len(data))) + data + b"\x00").sw


def _initialize_update(b: Bureau, host_challenge: bytes = bytes(range(8))) -> tuple[InitUpdateResponse, SessionKeys]:
    """INITIALIZE UPDATE by hand; the session keys the right KMC gives."""
    b.select_isd()
    r = b.transmit(b"\x80\x50\x00\x00\x08" + host_challenge + b"\x00")
    assert r.sw == 0x9000
    iu = InitUpdateResponse.parse(r.data)
    return iu, SessionKeys.derive(*kmc_keys()(iu.kdd), iu.sequence_counter)


def test_isd_is_selected_by_the_gp_default_aid():
    b = bureau()
    r = b.transmit(b"\x00\xA4\x04\x00\x08" + ISD_AID + b"\x00")
    assert (r.data.hex().upper(), r.sw) == ("6F108408A000000003000000A5049F6501FF", 0x9000)


def test_published_scp02_vector_through_card_and_host():
    """osmocom/pysim test_globalplatform.py: static keys 10..0F/10 11..0F/10 21..0F, counter 0001,
    host challenge 40A62C37FA6304F8, card challenge 6B4524ABEE7C."""
    b = bureau()
    state = GpState(ISD_AID, bytes(10), 0x70, H("100102030405060708090A0B0C0D0E0F"),
                    H("101102030405060708090A0B0C0D0E0F"), H("102102030405060708090A0B0C0D0E0F"), counter=1)
    isd = find_isd(b.card)
    assert isd is not None
    isd.state, isd.random = state, lambda n: H("6B4524ABEE7C")
    b.select_isd()
    keys = (state.enc, state.mac, state.dek)
    session = Scp02Session(b.channel.transmit, keys, key_version=0x70)
    card = session.open(H("40A62C37FA6304F8"))
    iu, ea = b.sent[-3], b.sent[-1]  # IU, its GET RESPONSE (a T=0 profile), EA
    assert iu.hex().upper() == "805070000840A62C37FA6304F800"
    assert card.to_bytes().hex().upper() == "00000000000000000000700200016B4524ABEE7CF32EA3838BC148F3"
    assert ea.hex().upper() == "8482010010BA6961667737C5BCEBECE14C7D6A4376"
    assert session.send(H("80F22002")).sw == 0x6D00  # GET STATUS: not an ISD command here
    assert b.sent[-1].hex().upper() == "84F220020814DB34FA4341DCA8"
    assert state.counter == 2


def test_session_counts_up_durably():
    b = bureau()
    isd = find_isd(b.card)
    assert isd is not None
    first = b.session().card
    assert first is not None and first.kdd == kdd_of(Profile.load("ssc2-3des").atr)
    assert (first.kvn, first.sequence_counter) == (0x01, H("0000"))
    assert "EXTERNAL AUTHENTICATE: SCP02 sequence counter 0001" in b.store.reasons
    second = b.session().card
    assert second is not None and second.sequence_counter == H("0001") and isd.state.counter == 2


def test_wrong_kmc_is_caught_before_external_authenticate():
    b = bureau()
    b.select_isd()
    session = Scp02Session(b.channel.transmit, kmc_keys(OTHER_KMC))
    with pytest.raises(Scp02Error, match=r"^card cryptogram mismatch: wrong KMC or key version\? "
                                         r"\(KDD 00818697159900BF7C7A, key version 01, sequence counter 0000\)") as err:
        session.open()
    assert err.value.keys_rejected and not session.is_open
    assert [apdu[:2].hex().upper() for apdu in b.sent[-2:]] == ["8050", "00C0"]  # no 8482 went out
    assert find_isd(b.card).state.counter == 0  # type: ignore[union-attr]


def test_wrong_key_version_is_6a88():
    b = bureau()
    b.select_isd()
    with pytest.raises(Scp02Error, match="INITIALIZE UPDATE answered 6A88") as err:
        Scp02Session(b.channel.transmit, kmc_keys(), key_version=0x02).open()
    assert err.value.sw == 0x6A88 and err.value.keys_rejected


@pytest.mark.parametrize("apdu, sw", [
    ("8050000007" + "00" * 7, 0x6700),
    ("8050000108" + "00" * 8, 0x6A86),
    ("8450000008" + "00" * 8, 0x6E00),
])
def test_initialize_update_errors(apdu, sw):
    b = bureau()
    b.select_isd()
    assert b.transmit(apdu).sw == sw


def test_wrong_host_cryptogram_is_6300_and_ends_the_initiation():
    b = bureau()
    iu, keys = _initialize_update(b)
    wrong = host_cryptogram(keys.enc, iu.sequence_counter, iu.card_challenge, bytes(8))
    apdu, _ = wrap_command(keys.c_mac, b"\x80\x82\x01\x00\x08" + wrong, ZERO_ICV, I15)
    assert b.transmit(apdu).sw == 0x6300
    right = host_cryptogram(keys.enc, iu.sequence_counter, iu.card_challenge, bytes(range(8)))
    apdu, _ = wrap_command(keys.c_mac, b"\x80\x82\x01\x00\x08" + right, ZERO_ICV, I15)
    assert b.transmit(apdu).sw == 0x6985  # the initiation is over: INITIALIZE UPDATE again
    assert find_isd(b.card).state.counter == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("change, sw", [
    ("mac", 0x6300),  # right cryptogram, wrong C-MAC
    ("plain", 0x6982),  # class 80: no C-MAC at all
    ("level", 0x6A86),  # security level 02
    ("length", 0x6700),
])
def test_external_authenticate_errors(change, sw):
    b = bureau()
    iu, keys = _initialize_update(b)
    cryptogram = host_cryptogram(keys.enc, iu.sequence_counter, iu.card_challenge, bytes(range(8)))
    apdu = bytearray(wrap_command(keys.c_mac, b"\x80\x82\x01\x00\x08" + cryptogram, ZERO_ICV, I15)[0])
    if change == "mac":
        apdu[-1] ^= 1
    elif change == "plain":
        apdu = bytearray(b"\x80\x82\x01\x00\x08" + cryptogram)
    elif change == "level":
        apdu[2] = 0x02
    else:
        apdu = apdu[:4] + b"\x0F" + apdu[5:-1]
    assert b.transmit(bytes(apdu)).sw == sw
    assert find_isd(b.card).session is None  # type: ignore[union-attr]


def test_external_authenticate_needs_initialize_update_right_before():
    b = bureau()
    b.select_isd()
    assert b.transmit("848201001000000000000000000000000000000000").sw == 0x6985
    iu, keys = _initialize_update(b)
    assert b.transmit("80E2000003010100").sw == 0x6985  # any other command aborts the initiation
    cryptogram = host_cryptogram(keys.enc, iu.sequence_counter, iu.card_challenge, bytes(range(8)))
    apdu, _ = wrap_command(keys.c_mac, b"\x80\x82\x01\x00\x08" + cryptogram, ZERO_ICV, I15)
    assert b.transmit(apdu).sw == 0x6985


def test_commands_without_session_answer_6985():
    b = bureau()
    b.select_isd()
    assert b.transmit("80E62000" "14" "00000E" + PSE.hex() + "000000" "00").sw == 0x6985
    assert b.transmit("80E2800005" "9102020000").sw == 0x6985


def test_missing_or_wrong_c_mac_is_6982_and_closes_the_session():
    b = bureau()
    session = b.session()
    plain = "80E62000" "14" "00000E" + PSE.hex() + "000000" "00"
    assert b.transmit(plain).sw == 0x6982
    assert _install(b, session) == 0x6985  # closed: a correctly wrapped command finds no session

    armed = []

    def tamper(apdu: bytes) -> bytes:  # once armed: one bit of the C-MAC (the last data byte, before Le)
        if armed:
            apdu = apdu[:-2] + bytes((apdu[-2] ^ 0x80,)) + apdu[-1:]
        return b.channel.transmit(apdu)

    b.select_isd()
    session = Scp02Session(tamper, kmc_keys())
    session.open()
    armed.append(True)
    assert _install(b, session) == 0x6982
    assert find_isd(b.card).session is None and not session.is_open  # type: ignore[union-attr]


def test_icv_chaining_refuses_a_replayed_command():
    b = bureau()
    session = b.session()
    assert _install(b, session) == 0x9000
    replay = next(a for a in reversed(b.sent) if a[:2] == b"\x84\xE6")
    assert b.transmit(replay).sw == 0x6982


def test_reselection_ends_the_session():
    b = bureau()
    session = b.session()
    b.select_isd()
    assert _install(b, session) == 0x6985


def test_security_level_3_deciphers_commands():
    b = bureau()
    session = b.session(level=3)
    session.install_for_personalization(PSE)
    wrapped = next(a for a in reversed(b.sent) if a[:2] == b"\x84\xE6")
    assert PSE not in wrapped and wrapped[4] == 0x18 + 0x08  # 17 data bytes padded to 24, then the C-MAC
    session.store_data([(0x9102, build_ber(0xA5, H("880101")))])
    assert b.app.state.pse is not None and b.app.state.pse.fci == H("A503880101")


def test_isd_survives_the_card_image():
    b = bureau()
    b.session()
    isd = find_isd(b.card)
    assert isd is not None
    isd.state.registry[PSE] = AppLifecycle.PERSONALIZED
    image = card_to_dict(b.card)
    assert image["sections"]["gp"]["counter"] == 1
    assert "A000" not in [child["fid"] for child in image["mf"]["children"]]
    copy = card_from_dict(image)
    restored = find_isd(copy)
    assert isinstance(restored, SecurityDomain) and restored.state == isd.state
    assert restored.policy == Profile.load("ssc2-3des").gp
