"""personalize.flow: a blank simulator card personalized end to end for both profiles,
read back with the test's own terminal, compared with the factory's sample card; wrong
keys, refused cards, reissue, secrets in traces."""
from __future__ import annotations

import dataclasses
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings

from apdu.transport.virtual import VirtualTransport
from cardsim.auth import has_try_counter
from cardsim.factory import blank_card, personalized_sample_card
from cardsim.fcp import params_of
from cardsim.fs import DF, MAX_DF_NAME, MAX_TRANSPARENT_SIZE
from cardsim.gp import find_isd, kdd_of
from cardsim.image import card_to_dict
from cardsim.persistent import Lifecycle
from cardsim.preperso import MASTER_TRIES
from cardsim.runtime import CardOS
from cardspec import fcp
from cardspec.crypto.blockcipher import Algorithm
from cardspec.crypto.scp02 import SessionKeys
from cardspec.ids import SSSE_DF_NAME, DfKeyId, KeyId
from cardspec.pin import encode_pin
from cardspec.profile import Profile
from apdu.tlv import to_dict
from cardspec.records import CardIdCode, InitOrgCode
from cardspec.tree import DFSpec
from personalize.flow import (STEP_DATA, STEP_DEBIT, STEP_STATE, STEP_VERIFY, STEPS, CardState, PersoError,
                              PersoResult, personalize_card)
from personalize.keys import IssuerKeys
from personalize.mfkeys import MfKeys
from personalize.plan import MASTER_TRIES as PLAN_MASTER_TRIES
from personalize.plan import key_tries
from personalize.strategies import cardholders
from perso_support import (OTHER_ROW, VECTORS, Reader, cardholder, comparable, issuer_keys, key_hexes,
                           ssse_secrets, traced_channel)

PROFILES = ["ssc3-sm4", "ssc2-3des"]


def connect(card: CardOS):
    channel, trace = traced_channel(VirtualTransport(card))
    channel.connect()
    return channel, trace


def run(card: CardOS, profile: Profile, keys: tuple[IssuerKeys, MfKeys], holder=None,
        **kw) -> tuple[PersoResult, str]:
    """Personalize ``card``; the result and the text trace."""
    channel, trace = connect(card)
    result = personalize_card(channel, holder or cardholder(), keys[0], profile, mf_keys=keys[1], **kw)
    return result, trace.getvalue()


def failure(card: CardOS, profile: Profile, keys: tuple[IssuerKeys, MfKeys], holder=None,
            **kw) -> tuple[PersoError, str]:
    """Personalize ``card`` expecting a PersoError; the error and the text trace."""
    channel, trace = connect(card)
    with pytest.raises(PersoError) as info:
        personalize_card(channel, holder or cardholder(), keys[0], profile, mf_keys=keys[1], **kw)
    assert "\n" not in str(info.value)
    return info.value, trace.getvalue()


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> Profile:
    return Profile.load(request.param)


@pytest.fixture
def keys(tmp_path: Path, profile: Profile) -> tuple[IssuerKeys, MfKeys]:
    return issuer_keys(tmp_path, profile)


