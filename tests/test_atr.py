import re

import pytest
from hypothesis import given, strategies as st

from apdu.atr import ATR, build_atr, compact_tlv, describe_atr, parse_atr, protocols_of, ssc_historical
from apdu.errors import ATRError, SSCardError

TR1 = bytes.fromhex("3B6D0000 0081 4A4446 8660 5199 000001AC")  # ssse.md §6
VPCD = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")  # pcsc-vpcd.md §4
SAM = bytes.fromhex("3BDF18FF81F1FE43003F03834D494641524520506C75732053414D3B")  # T=1 with T=15 globals


def test_social_security_atr_fields():
    atr = parse_atr(TR1)
    assert (atr.ts, atr.t0, atr.convention) == (0x3B, 0x6D, "direct")
    assert atr.interface == {"TB1": 0x00, "TC1": 0x00}
    assert atr.interface_byte("TB", 1) == 0 and atr.interface_byte("TA", 1) is None
    assert atr.interface_byte("TD", 5) is None
    assert atr.protocols == (0,) and atr.indicated == ()
    assert atr.historical == bytes.fromhex("00814A444686605199000001AC")
    assert (atr.tck, atr.tck_required, atr.tck_correct) == (None, False, None)
    assert atr.is_ssc and atr.problems == ()


def test_social_security_breakdown():
    assert describe_atr(TR1) == [
        "TS = 3B  direct convention",
        "T0 = 6D  Y(1)=0110 K=13 (historical bytes)",
        "  TB(1) = 00  VPP not connected (deprecated)",
        "  TC(1) = 00  extra guard time 0",
        "protocols: T=0",
        "historical bytes: 00 81 4A 44 46 86 60 51 99 00 00 01 AC",
        "  social-security card layout (S2 §8.4):",
        "    T1-T2 chip provider:     00 81",
        "    T3-T5 chip/COS:          4A 44 46",
        "    T6-T7 card manufacturer: 86 60",
        "    T8-T9 region code:       5199 (first 4 digits)",
        "    TA-TD serial:            00 00 01 AC",
        "TCK: absent (correct: only T=0 offered)",
    ]


def test_ssc_historical_fields():
    assert ssc_historical(bytes.fromhex("00814E43238697159900BF7C7A")) == {
        "chip_provider": "0081", "chip_cos": "4E4323", "card_manufacturer": "8697", "region": "1599",
        "serial": "00BF7C7A"}
    with pytest.raises(ATRError, match="13 bytes, got 12"):
        ssc_historical(bytes(12))


def test_ssc_region_not_bcd_is_flagged():
    atr = build_atr(bytes.fromhex("0081 4A4446 8660 5A99 000001AC"))
    assert "    T8-T9 region code:       5A99 (first 4 digits, NOT valid BCD)" in describe_atr(atr)


def test_ssc_layout_only_for_the_ssc_form():
    # same historical bytes, but T=1 offered too: not the social-security form, so category 00 is tried
    atr = parse_atr(build_atr(TR1[4:], protocols=("T=0", "T=1")))
    assert not atr.is_ssc
    lines = describe_atr(atr)
    assert "  category 00: compact-TLV objects, then a 3-byte status indicator" in lines
    assert any(line.startswith("    malformed: compact-TLV object 99 at offset 7 announces 9 bytes") for line in lines)


def test_vpcd_atr():
    atr = parse_atr(VPCD)
    assert atr.interface == {"TD1": 0x80, "TD2": 0x01}
    assert atr.indicated == (0, 1) and atr.protocols == (0, 1)
    assert (atr.tck, atr.tck_required, atr.tck_correct) == (0x6A, True, True)
    assert atr.historical == VPCD[4:-1] and not atr.is_ssc
    lines = describe_atr(atr)
    assert lines[-1] == "TCK = 6A  correct checksum"
    assert "    RID A0 00 00 03 06, standard 03 (ISO 14443 A part 3), card name 00 01 (MIFARE Classic 1K)" in lines


def test_wrong_tck_is_reported_not_raised():
    bad = VPCD[:-1] + b"\x6B"
    atr = parse_atr(bad)
    assert atr.tck_correct is False
    assert atr.problems == ("TCK=6B is wrong: it should be 6A",)
    assert describe_atr(bad)[-1] == "TCK = 6B  WRONG checksum, should be 6A"


def test_tck_present_with_only_t0():
    atr = parse_atr(bytes.fromhex("3B021450") + b"\x46")  # T0 ^ 14 ^ 50 ^ TCK == 0
    assert atr.tck == 0x46 and atr.tck_correct and not atr.tck_required
    assert atr.problems == ("TCK present although only T=0 is offered (ISO 7816-3 §8.2.5: absent)",)
    assert describe_atr(atr)[-1] == "TCK = 46  correct checksum; not expected: only T=0 offered"


