"""The ISO 7816-4 file system of the virtual card: the model, SELECT and the record and
binary commands, checked byte for byte against the field sequences of ssse.md §3."""
from __future__ import annotations

from typing import Callable

import pytest

from apdu.sw import SWError
from cardsim import (DF, MF, CardOS, CyclicEF, FileSystemError, LinearFixedEF, LinearVariableEF, RecordingStore,
                     RecordRef, RuntimeSettings, TransparentEF)
from cardspec.access import AccessRule

ATR = bytes.fromhex("3B6D000000814A444686605199000001AC")
SSSE_NAME = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
FCI = "6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103"
EF05_RECORDS = ["0110519900D15600000510000B26FFFFFFFF", "020133", "0304332E3030", "040C9156000002511300511300DB",
                "050420180403", "060420280403", "0709484131303436393234"]
EF06_RECORDS = ["0812" + b"51132119800101123X".hex(), "091E" + "C0EEC0DA" + "00" * 26, "4E14" + "00" * 20,
                "0A0132", "0B0101", "0C03FFFFFF", "0D0419800101"]
EF05_ALL = "".join(EF05_RECORDS).upper()
EF06_ALL = "".join(EF06_RECORDS).upper()
UK = AccessRule.parse("key:04")
RK = AccessRule.parse("key:0A")


def build_mf() -> MF:
    """MF -> SSSE (DDF1) with EF05/EF06/EF07/EF08/EF0D and two application DFs."""
    ssse = DF(0xDDF1, name=SSSE_NAME, proprietary=bytes.fromhex("88011E9F0C03860103"))
    ssse.add(LinearVariableEF(0xEF05, sfi=5, write=UK, records=[bytes.fromhex(r) for r in EF05_RECORDS]))
    ssse.add(LinearVariableEF(0xEF06, sfi=6, write=UK, records=[bytes.fromhex(r) for r in EF06_RECORDS]))
    ssse.add(TransparentEF(0xEF07, sfi=7, size=0x300, read=RK, write=UK, data=bytes(range(256)) * 3))
    ssse.add(TransparentEF(0xEF08, sfi=8, size=0x20, write=AccessRule.parse("never"),
                           data=bytes.fromhex("AA" * 0x20)))
    ssse.add(LinearVariableEF(0xEF0D, sfi=13, max_records=3, max_record_length=0x10, write=UK))
    df01 = ssse.add(DF(0xDF01, name=bytes.fromhex("D15600000500")))
    df01.add(LinearVariableEF(0xEF05, sfi=5, read=AccessRule.parse("pin|key:84"),
                              records=[bytes.fromhex("20023031")]))
    df04 = ssse.add(DF(0xDF04, name=bytes.fromhex("D15600000503")))
    df04.add(CyclicEF(0xEF15, sfi=21, record_length=3, max_records=3))
    df04.add(LinearFixedEF(0xEF16, sfi=22, record_length=4, max_records=2))
    df04.add(LinearVariableEF(0xEF17, sfi=23,
                              records=[bytes.fromhex(r) for r in ("0101AA", "0201BB", "0101CC", "0201DD")]))
    return MF(children=[ssse])


def make_card(**settings: object) -> tuple[CardOS, RecordingStore]:
    store = RecordingStore()
    card = CardOS(build_mf(), atr=ATR, settings=RuntimeSettings(**settings), store=store)  # type: ignore[arg-type]
    card.power_on()
    return card, store


def tx(card: CardOS, apdu: str) -> str:
    return card.transmit(bytes.fromhex(apdu.replace(" ", ""))).hex().upper()


@pytest.fixture
def card() -> CardOS:
    return make_card()[0]


@pytest.fixture
def ssse(card: CardOS) -> CardOS:
    assert tx(card, "00A404000F" + SSSE_NAME.hex()) == FCI + "9000"
    return card


# --- the model ------------------------------------------------------------------------
def test_tree_sizes_match_the_traces() -> None:
    assert len(bytes.fromhex(EF05_ALL)) == 0x40 and len(bytes.fromhex(EF06_ALL)) == 0x5B


