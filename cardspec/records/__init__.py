"""Record layouts of the social-security card, declared once with construct.

Importing the package registers every layout in :data:`LAYOUTS` (SSSE EF05/EF06,
DF01, DF04). Each layout carries ``test_vectors`` checked by ``tests/test_layouts.py``.
"""
from __future__ import annotations

from . import df01, df04, ssse  # noqa: F401  (register the layouts)
from .checks import card_number_check, card_number_valid, ssn_check, ssn_valid
from .errors import FieldValueError, RecordError, RecordFormatError, UnknownRecordError
from .fields import AsciiPadded, BcdPadded, Binary, ConstBytes, Date8, DateTime7, FieldType, GbkPadded
from .layout import (LAYOUTS, RecordLayout, decode_record, encode_record, layout_for, layouts_in,
                     max_record_length, register, split_record)
from .ssse import CARD_ID_CODE, INIT_ORG_CODE, CardIdCode, InitOrgCode, split_name

__all__ = [
    "LAYOUTS", "RecordLayout", "register", "layout_for", "layouts_in", "max_record_length",
    "encode_record", "decode_record", "split_record",
    "FieldType", "GbkPadded", "AsciiPadded", "BcdPadded", "Binary", "Date8", "DateTime7", "ConstBytes",
    "CardIdCode", "InitOrgCode", "CARD_ID_CODE", "INIT_ORG_CODE", "split_name",
    "card_number_check", "card_number_valid", "ssn_check", "ssn_valid",
    "RecordError", "FieldValueError", "RecordFormatError", "UnknownRecordError",
]