@pytest.mark.parametrize("hex_atr, protocols", [
    ("3B021450", {0}),
    ("3B800181", {1}),  # pcsc-vpcd.md: a T=1-only ATR
    ("3B8F8001804F0CA000000306030001000000006A", {0, 1}),
    ("3BDF18FF81F1FE43003F03834D494641524520506C75732053414D3B", {1}),
])
def test_protocols_of(hex_atr, protocols):
    assert protocols_of(bytes.fromhex(hex_atr)) == protocols
    assert protocols_of(parse_atr(bytes.fromhex(hex_atr))) == protocols


@pytest.mark.parametrize("hex_atr, message", [
    ("", "ATR empty"),
    ("3C00", "bad TS=3C: expected 3B (direct convention) or 3F (inverse convention)"),
    ("0300", "bad TS=03"),
    ("3B", "ATR truncated: T0 missing after TS"),
    ("3BE000", "ATR truncated: T0=E0 announces TC(1), the ATR ends after 3 bytes"),
    ("3B8081", "ATR truncated: TD(1)=81 announces TD(2), the ATR ends after 3 bytes"),
    ("3B6D0000 00814A44468660519 9", "ATR truncated: T0 announces 13 historical bytes, 9 present"),
    ("3B800181"[:-2], "ATR truncated: TCK missing (required because T=1 is indicated)"),
    ("3B8F8001804F0CA000000306030001000000006A00", "2 bytes follow the 15 historical bytes; only TCK"),
    ("3B00AABB", "2 bytes follow the 0 historical bytes"),
])
def test_parse_errors_name_what_is_wrong(hex_atr, message):
    with pytest.raises(ATRError, match=re.escape(message)):
        parse_atr(bytes.fromhex(hex_atr.replace(" ", "")))


def test_atr_error_is_a_user_error():
    assert issubclass(ATRError, SSCardError) and issubclass(ATRError, ValueError)


def test_inverse_convention():
    atr = parse_atr(bytes.fromhex("3F00"))
    assert atr.convention == "inverse" and describe_atr(atr)[0] == "TS = 3F  inverse convention"


def test_global_and_t1_bytes_are_decoded():
    lines = describe_atr(SAM)
    assert lines[2:12] == [
        "  TA(1) = 18  Fi=372 Di=12 fmax=5 MHz: 31 cycles/ETU (129032 bit/s at 4 MHz, 161290 bit/s at fmax)",
        "  TC(1) = FF  N=255: minimum guard time (12 ETU for T=0, 11 ETU for T=1)",
        "  TD(1) = 81  Y(2)=1000 T=1",
        "  TD(2) = F1  Y(3)=1111 T=1",
        "  TA(3) = FE  T=1 IFSC=254",
        "  TB(3) = 43  T=1 BWI=4 CWI=3 (CWT = 19 ETU)",
        "  TC(3) = 00  T=1 error detection: LRC",
        "  TD(3) = 3F  Y(4)=0011 T=15 (global interface bytes follow)",
        "  TA(4) = 03  clock stop not supported; classes A (5 V), B (3 V)",
        "  TB(4) = 83  SPU proprietary use",
    ]
    assert lines[12] == "protocols: T=1"
    assert lines[14] == "  category 4D: proprietary format"


@pytest.mark.parametrize("ta1, text", [
    (0x11, "Fi=372 Di=1 fmax=5 MHz: 372 cycles/ETU (10753 bit/s at 4 MHz, 13441 bit/s at fmax)"),
    (0x96, "Fi=512 Di=32 fmax=5 MHz: 16 cycles/ETU (250000 bit/s at 4 MHz, 312500 bit/s at fmax)"),
    (0x19, "Fi=372 Di=20 fmax=5 MHz: 18.6 cycles/ETU"),
    (0x71, "FI=7 RFU (ISO 7816-3 tables 7 and 8)"),
    (0x10, "DI=0 RFU"),
])
def test_ta1(ta1, text):
    line = describe_atr(build_atr(b"", ta1=ta1, tb1=None, tc1=None))[2]
    assert line.startswith(f"  TA(1) = {ta1:02X}  {text}")


def test_group_two_bytes():
    # TD1=F0: TA2 TB2 TC2 TD2 follow; TA2=81 specific mode T=1; TC2=0A WI; TD2=01 T=1
    atr = bytes.fromhex("3B80F0 81 00 0A 01")
    atr += bytes([0x80 ^ 0xF0 ^ 0x81 ^ 0x00 ^ 0x0A ^ 0x01])
    lines = describe_atr(atr)
    assert lines[3:7] == [
        "  TA(2) = 81  specific mode T=1, cannot change mode, Fi/Di from TA(1)",
        "  TB(2) = 00  PI2=0 (VPP, deprecated)",
        "  TC(2) = 0A  T=0 WI=10: work waiting time 9600 x Fi/f",
        "  TD(2) = 01  Y(3)=0000 T=1",
    ]


def test_structure_problems_are_warnings():
    atr = bytes.fromhex("3B800F") + bytes([0x80 ^ 0x0F])  # T=15 in TD1
    assert "warning: TD(1) indicates T=15, which ISO 7816-3 does not allow in TD(1)" in describe_atr(atr)
    atr = bytes.fromhex("3B8081 00") + bytes([0x80 ^ 0x81 ^ 0x00])  # T=1 then T=0
    assert parse_atr(atr).problems == ("protocols not in ascending order: T=1, T=0",)
    assert parse_atr(atr).protocols == (1, 0)