@pytest.mark.parametrize("build, message", [
    (lambda: DF(0x3FFF), "reserved"),
    (lambda: DF(0x1000, name=bytes(17)), "DF name of 17 bytes"),
    (lambda: LinearVariableEF(0xEF01, sfi=31), "SFI 31 outside 1-30"),
    (lambda: LinearVariableEF(0xEF01, records=[bytes.fromhex("0703AA")]), "EF01 record 1 0703AA"),
    (lambda: LinearVariableEF(0xEF01, max_records=1, records=[b"\x01\x00", b"\x02\x00"]), "more than 1 records"),
    (lambda: LinearFixedEF(0xEF01, record_length=2, max_records=2, records=[b"\x01"]), "wrong length"),
    (lambda: TransparentEF(0xEF01, size=2, data=b"abc"), "3 bytes of content exceed the size 2"),
    (lambda: DF(0x1000, children=[TransparentEF(0x2000, size=1), TransparentEF(0x2000, size=1)]),
     "identifier 2000 already used"),
    (lambda: DF(0x1000, children=[TransparentEF(0x2000, size=1, sfi=1), TransparentEF(0x2001, size=1, sfi=1)]),
     "SFI 01 already used"),
    (lambda: MF(children=[DF(0x1000, name=b"A"), DF(0x2000, children=[DF(0x2001, name=b"A")])]),
     "DF name 41 already on the card"),
    (lambda: DF(0x1000, children=[MF()]), "the MF cannot be a child"),
    (lambda: DF(0x10000), "file identifier 65536 is not two bytes"),
    (lambda: TransparentEF(0x3F00, size=1), "an EF cannot have the MF identifier"),
    (lambda: TransparentEF(0xEF01, size=0x8001), "size 32769 outside 1-32768"),
    (lambda: LinearVariableEF(0xEF01, max_records=255), "255 records"),
    (lambda: LinearVariableEF(0xEF01, max_record_length=1), "maximum record length 1 outside 2-255"),
    (lambda: CyclicEF(0xEF01, record_length=256, max_records=1), "record length 256 outside 1-255"),
    (lambda: [DF(0x1000, children=[ef := TransparentEF(0xEF01, size=1)]), DF(0x2000, children=[ef])],
     "already a child of 1000"),
])
def test_impossible_trees_are_refused(build: Callable[[], object], message: str) -> None:
    with pytest.raises(FileSystemError, match=message):
        build()


def test_labels_and_default_fci() -> None:
    mf = build_mf()
    assert mf.fci().hex().upper() == "6F0483023F00"
    ssse = mf.child(0xDDF1)
    assert isinstance(ssse, DF)
    df04 = ssse.child(0xDF04)
    assert isinstance(df04, DF) and df04.fci().hex().upper() == "6F088406D15600000503"
    assert repr(df04.child(0xEF15)) == "<CyclicEF 3F00/DDF1/DF04/EF15>"


def test_declared_fci_and_its_precedence() -> None:
    tr4 = bytes.fromhex("6F10840E315041592E5359532E4444463031")  # TR4: the MF answers 1PAY.SYS.DDF01
    assert MF(name=b"1PAY.SYS.DDF01", fci=tr4).fci() == tr4
    assert MF(name=b"1PAY.SYS.DDF01").fci() == tr4  # the default builds the same bytes
    with pytest.raises(FileSystemError, match="not both"):
        DF(0x1000, fci=tr4, proprietary=b"\x88\x01\x1E")


def test_long_fci_and_three_byte_record_lengths() -> None:
    fci = DF(0x1000, name=b"N", proprietary=bytes(0x80)).fci()
    assert fci[:9].hex().upper() == "6F818684014EA58180" and len(fci) == 3 + 0x86
    fci = DF(0x1000, name=b"N", proprietary=bytes(0x100)).fci()
    assert fci[:11].hex().upper() == "6F82010784014EA5820100" and len(fci) == 4 + 0x107
    ef = LinearVariableEF(0xEF01, records=[bytes.fromhex("01FF0003414243")])  # simple-TLV length FF hi lo
    assert ef.records == (bytes.fromhex("01FF0003414243"),)
    with pytest.raises(FileSystemError, match="01FF00"):
        LinearVariableEF(0xEF01, records=[bytes.fromhex("01FF00")])


