"""Spec knowledge of the financial zone (cardspec.pboc) and the profiles' ``[pboc]`` section."""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyemv import tools as pyemv_tools

from apdu.tlv import find, parse_ber, parse_one, to_dict
from cardspec.pboc import (DEFAULTS, TAGS, AcType, Cvr, Dgi, Iad, IdType, PbocDataError, PbocHolder, PbocProduct,
                           build_pboc_data, check_value, describe_dgi, dgi_record, is_encrypted, key_dgis,
                           pin_tries_dgi, record_dgi, split_udks)
from cardspec.profile import PbocPolicy, Profile, ProfileError

H = bytes.fromhex
HOLDER = PbocHolder(pan="6228000100000010", expiry="301231", name="ZHANG/SAN", id_number="11010119900307123X")
SM4_TOML = (resources.files("cardspec.profiles") / "ssc3-sm4.toml").read_text(encoding="utf-8")


# --- tags, CVR, IAD -----------------------------------------------------------------------------------

def test_tag_table_is_consistent():
    for tag, info in TAGS.items():
        assert tag == info.tag and info.lengths[0] <= info.lengths[1] <= 252
    assert check_value(0x5A, H("6228000100001F")) == H("6228000100001F")
    with pytest.raises(PbocDataError, match="tag 5F24 .*: 3012AB is not format n"):
        check_value(0x5F24, H("3012AB"))
    with pytest.raises(PbocDataError, match=r"tag 50 \(Application Label\): 17 bytes, must be 1-16"):
        check_value(0x50, b"A" * 17)


@given(st.sampled_from([0x00, 0x10, 0x20, 0x40, 0x50, 0x60, 0x80, 0x90, 0xA0]).flatmap(
    lambda types: st.tuples(st.just(types), st.integers(0, 15), st.integers(0, 0xFF), st.integers(0, 0x7F))))
def test_cvr_round_trip(parts):
    types, low2, byte3, byte4 = parts
    raw = bytes((0x03, types | low2, byte3, byte4 << 1))
    assert Cvr.parse(raw).to_bytes() == raw


@pytest.mark.parametrize("raw, problem", [("04A00000", "must be 4 bytes starting with its length 03"),
                                          ("03300000", "code 11 is RFU"), ("03C00000", "code 11 is RFU"),
                                          ("03A00001", "bit b1 is RFU")])
def test_cvr_errors(raw, problem):
    with pytest.raises(PbocDataError, match=problem):
        Cvr.parse(H(raw))


def test_cvr_fields_of_vector_b_and_ac_types():
    cvr = Cvr.parse(H("03A04002"))
    assert (cvr.gac1, cvr.gac2, int(cvr.flags3), int(cvr.flags4)) == (AcType.ARQC, None, 0x40, 0x02)
    assert [AcType.from_p1(p1) for p1 in (0x00, 0x50, 0x80, 0xC0)] == [AcType.AAC, AcType.TC, AcType.ARQC, None]
    assert Cvr(AcType.ARQC, AcType.TC, script_count=2).to_bytes() == H("03600020")
    with pytest.raises(PbocDataError, match="script count 16"):
        Cvr(AcType.AAC, script_count=16)


def test_iad_layout():
    iad = Iad(2, H("03A4B904"), idd=H("01") + bytes(5) + H("1BFC423C"))
    assert iad.to_bytes() == H("07020103A4B904010A010000000000" "1BFC423C")  # vector A's IAD [P1]
    assert Iad.parse(iad.to_bytes()) == iad
    assert iad.with_cvr(H("03000000")).to_bytes()[3:7] == H("03000000")
    with pytest.raises(PbocDataError, match="length byte 0B but 10 bytes follow"):
        Iad.parse(H("07020103A4B904010B010000000000" "1BFC423C"))


# --- DGIs -------------------------------------------------------------------------------------------------

