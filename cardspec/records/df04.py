"""Records of DF04 (医疗保险, medical insurance) EF05 and EF06, V2 §5.4 via ssse.md §1.

Only tags, types and lengths are known; no source at hand names the fields or fixes
their record order, so every name is ``provisional_name`` and ``record_no`` is unset.
``cn`` 4 fields stay digit strings (they may be dates; nothing says so). ``an``
fields use GBK, which reads ASCII codes as well. Test vectors are built from the
lengths. The cyclic EF08 (transaction log) and EF15 are written by the purse, which
sscard does not model, so they have no layouts here.
"""
from __future__ import annotations

from construct import Construct

from .fields import BcdPadded, FieldType, GbkPadded
from .layout import RecordLayout, register

_AN, _CN = FieldType.AN, FieldType.CN
_A9 = ("413132333435363738", "A12345678")  # 9 ASCII characters, hex and text


def _rec(ef: str, tag: int, length: int, kind: FieldType, value: Construct,
         *vectors: tuple[str, object]) -> RecordLayout:
    return RecordLayout(f"SSSE/DF04/{ef}", tag, f"医疗保险 {ef} 数据项 {tag:02X}", f"medical {ef} item {tag:02X}",
                        length, kind, value, test_vectors=vectors, provisional_name=True)


def _an9(tag: int) -> RecordLayout:
    return _rec("EF05", tag, 0x09, _AN, GbkPadded(9), (f"{tag:02X}09 {_A9[0]}", _A9[1]), (f"{tag:02X}09" + "00" * 9, ""))


LAYOUTS_DF04 = register(
    _rec("EF05", 0x81, 0x08, _AN, GbkPadded(8), ("8108 3132333435363738", "12345678")),
    _rec("EF05", 0x84, 0x03, _CN, BcdPadded(3), ("8403 511302", "511302")),
    _rec("EF05", 0x87, 0x11, _AN, GbkPadded(0x11),
         ("8711 3531313330323139383530373136303032", "51130219850716002")),
    _rec("EF05", 0x8C, 0x01, _CN, BcdPadded(1), ("8C01 1F", "1")),
    _rec("EF05", 0x80, 0x04, _CN, BcdPadded(4), ("8004 20240315", "20240315")),
    _rec("EF05", 0x8B, 0x1D, _AN, GbkPadded(0x1D), ("8B1D C4CFB3E4CAD0D6D0D0C4D2BDD4BA" + "00" * 15, "南充市中心医院")),
    _rec("EF05", 0x8A, 0x0F, _AN, GbkPadded(0x0F), ("8A0F 534335313133" + "00" * 9, "SC5113")),
    *(_an9(tag) for tag in (0x83, 0x86, 0x89, 0x7D, 0x7E, 0x7F, 0x8D, 0x8E)),
    _rec("EF05", 0x8F, 0x01, _AN, GbkPadded(1), ("8F01 31", "1")),
    _rec("EF06", 0x90, 0x01, _AN, GbkPadded(1), ("9001 31", "1")),
    _rec("EF06", 0x92, 0x04, _CN, BcdPadded(4), ("9204 20240101", "20240101"), ("9204 FFFFFFFF", None)),
    _rec("EF06", 0x93, 0x02, _AN, GbkPadded(2), ("9302 3031", "01")),
)
