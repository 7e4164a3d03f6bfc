"""Record layouts: every declared test vector, adapter round-trips, errors, the sample cardholder."""
from __future__ import annotations

import importlib
import pkgutil
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cardspec.records as records
from apdu.hexinput import parse_hex
from cardspec.records import (CARD_ID_CODE, INIT_ORG_CODE, LAYOUTS, AsciiPadded, BcdPadded, Binary, CardIdCode,
                              Date8, DateTime7, FieldValueError, GbkPadded, InitOrgCode, RecordFormatError,
                              RecordLayout, UnknownRecordError, card_number_valid, decode_record, encode_record,
                              layout_for, layouts_in, split_name, ssn_valid)
from cardspec.records.sample import SAMPLE, sample_records


def _declared_layouts() -> list[RecordLayout]:
    """Every RecordLayout reachable from the modules of cardspec.records (registered or not)."""
    found: dict[int, RecordLayout] = {}
    for info in pkgutil.iter_modules(records.__path__):
        module = importlib.import_module(f"cardspec.records.{info.name}")
        for value in vars(module).values():
            items = value if isinstance(value, tuple) else (value,)
            for item in items:
                if isinstance(item, RecordLayout):
                    found[id(item)] = item
    return list(found.values())


def test_discovery_finds_every_registered_layout() -> None:
    declared = _declared_layouts()
    assert {id(x) for x in declared} == {id(x) for x in LAYOUTS.values()}
    assert len(LAYOUTS) == 14 + 18 + 19  # SSSE EF05/EF06, DF01, DF04


@pytest.mark.parametrize("layout", sorted(LAYOUTS.values(), key=lambda x: x.key), ids=lambda x: f"{x.file}/{x.tag:02X}")
def test_layout_vectors(layout: RecordLayout) -> None:
    assert layout.test_vectors, f"{layout.label} has no test vector"
    for hex_record, value in layout.test_vectors:
        raw = parse_hex(hex_record)
        assert raw[0] == layout.tag and raw[1] == layout.length and len(raw) == layout.record_length, hex_record
        assert decode_record(raw, file=layout.file) == (layout.tag, value)
        assert encode_record(layout.tag, value, file=layout.file) == raw
        if layout.tag in {x.tag for x in LAYOUTS.values() if x.file != layout.file}:
            continue
        assert encode_record(layout.tag, value) == raw  # tags are unique across files today


# --- adapters: hypothesis round-trips ------------------------------------------------

def _gbk_text(max_bytes: int) -> st.SearchStrategy[str]:
    def fits(s: str) -> bool:
        try:
            return len(s.encode("gbk")) <= max_bytes
        except UnicodeEncodeError:
            return False
    return st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=max_bytes).filter(fits)


@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), _gbk_text(n))), st.sampled_from([0x00, 0xFF]))
def test_gbk_roundtrip(n_text: tuple[int, str], pad: int) -> None:
    n, text = n_text
    raw = GbkPadded(n).build(text, an_pad=pad)
    assert len(raw) == n and raw.startswith(text.encode("gbk"))
    assert GbkPadded(n).parse(raw) == text


@given(st.integers(1, 20).flatmap(lambda n: st.tuples(st.just(n), st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=n))))
def test_ascii_roundtrip(n_text: tuple[int, str]) -> None:
    n, text = n_text
    raw = AsciiPadded(n).build(text)
    assert raw == text.encode("ascii") + bytes(n - len(text))
    assert AsciiPadded(n).parse(raw) == text


@given(st.integers(1, 8).flatmap(lambda n: st.tuples(st.just(n), st.none() | st.text("0123456789", min_size=1, max_size=2 * n))))
def test_bcd_roundtrip(n_digits: tuple[int, str | None]) -> None:
    n, digits = n_digits
    raw = BcdPadded(n).build(digits)
    assert raw.hex().upper() == (digits or "").ljust(2 * n, "F")
    assert BcdPadded(n).parse(raw) == digits


@given(st.none() | st.dates())
def test_date8_roundtrip(value: date | None) -> None:
    raw = Date8.build(value)
    assert raw.hex().upper() == (f"{value.year:04d}{value.month:02d}{value.day:02d}" if value else "F" * 8)
    assert Date8.parse(raw) == value


@given(st.none() | st.datetimes())
def test_datetime7_roundtrip(value: datetime | None) -> None:
    expected = value.replace(microsecond=0) if value else None
    assert DateTime7.parse(DateTime7.build(expected)) == expected


@given(st.integers(1, 16).flatmap(lambda n: st.tuples(st.just(n), st.binary(min_size=n, max_size=n))))
def test_binary_roundtrip(n_data: tuple[int, bytes]) -> None:
    n, data = n_data
    assert Binary(n).parse(Binary(n).build(data)) == data


@given(st.text("0123456789", min_size=6, max_size=6), st.binary(min_size=4, max_size=4), st.binary(min_size=4, max_size=4))
def test_card_id_code_roundtrip(region: str, serial: bytes, auth: bytes) -> None:
    value = CardIdCode(region, serial, auth)
    raw = CARD_ID_CODE.build(value)
    assert raw == bytes.fromhex(region) + bytes.fromhex("D156000005") + serial + auth
    assert CARD_ID_CODE.parse(raw) == value


@given(st.text("0123456789", min_size=6, max_size=6), st.text("0123456789", min_size=6, max_size=6), st.integers(0, 255))
def test_init_org_code_roundtrip(issuing: str, init: str, seq: int) -> None:
    value = InitOrgCode(issuing, init, seq)
    raw = INIT_ORG_CODE.build(value)
    assert raw == bytes.fromhex("9156000002" + issuing + init) + bytes((seq,))
    assert INIT_ORG_CODE.parse(raw) == value


