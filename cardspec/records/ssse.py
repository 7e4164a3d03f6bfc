"""Records of SSSE EF05 (issuer data) and EF06 (cardholder basics), ssse.md §2.

Test vectors come from the traces cited in ssse.md (TR1-TR3) or, where no trace shows
the record, from the GB 11643 example number and the spec lengths.

>>> decode_record(bytes.fromhex("0110519900D15600000510000B26FFFFFFFF"))[1]
CardIdCode(region='519900', serial=b'\\x10\\x00\\x0b&', auth_code=b'\\xff\\xff\\xff\\xff')
>>> split_name("欧阳" + "娜" * 16)
('欧阳娜娜娜娜娜娜娜娜娜娜娜娜娜', '娜娜娜')
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from construct import Adapter, Construct, Int8ub, Struct

from ..ids import INIT_ORG_PREFIX, RID, SsseTag
from .errors import FieldValueError
from .fields import AsciiPadded, BcdPadded, Binary, ConstBytes, Date8, FieldType, GbkPadded
from .layout import RecordLayout, decode_record, register

EF05 = "SSSE/EF05"
EF06 = "SSSE/EF06"


@dataclass(frozen=True)
class CardIdCode:
    """卡识别码 (EF05 tag 01): region ‖ RID ‖ card serial ‖ auth code (V2 §8.1.1.1)."""

    region: str | None  #: 6-digit GB/T 2260 code of the issuing region
    serial: bytes  #: 4-byte card serial (equals the ATR/ATS serial on 3.0 cards)
    auth_code: bytes  #: 4 bytes; algorithm unknown, some cards hold FFFFFFFF


@dataclass(frozen=True)
class InitOrgCode:
    """初始化机构编号 (EF05 tag 04): 9156000002 ‖ issuing region ‖ init-org region ‖ seq."""

    issuing_region: str | None
    init_region: str | None
    seq: int  #: one binary byte (``DB`` in TR3)


class _AsDataclass(Adapter):  # type: ignore[misc]
    """A construct Struct seen as a frozen dataclass with the same field names."""

    def __init__(self, subcon: Construct, cls: type) -> None:
        super().__init__(subcon)
        self.cls = cls

    def _decode(self, obj: Any, context: Any, path: str) -> Any:
        return self.cls(**{f.name: obj[f.name] for f in fields(self.cls)})

    def _encode(self, obj: Any, context: Any, path: str) -> dict[str, Any]:
        if not isinstance(obj, self.cls):
            raise FieldValueError(f"expected {self.cls.__name__}, got {type(obj).__name__} {obj!r}")
        return {f.name: getattr(obj, f.name) for f in fields(self.cls)}


CARD_ID_CODE: Construct = _AsDataclass(Struct(
    "region" / BcdPadded(3),
    ConstBytes(RID, "RID"),
    "serial" / Binary(4),
    "auth_code" / Binary(4),
), CardIdCode)

INIT_ORG_CODE: Construct = _AsDataclass(Struct(
    ConstBytes(INIT_ORG_PREFIX, "initializing-organisation prefix"),
    "issuing_region" / BcdPadded(3),
    "init_region" / BcdPadded(3),
    "seq" / Int8ub,
), InitOrgCode)

_AN, _CN, _B = FieldType.AN, FieldType.CN, FieldType.B
_FF = b"\xff"

CARD_ID = RecordLayout(
    EF05, SsseTag.CARD_ID, "卡识别码", "card identification code", 0x10, _CN, CARD_ID_CODE, record_no=1,
    test_vectors=(
        ("0110 519900 D156000005 10000B26 FFFFFFFF", CardIdCode("519900", bytes.fromhex("10000B26"), _FF * 4)),
        ("0110 510100 D156000005 C0666779 C8C975CC",
         CardIdCode("510100", bytes.fromhex("C0666779"), bytes.fromhex("C8C975CC"))),
    ))
CARD_TYPE = RecordLayout(
    EF05, SsseTag.CARD_TYPE, "卡的类别", "card type", 0x01, _AN, AsciiPadded(1), record_no=2,
    note="'1'-'4'; '3' when the issuer does not split by holder group (V2 table 11)",
    test_vectors=(("0201 33", "3"),))
SPEC_VERSION = RecordLayout(
    EF05, SsseTag.SPEC_VERSION, "规范版本", "specification version", 0x04, _AN, AsciiPadded(4), record_no=3,
    note="readers use the first 3 characters; empty means 1.0x",
    test_vectors=(("0304 332E3030", "3.00"), ("0304 322E3000", "2.0")))
INIT_ORG = RecordLayout(
    EF05, SsseTag.INIT_ORG, "初始化机构编号", "initializing organisation number", 0x0C, _CN, INIT_ORG_CODE,
    record_no=4, test_vectors=(("040C 9156000002 511300 511300 DB", InitOrgCode("511300", "511300", 0xDB)),))
ISSUE_DATE = RecordLayout(
    EF05, SsseTag.ISSUE_DATE, "发卡日期", "issue date", 0x04, _CN, Date8, record_no=5,
    test_vectors=(("0504 20180403", date(2018, 4, 3)),))
EXPIRY_DATE = RecordLayout(
    EF05, SsseTag.EXPIRY_DATE, "卡有效期", "expiry date", 0x04, _CN, Date8, record_no=6,
    test_vectors=(("0604 20280403", date(2028, 4, 3)),))
CARD_NUMBER = RecordLayout(
    EF05, SsseTag.CARD_NUMBER, "卡号", "card number", 0x09, _AN, AsciiPadded(9), record_no=7,
    note="letter + 7 characters + check character (V2 appendix A); see cardnumber.py",
    test_vectors=(("0709 484131303436393234", "HA1046924"),))

SSN = RecordLayout(
    EF06, SsseTag.SSN, "社会保障号码", "social security number", 0x12, _AN, AsciiPadded(18), record_no=1,
    note="the GB 11643 citizen identity number",
    test_vectors=(("0812 313130313035313934393132333130303258", "11010519491231002X"),))
NAME = RecordLayout(
    EF06, SsseTag.NAME, "姓名", "name", 0x1E, _AN, GbkPadded(0x1E), record_no=2,
    test_vectors=(("091E C0EEC0DA" + "00" * 26, "李磊"),))
NAME_EXT = RecordLayout(
    EF06, SsseTag.NAME_EXT, "姓名扩展", "name extension", 0x14, _AN, GbkPadded(0x14), record_no=3,
    note="2.0 and later; all 00 when unused; readers concatenate 09 and 4E",
    test_vectors=(("4E14" + "00" * 20, ""), ("4E14 C4C8" + "00" * 18, "娜")))
SEX = RecordLayout(
    EF06, SsseTag.SEX, "性别", "sex", 0x01, _AN, AsciiPadded(1), record_no=4,
    note="'1' male, '2' female, '9' unstated (GB/T 2261.1)",
    test_vectors=(("0A01 32", "2"), ("0A01 31", "1")))
ETHNICITY = RecordLayout(
    EF06, SsseTag.ETHNICITY, "民族", "ethnicity", 0x01, _CN, BcdPadded(1), record_no=5,
    note="GB 3304 code, 01 = Han; FF when unknown",
    test_vectors=(("0B01 01", "01"), ("0B01 FF", None)))
BIRTHPLACE = RecordLayout(
    EF06, SsseTag.BIRTHPLACE, "出生地", "birthplace", 0x03, _CN, BcdPadded(3), record_no=6,
    note="GB/T 2260 region code; FFFFFF when unknown",
    test_vectors=(("0C03 110105", "110105"), ("0C03 FFFFFF", None)))
BIRTH_DATE = RecordLayout(
    EF06, SsseTag.BIRTH_DATE, "出生日期", "birth date", 0x04, _CN, Date8, record_no=7,
    test_vectors=(("0D04 19491231", date(1949, 12, 31)), ("0D04 FFFFFFFF", None)))

register(CARD_ID, CARD_TYPE, SPEC_VERSION, INIT_ORG, ISSUE_DATE, EXPIRY_DATE, CARD_NUMBER,
         SSN, NAME, NAME_EXT, SEX, ETHNICITY, BIRTHPLACE, BIRTH_DATE)


def split_name(full: str) -> tuple[str, str]:
    """Split a name over tag 09 (30 GBK bytes) and tag 4E (20 bytes) at a character boundary."""
    room = NAME.length
    for i, ch in enumerate(full):
        try:
            width = len(ch.encode("gbk"))
        except UnicodeEncodeError:
            raise FieldValueError(f"character {ch!r} (U+{ord(ch):04X}) at position {i + 1} of {full!r} "
                                  f"is not in GBK") from None
        if width > room:
            return full[:i], full[i:]
        room -= width
    return full, ""