def test_cyclic_ef_keeps_the_newest_first() -> None:
    ef = CyclicEF(0xEF15, record_length=1, max_records=3)
    for value in b"ABCD":
        assert ef.append(bytes((value,))) == 1
    assert ef.records == (b"D", b"C", b"B")
    assert ef.locate(0, RecordRef.LAST, None) == 3


def test_record_location_by_identifier() -> None:
    ef = LinearVariableEF(0xEF01, records=[b"\x01\x00", b"\x02\x00", b"\x01\x01\xAA"])
    assert ef.locate(0x01, RecordRef.FIRST, None) == 1
    assert ef.locate(0x01, RecordRef.NEXT, 1) == 3
    assert ef.locate(0x01, RecordRef.PREVIOUS, None) == 3  # no current record: acts as LAST
    assert ef.locate(0x00, RecordRef.NEXT, 1) == 2  # identifier 00 matches any record
    with pytest.raises(SWError) as exc:
        ef.locate(0x01, RecordRef.NEXT, 3)
    assert exc.value.sw == 0x6A83


# --- SELECT ------------------------------------------------------------------------------
def test_select_ssse_by_name_then_ef_both_ways(card: CardOS) -> None:
    assert tx(card, "00A404000F7378312E73682EC9E7BBE1B1A3D5CF") == FCI + "9000"
    assert tx(card, "00A4020002EF05") == "9000"
    assert card.current_ef is not None and card.current_ef.label == "3F00/DDF1/EF05"
    assert tx(card, "00A4000002EF06") == "9000"
    assert tx(card, "00A4000002EF0500") == "9000"  # some readers append Le
    assert tx(card, "00A404000B7378312E73682EC9E7BBE1") == FCI + "9000"  # right-truncated name


@pytest.mark.parametrize("apdu, response", [
    ("00A40000023F00", "6F0483023F00"),
    ("00A4000000", "6F0483023F00"),  # P1 00 without data: the MF
    ("00A4040000", "6F0483023F00"),  # P1 04 without a name: the MF
    ("00A4000C023F00", ""),
    ("00A4000002DDF1", FCI),
    ("00A4010002DDF1", FCI),
    ("00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF", ""),
    ("00A4080004DDF1EF05", ""),
    ("00A40800063F00DDF1EF05", ""),  # tolerated leading 3F00
    ("00A4080002DDF1", FCI),
    ("00A4090004DDF1DF04", "6F088406D15600000503"),
])
def test_select_forms(card: CardOS, apdu: str, response: str) -> None:
    assert tx(card, apdu) == response + "9000"


def test_select_parent_and_siblings(ssse: CardOS) -> None:
    assert tx(ssse, "00A4000002DF04") == "6F088406D156000005039000"
    assert tx(ssse, "00A4000002DF01") == "6F088406D156000005009000"  # a sibling of the current DF
    assert tx(ssse, "00A4030000") == FCI + "9000"
    assert tx(ssse, "00A4030000") == "6F0483023F009000"
    assert tx(ssse, "00A4030000") == "6A82"  # the MF has no parent
    assert ssse.current_df is ssse.mf


def test_select_by_name_occurrences(card: CardOS) -> None:
    assert tx(card, "00A4040005D156000005") == "6F088406D156000005009000"
    assert tx(card, "00A4040205D156000005") == "6F088406D156000005039000"  # next
    assert tx(card, "00A4040205D156000005") == "6A82"
    assert tx(card, "00A4040305D156000005") == "6F088406D156000005009000"  # previous
    assert tx(card, "00A4040105D156000005") == "6F088406D156000005039000"  # last
    assert tx(card, "00A4040005D156000006") == "6A82"