def test_dgi_mapping():
    assert [dgi_record(d) for d in (0x0101, 0x1EFE, 0x0D01, 0x0E01, 0x1F01, 0x0100, 0x9102)] == \
        [(1, 1), (30, 254), None, None, None, None, None]
    assert record_dgi(2, 5) == 0x0205 and describe_dgi(0x0205) == "SFI 2 record 5"
    with pytest.raises(PbocDataError, match="0D01 and 0E01 are internal data"):
        record_dgi(13, 1)
    assert describe_dgi(0x9203) == "GPO response, electronic cash (82, 94)"
    assert describe_dgi(0x7F01) == "DGI 7F01 (unknown to the debit application)"
    assert [is_encrypted(d) for d in (0x8000, 0x8010, 0x8205, 0x9000, 0x7FFF)] == [True, True, True, False, False]


def test_key_dgis_and_their_checks():
    udks = [bytes(range(i, i + 16)) for i in (0, 16, 32)]
    dgis = key_dgis(*udks)
    assert split_udks(dgis[Dgi.UDKS]) == tuple(udks)
    assert dgis[Dgi.KCVS] == b"".join(pyemv_tools.key_check_digits(k, 3) for k in udks)
    with pytest.raises(PbocDataError, match="DGI 8000: 32 bytes, must be 48"):
        split_udks(bytes(32))
    assert pin_tries_dgi(5, 2) == H("0502")
    with pytest.raises(PbocDataError, match="PIN tries 4 of 3"):
        pin_tries_dgi(3, 4)


# --- the builder ----------------------------------------------------------------------------------------

def _tags(data) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    for record in data.records.values():
        out.update(to_dict(record))
    return out


def test_default_data_set_matches_pboc_md():
    data = build_pboc_data(HOLDER)
    tags = _tags(data)
    assert tags[0x57] == H("6228000100000010D30122200000000000000F") and len(tags[0x57]) == 19
    assert (tags[0x5A], tags[0x5F24], tags[0x5F30], tags[0x9F08]) == (H("6228000100000010"), H("301231"),
                                                                       H("0220"), H("0020"))
    assert (tags[0x8C], tags[0x8D], tags[0x8E]) == (DEFAULTS.cdol1, DEFAULTS.cdol2, DEFAULTS.cvm_list)
    assert (tags[0x9F0D], tags[0x9F0E], tags[0x9F0F]) == (H("D86004A800"), H("0010980000"), H("D86804F800"))
    assert (tags[0x5F20], tags[0x9F61], tags[0x9F62]) == (b"ZHANG/SAN", b"11010119900307123X", b"\x00")
    assert 0x5F25 not in tags and 0x9F0B not in tags
    assert to_dict(data.fci) == {0x50: b"PBOC DEBIT", 0x87: b"\x01", 0x9F38: DEFAULTS.pdol, 0x5F2D: b"zh",
                                 0x9F11: b"\x01", 0x9F12: b"PBOC DEBIT", 0x9F4D: H("0B0A")}
    assert data.pse_fci == H("A5148801015F2D027A689F110101BF0C059F4D020B0A")  # pboc.md §1.1
    assert data.internal == {0x9F4F: DEFAULTS.log_format, 0x9F51: H("0156"), 0x9F52: H("6010"), 0x5F34: H("01"),
                             0x9F56: H("80")}
    assert data.dgis()[Dgi.INTERNAL_2] == H("9F510201569F520260105F3401019F560180")
    assert data.ppse_fci is None and data.ppse_dgis() == {}


def test_oda_records_give_the_default_afl():
    oda = tuple(H(x) for x in ("9003" "010203", "9F320103" "9201AA" "8F0101", "9302ABCD", "9F460100",
                               "9F470103" "9F4801EE" "9F4903" "9F3704"))
    data = build_pboc_data(HOLDER, PbocProduct(oda_records=oda))
    assert data.afl == H("08010200" "10010500" "18010201")  # pboc.md §2.2
    assert data.records[(2, 5)] == H("700E") + oda[4]
    with pytest.raises(PbocDataError, match="ODA record 2 .*tag 92 length 0x01 runs past"):
        build_pboc_data(HOLDER, PbocProduct(oda_records=(oda[0], H("9201"))))