# --- errors name the field and the problem -------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda: encode_record(0x09, "李😀"), FieldValueError,
     "SSSE/EF06 tag 09 (姓名 name): character '😀' (U+1F600) at position 2 of '李😀' is not in GBK"),
    (lambda: encode_record(0x4E, "欧" * 11), FieldValueError,
     "SSSE/EF06 tag 4E (姓名扩展 name extension): '" + "欧" * 11 + "' is 22 bytes in GBK; the field holds 20"),
    (lambda: encode_record(0x0C, "11010X"), FieldValueError,
     "SSSE/EF06 tag 0C (出生地 birthplace): '11010X' has non-digit 'X' at position 6"),
    (lambda: encode_record(0x0D, "19491231"), FieldValueError,
     "SSSE/EF06 tag 0D (出生日期 birth date): expected a datetime.date or None, got str '19491231'"),
    (lambda: encode_record(0x01, CardIdCode("519900", b"\x01\x02", b"\xff" * 4)), FieldValueError,
     "SSSE/EF05 tag 01 (卡识别码 card identification code): 0102 is 2 bytes; the field holds 4"),
    (lambda: decode_record(bytes.fromhex("0110519900D15600000610000B26FFFFFFFF")), RecordFormatError,
     "SSSE/EF05 tag 01 (卡识别码 card identification code): expected RID D156000005, found D156000006"),
    (lambda: decode_record(bytes.fromhex("0C03 11F105")), RecordFormatError,
     "SSSE/EF06 tag 0C (出生地 birthplace): BCD 11F105 has non-digit nibble F at position 3"),
    (lambda: decode_record(bytes.fromhex("0504 20181301")), RecordFormatError,
     "SSSE/EF05 tag 05 (发卡日期 issue date): 20181301 is not a valid date (month must be in 1..12)"),
    (lambda: decode_record(bytes.fromhex("091E C0EE00C0DA" + "00" * 25)), RecordFormatError,
     "SSSE/EF06 tag 09 (姓名 name): NUL byte inside the text at offset 2 of C0EE00C0DA" + "00" * 25),
    (lambda: decode_record(bytes.fromhex("0709 4841313034363992FF")), RecordFormatError,
     "SSSE/EF05 tag 07 (卡号 card number): bytes 92 at offset 7 are not ASCII"),
    (lambda: decode_record(bytes.fromhex("0708 4841313034363932")), RecordFormatError,
     "SSSE/EF05 tag 07 (卡号 card number): length 08 but the layout needs 09"),
    (lambda: decode_record(bytes.fromhex("070A 484131303436393234")), RecordFormatError,
     "record 070A484131303436393234: SIMPLE-TLV at offset 0: tag 07 length 0x0A runs past the end (9 bytes left)"),
    (lambda: decode_record(bytes.fromhex("0A0132 0A0131")), RecordFormatError,
     "record 0A01320A0131 holds 2 SIMPLE-TLV objects; a record is one"),
    (lambda: decode_record(bytes.fromhex("0A0132"), file="SSSE/EF05"), UnknownRecordError,
     "no record layout for tag 0A in SSSE/EF05"),
    (lambda: encode_record(0x77, "x"), UnknownRecordError, "no record layout for tag 77"),
])
def test_errors(call, error: type[Exception], message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error) as info:
        call()
    assert str(info.value) == message


def test_name_ext_ff_padding() -> None:
    ff = encode_record(0x4E, "", an_pad=0xFF)
    assert ff == bytes.fromhex("4E14") + b"\xff" * 20
    assert decode_record(ff) == (0x4E, "")
    assert decode_record(bytes.fromhex("4E14 C4C8") + b"\xff" * 18) == (0x4E, "娜")


def test_split_name_fills_09_then_4e() -> None:
    full = "阿卜杜热西提·买买提艾力" + "木" * 10
    head, tail = split_name(full)
    assert head + tail == full and len(head.encode("gbk")) <= 30 < len((head + tail[0]).encode("gbk"))
    assert decode_record(encode_record(0x09, head))[1] + decode_record(encode_record(0x4E, tail))[1] == full


# --- the sample cardholder ----------------------------------------------------------

def test_sample_cardholder_records() -> None:
    recs = sample_records()
    assert sum(map(len, recs["SSSE/EF05"])) == 0x40 and sum(map(len, recs["SSSE/EF06"])) == 0x5B
    for file, raws in recs.items():
        assert [r[0] for r in raws] == [lay.tag for lay in layouts_in(file)]  # record order
        for raw in raws:
            tag, value = decode_record(raw, file=file)
            assert SAMPLE[(file, tag)] == value
    ef06 = {t: SAMPLE[("SSSE/EF06", t)] for t in (0x08, 0x0A, 0x0C, 0x0D)}
    ssn = ef06[0x08]
    assert ssn_valid(ssn) and card_number_valid(SAMPLE[("SSSE/EF05", 0x07)])
    assert ssn[:6] == ef06[0x0C] and ssn[6:14] == ef06[0x0D].strftime("%Y%m%d")
    assert int(ssn[16]) % 2 == (1 if ef06[0x0A] == "1" else 0)  # odd sequence digit = male
    assert recs["SSSE/EF05"][0].hex().upper() == "0110511300D1560000055A3C9E01FFFFFFFF"
    assert layout_for(0x09).encode(SAMPLE[("SSSE/EF06", 0x09)]).hex().upper() == "091ECDF5D0E3D3A2" + "00" * 24