@pytest.mark.parametrize("apdu, sw", [
    ("00A4000002EF09", "6A82"),
    ("00A4010002EF05", "6A82"),  # P1 01 wants a DF
    ("00A4020002DF04", "6A82"),  # P1 02 wants an EF
    ("00A4080004DDF1EF09", "6A82"),
    ("00A4080006DDF1EF05EF06", "6A82"),  # an EF cannot be a path step
    ("00A4050002EF05", "6A86"),
    ("00A4001002EF05", "6A86"),
    ("00A4000802EF05", "6A86"),  # FMD not offered
    ("00A4000202EF05", "6A86"),  # occurrence bits only with P1 04
    ("00A4000001EF", "6700"),
    ("00A4000003EF0501", "6700"),
    ("00A4080003DDF1EF", "6700"),
    ("00A4080000", "6700"),
    ("00A4030002DDF1", "6700"),
    ("00A4040011" + "00" * 17, "6700"),
    ("80A4000002EF05", "6E00"),
])
def test_select_errors_leave_the_selection(ssse: CardOS, apdu: str, sw: str) -> None:
    assert tx(ssse, "00A4000002EF05") == "9000"
    assert tx(ssse, apdu) == sw
    assert tx(ssse, "00B2070400") == "07094841313034363932349000"


# --- READ RECORD: the field forms of ssse.md §3 ---------------------------------------------
@pytest.mark.parametrize("apdu", ["00B2070400", "00B207040B", "00B2070000", "00B207000B", "00B2072C0B",
                                  "00B2072C00", "00B20728FF", "00B2072C"])
def test_read_card_number_every_way(ssse: CardOS, apdu: str) -> None:
    assert tx(ssse, "00A4000002EF05") == "9000"
    assert tx(ssse, apdu) == "0709484131303436393234" + "9000"


def test_read_all_records(ssse: CardOS) -> None:
    assert tx(ssse, "00A4000002EF05") == "9000"
    assert tx(ssse, "00B2010540") == EF05_ALL + "9000"
    assert tx(ssse, "00B20105FF") == EF05_ALL + "9000"  # TR4: Le longer than the data
    assert tx(ssse, "00B2010520") == "6C40"
    assert tx(ssse, "00B2060600") == "0709484131303436393234" "060420280403" "9000"  # mode 110
    assert tx(ssse, "00B201355B") == EF06_ALL + "9000"  # SFI 6, mode 101


def test_read_ef06_by_tag(ssse: CardOS) -> None:
    ssn = EF06_RECORDS[0].upper()
    assert tx(ssse, "00B2083014") == ssn + "9000"  # SFI 6, tag 08 (T10)
    assert ssse.current_ef is not None and ssse.current_ef.fid == 0xEF06  # SFI made it current
    assert tx(ssse, "00B2080014") == ssn + "9000"
    assert tx(ssse, "00B24E3016") == EF06_RECORDS[2].upper() + "9000"
    assert tx(ssse, "00B2013414") == ssn + "9000"  # SFI 6, record 1
    assert tx(ssse, "00A4000002EF06") == "9000"
    assert tx(ssse, "00B2080014") == ssn + "9000"


def test_wrong_le_answers_6c_and_the_retry_works(ssse: CardOS) -> None:
    assert tx(ssse, "00A4000002EF05") == "9000"
    assert tx(ssse, "00B2010010") == "6C12"  # ZJ: record 01 is 0x12 bytes
    assert tx(ssse, "00B2010012") == EF05_RECORDS[0] + "9000"


def test_strict_le_mode_answers_6c_to_le_00() -> None:
    card, _ = make_card(le_mode="strict6c")
    assert tx(card, "00A4080004DDF1EF05") == "9000"
    assert tx(card, "00B2070400") == "6C0B"
    assert tx(card, "00B207040B") == "07094841313034363932349000"
    assert tx(card, "00B20105FF") == EF05_ALL + "9000"


def test_record_pointer(ssse: CardOS) -> None:
    assert tx(ssse, "00A4000002DF04") == "6F088406D156000005039000"
    assert tx(ssse, "00A4000002EF17") == "9000"
    assert tx(ssse, "00B2000400") == "6A83"  # no current record after SELECT
    assert tx(ssse, "00B2010000") == "0101AA9000"  # first 01
    assert tx(ssse, "00B2040400") == "0201DD9000"  # by number: pointer unchanged
    assert tx(ssse, "00B2010200") == "0101CC9000"  # next 01
    assert tx(ssse, "00B2000400") == "0101CC9000"  # current record
    assert tx(ssse, "00B2010200") == "6A83"
    assert tx(ssse, "00B2000300") == "0201BB9000"  # previous, any identifier
    assert tx(ssse, "00B2020100") == "0201DD9000"  # last 02
    assert tx(ssse, "00B2000500") == "0201DD9000"  # from the current record to the end
    assert tx(ssse, "00B2030600") == "0201DD0101CC9000"  # from the last back to record 3