# --- a blank card, end to end ---------------------------------------------------------------
def test_blank_card_personalized_and_read_back_field_by_field(profile: Profile, keys) -> None:
    card = blank_card(profile)
    steps: list[str] = []
    result, _ = run(card, profile, keys, on_step=steps.append)
    assert steps == list(STEPS) and [s.name for s in result.steps] == list(STEPS)
    assert result.verified and not result.reissued and result.state_before is CardState.BLANK
    assert (result.card_number, result.pan) == ("K80362153", "6228000100000010")
    assert result.atr_serial == profile.atr.serial.hex().upper()
    assert result.card_id == f"511300D156000005{result.atr_serial}FFFFFFFF"
    assert card.life.phase is Lifecycle.PERSONALIZED

    card.power_off()
    channel, _ = traced_channel(VirtualTransport(card))
    channel.connect()
    reader = Reader(channel, profile)
    assert reader.select_ssse() == profile.ssse_fci()
    ef05 = reader.fields(5, [1, 2, 3, 4, 5, 6, 7], "SSSE/EF05")
    assert ef05 == {1: CardIdCode("511300", profile.atr.serial, b"\xff" * 4), 2: "3", 3: profile.card.spec_version,
                    4: InitOrgCode("511300", "511300", 1), 5: date(2024, 3, 15), 6: date(2034, 3, 15),
                    7: "K80362153"}
    if profile.card.generation == 3:  # EF06 needs RK (0A) on 3.0 cards: refused before, read after
        assert reader.sw(bytes.fromhex("00B2083000")) == 0x6982
        reader.authenticate(KeyId.RK, "rk", "511300")
    ef06 = reader.fields(6, [0x08, 0x09, 0x4E, 0x0A, 0x0B, 0x0C, 0x0D], "SSSE/EF06")
    assert ef06 == {0x08: "511302198507160027", 0x09: "王秀英", 0x4E: "", 0x0A: "2", 0x0B: "01", 0x0C: "511302",
                    0x0D: date(1985, 7, 16)}
    assert reader.sw(bytes.fromhex("0020000003") + encode_pin("123456")) == 0x9000
    # the debit application, read without GPO
    reader.ok("00A404000E315041592E5359532E444446303100")
    assert to_dict(reader.ok("00B2010C00"))[0x4F] == bytes.fromhex("A000000333010101")
    reader.ok("00A4040008A00000033301010100")
    tags = {**to_dict(reader.ok("00B2010C00")), **to_dict(reader.ok("00B2020C00")), **to_dict(reader.ok("00B2011C00"))}
    assert (tags[0x5A], tags[0x5F20], tags[0x9F61], tags[0x5F24], tags[0x5F25], tags[0x5F34]) == (
        bytes.fromhex("6228000100000010"), b"WANG/XIUYING", b"511302198507160027", bytes.fromhex("301231"),
        bytes.fromhex("200101"), b"\x01")
    assert reader.ok("80CA9F1700") == bytes.fromhex("9F170103")


def test_the_card_equals_the_factory_sample_card(profile: Profile, keys) -> None:
    card = blank_card(profile)
    run(card, profile, keys)
    assert comparable(card) == comparable(personalized_sample_card(profile))
    assert card_to_dict(card)["sections"]["pboc"]["atc"] == 1  # one test transaction


# --- wrong keys: one try spent, never a lock -----------------------------------------------------
def test_wrong_update_key_stops_at_the_first_external_authenticate(tmp_path: Path, profile: Profile) -> None:
    card = personalized_sample_card(profile)
    wrong = issuer_keys(tmp_path, profile, change={"uk": bytes(range(16))})
    uk = ssse_secrets(card).keys[KeyId.UK]
    assert uk.tries_left == uk.max_tries == profile.keys.ext_auth_tries
    before = card_to_dict(card)
    error, trace = failure(card, profile, wrong, reissue=True)
    assert error.step == STEP_DATA and error.fatal and not error.card_removed
    assert error.sw == 0x63C0 | (uk.max_tries - 1)
    assert re.fullmatch(r"step 'write EF05/EF06/EF08': EXTERNAL AUTHENTICATE with UK \(04\): 0082000410[0-9A-F]{30}… "
                        rf"answered 63C{uk.max_tries - 1:X} \(verification failed, {uk.max_tries - 1} tries left\); "
                        r"the key does not match this card \(not retried: every try spends one of the card's\)",
                        str(error)), str(error)
    assert uk.tries_left == uk.max_tries - 1 and not uk.blocked
    assert len(re.findall(r">> 00 82 ", trace)) == 1 and ">> 00 DC" not in trace  # one try, nothing written
    uk.tries_left += 1
    assert card_to_dict(card) == before


