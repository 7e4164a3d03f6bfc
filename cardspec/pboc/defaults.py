"""Identifiers and the issuer's default data of the financial zone (pboc.md §1, §2.2).

The values are those of the issuance tool read in pboc.md [S3 IssData.c] unless the
comment says otherwise. FIDs are sscard's choice: no source gives one, every trace
selects by name.

>>> PBOC_DEBIT_AID.hex().upper(), PPSE_NAME
('A000000333010101', b'2PAY.SYS.DDF01')
>>> DEFAULTS.cdol1_length, DEFAULTS.log_record_length
(52, 45)
"""
from __future__ import annotations

from dataclasses import dataclass

from apdu.dol import dol_length
from cardspec.ids import PSE_NAME

__all__ = ["PSE_NAME", "PPSE_NAME", "PBOC_DEBIT_AID", "PBOC_CREDIT_AID", "PBOC_QUASI_CREDIT_AID",
           "PBOC_EC_AID", "PSE_FID", "PPSE_FID", "ADF_FID", "record_fid", "DIRECTORY_SFI",
           "LOG_SFI", "LOG_RECORDS", "IssuerDefaults", "DEFAULTS", "EC_DEFAULTS"]

PPSE_NAME = b"2PAY.SYS.DDF01"
PBOC_DEBIT_AID = bytes.fromhex("A000000333010101")  #: "PBOC DEBIT"; the social-security account
PBOC_CREDIT_AID = bytes.fromhex("A000000333010102")
PBOC_QUASI_CREDIT_AID = bytes.fromhex("A000000333010103")
PBOC_EC_AID = bytes.fromhex("A000000333010106")  #: pure electronic cash

#: FID of the PSE DDF under the MF, beside the SSSE's DDF1 (sscard's choice).
PSE_FID = 0xDDF2
#: FID of the PPSE DDF, under the PSE DDF when the profile enables it (sscard's choice).
PPSE_FID = 0xDDF3
#: FID of the debit ADF under the PSE DDF (sscard's choice).
ADF_FID = 0xADF1
DIRECTORY_SFI = 0x01  #: the PSE directory EF (FCI 88 01 01, pboc.md §1.1)
LOG_SFI = 0x0B  #: transaction log (FCI BF0C 9F4D 02 0B0A)
LOG_RECORDS = 10


def record_fid(sfi: int) -> int:
    """FID of the EF holding SFI ``sfi`` of a financial DF: ``EF`` ‖ SFI, the SSSE convention."""
    return 0xEF00 | sfi


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


@dataclass(frozen=True)
class IssuerDefaults:
    """Issuer-level data every card of a product shares (pboc.md §2.2)."""

    label: str = "PBOC DEBIT"
    priority: int = 0x01
    language: str = "zh"
    code_table: int = 0x01
    pdol: bytes = _h("9F7A019F02065F2A02")  #: EC indicator, amount, currency (§1.5)
    cdol1: bytes = _h("9F02069F03069F1A0295055F2A029A039F21039C019F37049F4E14")
    cdol2: bytes = _h("8A029F02069F03069F1A0295055F2A029A039F21039C019F3704")
    iac_default: bytes = _h("D86004A800")
    iac_denial: bytes = _h("0010980000")
    iac_online: bytes = _h("D86804F800")
    cvm_list: bytes = _h("00000000000000000203")  #: online enciphered PIN, always
    auc: bytes = _h("FF00")
    sda_tag_list: bytes = _h("82")
    country: bytes = _h("0156")  #: 5F28 issuer country, China
    currency: bytes = _h("0156")  #: 9F42 / 9F51, CNY
    ada: bytes = _h("6010")  #: 9F52
    issuer_auth_indicator: bytes = _h("80")  #: 9F56: b8 = issuer authentication is mandatory
    log_format: bytes = _h("9A039F21039F02069F03069F1A025F2A029F4E149C019F3602")
    load_log_format: bytes = _h("9A039F21039F1A029F4E149F3602")  #: PBOC 3.0 with EC
    dki: int = 0x01  #: IAD derivation key index (template 0701010300000001)

    @property
    def cdol1_length(self) -> int:
        return dol_length(self.cdol1)

    @property
    def log_record_length(self) -> int:
        return dol_length(self.log_format)


DEFAULTS = IssuerDefaults()

#: Electronic-cash values of the issuance tool (pboc.md §5), n12 amounts in fen.
EC_DEFAULTS: dict[int, bytes] = {
    0x9F79: _h("000000100000"),  # balance
    0x9F77: _h("000000200000"),  # balance limit
    0x9F78: _h("000000070000"),  # single-transaction limit
    0x9F6D: _h("000000050000"),  # reset threshold
}