@pytest.mark.parametrize("apdu, sw", [
    ("00B2090400", "6A83"),  # no record 9
    ("00B2090000", "6A83"),  # no tag 09 in EF05
    ("00B2010C00", "6A82"),  # SFI 1 is not in the SSSE
    ("00B20107", "6A86"),  # mode 111
    ("00B201FC00", "6A86"),  # SFI 31
    ("00B2070401AA", "6700"),  # READ RECORD carries no data
    ("80B2070400", "6E00"),
    ("00B2013C00", "6981"),  # SFI 7 is transparent
])
def test_read_record_errors(ssse: CardOS, apdu: str, sw: str) -> None:
    assert tx(ssse, "00A4000002EF05") == "9000"
    assert tx(ssse, apdu) == sw


def test_read_record_needs_a_current_record_ef(ssse: CardOS) -> None:
    assert tx(ssse, "00B2070400") == "6986"  # a DF is selected, no current EF
    assert tx(ssse, "00A4000002EF08") == "9000"
    assert tx(ssse, "00B2010400") == "6981"


def test_read_record_access_rule(ssse: CardOS) -> None:
    assert tx(ssse, "00A4000002DF01") == "6F088406D156000005009000"
    assert tx(ssse, "00B2012C00") == "6982"
    assert ssse.current_ef is None  # a refused SFI reference does not change the current EF
    ssse.security.pin_verified = True
    assert tx(ssse, "00B2012C00") == "200230319000"
    ssse.security.pin_verified = False
    ssse.security.authenticated_keys.add(0x84)
    assert tx(ssse, "00B2010400") == "200230319000"


# --- UPDATE RECORD / APPEND RECORD -----------------------------------------------------------
@pytest.fixture
def writer() -> tuple[CardOS, RecordingStore]:
    card, store = make_card()
    assert tx(card, "00A404000F" + SSSE_NAME.hex()) == FCI + "9000"
    card.security.authenticated_keys.add(0x04)  # as after EXTERNAL AUTHENTICATE with UKSSSE
    return card, store


def test_update_needs_the_write_key(ssse: CardOS) -> None:
    assert tx(ssse, "00DC052806050420250101") == "6982"
    assert tx(ssse, "00B2052C00") == "0504201804039000"


def test_field_writes_of_ssse_md(writer: tuple[CardOS, RecordingStore]) -> None:
    card, store = writer
    assert tx(card, "00DC052806050420250101") == "9000"  # tag 05 in SFI 5
    assert tx(card, "00DC07280B0709" + b"B00000131".hex()) == "9000"
    assert tx(card, "00DC0830140812" + b"110101199001011237".hex()) == "9000"
    assert tx(card, "00B2052C00") == "0504202501019000"
    assert tx(card, "00B2072C00") == "0709" + b"B00000131".hex().upper() + "9000"
    assert tx(card, "00B2083000") == "0812" + b"110101199001011237".hex().upper() + "9000"
    assert store.reasons == ["UPDATE RECORD 3F00/DDF1/EF05 record 5", "UPDATE RECORD 3F00/DDF1/EF05 record 7",
                             "UPDATE RECORD 3F00/DDF1/EF06 record 1"]
    assert card.record_pointer == 1 and card.current_ef is not None and card.current_ef.fid == 0xEF06


def test_update_by_number_and_appending_missing_records(writer: tuple[CardOS, RecordingStore]) -> None:
    card, _ = writer
    assert tx(card, "00A4000002EF0D") == "9000"
    assert tx(card, "00DC01040EEA0C" + "31" * 12) == "9000"  # T10: record 1 of an empty EF0D
    assert tx(card, "00DC020405EB03510100") == "9000"
    assert tx(card, "00DC040405EC03010203") == "6A83"  # no gaps
    assert tx(card, "00DCEC0005EC03010203") == "9000"  # by identifier: appended as record 3
    assert tx(card, "00DCED0005ED03010203") == "6A84"  # max 3 records
    assert tx(card, "00DC020405EB03999999") == "9000"  # replace record 2
    assert tx(card, "00B2010500") == "EA0C" + "31" * 12 + "EB03999999" "EC030102039000"