def test_wrong_transport_key_spends_one_of_fifteen_tries(tmp_path: Path, profile: Profile) -> None:
    card = blank_card(profile)
    keys, mf = issuer_keys(tmp_path, profile)
    wrong = MfKeys(type(mf.transport)(bytes(16), mf.algorithm), mf.cmk)
    before = card_to_dict(card)
    error, trace = failure(card, profile, (keys, wrong))
    assert error.step == "pre-personalize the SSSE" and error.fatal and error.sw == 0x63CE
    assert "EXTERNAL AUTHENTICATE with the transport key (MF key 00): 0082000010" in str(error)
    master = card.life.mf.keys[0]
    assert (master.tries_left, master.max_tries) == (MASTER_TRIES - 1, MASTER_TRIES)
    assert ">> 00 E0" not in trace
    after = card_to_dict(card)
    after["life"]["mf"]["keys"][0]["tries_left"] += 1
    assert after == before


def test_a_key_file_without_a_needed_key_refuses_before_writing(tmp_path: Path, profile: Profile) -> None:
    from perso_support import masters, write_key_file

    alg = Algorithm.from_id(int(profile.card.algorithm_id))
    path = write_key_file(tmp_path, alg)
    text = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("df04_uk2 "))
    path.write_text(text + "\n")
    assert "df04_uk2" in masters(alg)
    keys = (IssuerKeys.load(path), issuer_keys(tmp_path, profile)[1])
    card = blank_card(profile)
    error, trace = failure(card, profile, keys)
    assert error.step == STEP_STATE and error.fatal
    assert str(error).endswith("[ssse.master] df04_uk2 is missing: the access rules of DF04 name key 86")
    assert ">> 00 82" not in trace and card.life.phase is Lifecycle.BLANK


def test_a_wrong_kmc_stops_before_scp02_external_authenticate(tmp_path: Path, profile: Profile) -> None:
    keys, mf = issuer_keys(tmp_path, profile)
    pboc = dict(keys.pboc)
    pboc["kmc"] = type(pboc["kmc"])(bytes(range(16)), Algorithm.TDES)
    wrong = dataclasses.replace(keys, pboc=pboc)
    card = blank_card(profile)
    isd = find_isd(card)
    assert isd is not None and isd.state.counter == 0
    error, trace = failure(card, profile, (wrong, mf))
    assert error.step == STEP_DEBIT and error.fatal and error.sw is None
    assert "card cryptogram mismatch: wrong KMC or key version?" in str(error)
    assert ">> 84 82" not in trace and isd.state.counter == 0


def test_an_arqc_from_other_keys_fails_the_verification(tmp_path: Path, profile: Profile) -> None:
    card = personalized_sample_card(profile)
    keys, mf = issuer_keys(tmp_path, profile)
    pboc = dict(keys.pboc)
    pboc["imk_ac"] = type(pboc["imk_ac"])(bytes(range(16)), Algorithm.TDES)
    error, trace = failure(card, profile, (dataclasses.replace(keys, pboc=pboc), mf), reissue=True)
    assert error.step == STEP_VERIFY and error.fatal
    assert trace.index(">> 80 AE 80 00") < trace.index(">> 80 AE 00 00")  # the transaction was closed with an AAC
    assert re.search(r"the ARQC \(ATC 0001\) is not the one the issuer's IMK-AC gives", str(error)), str(error)


class Refusing:
    """A card that answers 6982 to one command prefix and passes everything else on."""

    def __init__(self, card: CardOS, prefix: str) -> None:
        self.card, self.prefix = card, bytes.fromhex(prefix)
        self.power_on, self.power_off, self.reset = card.power_on, card.power_off, card.reset

    def transmit(self, apdu: bytes) -> bytes:
        return b"\x69\x82" if apdu.startswith(self.prefix) else self.card.transmit(apdu)


def test_an_error_names_the_step_the_command_and_the_status_word(profile: Profile, keys) -> None:
    channel, _ = traced_channel(VirtualTransport(Refusing(blank_card(profile), "00DC0930")))
    channel.connect()
    with pytest.raises(PersoError) as info:
        personalize_card(channel, cardholder(), keys[0], profile, mf_keys=keys[1])
    assert str(info.value) == ("step 'write EF05/EF06/EF08': UPDATE RECORD SSSE/EF06 tag 09: 00DC093020091ECDF5D0E3D3A2"
                               "00000000000000… answered 6982 (security status not satisfied)")
    assert (info.value.sw, info.value.apdu, info.value.fatal) == (
        0x6982, "00DC093020091ECDF5D0E3D3A200000000000000…", False)


