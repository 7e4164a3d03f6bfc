"""Card profiles: the built-in TOML files, their ATRs, and precise errors for bad files."""
from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest

from apdu.atr import parse_atr, ssc_historical
from cardspec.ids import AlgorithmId, KeyId
from cardspec.profile import DEFAULT_PROFILE, Profile, ProfileError, list_profiles

SM4_TOML = (resources.files("cardspec.profiles") / "ssc3-sm4.toml").read_text(encoding="utf-8")


def test_builtin_profiles_are_package_data() -> None:
    assert list_profiles() == ["ssc2-3des", "ssc3-sm4"]
    assert DEFAULT_PROFILE == "ssc3-sm4" and Profile.load().name == "ssc3-sm4"


def test_ssc3_sm4() -> None:
    p = Profile.load("ssc3-sm4")
    # TR1's ATR (ssse.md §6)
    assert p.atr_bytes() == bytes.fromhex("3B6D0000 0081 4A4446 8660 5199 000001AC")
    assert ssc_historical(p.atr.historical()) == {
        "chip_provider": "0081", "chip_cos": "4A4446", "card_manufacturer": "8660", "region": "5199",
        "serial": "000001AC"}
    assert p.atr.diversification_factor == bytes.fromhex("8660 5199 000001AC")
    assert (p.card.generation, p.card.algorithm_id, p.card.spec_version) == (3, AlgorithmId.SM4, "3.00")
    assert (p.card.t0_get_response, p.card.le_mode, p.card.dir_sfi, p.card.name_ext_padding) == (True, "full", 0x1E, 0)
    assert (p.pin.try_limit, p.pin.min_bytes, p.pin.max_bytes, p.pin.default) == (6, 2, 8, "123456")
    assert p.keys.ext_auth_tries == 3 and set(p.keys.present) == set(KeyId)
    assert p.ssse_fci() == bytes.fromhex("6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103")  # TR1
    assert str(p.tree().find("SSSE/EF06").read) == "key:0A"


def test_ssc2_3des() -> None:
    p = Profile.load("ssc2-3des")
    # SC's example historical bytes (ssse.md §6)
    assert p.atr_bytes() == bytes.fromhex("3B6D0000 0081 4E4323 8697 1599 00BF7C7A")
    assert (p.card.generation, p.card.algorithm_id, p.card.spec_version) == (2, AlgorithmId.DES, "2.0")
    assert p.ssse_fci() == bytes.fromhex("6F16840F7378312E73682EC9E7BBE1B1A3D5CFA50388011E")  # TR4: no 9F0C
    assert str(p.tree().find("SSSE/EF06").read) == "free"


def test_t0t1_atr_offers_both_protocols() -> None:
    p = Profile.load("ssc3-sm4")
    atr = replace(p.atr, protocol="t0t1").build()
    assert atr == bytes.fromhex("3BED0000800100814A444686605199000001AC26")
    parsed = parse_atr(atr)
    assert parsed.protocols == (0, 1) and parsed.tck_correct and parsed.historical == p.atr.historical()


