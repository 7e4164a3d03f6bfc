"""A realistic, fictional cardholder: the values of every SSSE EF05/EF06 record and of
DF01 EF05/EF06, in record order. Used by tests and as an example for personalization.

The numbers are self-consistent: the SSN passes GB 11643 and encodes the birth date,
birthplace and sex; the card number passes the V2 appendix A check; EF05 and EF06
come to the 0x40 and 0x5B bytes real cards hold.

>>> from .checks import card_number_valid, ssn_valid
>>> ssn_valid(SAMPLE[("SSSE/EF06", 0x08)]), card_number_valid(SAMPLE[("SSSE/EF05", 0x07)])
(True, True)
>>> {f: sum(map(len, recs)) for f, recs in sample_records().items()}["SSSE/EF06"] == 0x5B
True
"""
from __future__ import annotations

from datetime import date
from typing import Any

from .layout import layout_for
from .ssse import CardIdCode, InitOrgCode

#: (file, tag) -> value, in record order within each file.
SAMPLE: dict[tuple[str, int], Any] = {
    ("SSSE/EF05", 0x01): CardIdCode("511300", bytes.fromhex("5A3C9E01"), bytes.fromhex("FFFFFFFF")),
    ("SSSE/EF05", 0x02): "3",
    ("SSSE/EF05", 0x03): "3.00",
    ("SSSE/EF05", 0x04): InitOrgCode("511300", "511300", 0x01),
    ("SSSE/EF05", 0x05): date(2024, 3, 15),
    ("SSSE/EF05", 0x06): date(2034, 3, 15),
    ("SSSE/EF05", 0x07): "K80362153",
    ("SSSE/EF06", 0x08): "511302198507160027",
    ("SSSE/EF06", 0x09): "王秀英",
    ("SSSE/EF06", 0x4E): "",
    ("SSSE/EF06", 0x0A): "2",
    ("SSSE/EF06", 0x0B): "01",
    ("SSSE/EF06", 0x0C): "511302",
    ("SSSE/EF06", 0x0D): date(1985, 7, 16),
    ("SSSE/DF01/EF05", 0x20): "10",
    ("SSSE/DF01/EF05", 0x21): "四川省南充市顺庆区人民南路1号",
    ("SSSE/DF01/EF05", 0x0E): "511302",
    ("SSSE/DF01/EF06", 0x23): "四川省南充市顺庆区模范街88号",
    ("SSSE/DF01/EF06", 0x24): "511302",
    ("SSSE/DF01/EF06", 0x28): "13800000000",
    ("SSSE/DF01/EF06", 0x2C): "王建国",
    ("SSSE/DF01/EF06", 0x2D): "0817-2222222",
}


def sample_records(an_pad: int = 0x00) -> dict[str, list[bytes]]:
    """The sample as whole records per file, in record order."""
    out: dict[str, list[bytes]] = {}
    for (file, tag), value in SAMPLE.items():
        out.setdefault(file, []).append(layout_for(tag, file).encode(value, an_pad=an_pad))
    return out