def test_without_verification_the_result_says_so(profile: Profile, keys) -> None:
    result, trace = run(blank_card(profile), profile, keys, verify=False)
    assert not result.verified and [s.name for s in result.steps] == list(STEPS[:-1])
    assert "(verify)" not in trace


# --- cards that are not blank ----------------------------------------------------------------------
def test_a_personalized_card_is_refused_without_reissue(profile: Profile, keys) -> None:
    card = personalized_sample_card(profile)
    before = card_to_dict(card)
    error, trace = failure(card, profile, keys)
    assert error.step == STEP_STATE and not error.fatal
    assert "already personalized" in str(error) and "reissue" in str(error)
    assert card_to_dict(card) == before
    assert re.findall(r">> ([0-9A-F ]{11})", trace) == ["00 A4 00 0C", "00 A4 04 00", "00 C0 00 00", "00 B2 01 2C"]


def test_a_prepersonalized_card_is_refused_even_for_reissue(profile: Profile, keys) -> None:
    card = blank_card(profile)
    channel, _ = connect(card)
    with pytest.raises(PersoError):  # the card is pulled after step 2: an interrupted run
        personalize_card(channel, cardholder(), keys[0], profile, mf_keys=keys[1],
                         on_step=lambda name: _stop_at(name, STEP_DATA))
    for reissue in (False, True):
        error, _ = failure(card, profile, keys, reissue=reissue)
        assert error.step == STEP_STATE and "pre-personalized" in str(error) and "set it aside" in str(error)


def _stop_at(name: str, step: str) -> None:
    if name == step:
        raise PersoError(name, "stopped by the test")


def test_reissue_rewrites_the_data_and_wipes_the_old_photo(profile: Profile, keys) -> None:
    card = blank_card(profile)
    first = cardholder(OTHER_ROW)
    run(card, profile, keys, holder=first)
    assert first.social.photo is not None
    second = cardholder(OTHER_ROW, name="李磊", photo="", pan=OTHER_ROW["pan"])
    result, trace = run(card, profile, keys, holder=second, reissue=True)
    assert result.reissued and result.state_before is CardState.PERSONALIZED and result.verified
    assert [s.name for s in result.steps] == [STEP_STATE, STEP_DATA, "verify"]
    assert ">> 00 E0" not in trace and ">> 80 D4" not in trace and ">> 80 44" not in trace
    card.power_off()
    channel, _ = connect(card)
    reader = Reader(channel, profile)
    reader.select_ssse()
    reader.authenticate(KeyId.RK, "rk", "110100")
    assert reader.fields(6, [0x09, 0x4E], "SSSE/EF06") == {0x09: "李磊", 0x4E: ""}
    assert reader.binary(8, 0x1000) == bytes(0x1000)


def test_reissue_keeps_the_region_of_the_card(profile: Profile, keys) -> None:
    card = blank_card(profile)
    run(card, profile, keys)
    error, trace = failure(card, profile, keys, holder=cardholder(region="110100"), reissue=True)
    assert error.step == STEP_STATE and "issued in region 511300" in str(error)
    assert ">> 00 82" not in trace


# --- secrets ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PROFILES)
def test_no_key_and_no_pin_in_the_trace(tmp_path: Path, name: str) -> None:
    profile = Profile.load(name)
    keys = issuer_keys(tmp_path, profile)
    holder = cardholder(OTHER_ROW)
    card = blank_card(profile)
    result, trace = run(card, profile, keys, holder=holder)
    assert result.verified and ">> 80 D4 00 04 13 ****** (19 secret bytes)" in trace
    flat = re.sub(r"[^0-9A-F]", "", trace.upper())
    secrets = key_hexes(keys[0], keys[1], "110100", profile.atr.historical())
    secrets |= {k.hex().upper() for k in keys[0].pboc_udks(holder.financial.pan, holder.financial.psn)}
    secrets.add(holder.pin.reveal())
    static = keys[0].scp02_card_keys(kdd_of(profile.atr))
    session = SessionKeys.derive(*static, bytes(2))  # the card's first SCP02 session
    secrets |= {k.hex().upper() for k in (*static, session.enc, session.c_mac, session.dek)}
    assert len(secrets) > 40
    leaked = [s for s in secrets if s in flat]
    assert not leaked