@pytest.mark.parametrize("apdu, sw", [
    ("00DC07280B070A" + "41" * 9, "6A85"),  # inner length 0A, 9 value bytes
    ("00DC07280107", "6A85"),
    ("00DC0728060504" "20250101", "6A80"),  # by identifier 07, record tagged 05
    ("00DC00280300012A", "6A80"),  # tag 00 is not a simple-TLV tag
    ("00DC0168130111" + "00" * 17, "6700"),  # EF0D records are at most 0x10 bytes
    ("00DC010400", "6700"),  # no data
    ("00DC0104", "6700"),
    ("00DC01050301012A", "6A86"),  # mode 101 is read-only
    ("00DC0907" "0301012A", "6A86"),
    ("00DC0904" "0309012A", "6A83"),  # record 9 of EF05 (7 records): no gaps
    ("80DC01040301012A", "6E00"),
    ("00DC017C0301012A", "6A82"),
])
def test_update_record_errors(writer: tuple[CardOS, RecordingStore], apdu: str, sw: str) -> None:
    card, store = writer
    assert tx(card, "00A4000002EF05") == "9000"
    assert tx(card, apdu) == sw
    assert store.reasons == []
    assert tx(card, "00B2012D00") == EF05_ALL + "9000"


def test_cyclic_ef_through_commands(writer: tuple[CardOS, RecordingStore]) -> None:
    card, store = writer
    assert tx(card, "00A4000002DF04") == "6F088406D156000005039000"
    assert tx(card, "00B201AC00") == "6A83"  # SFI 21, empty
    for value in ("A1A1A1", "B2B2B2", "C3C3C3"):
        assert tx(card, "00E200A803" + value) == "9000"
    assert tx(card, "00B201AD00") == "C3C3C3B2B2B2A1A1A19000"  # newest first
    assert tx(card, "00DC00AB03D4D4D4") == "9000"  # mode 011, P1 00: overwrite the oldest
    assert tx(card, "00B201AD00") == "D4D4D4C3C3C3B2B2B29000"
    assert tx(card, "00DC02AC03E5E5E5") == "9000"  # by number: in place
    assert tx(card, "00B201AD00") == "D4D4D4E5E5E5B2B2B29000"
    assert tx(card, "00E200A802E5E5") == "6700"
    assert card.record_pointer == 1
    assert len(store.reasons) == 5


def test_append_record(writer: tuple[CardOS, RecordingStore]) -> None:
    card, store = writer
    assert tx(card, "00A4000002DF04") == "6F088406D156000005039000"
    assert tx(card, "00E200B00401020304") == "9000"  # SFI 22, linear fixed
    assert tx(card, "00E200B00405060708") == "9000"
    assert tx(card, "00E200B00409090909") == "6A84"
    assert tx(card, "00E200B003010203") == "6700"
    assert tx(card, "00E201B00401020304") == "6A86"
    assert tx(card, "00E200B40401020304") == "6A86"
    assert tx(card, "00E200F80401020304") == "6A86"
    assert tx(card, "00E200B0") == "6700"
    assert tx(card, "00B2000400") == "050607089000"  # the appended record is current
    assert tx(card, "00E2000004090A0B0C") == "6A84"  # SFI 0: the current EF, EF16, is full
    assert store.reasons == ["APPEND RECORD 3F00/DDF1/DF04/EF16 record 1", "APPEND RECORD 3F00/DDF1/DF04/EF16 record 2"]


# --- READ BINARY / UPDATE BINARY --------------------------------------------------------------
def test_read_binary(ssse: CardOS) -> None:
    assert tx(ssse, "00B0870010") == "6982"  # EF07 needs RKSSSE (key 0A)
    ssse.security.authenticated_keys.add(0x0A)
    assert tx(ssse, "00B0870010") == bytes(range(16)).hex().upper() + "9000"  # SFI 7, offset 0
    assert ssse.current_ef is not None and ssse.current_ef.fid == 0xEF07
    assert tx(ssse, "00B002F808") == bytes(range(0xF8, 0x100)).hex().upper() + "9000"  # offset 02F8
    assert tx(ssse, "00B002F820") == bytes(range(0xF8, 0x100)).hex().upper() + "9000"  # Le past the end
    assert tx(ssse, "00B0000000") == bytes(range(256)).hex().upper() + "9000"  # Le 00: 256 bytes
    assert tx(ssse, "00B00000000300") == (bytes(range(256)) * 3).hex().upper() + "9000"  # extended Le
    assert tx(ssse, "00B0030000") == "6B00"  # offset 0300 = size


