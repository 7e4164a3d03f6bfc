import pytest
from hypothesis import given, strategies as st

from apdu.errors import HexError
from apdu.hexinput import parse_hex, parse_hex_args


@pytest.mark.parametrize("text", ["00A40400", "00A4 0400", "00:A4:04:00", "0x00 0xA4 0x04 0x00", "00 a4 04 00",
                                  "00-A4-04-00", " 00A4\t0400\n", "0x00A4 0400"])
def test_forms_engineers_type(text):
    assert parse_hex(text) == bytes.fromhex("00A40400")


@pytest.mark.parametrize("text, message", [
    ("00A4 04G0", "bad hex character 'G' at position 8"),
    ("00A4 040", "odd number of hex digits"),
    ("0A 4", "odd number of hex digits"),
    ("0x", "'0x' without digits"),
    ("00A4 0400 é", "bad hex character 'é' at position 11"),
])
def test_errors_name_the_position(text, message):
    with pytest.raises(HexError, match=message):
        parse_hex(text)


def test_args_are_joined():
    assert parse_hex_args(("00A4", "0400", "0F")) == bytes.fromhex("00A404000F")


@given(st.binary(max_size=64), st.sampled_from(["", " ", ":", "-"]))
def test_roundtrip(data, sep):
    assert parse_hex(data.hex(sep) if sep else data.hex()) == data


@given(st.text(max_size=40))
def test_only_hex_errors(text):
    try:
        parse_hex(text)
    except HexError:
        pass
