"""Records of DF01 (公共应用, public information), V2 §5.1 as summarized in ssse.md §1.

Tags, types and lengths are the spec's. Field names come from issuance code that
writes DF01 (EF05 20/21, EF06 23/24/28) and from a reader SDK that lists the 2.0
"common data" in EF06 order (2C/2D); other names are not in any source at hand and
are marked ``provisional_name``. Test vectors are built from the lengths (no trace
shows DF01 records).
"""
from __future__ import annotations

from construct import Construct

from .fields import AsciiPadded, BcdPadded, Binary, FieldType, GbkPadded
from .layout import RecordLayout, register

_AN, _CN, _B = FieldType.AN, FieldType.CN, FieldType.B


def _rec(ef: str, no: int | None, tag: int, zh: str, en: str, length: int, kind: FieldType, value: Construct,
         *vectors: tuple[str, object], provisional: bool = False, note: str = "") -> RecordLayout:
    return RecordLayout(f"SSSE/DF01/{ef}", tag, zh, en, length, kind, value, test_vectors=vectors,
                        record_no=no, provisional_name=provisional, note=note)


_ADDR1 = "CBC4B4A8CAA1C4CFB3E4CAD0CBB3C7ECC7F8C8CBC3F1C4CFC2B731BAC5"  # 四川省南充市顺庆区人民南路1号
_ADDR2 = "CBC4B4A8CAA1C4CFB3E4CAD0CBB3C7ECC7F8C4A3B7B6BDD63838BAC5"  # 四川省南充市顺庆区模范街88号
_UNIT = "C4CFB3E4CAD0C8CBC1A6D7CAD4B4BACDC9E7BBE1B1A3D5CFBED6"  # 南充市人力资源和社会保障局

LAYOUTS_DF01 = register(
    # EF05 户籍 household registration
    _rec("EF05", 1, 0x20, "户口类别", "household registration type", 0x02, _AN, AsciiPadded(2),
         ("2002 3130", "10")),
    _rec("EF05", 2, 0x21, "户口所在地地址", "registered residence address", 0x50, _AN, GbkPadded(0x50),
         ("2150 " + _ADDR1 + "00" * 51, "四川省南充市顺庆区人民南路1号")),
    _rec("EF05", 3, 0x0E, "户口所在地行政区划代码", "registered residence region code", 0x03, _CN, BcdPadded(3),
         ("0E03 511302", "511302"), provisional=True),
    # EF06 常住地 usual residence and contact
    _rec("EF06", 1, 0x23, "常住所在地地址", "usual residence address", 0x50, _AN, GbkPadded(0x50),
         ("2350 " + _ADDR2 + "00" * 52, "四川省南充市顺庆区模范街88号")),
    _rec("EF06", 2, 0x24, "常住所在地行政区划代码", "usual residence region code", 0x03, _CN, BcdPadded(3),
         ("2403 511302", "511302"), ("2403 FFFFFF", None)),
    _rec("EF06", 3, 0x28, "联系电话", "telephone", 0x0F, _AN, AsciiPadded(0x0F),
         ("280F 3133383030303030303030 00000000", "13800000000")),
    _rec("EF06", 4, 0x2C, "联系人（监护人）姓名", "contact (guardian) name", 0x32, _AN, GbkPadded(0x32),
         ("2C32 CDF5BDA8B9FA" + "00" * 44, "王建国"), note="name from a reader SDK's 2.0 field order"),
    _rec("EF06", 5, 0x2D, "联系人（监护人）电话", "contact (guardian) telephone", 0x0F, _AN, AsciiPadded(0x0F),
         ("2D0F 303831372D32323232323232 000000", "0817-2222222"), note="name from a reader SDK's 2.0 field order"),
    # EF07, EF08: one-character codes
    _rec("EF07", 1, 0x29, "DF01 EF07 数据项 29", "DF01 EF07 item 29", 0x01, _AN, AsciiPadded(1),
         ("2901 31", "1"), provisional=True),
    _rec("EF08", 1, 0x2B, "DF01 EF08 数据项 2B", "DF01 EF08 item 2B", 0x01, _AN, AsciiPadded(1),
         ("2B01 32", "2"), provisional=True),
    # EF09 employer
    _rec("EF09", 1, 0x2E, "DF01 EF09 数据项 2E", "DF01 EF09 item 2E (text)", 0x46, _AN, GbkPadded(0x46),
         ("2E46 " + _UNIT + "00" * 44, "南充市人力资源和社会保障局"), provisional=True),
    _rec("EF09", 2, 0x30, "DF01 EF09 数据项 30", "DF01 EF09 item 30", 0x09, _AN, AsciiPadded(9),
         ("3009 343530373132333458", "45071234X"), provisional=True),
    _rec("EF09", 3, 0x32, "DF01 EF09 数据项 32", "DF01 EF09 item 32", 0x02, _AN, AsciiPadded(2),
         ("3202 3130", "10"), provisional=True),
    # EF0A
    _rec("EF0A", 1, 0x37, "DF01 EF0A 数据项 37", "DF01 EF0A item 37", 0x03, _AN, AsciiPadded(3),
         ("3703 313233", "123"), provisional=True),
    _rec("EF0A", 2, 0x38, "DF01 EF0A 数据项 38", "DF01 EF0A item 38", 0x02, _AN, AsciiPadded(2),
         ("3802 3031", "01"), provisional=True),
    _rec("EF0A", 3, 0x39, "DF01 EF0A 数据项 39", "DF01 EF0A item 39", 0x04, _CN, BcdPadded(4),
         ("3904 20200101", "20200101"), ("3904 FFFFFFFF", None), provisional=True),
    # EF15: 2A, then three occurrences of 40 (a B-TLV of 0x34 bytes holding 57/58/59)
    _rec("EF15", 1, 0x2A, "DF01 EF15 数据项 2A", "DF01 EF15 item 2A", 0x01, _CN, BcdPadded(1),
         ("2A01 01", "01"), provisional=True),
    _rec("EF15", None, 0x40, "DF01 EF15 数据项 40", "DF01 EF15 item 40 (B-TLV of 57/58/59)", 0x34, _B,
         Binary(0x34), ("4034" + "00" * 0x34, bytes(0x34)), provisional=True,
         note="occurs three times (records 2-4); read with record-ID modes first/next"),
)