def test_long_name_odd_pan_and_options():
    holder = PbocHolder(pan="6228000100001", expiry="251231", name="ZHANGSAN-ZHANGSAN-ZHANGSAN-Z",
                        id_number="E12345678", id_type=IdType.PASSPORT, psn="00", effective="150101",
                        service_code="201")
    data = build_pboc_data(holder, PbocProduct(aip=H("7C00"), version="3.0", ec=True, ppse=True))
    tags = _tags(data)
    assert 0x5F20 not in tags and tags[0x9F0B] == holder.name.encode()
    assert tags[0x5A] == H("6228000100001F") and tags[0x9F62] == b"\x02" and tags[0x5F25] == H("150101")
    assert tags[0x57] == H("6228000100001D25122010000000000000000F")
    assert data.aip == H("7C00") and tags[0x9F08] == H("0030")
    assert find(data.fci, 0xDF4D).value == H("0C0A") and data.internal[0xDF4F] == DEFAULTS.load_log_format
    assert data.internal[0x9F79] == H("000000100000")
    entry = parse_one(data.ppse_fci, tag=0xA5)
    assert find(entry.value, 0x4F).value == H("A000000333010101")


@pytest.mark.parametrize("change, problem", [
    (dict(pan="62280001000X0010"), "PAN must be 12-19 decimal digits"),
    (dict(pan="62280001000"), "PAN must be 12-19 decimal digits"),
    (dict(expiry="301331"), "expiry date 301331 is not a date YYMMDD"),
    (dict(psn="1"), "PAN sequence number must be 2-2 decimal digits"),
    (dict(service_code="22"), "service code must be 3-3 decimal digits"),
    (dict(name="张三"), "cardholder name must be 1-45 printable ASCII characters"),
    (dict(id_number=""), "ID number must be 1-40 printable ASCII characters"),
])
def test_builder_errors(change, problem):
    with pytest.raises(PbocDataError, match=re.escape(problem)):
        build_pboc_data(PbocHolder(**{**HOLDER.__dict__, **change}))


# --- the profiles' [pboc] section --------------------------------------------------------------------------

def test_builtin_profiles_pboc():
    assert Profile.load("ssc3-sm4").pboc == PbocPolicy(version="3.0")
    assert Profile.load("ssc2-3des").pboc == PbocPolicy()


def test_pboc_section_is_optional(tmp_path: Path):
    f = tmp_path / "nopboc.toml"
    f.write_text(SM4_TOML.split("\n[pboc]")[0])
    assert Profile.load(str(f)).pboc == PbocPolicy()


@pytest.mark.parametrize("line, problem", [
    ("gpo_format = 3", "[pboc] gpo_format = 3: must be 1..2"),
    ('default_pin = "12a4"', '[pboc] default_pin = "12a4": must be 4-12 decimal digits (ISO 9564 format 2)'),
    ('aip = "7D"', '[pboc] aip = "7D": must be 2 bytes, got 1'),
    ('service_code = "22"', '[pboc] service_code = "22": must be 3 decimal digits'),
    ('version = "4.0"', '[pboc] version = "4.0": must be one of "2.0", "3.0"'),
    ("pin_try_limit = 16", "[pboc] pin_try_limit = 16: must be 1..15"),
    ('ec = "yes"', '[pboc] ec = "yes": must be true or false'),
    ("contactless = true", "[pboc] contactless = true: unknown key"),
])
def test_pboc_section_errors(tmp_path: Path, line, problem):
    f = tmp_path / "bad.toml"
    key = line.split(" =")[0]
    text, found = re.subn(rf"^{key} = .*$", line, SM4_TOML, flags=re.M)
    f.write_text(text if found else SM4_TOML + line + "\n")
    with pytest.raises(ProfileError) as caught:
        Profile.load(str(f))
    assert str(caught.value) == f"{f}: {problem}"


def test_dgis_of_the_data_set_parse():
    data = build_pboc_data(HOLDER)
    for dgi, value in data.dgis().items():
        assert parse_ber(value, allow_padding=False), f"DGI {dgi:04X}"
