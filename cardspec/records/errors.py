"""Errors of record encoding and decoding; every message names the field and the problem."""
from __future__ import annotations

from apdu.errors import SSCardError


class RecordError(SSCardError, ValueError):
    """Base of every record-layout error."""


class FieldValueError(RecordError):
    """A host value that cannot go into its field (too long, not GBK, not digits...)."""


class RecordFormatError(RecordError):
    """Bytes that do not form a valid record or field (length, BCD, padding, constant)."""


class UnknownRecordError(RecordError):
    """No layout is declared for the tag (in the given file)."""
