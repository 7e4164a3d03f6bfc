"""BER-TLV, SIMPLE-TLV and DOL codecs: reference examples, precise errors, round trips."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from apdu.dol import TAG_FORMAT, build_dol, build_dol_data, dol_length, parse_dol, split_dol_data
from apdu.errors import SSCardError, TLVError
from apdu.tlv import (MAX_DEPTH, TLV, SimpleLength, build_ber, build_simple, encode_length, encode_tag, find,
                      format_tree, parse_ber, parse_one, parse_simple, to_dict)

# pboc.md §1.1, §1.5, §2.2 and ssse.md §1-2
PSE_FCI = bytes.fromhex("6F26840E315041592E5359532E4444463031A5148801015F2D027A689F110101BF0C059F4D020B0A")
ADF_FCI = bytes.fromhex(
    "6F4A8408A000000333010101A53E500A50424F43204445424954870101"
    "9F38099F7A019F02065F2A025F2D027A689F1101019F120A50424F43204445424954"
    "BF0C0A9F4D020B0ADF4D020C0A")
SSSE_FCI = bytes.fromhex("6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103")
PDOL = bytes.fromhex("9F7A019F02065F2A02")
CDOL1 = bytes.fromhex("9F02069F03069F1A0295055F2A029A039F21039C019F37049F4E14")
CDOL2 = bytes.fromhex("8A029F02069F03069F1A0295055F2A029A039F21039C019F3704")
HEX = bytes.hex


# --- BER-TLV: reference data -------------------------------------------------------


def test_pse_fci_structure():
    [fci] = parse_ber(PSE_FCI)
    assert fci.tag == 0x6F and fci.constructed
    df_name, prop = fci.children()
    assert df_name == TLV(0x84, b"1PAY.SYS.DDF01")
    assert [c.tag for c in prop.children()] == [0x88, 0x5F2D, 0x9F11, 0xBF0C]
    assert find(fci.children(), 0x88).value == b"\x01"
    assert find(PSE_FCI, 0xBF0C) == TLV(0xBF0C, bytes.fromhex("9F4D020B0A"))
    assert fci.to_bytes() == PSE_FCI


def test_adf_fci_pdol_and_logs():
    assert len(ADF_FCI) == 2 + 0x4A
    pdol = find(ADF_FCI, 0x9F38).value
    assert parse_dol(pdol) == [(0x9F7A, 1), (0x9F02, 6), (0x5F2A, 2)]
    assert find(ADF_FCI, 0x9F12).value == b"PBOC DEBIT"
    assert find(ADF_FCI, 0xDF4D).value == bytes.fromhex("0C0A")
    assert to_dict(ADF_FCI)[0x50] == b"PBOC DEBIT"


def test_ssse_fci_tree():
    assert format_tree(SSSE_FCI) == (
        "6F 1C\n"
        "  84 0F 7378312E73682EC9E7BBE1B1A3D5CF\n"
        "  A5 09\n"
        "    88 01 1E\n"
        "    9F0C 03 860103")


def test_format_tree_long_length_and_empty_value():
    tree = format_tree([TLV.template(0x70, TLV(0x90, bytes(0x90)), TLV(0x9F4D))])
    assert tree.splitlines()[0] == "70 8196"
    assert tree.splitlines()[1] == "  90 8190 " + "00" * 0x90
    assert tree.splitlines()[2] == "  9F4D 00"


def test_gpo_format_2_to_dict():
    gpo = bytes.fromhex("7716" "82027D00" "9410" "08010200100105001801020100000000")
    assert to_dict(gpo) == {0x82: bytes.fromhex("7D00"), 0x94: bytes.fromhex("08010200100105001801020100000000")}


def test_to_dict_rejects_repeated_tag():
    ppse = TLV.template(0xBF0C, TLV.template(0x61, TLV(0x4F, b"\xa0")), TLV.template(0x61, TLV(0x4F, b"\xa1")))
    with pytest.raises(TLVError, match="tag 4F occurs more than once"):
        to_dict([ppse])
    assert [find(entry.children(), 0x4F).value for entry in ppse.children()] == [b"\xa0", b"\xa1"]


def test_find_prefers_outer_object_and_returns_none():
    inner = TLV.template(0x70, TLV(0x57, b"\x62"))
    outer = TLV.template(0x70, inner)
    assert find([outer], 0x70) is outer
    assert find([outer], 0x57).value == b"\x62"
    assert find([outer], 0x5A) is None


def test_parse_one():
    assert parse_one(bytes.fromhex("9F3602000E"), tag=0x9F36).value == b"\x00\x0e"
    with pytest.raises(TLVError, match="expected one BER-TLV object, found 2"):
        parse_one(bytes.fromhex("880101880102"))
    with pytest.raises(TLVError, match="expected one BER-TLV object, found 0"):
        parse_one(b"")


# --- BER-TLV: tags and lengths ------------------------------------------------------


@pytest.mark.parametrize("tag, encoded", [
    (0x4F, "4F"), (0x6F, "6F"), (0x9F38, "9F38"), (0x5F2D, "5F2D"), (0xBF0C, "BF0C"),
    (0xDF4D, "DF4D"), (0x9F8101, "9F8101"), (0x1F02, "1F02"),
])
def test_encode_tag(tag, encoded):
    assert HEX(encode_tag(tag)).upper() == encoded


@pytest.mark.parametrize("tag, message", [
    (0, "tag 0 is not a positive integer"),
    (-5, "tag -5 is not a positive integer"),
    (True, "tag True is not a positive integer"),
    (0x9F, "tag 9F is incomplete: first byte 9F announces a subsequent byte"),
    (0x9F81, "tag 9F81 is incomplete: byte 81 announces another byte"),
    (0x6F01, "tag 6F01 is invalid: first byte 6F makes a one-byte tag"),
    (0x9F8081, "tag 9F8081 is invalid: subsequent byte 80 has b7-b1 all zero"),
    (0x5F00, "tag 5F00 is invalid: subsequent byte 00 has b7-b1 all zero"),
    (0x9F0181, "tag 9F0181 is invalid: subsequent byte 01 ends the tag before its last byte"),
    (0x9F818101, "tag 9F818101 is longer than 3 bytes"),
    (0xFF01, "tag FF01 is invalid: first byte FF is reserved for padding"),
])
def test_encode_tag_rejects(tag, message):
    with pytest.raises(TLVError, match=f"^{message}$"):
        encode_tag(tag)


@pytest.mark.parametrize("n, encoded", [
    (0, "00"), (0x7F, "7F"), (0x80, "8180"), (0xFF, "81FF"), (0x100, "820100"), (0xFFFF, "82FFFF"),
    (0x10000, "83010000"), (0xFFFFFF, "83FFFFFF"), (0x1000000, "8401000000"), (0xFFFFFFFF, "84FFFFFFFF"),
])
def test_encode_length(n, encoded):
    assert HEX(encode_length(n)).upper() == encoded


@pytest.mark.parametrize("n", [-1, 0x100000000])
def test_encode_length_rejects(n):
    with pytest.raises(TLVError, match=f"length {n} cannot be encoded"):
        encode_length(n)


def test_long_and_non_minimal_lengths_parse():
    assert parse_ber(bytes.fromhex("848181") + bytes(0x81)) == [TLV(0x84, bytes(0x81))]
    assert parse_ber(bytes.fromhex("848200FF") + b"\x01" * 0xFF) == [TLV(0x84, b"\x01" * 0xFF)]
    # BER allows a longer length field than needed; the object re-encodes in shortest form
    [obj] = parse_ber(bytes.fromhex("5F2D8102") + b"zh")
    assert obj == TLV(0x5F2D, b"zh") and obj.to_bytes() == bytes.fromhex("5F2D027A68")
    assert parse_ber(bytes.fromhex("888400000001AA")) == [TLV(0x88, b"\xaa")]


def test_three_byte_tag():
    assert parse_ber(bytes.fromhex("DF810103010203")) == [TLV(0xDF8101, b"\x01\x02\x03")]


# --- BER-TLV: padding ----------------------------------------------------------------


def test_padding_between_and_inside_objects():
    data = bytes.fromhex("0000 880101 FF 7005 00 5A01 11 FF 0000")
    assert parse_ber(data) == [TLV(0x88, b"\x01"), TLV(0x70, bytes.fromhex("005A0111FF"))]
    assert parse_ber(data)[1].children() == [TLV(0x5A, b"\x11")]
    with pytest.raises(TLVError, match="^BER-TLV at offset 0: tag 00 is invalid: first byte 00 is reserved"):
        parse_ber(data, allow_padding=False)
    with pytest.raises(TLVError, match=r"^BER-TLV at offset 5 \(inside 70\): tag 00 is invalid"):
        parse_ber(bytes.fromhex("880101 7005 00 5A01 11 FF"), allow_padding=False)
    assert parse_ber(b"\x00\xff\x00") == []


# --- BER-TLV: precise errors ---------------------------------------------------------


@pytest.mark.parametrize("hex_data, message", [
    ("9F", "BER-TLV at offset 0: tag 9F is incomplete: first byte 9F announces a subsequent byte"),
    ("880101 9F38", "BER-TLV at offset 3: tag 9F38 has no length field"),
    ("880101 6F80 0000", "BER-TLV at offset 3: tag 6F uses the indefinite length form 80"),
    ("6F85 0000000000", "BER-TLV at offset 0: tag 6F has length byte 85, reserved"),
    ("6F82 01", r"BER-TLV at offset 0: tag 6F length field 82 needs 2 more bytes \(1 byte left\)"),
    ("9F0101 AA 9F3820 " + "00" * 12,
     r"BER-TLV at offset 4: tag 9F38 length 0x20 runs past the end \(12 bytes left\)"),
    ("6F07 8402 3132 A503 8801",
     r"BER-TLV at offset 6 \(inside 6F\): tag A5 length 0x03 runs past the end of 6F \(1 byte left\)"),
    ("6F0A 8402 3132 A504 BF0C02 9F",
     r"BER-TLV at offset 8 \(inside 6F > A5\): tag BF0C length 0x02 runs past the end of A5 \(1 byte left\)"),
    ("7002 9F4D", r"BER-TLV at offset 2 \(inside 70\): tag 9F4D has no length field"),
    ("1F8001 00", "BER-TLV at offset 0: tag 1F8001 is invalid: subsequent byte 80 has b7-b1 all zero"),
    ("9F81818101 00", "BER-TLV at offset 0: tag 9F818181 is longer than 3 bytes"),
])
def test_ber_errors_name_offset_and_tag(hex_data, message):
    with pytest.raises(TLVError, match=f"^{message}"):
        parse_ber(bytes.fromhex(hex_data))


def test_truncated_fci_at_every_length():
    for cut in range(1, len(PSE_FCI)):
        with pytest.raises(TLVError, match="^BER-TLV at offset 0: tag 6F"):
            parse_ber(PSE_FCI[:cut])


def test_nesting_limit():
    def nest(levels: int) -> bytes:
        obj = TLV(0x88, b"\x01")
        for _ in range(levels):
            obj = TLV.template(0x70, obj)
        return obj.to_bytes()

    assert len(parse_ber(nest(MAX_DEPTH))) == 1
    with pytest.raises(TLVError, match=f"tag 70 nests deeper than {MAX_DEPTH} levels"):
        parse_ber(nest(MAX_DEPTH + 1))
    deep = b""
    for _ in range(3000):  # far beyond Python's recursion limit: still a TLVError
        deep = build_ber(0x30, deep)
    with pytest.raises(TLVError, match=r"inside 30 > \.\.\. > 30 > 30\): tag 30 nests deeper"):
        parse_ber(deep)


def test_tlv_object_rules():
    assert TLV(0x84, bytearray(b"\x01")).value == b"\x01"
    with pytest.raises(TLVError, match="tag 9F is incomplete"):
        TLV(0x9F, b"")
    with pytest.raises(TLVError, match="tag 84 is primitive; it has no children"):
        TLV(0x84, b"").children()
    with pytest.raises(TLVError, match="tag 84 is primitive; a template needs a constructed tag"):
        TLV.template(0x84)
    with pytest.raises(TLVError, match="^value of 6F: BER-TLV at offset 0: tag 84 length 0x05 runs past"):
        TLV(0x6F, bytes.fromhex("840501")).children()
    assert bytes(TLV(0x9F36, b"\x00\x0e")) == bytes.fromhex("9F3602000E")
    assert repr(TLV(0x9F36, b"\x00\x0e")) == "TLV(tag=0x9F36, value=bytes.fromhex('000E'))"
    assert issubclass(TLVError, SSCardError)


# --- SIMPLE-TLV ------------------------------------------------------------------------


def test_simple_ef05_records():
    ef05 = bytes.fromhex(
        "0110519900D15600000510000B26FFFFFFFF" "020133" "0304332E3030" "040C9156000002511300511300DB"
        "050420180403" "060420280403" "0709484131303436393234")
    records = parse_simple(ef05)
    assert [tag for tag, _ in records] == [1, 2, 3, 4, 5, 6, 7]
    assert records[6] == (7, b"HA1046924")
    assert b"".join(build_simple(tag, value) for tag, value in records) == ef05


def test_simple_three_byte_length():
    assert build_simple(0x40, bytes(254))[:2] == bytes.fromhex("40FE")
    assert build_simple(0x40, bytes(255))[:4] == bytes.fromhex("40FF00FF")
    assert parse_simple(bytes.fromhex("40FF0003AABBCC")) == [(0x40, bytes.fromhex("AABBCC"))]
    assert SimpleLength.build(0xFE) == b"\xfe" and SimpleLength.parse(b"\xff\xff\xff") == 0xFFFF


@pytest.mark.parametrize("hex_data, message", [
    ("00", r"SIMPLE-TLV at offset 0: tag 00 is invalid \(tags are 01 to FE\)"),
    ("020133 FF00", r"SIMPLE-TLV at offset 3: tag FF is invalid \(tags are 01 to FE\)"),
    ("020133 08", "SIMPLE-TLV at offset 3: tag 08 has no length byte"),
    ("08FF00", r"SIMPLE-TLV at offset 0: tag 08 length field FF needs 2 more bytes \(1 byte left\)"),
    ("0812 3132", r"SIMPLE-TLV at offset 0: tag 08 length 0x12 runs past the end \(2 bytes left\)"),
    ("08FF0100 00", r"SIMPLE-TLV at offset 0: tag 08 length 0x100 runs past the end \(1 byte left\)"),
])
def test_simple_errors(hex_data, message):
    with pytest.raises(TLVError, match=f"^{message}$"):
        parse_simple(bytes.fromhex(hex_data))


@pytest.mark.parametrize("tag, value, message", [
    (0x00, b"", "SIMPLE-TLV tag 00 is invalid"),
    (0xFF, b"", "SIMPLE-TLV tag FF is invalid"),
    (0x100, b"", "SIMPLE-TLV tag 100 is invalid"),
    (0x01, bytes(0x10000), "SIMPLE-TLV value of 65536 bytes exceeds 65535"),
])
def test_build_simple_rejects(tag, value, message):
    with pytest.raises(TLVError, match=message):
        build_simple(tag, value)


# --- DOL ---------------------------------------------------------------------------------


def test_reference_dols():
    assert parse_dol(PDOL) == [(0x9F7A, 1), (0x9F02, 6), (0x5F2A, 2)]
    assert dol_length(PDOL) == 9
    assert dol_length(CDOL1) == 52 and len(parse_dol(CDOL1)) == 10
    assert dol_length(CDOL2) == 2 + 6 + 6 + 2 + 5 + 2 + 3 + 3 + 1 + 4
    assert build_dol(parse_dol(CDOL1)) == CDOL1
    assert build_dol([(0x9F37, 4)]) == bytes.fromhex("9F3704")
    assert dol_length([(0x9F37, 4), (0x9F02, 6)]) == 10


def test_cdol1_data_to_ac_input_vector_a():
    """pboc.md §4.3 vector A: the AC input takes 8 of the 10 CDOL1 values, in its own order."""
    ac_input = bytes.fromhex("0000000012340000000000340156D86004A80001561205160101010101")
    ac_tags = [(0x9F02, 6), (0x9F03, 6), (0x9F1A, 2), (0x95, 5), (0x5F2A, 2), (0x9A, 3), (0x9C, 1), (0x9F37, 4)]
    values = split_dol_data(ac_tags, ac_input)
    cdol1_data = build_dol_data(CDOL1, {**values, 0x9F21: bytes.fromhex("102030")})
    assert len(cdol1_data) == 52
    received = split_dol_data(CDOL1, cdol1_data)
    assert received[0x9F21] == bytes.fromhex("102030") and received[0x9F4E] == bytes(20)
    assert build_dol_data(ac_tags, received) == ac_input


@pytest.mark.parametrize("tag, value, length, expected", [
    (0x9F02, "1234", 6, "000000001234"),        # n, short: leading zeros
    (0x9F02, "00000000001234", 6, "000000001234"),  # n, long: keep the rightmost bytes
    (0x5A, "6228480012", 8, "6228480012FFFFFF"),  # cn, short: trailing FF
    (0x5A, "62284800123456789F", 4, "62284800"),  # cn, long: keep the leftmost bytes
    (0x9F37, "AABB", 4, "AABB0000"),             # b, short: trailing zeros
    (0x9F37, "AABBCCDDEE", 4, "AABBCCDD"),       # b, long: keep the leftmost bytes
    (0x9F4E, "414243", 5, "4142430000"),          # ans: trailing zeros
    (0x8A, "3030", 1, "30"),                      # an: truncated on the right
    (0xDF01, "0102", 3, "010200"),                # unknown tag: treated as b
    (0x9F02, "", 6, "000000000000"),
    (0x9F02, "1234", 0, ""),
])
def test_dol_fitting_rules(tag, value, length, expected):
    assert HEX(build_dol_data([(tag, length)], {tag: bytes.fromhex(value)})).upper() == expected


def test_dol_missing_and_constructed_tags_are_zero_filled():
    dol = [(0x9F02, 6), (0x70, 3), (0x5A, 2)]
    assert build_dol_data(dol, {0x70: b"\x01\x02\x03"}) == bytes(11)


def test_dol_custom_formats():
    dol = [(0xDF01, 4)]
    assert build_dol_data(dol, {0xDF01: b"\x12"}, formats={0xDF01: "n"}) == bytes.fromhex("00000012")
    assert build_dol_data(dol, {0xDF01: b"\x12"}, formats={0xDF01: "cn"}) == bytes.fromhex("12FFFFFF")
    with pytest.raises(TLVError, match="tag DF01: unknown data format 'z'"):
        build_dol_data(dol, {0xDF01: b"\x12"}, formats={0xDF01: "z"})


def test_tag_format_table():
    assert {TAG_FORMAT[t] for t in (0x9F02, 0x9F03, 0x5F2A, 0x9F1A, 0x9A, 0x9C, 0x9F21)} == {"n"}
    assert TAG_FORMAT[0x5A] == "cn" and TAG_FORMAT[0x9F4E] == "ans"
    assert {TAG_FORMAT[t] for t in (0x9F37, 0x95, 0x9F7A)} == {"b"}
    assert set(TAG_FORMAT.values()) <= {"n", "cn", "b", "an", "ans"}
    assert all(encode_tag(tag) for tag in TAG_FORMAT)


@pytest.mark.parametrize("hex_dol, message", [
    ("9F7A019F02", "DOL at offset 3: tag 9F02 has no length byte"),
    ("9F", "DOL at offset 0: tag 9F is incomplete"),
    ("9F370400", "DOL at offset 3: tag 00 is invalid: first byte 00 is reserved for padding"),
])
def test_parse_dol_errors(hex_dol, message):
    with pytest.raises(TLVError, match=f"^{message}"):
        parse_dol(bytes.fromhex(hex_dol))


def test_dol_entry_errors():
    with pytest.raises(TLVError, match="DOL entry 9F02: length 256 does not fit in one byte"):
        build_dol([(0x9F02, 256)])
    with pytest.raises(TLVError, match="DOL entry 9F02: length -1 does not fit in one byte"):
        dol_length([(0x9F02, -1)])
    with pytest.raises(TLVError, match="tag 9F is incomplete"):
        build_dol_data([(0x9F, 1)], {})


def test_split_dol_data_errors():
    with pytest.raises(TLVError, match="^DOL data is 50 bytes, the DOL expects 52$"):
        split_dol_data(CDOL1, bytes(50))
    with pytest.raises(TLVError, match="^DOL data is 53 bytes, the DOL expects 52$"):
        split_dol_data(CDOL1, bytes(53))
    with pytest.raises(TLVError, match="DOL lists tag 9F37 twice"):
        split_dol_data([(0x9F37, 4), (0x9F37, 4)], bytes(8))


# --- properties ------------------------------------------------------------------------

_MULTI_FIRST = [b for b in range(0x1F, 0xFF, 0x20)]  # xxx11111 except FF
one_byte_tags = st.integers(0x01, 0xFE).filter(lambda b: b & 0x1F != 0x1F)
two_byte_tags = st.builds(lambda a, b: a << 8 | b, st.sampled_from(_MULTI_FIRST), st.integers(0x01, 0x7F))
three_byte_tags = st.builds(lambda a, b, c: a << 16 | b << 8 | c,
                            st.sampled_from(_MULTI_FIRST), st.integers(0x81, 0xFF), st.integers(0x00, 0x7F))
tags = st.one_of(one_byte_tags, two_byte_tags, three_byte_tags)


def _first(tag: int) -> int:
    return tag >> (8 * ((tag.bit_length() - 1) // 8))


primitive_tags = tags.filter(lambda t: not _first(t) & 0x20)
constructed_tags = tags.filter(lambda t: bool(_first(t) & 0x20))
values = st.one_of(st.binary(max_size=16), st.binary(min_size=120, max_size=300))

# a node is (tag, bytes) for a primitive object or (tag, [nodes]) for a constructed one
nodes = st.recursive(
    st.tuples(primitive_tags, values),
    lambda kids: st.tuples(constructed_tags, st.lists(kids, max_size=4)),
    max_leaves=12,
)


def _build(node) -> TLV:
    tag, body = node
    return TLV.template(tag, *map(_build, body)) if isinstance(body, list) else TLV(tag, body)


def _unbuild(obj: TLV):
    return (obj.tag, [_unbuild(c) for c in obj.children()]) if obj.constructed else (obj.tag, obj.value)


@settings(max_examples=250)
@given(st.lists(nodes, max_size=4))
def test_ber_round_trip(trees):
    objects = [_build(tree) for tree in trees]
    encoded = b"".join(obj.to_bytes() for obj in objects)
    parsed = parse_ber(encoded, allow_padding=False)
    assert parsed == objects
    assert [_unbuild(obj) for obj in parsed] == trees
    assert len(format_tree(encoded).splitlines()) == sum(_count(tree) for tree in trees)


def _count(node) -> int:
    tag, body = node
    return 1 + sum(map(_count, body)) if isinstance(body, list) else 1


@settings(max_examples=200)
@given(st.lists(st.tuples(nodes, st.binary(max_size=3).map(lambda b: bytes(0xFF if x & 1 else 0 for x in b))),
                max_size=4))
def test_ber_padding_is_skipped(trees_with_padding):
    objects = [_build(tree) for tree, _ in trees_with_padding]
    padded = b"".join(pad + obj.to_bytes() for obj, (_, pad) in zip(objects, trees_with_padding))
    assert parse_ber(padded) == objects
    if len(padded) != sum(len(obj.to_bytes()) for obj in objects):
        with pytest.raises(TLVError):
            parse_ber(padded, allow_padding=False)


@settings(max_examples=250)
@given(nodes, st.data())
def test_ber_damage_raises_only_tlverror(tree, data):
    """Truncating or changing one byte of a valid encoding gives objects or a TLVError."""
    encoded = _build(tree).to_bytes()
    cut = data.draw(st.integers(0, len(encoded)))
    index = data.draw(st.integers(0, len(encoded) - 1))
    flipped = bytearray(encoded)
    flipped[index] = data.draw(st.integers(0, 255))
    for damaged in (encoded[:cut], bytes(flipped)):
        try:
            parse_ber(damaged)
        except TLVError:
            pass


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_tlverror(data):
    for parse in (parse_ber, lambda d: parse_ber(d, allow_padding=False), format_tree, to_dict,
                  parse_simple, parse_dol, lambda d: split_dol_data(d, d)):
        try:
            parse(data)
        except TLVError:
            pass


@settings(max_examples=250)
@given(st.lists(st.tuples(st.integers(0x01, 0xFE), st.binary(max_size=300)), max_size=6))
def test_simple_round_trip(records):
    assert parse_simple(b"".join(build_simple(tag, value) for tag, value in records)) == records


@settings(max_examples=250)
@given(st.lists(st.tuples(tags, st.integers(0, 255)), max_size=12))
def test_dol_round_trip(entries):
    assert parse_dol(build_dol(entries)) == entries
    assert dol_length(build_dol(entries)) == sum(length for _, length in entries)


@settings(max_examples=250)
@given(st.lists(st.tuples(primitive_tags, st.integers(0, 32)), max_size=10, unique_by=lambda e: e[0]), st.data())
def test_dol_data_round_trip(entries, data):
    values = {tag: data.draw(st.binary(min_size=length, max_size=length)) for tag, length in entries}
    built = build_dol_data(entries, values)
    assert len(built) == dol_length(entries)
    assert split_dol_data(build_dol(entries), built) == values