# --- pieces the flow relies on ---------------------------------------------------------------------
def test_key_try_limits_follow_the_simulator() -> None:
    profile = Profile.load("ssc3-sm4")
    for kid in [*KeyId, *DfKeyId]:
        assert (key_tries(kid, profile) != 0) == has_try_counter(kid), kid
    assert PLAN_MASTER_TRIES == MASTER_TRIES


def test_fcp_of_the_declared_tree_is_the_sample_cards(profile: Profile) -> None:
    """cardspec.fcp (the host's encoder) describes every file of the sample card as the
    simulator's own ``params_of`` does, and its parser reads it back."""
    sample = personalized_sample_card(profile)
    ssse = next(df for df in sample.mf.children if isinstance(df, DF) and df.name == SSSE_DF_NAME)

    def pairs(spec: DFSpec, made: DF):
        yield spec, made
        for child in spec.children:
            found = made.child(child.fid)
            assert found is not None, child.name
            yield from pairs(child, found) if isinstance(child, DFSpec) else [(child, found)]

    checked = 0
    for spec, made in pairs(profile.tree(), ssse):
        params = fcp.spec_params(spec)
        assert params == params_of(made) and fcp.parse_fcp(fcp.encode_fcp(params)) == params, spec.name
        checked += 1
    assert checked == len(list(profile.tree().walk()))
    assert (fcp.MAX_DF_NAME, fcp.MAX_TRANSPARENT_SIZE) == (MAX_DF_NAME, MAX_TRANSPARENT_SIZE)


def test_the_mf_keys_come_from_the_key_file_by_default(tmp_path: Path) -> None:
    profile = Profile.load("ssc3-sm4")
    keys = IssuerKeys.load(VECTORS / "test-issuer-keys.toml", insecure=True)
    channel, _ = connect(blank_card(profile))
    assert personalize_card(channel, cardholder(), keys, profile).verified
    without = IssuerKeys.load(issuer_keys(tmp_path, profile)[0].path)  # a file without [mf]
    channel, trace = connect(blank_card(profile))
    with pytest.raises(PersoError) as info:
        personalize_card(channel, cardholder(), without, profile)
    assert info.value.step == STEP_STATE and info.value.fatal and "[mf] transport is missing" in str(info.value)
    assert ">> 00 82" not in trace.getvalue()


def test_reissue_leaves_a_changed_pin_alone(profile: Profile, keys) -> None:
    card = blank_card(profile)
    run(card, profile, keys)
    channel, _ = connect(card)
    reader = Reader(channel, profile)
    reader.select_ssse()
    reader.ok(bytes.fromhex("805E010007") + encode_pin("123456") + b"\xff" + encode_pin("654321"))
    result, trace = run(card, profile, keys, holder=cardholder(card_type="1"), reissue=True)
    assert result.verified and ">> 00 20" not in trace
    pin = ssse_secrets(card).pin
    assert pin.value == encode_pin("654321") and pin.tries_left == pin.max_tries
    channel, _ = connect(card)
    reader = Reader(channel, profile)
    reader.select_ssse()
    assert reader.fields(5, [2], "SSSE/EF05") == {2: "1"}


