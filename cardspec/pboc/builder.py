"""The data set of one debit application, built from the cardholder's data (pboc.md §1-§2).

The card simulator and the host-side personalization use the same builder: the
simulator applies :meth:`PbocData.dgis` to a fresh application, the personalization
sends them in STORE DATA. Keys and the PIN are separate (:func:`~cardspec.pboc.dgi.key_dgis`,
:func:`~cardspec.pboc.dgi.pin_block_dgi`), so that they never sit in a data set.

>>> holder = PbocHolder(pan="6228000100000010", expiry="301231", name="ZHANG/SAN",
...                     id_number="11010119900307123X")
>>> data = build_pboc_data(holder)
>>> data.afl.hex().upper(), data.aip.hex().upper()
('0801020018010201', '7D00')
>>> data.records[(1, 1)].hex().upper()
'701957136228000100000010D30122200000000000000F5F340101'
>>> data.pse_records[0].hex().upper()  # pboc.md §1.2, byte for byte
'702861264F08A000000333010101500A50424F432044454249549F120A50424F43204445424954870101'
>>> sorted(f"{d:04X}" for d in data.dgis())
['0101', '0102', '0301', '0302', '0D01', '0E01', '9102', '9104', '9200']
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from typing import Literal, Mapping

from apdu.errors import TLVError
from apdu.tlv import TLV, build_ber, parse_ber, parse_one

from .cvr import Iad
from .defaults import DEFAULTS, EC_DEFAULTS, LOG_RECORDS, LOG_SFI, PBOC_DEBIT_AID, IssuerDefaults
from .dgi import Dgi, record_dgi
from .tags import PbocDataError, check_value

__all__ = ["IdType", "PbocHolder", "PbocProduct", "PbocData", "build_pboc_data", "INTERNAL_2_TAGS"]

#: Tags of DGI 0E01; every other internal tag goes to 0D01 (pboc.md §2.3).
INTERNAL_2_TAGS = frozenset({0x9F51, 0x9F52, 0x5F34, 0x9F56})
_TRACK2_DIGITS = 37  # ISO 7813 track 2 without sentinels and LRC
_NAME_SHORT = 26  # longer names go to 9F0B


class IdType(IntEnum):
    """Cardholder ID type, tag 9F62 (pboc.md §2.3)."""

    ID_CARD = 0x00
    OFFICER = 0x01
    PASSPORT = 0x02
    ENTRY_PERMIT = 0x03
    TEMPORARY_ID = 0x04
    OTHER = 0x05


def _digits(what: str, value: str, lengths: range) -> str:
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) in lengths):
        shown = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
        raise PbocDataError(f"{what} must be {lengths.start}-{lengths.stop - 1} decimal digits (got {shown})")
    return value


def _yymmdd(what: str, value: str) -> bytes:
    _digits(what, value, range(6, 7))
    try:
        date(2000 + int(value[:2]), int(value[2:4]), int(value[4:]))
    except ValueError as exc:
        raise PbocDataError(f"{what} {value} is not a date YYMMDD ({exc})") from None
    return bytes.fromhex(value)


def _text(what: str, value: str, longest: int) -> bytes:
    if not (isinstance(value, str) and value and len(value) <= longest
            and all(" " <= c <= "~" for c in value)):
        raise PbocDataError(f"{what} must be 1-{longest} printable ASCII characters")
    return value.encode("ascii")


@dataclass(frozen=True)
class PbocHolder:
    """Per-card data: the account and the cardholder."""

    pan: str  #: 12-19 digits; use 16 or 18 for python-emv 1.0.14 (an odd PAN breaks it, §6.4)
    expiry: str  #: YYMMDD (5F24); track 2 keeps YYMM
    name: str  #: Latin name, ≤ 26 characters in 5F20, else 9F0B (≤ 45)
    id_number: str  #: 9F61
    id_type: IdType = IdType.ID_CARD
    psn: str = "01"  #: 5F34, two digits; part of the UDK derivation
    effective: str | None = None  #: YYMMDD (5F25), optional
    service_code: str = "220"  #: 5F30 and track 2 (pboc.md §7: unsourced; configure it)


@dataclass(frozen=True)
class PbocProduct:
    """Product choices shared by a batch (the profile's ``[pboc]`` section)."""

    aip: bytes = bytes.fromhex("7D00")
    version: Literal["2.0", "3.0"] = "2.0"  #: 9F08 0020/0030; 3.0 with EC adds the load log
    ec: bool = False  #: electronic cash data (9F79, 9F77, 9F78, 9F6D)
    ppse: bool = False  #: a 2PAY.SYS.DDF01 instance
    issuer: IssuerDefaults = DEFAULTS
    #: contents (TLVs, no 70) of SFI 2 records 1.. from the ODA key set: 90, 9F32 92 8F, 93, 9F46, 9F47 9F48 9F49
    oda_records: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class PbocData:
    """One application's personalization data, by content."""

    aid: bytes
    fci: bytes  #: A5 template (DGI 9102)
    gpo: bytes  #: 82 ‖ 94 (DGI 9104)
    iad: bytes  #: IAD template, the 9F10 value (DGI 9200)
    records: Mapping[tuple[int, int], bytes]  #: (SFI, number) -> 70 template
    internal: Mapping[int, bytes]  #: tag -> value (DGIs 0D01 and 0E01)
    pse_fci: bytes  #: A5 template of 1PAY.SYS.DDF01
    pse_records: tuple[bytes, ...]  #: directory records (SFI 1)
    ppse_fci: bytes | None = None  #: A5 template of 2PAY.SYS.DDF01

    @property
    def aip(self) -> bytes:
        return parse_one(self.gpo[:4], tag=0x82).value

    @property
    def afl(self) -> bytes:
        return parse_one(self.gpo[4:], tag=0x94).value

    def dgis(self) -> dict[int, bytes]:
        """The ADF instance's DGIs in STORE DATA order (records first)."""
        out = {record_dgi(sfi, n): rec for (sfi, n), rec in sorted(self.records.items())}
        out[Dgi.FCI] = self.fci
        out[Dgi.GPO_DC] = self.gpo
        out[Dgi.IAD] = build_ber(0x9F10, self.iad)
        out[Dgi.INTERNAL] = b"".join(build_ber(t, v) for t, v in self.internal.items() if t not in INTERNAL_2_TAGS)
        out[Dgi.INTERNAL_2] = b"".join(build_ber(t, v) for t, v in self.internal.items() if t in INTERNAL_2_TAGS)
        return out

    def pse_dgis(self) -> dict[int, bytes]:
        out = {record_dgi(1, n): rec for n, rec in enumerate(self.pse_records, 1)}
        out[Dgi.FCI] = self.pse_fci
        return out

    def ppse_dgis(self) -> dict[int, bytes]:
        return {Dgi.FCI: self.ppse_fci} if self.ppse_fci is not None else {}


def _tlv(tag: int, value: bytes) -> TLV:
    return TLV(tag, check_value(tag, value))


def _record(*objects: TLV) -> bytes:
    record = TLV.template(0x70, *objects).to_bytes()
    if len(record) > 0xFE:
        raise PbocDataError(f"record of {len(record)} bytes: READ RECORD answers at most 254")
    return record


def _afl(records: Mapping[tuple[int, int], bytes]) -> bytes:
    """One AFL entry per SFI (records 1..n); SFI 3 record 1 is signed for SDA (§2.2)."""
    out = b""
    for sfi in sorted({s for s, _ in records}):
        numbers = sorted(n for s, n in records if s == sfi)
        if numbers != list(range(1, len(numbers) + 1)):
            raise PbocDataError(f"SFI {sfi}: records {numbers} are not numbered 1..n")
        out += bytes((sfi << 3, 1, len(numbers), 1 if sfi == 3 else 0))
    return out


def _track2(holder: PbocHolder) -> bytes:
    digits = f"{holder.pan}D{holder.expiry[:4]}{holder.service_code}"
    digits = digits.ljust(_TRACK2_DIGITS, "0")
    return bytes.fromhex(digits + "F" * (len(digits) % 2))


def _bcd_f(digits: str) -> bytes:
    return bytes.fromhex(digits + "F" * (len(digits) % 2))


def build_pboc_data(holder: PbocHolder, product: PbocProduct = PbocProduct(),
                    aid: bytes = PBOC_DEBIT_AID) -> PbocData:
    """The FCI, records, GPO response, IAD template and internal data of one card."""
    issuer = product.issuer
    _digits("PAN", holder.pan, range(12, 20))
    _digits("PAN sequence number", holder.psn, range(2, 3))
    _digits("service code", holder.service_code, range(3, 4))
    expiry = _yymmdd("expiry date", holder.expiry)
    name = _text("cardholder name", holder.name, 45)
    label = _text("application label", issuer.label, 16)
    psn = bytes.fromhex(holder.psn)
    records: dict[tuple[int, int], bytes] = {}
    records[(1, 1)] = _record(_tlv(0x57, _track2(holder)), _tlv(0x5F34, psn))
    records[(1, 2)] = _record(_tlv(0x5F20 if len(name) <= _NAME_SHORT else 0x9F0B, name),
                              _tlv(0x9F61, _text("ID number", holder.id_number, 40)),
                              _tlv(0x9F62, bytes((IdType(holder.id_type),))))
    for n, content in enumerate(product.oda_records, 1):
        try:
            records[(2, n)] = _record(*parse_ber(content, allow_padding=False))
        except TLVError as exc:
            raise PbocDataError(f"ODA record {n} (SFI 2): {exc}") from None
    sfi3 = [_tlv(0x5A, _bcd_f(holder.pan)), _tlv(0x8E, issuer.cvm_list), _tlv(0x9F0D, issuer.iac_default),
            _tlv(0x9F0E, issuer.iac_denial), _tlv(0x9F0F, issuer.iac_online), _tlv(0x5F24, expiry),
            _tlv(0x5F28, issuer.country), _tlv(0x9F42, issuer.currency), _tlv(0x9F07, issuer.auc)]
    if holder.effective is not None:
        sfi3.append(_tlv(0x5F25, _yymmdd("effective date", holder.effective)))
    records[(3, 1)] = _record(*sfi3)
    version = bytes.fromhex("0030" if product.version == "3.0" else "0020")
    records[(3, 2)] = _record(_tlv(0x8C, issuer.cdol1), _tlv(0x8D, issuer.cdol2),
                              _tlv(0x5F30, bytes.fromhex("0" + holder.service_code)),
                              _tlv(0x9F08, version), _tlv(0x9F4A, issuer.sda_tag_list))
    if len(product.aip) != 2:
        raise PbocDataError(f"AIP must be 2 bytes, got {len(product.aip)}")
    gpo = build_ber(0x82, product.aip) + build_ber(0x94, _afl(records))
    log_entries = [_tlv(0x9F4D, bytes((LOG_SFI, LOG_RECORDS)))]
    internal = {0x9F4F: issuer.log_format}
    if product.ec:
        internal.update(EC_DEFAULTS)
        if product.version == "3.0":
            log_entries.append(_tlv(0xDF4D, bytes((LOG_SFI + 1, LOG_RECORDS))))
            internal[0xDF4F] = issuer.load_log_format
    internal.update({0x9F51: issuer.currency, 0x9F52: issuer.ada, 0x5F34: psn, 0x9F56: issuer.issuer_auth_indicator})
    for tag, value in internal.items():
        check_value(tag, value)
    common = [_tlv(0x5F2D, _text("language", issuer.language, 8)), _tlv(0x9F11, bytes((issuer.code_table,)))]
    pdol = [_tlv(0x9F38, issuer.pdol)] if issuer.pdol else []
    fci = TLV.template(0xA5, _tlv(0x50, label), _tlv(0x87, bytes((issuer.priority,))), *pdol, *common,
                       _tlv(0x9F12, label), TLV.template(0xBF0C, *log_entries)).to_bytes()
    entry = [_tlv(0x4F, aid), _tlv(0x50, label)]
    pse_record = _record(TLV.template(0x61, *entry, _tlv(0x9F12, label), _tlv(0x87, bytes((issuer.priority,)))))
    pse_fci = TLV.template(0xA5, _tlv(0x88, b"\x01"), *common,
                           TLV.template(0xBF0C, _tlv(0x9F4D, bytes((LOG_SFI, LOG_RECORDS))))).to_bytes()
    ppse_fci = None
    if product.ppse:
        app = TLV.template(0x61, *entry, _tlv(0x87, bytes((issuer.priority,))))
        ppse_fci = TLV.template(0xA5, TLV.template(0xBF0C, app)).to_bytes()
    iad = Iad(issuer.dki, bytes.fromhex("03000000")).to_bytes()
    return PbocData(aid, fci, gpo, iad, records, internal, pse_fci, (pse_record,), ppse_fci)
