"""The factory: blank cards, the personalized sample card, test keys, load_or_sample."""
from __future__ import annotations

from pathlib import Path

import pytest

from cardsim.factory import (KeyFileError, blank_card, load_or_sample, load_test_keys, personalized_sample_card,
                             runtime_settings, sample_records)
from cardsim.image import save_image
from cardsim.persistent import Lifecycle
from cardsim.preperso import MASTER_KID, MASTER_TRIES, card_manager
from cardspec.crypto.blockcipher import Algorithm
from cardspec.crypto.diversify import diversify
from cardspec.crypto.ssse import external_auth_cryptogram
from cardspec.ids import KeyId
from cardspec.profile import Profile

ROOT = Path(__file__).resolve().parent.parent
SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")


def test_test_key_file_is_marked_and_complete() -> None:
    text = (ROOT / "vectors" / "test-keys.toml").read_text(encoding="utf-8")
    assert text.startswith("# TEST KEYS — never use on real cards.")
    for alg in Algorithm:
        keys = load_test_keys(alg)
        assert keys.transport == b"sscard transport"
        assert set(keys.spaces) == {"MF", "SSSE", "DF01", "DF02", "DF03", "DF04", "DF07"}
        assert set(keys.spaces["SSSE"]) == {k.name for k in KeyId}
        assert "73736361" not in repr(keys)


def test_blank_card_is_the_factory_state() -> None:
    profile = Profile.load("ssc2-3des")
    card = blank_card(profile)
    assert card.life.phase is Lifecycle.BLANK and card.mf.name is None
    # no social-security structure yet: only the financial instances and the security domain
    assert [df.fid for df in card.mf.children] == [0xDDF2, 0xA000]
    key = card.life.mf.keys[MASTER_KID]
    assert (key.algorithm, key.value, key.max_tries, key.tries_left) == (Algorithm.TDES, b"sscard transport",
                                                                        MASTER_TRIES, MASTER_TRIES)
    assert card.settings == runtime_settings(profile) and card.atr == profile.atr_bytes()
    card.power_on()
    assert card.transmit(SELECT_SSSE) == bytes.fromhex("6A82")


@pytest.mark.parametrize("name", ["ssc3-sm4", "ssc2-3des"])
def test_sample_card_keys_are_test_masters_diversified_for_this_card(name: str) -> None:
    profile = Profile.load(name)
    card = personalized_sample_card(profile)
    alg = Algorithm.from_id(int(profile.card.algorithm_id))
    masters = load_test_keys(alg).spaces
    hist = profile.atr.historical()
    ssse = card.mf.children[0].application.secrets  # type: ignore[union-attr]
    assert ssse.keys[KeyId.RK].value == diversify(alg, masters["SSSE"]["RK"], "511300", hist, levels=3)
    assert ssse.df_keys[0xDF04][0x86].value == diversify(alg, masters["DF04"]["UK2"], "511300", hist, levels=3)
    assert card.life.mf.keys[MASTER_KID].value == diversify(alg, masters["MF"]["CMK"], "511300", hist, levels=3)
    assert sorted(ssse.keys) == sorted(profile.keys.present)
    assert (ssse.keys[KeyId.PUK].max_tries, ssse.keys[KeyId.STK].max_tries) == (profile.keys.ext_auth_tries, None)
    assert (ssse.pin.max_tries, ssse.pin.tries_left) == (profile.pin.try_limit, profile.pin.try_limit)
    assert card.life.phase is Lifecycle.PERSONALIZED


def test_another_card_serial_gives_other_keys(tmp_path: Path) -> None:
    from cardspec.profile import _read

    text = _read("ssc3-sm4")[1].replace('serial = "000001AC"', 'serial = "000001AD"')
    (tmp_path / "next.toml").write_text(text, encoding="utf-8")
    one, two = personalized_sample_card("ssc3-sm4"), personalized_sample_card(Profile.load(tmp_path / "next.toml"))
    keys = [c.mf.children[0].application.secrets.keys for c in (one, two)]  # type: ignore[union-attr]
    assert all(keys[0][k].value != keys[1][k].value for k in keys[0])


def test_sample_card_works_through_apdus() -> None:
    card = personalized_sample_card("ssc3-sm4")
    assert card.power_on().hex().upper() == "3B6D000000814A444686605199000001AC"
    assert card.transmit(SELECT_SSSE) == bytes.fromhex("611E")  # T=0 profile: 61xx, then GET RESPONSE
    assert card.transmit(bytes.fromhex("00C000001E")).hex().upper() == (
        "6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C038601039000")
    assert card.transmit(bytes.fromhex("00B2083000"))[-2:] == bytes.fromhex("6982")  # 3.0: EF06 needs RK
    rk = card.mf.children[0].application.secrets.keys[KeyId.RK]  # type: ignore[union-attr]
    challenge = card.transmit(bytes.fromhex("0084000008"))[:-2]
    original = bytes(8)
    cryptogram = external_auth_cryptogram(rk.algorithm, rk.value, challenge, original)
    assert card.transmit(bytes.fromhex("008200 0A10".replace(" ", "")) + cryptogram + original) == b"\x90\x00"
    assert card.transmit(bytes.fromhex("00B2083000")).hex().upper() == (
        "0812" + b"511302198507160027".hex().upper() + "9000")
    assert card.transmit(bytes.fromhex("0020000003123456")) == b"\x90\x00"


def test_sample_records_follow_the_profile() -> None:
    profile = Profile.load("ssc2-3des")
    ef05 = sample_records(profile)["SSSE/EF05"]
    assert ef05[0].hex().upper() == "0110511300D156000005" + "00BF7C7A" + "FFFFFFFF"  # the ATR serial
    assert ef05[2].hex().upper() == "0304322E3000"  # "2.0"


def test_load_or_sample(tmp_path: Path) -> None:
    card, label = load_or_sample(None, "ssc2-3des")
    assert label == "sample card, profile ssc2-3des, in memory"
    assert card_manager(card).profile.name == "ssc2-3des" and card.life.phase is Lifecycle.PERSONALIZED
    save_image(blank_card("ssc2-3des"), tmp_path / "b.json")
    card, label = load_or_sample(tmp_path / "b.json", "ssc3-sm4")  # the image names its own profile
    assert label == f"{tmp_path / 'b.json'} (profile ssc2-3des, blank)"
    assert card.settings.t0_get_response is True and card.life.phase is Lifecycle.BLANK


@pytest.mark.parametrize("text, message", [
    ('[transport]\nsm4 = "00"\n[sm4.MF]\nCMK = "' + "00" * 16 + '"\n', "[transport] sm4: needs 16 bytes of hex"),
    ('[transport]\nsm4 = "' + "00" * 16 + '"\n', "no [sm4.*] tables"),
    ('[transport\n', "TOML syntax"),
    ('[transport]\nsm4 = "' + "00" * 16 + '"\n[sm4.SSSE]\nRK = "zz"\n', "[sm4.SSSE] RK: needs 16 bytes of hex"),
])
def test_bad_key_files_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KeyFileError) as err:
        load_test_keys(Algorithm.SM4, path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_missing_master_key_is_named() -> None:
    keys = load_test_keys(Algorithm.SM4)
    partial = type(keys)(keys.algorithm, keys.transport, {**keys.spaces, "SSSE": {"IRK": bytes(16)}})
    with pytest.raises(KeyFileError, match="no sm4.SSSE STK master key"):
        personalized_sample_card("ssc3-sm4", keys=partial)