@pytest.mark.parametrize("hist, lines", [
    ("8031 80 7380 21 40", ["category 80: compact-TLV objects", "  31 card service data: 80",
                            "  73 card capabilities: 80 21 40"]),
    ("00 31C0 059000", ["category 00: compact-TLV objects, then a 3-byte status indicator",
                        "  31 card service data: C0",
                        "  status indicator: LCS=05 (operational, activated), SW=9000 (normal processing)"]),
    ("80 829000", ["category 80: compact-TLV objects", "  82 status indicator: SW=9000 (normal processing)"]),
    ("00 9000", ["category 00: compact-TLV objects, then a 3-byte status indicator",
                 "  malformed: 2 bytes follow the category byte, the status indicator needs 3"]),
    ("10 05", ["category 10: DIR data reference 05"]),
    ("85 0102", ["category 85: RFU (ISO 7816-4)"]),
    ("4A 0102", ["category 4A: proprietary format"]),
])
def test_historical_categories(hist, lines):
    atr = build_atr(bytes.fromhex(hist.replace(" ", "")), tb1=None, tc1=None)
    out = describe_atr(atr)
    start = out.index(next(line for line in out if line.startswith("historical bytes:"))) + 1
    assert out[start:start + len(lines)] == ["  " + line for line in lines]


def test_compact_tlv_errors():
    assert compact_tlv(b"") == []
    with pytest.raises(ATRError, match="object 45 at offset 0 announces 5 bytes, 2 follow"):
        compact_tlv(bytes.fromhex("45 0102"))


def test_build_social_security_variants():
    hist = TR1[4:]
    assert build_atr(hist) == TR1
    both = build_atr(hist, protocols=("T=0", "T=1"))
    assert both[:6] == bytes.fromhex("3BED00008001")
    parsed = parse_atr(both)
    assert parsed.protocols == (0, 1) and parsed.tck_correct and parsed.historical == hist


def test_build_t1_parameters():
    atr = build_atr(b"\x80", protocols=(1,), tb1=None, tc1=None, ifsc=0xFE, bwi_cwi=0x45, crc=True)
    parsed = parse_atr(atr)
    assert parsed.interface == {"TD1": 0x81, "TD2": 0x71, "TA3": 0xFE, "TB3": 0x45, "TC3": 0x01}
    assert parsed.tck_correct and parsed.problems == ()


@pytest.mark.parametrize("kwargs, message", [
    (dict(historical=bytes(16)), "16 historical bytes: at most 15"),
    (dict(historical=b"", protocols=("T=2x",)), "protocol 'T=2x' is not T=0 ... T=14"),
    (dict(historical=b"", protocols=("T=15",)), "protocol 'T=15'"),
    (dict(historical=b"", protocols=()), "no protocol given"),
    (dict(historical=b"", protocols=("T=1", "T=0")), "distinct and ascending"),
    (dict(historical=b"", protocols=("T=1", "T=1")), "distinct and ascending"),
    (dict(historical=b"", ifsc=0x20), "T=1 parameters: offer T=1"),
    (dict(historical=b"", tc1=256), "TC1=256 is not a byte"),
    (dict(historical=bytes(15), protocols=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)),
     "the ATR would be 35 bytes"),
])
def test_build_errors(kwargs, message):
    with pytest.raises(ATRError, match=re.escape(message)):
        build_atr(**kwargs)


def test_to_dict():
    d = parse_atr(VPCD).to_dict()
    assert d["protocols"] == ["T=0", "T=1"] and d["tck"] == "6A" and d["tck_correct"] is True
    assert d["interface"] == {"TD1": "80", "TD2": "01"} and d["ssc"] is None
    assert parse_atr(TR1).to_dict()["ssc"]["serial"] == "000001AC"


@given(hist=st.binary(max_size=15),
       protocols=st.sampled_from([(0,), (1,), (0, 1)]),
       ta1=st.none() | st.integers(0, 255), tb1=st.none() | st.integers(0, 255), tc1=st.none() | st.integers(0, 255))
def test_build_parse_roundtrip(hist, protocols, ta1, tb1, tc1):
    raw = build_atr(hist, protocols=protocols, ta1=ta1, tb1=tb1, tc1=tc1)
    atr = parse_atr(raw)
    assert atr.historical == hist and atr.protocols == protocols
    assert (atr.interface_byte("TA", 1), atr.interface_byte("TB", 1), atr.interface_byte("TC", 1)) == (ta1, tb1, tc1)
    assert atr.tck_correct is (None if protocols == (0,) else True)
    assert atr.problems == ()
    assert describe_atr(raw)


@given(st.binary(max_size=40))
def test_arbitrary_bytes_only_raise_atr_error(raw):
    try:
        atr = parse_atr(raw)
    except ATRError:
        return
    assert isinstance(atr, ATR) and atr.raw == raw
    assert describe_atr(atr)
