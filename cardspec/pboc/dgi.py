"""Data grouping identifiers (DGIs) of the financial zone: what each one carries (pboc.md §2.3).

A DGI ``SSRR`` with SFI ``SS`` in 01-1E and record ``RR`` in 01-FE is record RR of SFI SS,
a ``70`` template as READ RECORD returns it. The others:

>>> describe_dgi(0x0102), describe_dgi(0x9104), describe_dgi(0x8000)
('SFI 1 record 2', 'GPO response, debit/credit (82, 94)', 'UDK-AC ‖ UDK-MAC ‖ UDK-ENC (48 bytes, DEK-encrypted)')
>>> dgi_record(0x0301), record_dgi(3, 2), dgi_record(0x9102)
((3, 1), 770, None)
>>> is_encrypted(0x8010), is_encrypted(0x9010)
(True, False)
>>> pin_block_dgi("123456").hex().upper(), pin_tries_dgi(3).hex().upper()
('26123456FFFFFFFF', '0303')
"""
from __future__ import annotations

from enum import IntEnum

from cardspec.crypto.emv import pin_block_iso9564_format2, udk_kcvs

from .tags import PbocDataError

__all__ = ["Dgi", "DGI_CONTENT", "describe_dgi", "dgi_record", "record_dgi", "is_encrypted",
           "key_dgis", "split_udks", "pin_block_dgi", "pin_tries_dgi", "UDKS_LENGTH"]

UDKS_LENGTH = 48


class Dgi(IntEnum):
    """The DGIs that are not records."""

    FCI = 0x9102  #: A5 template of the FCI (ADF, PSE and PPSE instances alike)
    GPO_DC = 0x9104
    IAD = 0x9200
    GPO_EC = 0x9203
    GPO_QPBOC = 0x9207
    INTERNAL = 0x0D01
    INTERNAL_2 = 0x0E01
    UDKS = 0x8000
    PIN = 0x8010
    KCVS = 0x9000
    PIN_TRIES = 0x9010
    #: ICC RSA CRT components, EMV CPS order [S3 MakeDgi.c]; see :mod:`cardspec.pboc.oda_data`
    ICC_RSA_QINV = 0x8201
    ICC_RSA_DQ = 0x8202
    ICC_RSA_DP = 0x8203
    ICC_RSA_Q = 0x8204
    ICC_RSA_P = 0x8205


DGI_CONTENT: dict[int, str] = {
    Dgi.FCI: "FCI proprietary template A5 (50, 87, 9F38, 5F2D, 9F11, 9F12, BF0C)",
    Dgi.GPO_DC: "GPO response, debit/credit (82, 94)",
    Dgi.IAD: "IAD template (9F10)",
    Dgi.GPO_EC: "GPO response, electronic cash (82, 94)",
    Dgi.GPO_QPBOC: "GPO response, qPBOC (82, 94, 9F10)",
    Dgi.INTERNAL: "internal data for GET DATA (9F4F, DF4F, 9F58, 9F59, 9F53, 9F54, 9F5C, 9F6D, 9F77-9F79)",
    Dgi.INTERNAL_2: "internal data (9F51, 9F52, 5F34, 9F56)",
    Dgi.UDKS: "UDK-AC ‖ UDK-MAC ‖ UDK-ENC (48 bytes, DEK-encrypted)",
    Dgi.PIN: "offline PIN block 2N PP..F (8 bytes, DEK-encrypted)",
    Dgi.KCVS: "check values of the three UDKs (3 × 3 bytes)",
    Dgi.PIN_TRIES: "PIN try limit ‖ PIN tries remaining",
    Dgi.ICC_RSA_QINV: "ICC RSA key, CRT q⁻¹ mod p (DEK-encrypted)",
    Dgi.ICC_RSA_DQ: "ICC RSA key, CRT d mod (q-1) (DEK-encrypted)",
    Dgi.ICC_RSA_DP: "ICC RSA key, CRT d mod (p-1) (DEK-encrypted)",
    Dgi.ICC_RSA_Q: "ICC RSA key, CRT prime q (DEK-encrypted)",
    Dgi.ICC_RSA_P: "ICC RSA key, CRT prime p (DEK-encrypted)",
}


def dgi_record(dgi: int) -> tuple[int, int] | None:
    """(SFI, record number) when ``dgi`` is a record DGI, else None. 0D01 and 0E01 are
    PBOC's internal data, not records of SFI 13 and 14."""
    sfi, number = dgi >> 8, dgi & 0xFF
    if dgi not in DGI_CONTENT and 1 <= sfi <= 30 and 1 <= number <= 0xFE:
        return sfi, number
    return None


def record_dgi(sfi: int, number: int) -> int:
    """The DGI of record ``number`` of SFI ``sfi``."""
    dgi = sfi << 8 | number
    if not 1 <= sfi <= 30 or not 1 <= number <= 0xFE or dgi in DGI_CONTENT:
        raise PbocDataError(f"no record DGI for SFI {sfi} record {number} (SFI 1-30, record 1-254; "
                            f"0D01 and 0E01 are internal data)")
    return dgi


def describe_dgi(dgi: int) -> str:
    """What ``dgi`` carries, for messages and listings."""
    where = dgi_record(dgi)
    if where is not None:
        return f"SFI {where[0]} record {where[1]}"
    return DGI_CONTENT.get(dgi, f"DGI {dgi:04X} (unknown to the debit application)")


def is_encrypted(dgi: int) -> bool:
    """DGIs 8000-8FFF travel DEK-encrypted in STORE DATA (P1 b6-b5 = 11, pboc.md §2.3)."""
    return 0x8000 <= dgi <= 0x8FFF


def key_dgis(udk_ac: bytes, udk_mac: bytes, udk_enc: bytes) -> dict[int, bytes]:
    """DGI 8000 (plaintext; the personalization encrypts it with the DEK) and DGI 9000."""
    return {Dgi.UDKS: udk_ac + udk_mac + udk_enc, Dgi.KCVS: udk_kcvs(udk_ac, udk_mac, udk_enc)}


def split_udks(data: bytes) -> tuple[bytes, bytes, bytes]:
    """The three UDKs of a decrypted DGI 8000."""
    if len(data) != UDKS_LENGTH:
        raise PbocDataError(f"DGI 8000: {len(data)} bytes, must be {UDKS_LENGTH} (three 16-byte UDKs)")
    return data[:16], data[16:32], data[32:]


def pin_block_dgi(pin: str) -> bytes:
    """DGI 8010: the PIN as an ISO 9564 format-2 block (plaintext, before DEK encryption)."""
    return pin_block_iso9564_format2(pin)


def pin_tries_dgi(limit: int, remaining: int | None = None) -> bytes:
    """DGI 9010: try limit ‖ tries remaining (default: the limit)."""
    remaining = limit if remaining is None else remaining
    if not 1 <= limit <= 15 or not 0 <= remaining <= limit:
        raise PbocDataError(f"PIN tries {remaining} of {limit}: the limit must be 1-15 (one 63Cx nibble)")
    return bytes((limit, remaining))