def test_read_binary_strict_le() -> None:
    card, _ = make_card(le_mode="strict6c")
    assert tx(card, "00A4080004DDF1EF08") == "9000"
    assert tx(card, "00B0000000") == "6C20"
    assert tx(card, "00B0001000") == "6C10"
    assert tx(card, "00B0000010") == "AA" * 16 + "9000"


@pytest.mark.parametrize("apdu, sw", [
    ("00B0A70000", "6A86"),  # P1 101xxxxx
    ("00B0800000", "6A86"),  # SFI 0 with b8 set
    ("00B09F0000", "6A86"),  # SFI 31
    ("00B0850000", "6981"),  # SFI 5 is a record EF
    ("00B08F0000", "6A82"),
    ("00B00000020102", "6700"),
    ("80B0000000", "6E00"),
])
def test_read_binary_errors(ssse: CardOS, apdu: str, sw: str) -> None:
    assert tx(ssse, apdu) == sw


def test_read_binary_needs_a_current_transparent_ef(ssse: CardOS) -> None:
    assert tx(ssse, "00B0000000") == "6986"
    assert tx(ssse, "00A4000002EF05") == "9000"
    assert tx(ssse, "00B0000000") == "6981"


def test_update_binary(writer: tuple[CardOS, RecordingStore]) -> None:
    card, store = writer
    assert tx(card, "00D68702 04 CAFEBABE") == "9000"  # SFI 7, offset 2 (write key 04 held)
    assert tx(card, "00D602FE 02 0102") == "9000"  # current EF07, last two bytes
    assert tx(card, "00D60300 01 00") == "6B00"
    assert tx(card, "00D602FF 02 0102") == "6700"
    assert tx(card, "00D60000") == "6700"
    card.security.pin_verified = True
    assert tx(card, "00D68800 01 00") == "6982"  # EF08 is never written: 6982 whatever the state
    card.security.authenticated_keys.add(0x0A)
    assert tx(card, "00B0870006") == "0001CAFEBABE9000"
    assert tx(card, "00B002FE02") == "01029000"
    assert store.reasons == ["UPDATE BINARY 3F00/DDF1/EF07 offset 0002 length 4",
                             "UPDATE BINARY 3F00/DDF1/EF07 offset 02FE length 2"]


def test_read_all_stops_at_whole_records_that_fit() -> None:
    big = [bytes((tag, 0xC6)) + bytes((tag,)) * 0xC6 for tag in (1, 2)]  # two records of 200 bytes
    card = CardOS(MF(children=[LinearVariableEF(0xEF01, sfi=1, records=big)]), atr=ATR)
    card.power_on()
    assert tx(card, "00B2020C00") == big[1].hex().upper() + "9000"
    assert tx(card, "00B2010D00") == big[0].hex().upper() + "9000"  # 400 bytes do not fit in 256
    assert tx(card, "00B2020E00") == big[1].hex().upper() + "9000"
    assert tx(card, "00B2010D000000") == (big[0] + big[1]).hex().upper() + "9000"  # extended Le


def test_update_by_identifier_appends_only_in_linear_variable_efs(writer: tuple[CardOS, RecordingStore]) -> None:
    card, store = writer
    assert tx(card, "00A4000002DF04") == "6F088406D156000005039000"
    assert tx(card, "00DC09B00409000000") == "6A83"  # linear fixed EF16: no append by identifier
    assert tx(card, "00DC03BA030301EE") == "6A83"  # EF17, next occurrence of 03: none, no append
    assert tx(card, "00DC03B8030301EE") == "9000"  # EF17, first occurrence of 03: appended
    assert tx(card, "00B2000400") == "0301EE9000" and card.record_pointer == 5
    assert store.reasons == ["UPDATE RECORD 3F00/DDF1/DF04/EF17 record 5"]