def test_profile_from_path(tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text(SM4_TOML.replace('protocol = "t0"', 'protocol = "t0t1"').replace('serial = "000001AC"',
                                                                                  'serial = "12 34 56 78"'))
    p = Profile.load(str(f))
    assert p.name == "mine" and p.source == str(f)
    assert p.atr_bytes()[-5:] == bytes.fromhex("12345678") + bytes((p.atr_bytes()[-1],))
    assert parse_atr(p.atr_bytes()).protocols == (0, 1)


def test_minimal_profile_takes_defaults(tmp_path: Path) -> None:
    f = tmp_path / "min.toml"
    f.write_text('[atr]\nchip_provider = "0081"\nchip_cos = "4A4446"\ncard_manufacturer = "8660"\n'
                 'region = "5199"\nserial = "000001AC"\n[card]\ngeneration = 2\nalgorithm = "3des"\n')
    p = Profile.load(f)
    assert (p.card.spec_version, p.card.le_mode, p.pin.try_limit, p.keys.ext_auth_tries, p.ef06_read) == (
        "2.0", "full", 6, 3, None)


BAD = [
    ("try_limit = 6", "try_limit = 0", "[pin] try_limit = 0: must be 1..15"),
    ("try_limit = 6", 'try_limit = "6"', '[pin] try_limit = "6": must be an integer'),
    ("max_bytes = 8", "max_bytes = 9", "[pin] max_bytes = 9: must be 2..8"),
    ('default = "123456"', 'default = "12345a"', '[pin] default = "12345a": must be decimal digits'),
    ('default = "123456"', 'default = "12"', '[pin] default = "12": is 1 bytes in BCD; the PIN must be 2..8 bytes'),
    ('algorithm = "sm4"', 'algorithm = "aes"', '[card] algorithm = "aes": must be one of "3des", "sm4"'),
    ("generation = 3", "generation = 1", "[card] generation = 1: must be 2..3"),
    ("generation = 3", "generation = true", "[card] generation = true: must be an integer"),
    ('le_mode = "full"', 'le_mode = "lax"', '[card] le_mode = "lax": must be one of "full", "strict6c"'),
    ("t0_get_response = true", "t0_get_response = 1", "[card] t0_get_response = 1: must be true or false"),
    ("dir_sfi = 0x1E", "dir_sfi = 31", "[card] dir_sfi = 31: must be 1..30"),
    ("dir_sfi = 0x1E", "dir_sfi = 6", "[card] dir_sfi = 6: SSSE: DIR and EF06 share SFI 06"),
    ('spec_version = "3.00"', 'spec_version = "2.0"',
     '[card] spec_version = "2.0": does not match generation = 3 (expected "3.x")'),
    ('spec_version = "3.00"', 'spec_version = "3.000"',
     "[card] spec_version = \"3.000\": '3.000' is 5 bytes in ASCII; the field holds 4"),
    ('name_ext_padding = "00"', 'name_ext_padding = "20"', '[card] name_ext_padding = "20": must be one of "00", "FF"'),
    ('region = "5199"', 'region = "519"', '[atr] region = "519": must be the first 4 digits of the region code'),
    ('serial = "000001AC"', 'serial = "0001AC"', '[atr] serial = "0001AC": must be 4 bytes, got 3'),
    ('chip_cos = "4A4446"', 'chip_cos = "4A44G6"',
     "[atr] chip_cos = \"4A44G6\": bad hex character 'G' at position 5 in '4A44G6'"),
    ('protocol = "t0"', 'protocol = "t1"', '[atr] protocol = "t1": must be one of "t0", "t0t1"'),
    ('present = ["IRK", "STK", "UK", "BK", "PUK", "RK"]', 'present = ["IRK", "STK", "UK", "BK", "PUK"]',
     '[keys] present = ["IRK", "STK", "UK", "BK", "PUK"]: lacks RK (0A), which the SSSE access rules name'),
    ('present = ["IRK", "STK", "UK", "BK", "PUK", "RK"]', 'present = ["IRK", "MK", "UK", "RK"]',
     '[keys] present = ["IRK", "MK", "UK", "RK"]: "MK" is not a key (known: IRK, STK, UK, BK, PUK, RK)'),
    ("ext_auth_tries = 3", "ext_auth_tries = 16", "[keys] ext_auth_tries = 16: must be 1..15"),
    ('ef06_read = "key:0A"', 'ef06_read = "key:XY"',
     "[tree] ef06_read = \"key:XY\": bad access rule 'key:XY' (free, never, pin, key:NN, pin|key:NN, pin&key:NN)"),
    ('le_mode = "full"', 'le_mode = "full"\nlemode = "full"', '[card] lemode = "full": unknown key'),
    ("[tree]", "[trees]", "unknown section [trees]"),
    ('serial = "000001AC"', "", "[atr] serial: missing"),
]


@pytest.mark.parametrize("old, new, message", BAD, ids=[b[2].split(":")[0] for b in BAD])
def test_bad_profile_errors(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in SM4_TOML
    f = tmp_path / "bad.toml"
    f.write_text(SM4_TOML.replace(old, new, 1))
    with pytest.raises(ProfileError) as info:
        Profile.load(f)
    assert str(info.value) == f"{f}: {message}"


def test_pin_range_order(tmp_path: Path) -> None:
    f = tmp_path / "pin.toml"
    f.write_text(SM4_TOML.replace("min_bytes = 2", "min_bytes = 6").replace("max_bytes = 8", "max_bytes = 4"))
    with pytest.raises(ProfileError) as info:
        Profile.load(f)
    assert str(info.value) == f"{f}: [pin] max_bytes = 4: must not be below min_bytes = 6"


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"^no profile named 'ssc9' \(built-in: ssc2-3des, ssc3-sm4\)$"):
        Profile.load("ssc9")
    with pytest.raises(ProfileError, match=r"nothere\.toml: cannot read profile \(No such file or directory\)$"):
        Profile.load(tmp_path / "nothere.toml")
    f = tmp_path / "broken.toml"
    f.write_text("[atr\n")
    with pytest.raises(ProfileError, match=r"broken\.toml: TOML syntax: Expected '\]'"):
        Profile.load(f)
    f.write_text('description = "no sections"\n')
    with pytest.raises(ProfileError, match=r"broken\.toml: \[atr\]: missing section$"):
        Profile.load(f)