def test_oda_data_are_personalized_and_authenticate(tmp_path: Path, profile: Profile) -> None:
    from cardsim.pboc import find_pboc
    from cardspec.crypto.oda import (load_test_keys, recover_icc_public_key, recover_issuer_public_key,
                                     static_data_to_authenticate, verify_static_data)
    from cardspec.pboc.oda_data import icc_key_from_components

    keys = issuer_keys(tmp_path, profile, oda=True)
    card = blank_card(profile)
    result, trace = run(card, profile, keys)
    assert result.verified and ">> 00 88 00 00 04" in trace  # DDA checked in step 6
    state = find_pboc(card).state  # type: ignore[union-attr]
    # 90 (176); 9F32 92(4) 8F; 93 (144); 9F46 (144); 9F47 9F48(26) 9F49: vectors/oda/README.md
    assert [len(r) for r in state.records[2]] == [182, 15, 150, 151, 41]
    afl = state.gpo[4:]
    assert afl == bytes.fromhex("940C" "08010200" "10010500" "18010201")
    values = {}
    for records in state.records.values():
        for record in records:
            values.update(to_dict(record))
    pan = "6228000100000010"
    ca = load_test_keys().ca.public_key()
    issuer = recover_issuer_public_key(ca, values[0x90], values.get(0x92), values[0x9F32], pan)
    static = static_data_to_authenticate([(3, state.records[3][0])], state.gpo[2:4], values[0x9F4A])
    assert verify_static_data(issuer, values[0x93], static) == bytes.fromhex("DAC0")
    icc = recover_icc_public_key(issuer, values[0x9F46], values.get(0x9F48), values[0x9F47], pan, static)
    private = icc_key_from_components({d: v for d, v in state.icc_key.items()})
    assert private.public_key().public_numbers().n == icc.n and icc.n.bit_length() == 1024
    flat = re.sub(r"[^0-9A-F]", "", trace.upper())
    numbers = private.private_numbers()
    assert not any(f"{x:X}"[:32] in flat for x in (numbers.p, numbers.q, numbers.d, numbers.dmp1, numbers.dmq1))


class Corrupting:
    """A card whose answers to one command prefix come back with their last data byte flipped."""

    def __init__(self, card: CardOS, prefix: str) -> None:
        self.card, self.prefix = card, bytes.fromhex(prefix)
        self.power_on, self.power_off, self.reset = card.power_on, card.power_off, card.reset

    def transmit(self, apdu: bytes) -> bytes:
        answer = self.card.transmit(apdu)
        if apdu.startswith(self.prefix) and len(answer) > 2:
            return answer[:-3] + bytes((answer[-3] ^ 0x01,)) + answer[-2:]
        return answer


def test_a_signed_static_data_that_does_not_verify_fails_the_check(tmp_path: Path) -> None:
    profile = Profile.load("ssc2-3des")
    keys = issuer_keys(tmp_path, profile, oda=True)
    card = blank_card(profile)
    run(card, profile, keys)
    # a reissue reads the records without comparing them with its own plan: ODA must catch it
    channel, _ = traced_channel(VirtualTransport(Corrupting(card, "00B20314")))  # SFI 2 record 3: tag 93
    channel.connect()
    with pytest.raises(PersoError) as info:
        personalize_card(channel, cardholder(), keys[0], profile, mf_keys=keys[1], reissue=True)
    assert info.value.step == STEP_VERIFY and str(info.value).startswith("step 'verify': ODA (SDA): "), info.value


@settings(max_examples=12)
@given(holder=cardholders(today=date.today()))
def test_any_valid_cardholder_makes_a_card_that_reads_back(holder) -> None:
    profile = Profile.load("ssc3-sm4")
    keys = IssuerKeys.load(VECTORS / "test-issuer-keys.toml", insecure=True)
    card = blank_card(profile)
    channel, _ = connect(card)
    result = personalize_card(channel, holder, keys, profile)
    assert result.verified and result.pan == holder.financial.pan
    channel.reset()
    reader = Reader(channel, profile)
    reader.select_ssse()
    reader.authenticate(KeyId.RK, "rk", holder.social.region)
    fields = reader.fields(6, [0x08, 0x09, 0x4E, 0x0D], "SSSE/EF06")
    assert fields[0x09] + fields[0x4E] == holder.social.name
    assert (fields[0x08], fields[0x0D]) == (holder.social.ssn, holder.social.birth_date)
