import pytest
from hypothesis import given, strategies as st

from apdu.command import ClassByte, CommandAPDU
from apdu.errors import APDUError
from apdu.response import ResponseAPDU
from apdu.sw import describe, format_sw


@pytest.mark.parametrize("hex_apdu, case, lc, le", [
    ("00A40000", 1, 0, None),
    ("00B2070400", 2, 0, 0),
    ("00A4020002EF05", 3, 2, None),
    ("00A4040007A000000333010100", 4, 7, 0),
    ("00CA000000FFFF", 2, 0, 0xFFFF),           # extended Le
    ("00DA0000000003AABBCC", 3, 3, None),       # extended Lc
    ("00DA0000000003AABBCC0100", 4, 3, 0x100),  # extended Lc and Le
])
def test_cases(hex_apdu, case, lc, le):
    cmd = CommandAPDU.parse(bytes.fromhex(hex_apdu))
    assert (cmd.case, cmd.lc, cmd.le) == (case, lc, le)
    assert cmd.to_bytes() == bytes.fromhex(hex_apdu)


@pytest.mark.parametrize("hex_apdu, message", [
    ("00A4", "APDU too short: 2 bytes"),
    ("00A4040005010203", "Lc=05 but 3 data bytes follow"),
    ("00A40400050102030405060708", "Lc=05 but 8 data bytes follow"),
    ("00A404000000", "extended length needs 3 bytes"),
    ("00A4040000000501", "extended Lc=0005 but 1 data bytes follow"),
    ("FFA40400", "CLA=FF is invalid"),
])
def test_precise_errors(hex_apdu, message):
    with pytest.raises(APDUError, match=message):
        CommandAPDU.parse(bytes.fromhex(hex_apdu))


def test_ne_decoding():
    assert CommandAPDU(0, 0xB0, 0, 0, le=0).ne == 256
    assert CommandAPDU(0, 0xB0, 0, 0, le=0, extended=True).ne == 65536
    assert CommandAPDU(0, 0xB0, 0, 0, le=0x12).ne == 0x12


@pytest.mark.parametrize("cla, channel, sm, chaining, proprietary", [
    (0x00, 0, 0, False, False), (0x03, 3, 0, False, False), (0x0C, 0, 3, False, False),
    (0x10, 0, 0, True, False), (0x40, 4, 0, False, False), (0x4F, 19, 0, False, False),
    (0x60, 4, 3, False, False), (0x84, 0, 1, False, True), (0x80, 0, 0, False, True),
])
def test_class_byte(cla, channel, sm, chaining, proprietary):
    info = ClassByte.decode(cla)
    assert (info.channel, info.secure_messaging, info.chaining, info.proprietary) == (channel, sm, chaining, proprietary)


commands = st.builds(
    CommandAPDU,
    cla=st.integers(0, 0xFE), ins=st.integers(0, 255), p1=st.integers(0, 255), p2=st.integers(0, 255),
    data=st.binary(max_size=300), le=st.one_of(st.none(), st.integers(0, 0xFFFF)),
    extended=st.booleans(),
)


@given(commands)
def test_parse_build_roundtrip(cmd):
    again = CommandAPDU.parse(cmd.to_bytes())
    assert (again.cla, again.ins, again.p1, again.p2, again.data) == (cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data)
    assert again.ne == cmd.ne or (cmd.le is not None and again.le == cmd.le & 0xFF)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_apdu_errors(raw):
    try:
        CommandAPDU.parse(raw)
    except APDUError:
        pass


def test_response_and_sw_catalogue():
    r = ResponseAPDU.parse(bytes.fromhex("0709484131303436393234 9000".replace(" ", "")))
    assert r.sw == 0x9000 and r.data[:2] == b"\x07\x09"
    assert describe(0x63C0) == "verification failed, 0 tries left"
    assert describe(0x63C1) == "verification failed, 1 try left"
    assert describe(0x9302) == "MAC invalid"
    assert describe(0x9401) == "medical purse: insufficient funds"
    assert format_sw(0x6A82) == "6A82 file or application not found"
    with pytest.raises(APDUError):
        ResponseAPDU.parse(b"\x90")
