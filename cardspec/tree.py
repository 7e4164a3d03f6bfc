"""The file tree of the social-security application as data (ssse.md §1, §5).

The simulator builds a card from it; personalization turns it into CREATE FILE
commands. Paths are ``"SSSE/EF05"``, ``"SSSE/DF04/EF06"`` (the SSSE DDF, then FIDs as
hex), the same keys as :data:`cardspec.records.LAYOUTS`.

>>> t = ssse_tree(3)
>>> str(t.find("SSSE/EF06").read), str(ssse_tree(2).find("SSSE/EF06").read)
('key:0A', 'free')
>>> ef = t.find("SSSE/DF04/EF06"); str(ef.read), str(ef.write), ef.max_records
('pin&key:84', 'key:86', 3)
>>> t.find("SSSE/DIR").initial_records[0].hex().upper()
'61154F06D15600000500500B5055424C494320494E464F'
>>> ssse_fci(0x1E, AlgorithmId.SM4).hex().upper()
'6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103'
>>> ssse_fci(0x1E, None).hex().upper()
'6F16840F7378312E73682EC9E7BBE1B1A3D5CFA50388011E'
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum
from typing import Iterator, Union

from apdu.errors import SSCardError
from apdu.tlv import build_ber

from .access import AccessRule
from .ids import DIR_FID, DIR_SFI, SSSE_DF_NAME, SSSE_FID, AlgorithmId, AppDF, DfKeyId, KeyId
from .records import layouts_in, max_record_length

__all__ = ["EFType", "EFSpec", "DFSpec", "TreeError", "ssse_tree", "ssse_fci", "dir_record"]


class TreeError(SSCardError, ValueError):
    """An inconsistent file declaration or an unknown path."""


class EFType(str, Enum):
    TRANSPARENT = "transparent"
    LINEAR_VARIABLE = "linear_variable"
    LINEAR_FIXED = "linear_fixed"
    CYCLIC = "cyclic"

    @property
    def is_record(self) -> bool:
        return self is not EFType.TRANSPARENT


@dataclass(frozen=True)
class EFSpec:
    """An elementary file: identifiers, structure, size and access rules."""

    name: str  #: "EF05", or "DIR"
    fid: int
    sfi: int | None
    type: EFType
    read: AccessRule
    write: AccessRule
    size: int | None = None  #: transparent files: bytes
    max_records: int | None = None  #: record files
    record_length: int | None = None  #: exact for fixed/cyclic, maximum for linear_variable
    label: str = ""
    initial_records: tuple[bytes, ...] = ()  #: written when the file is created (the DIR)

    def __post_init__(self) -> None:
        where = f"{self.name} ({self.fid:04X})"
        if not 0 <= self.fid <= 0xFFFF or self.fid in (0x3F00, 0x3FFF, 0xFFFF):
            raise TreeError(f"{where}: FID {self.fid:04X} is reserved or not 2 bytes")
        if self.sfi is not None and not 1 <= self.sfi <= 30:
            raise TreeError(f"{where}: SFI {self.sfi} outside 1..30")
        if self.type.is_record:
            if not self.max_records or not self.record_length or self.size is not None:
                raise TreeError(f"{where}: record files need max_records and record_length, not size")
            if not 1 <= self.record_length <= 0xFE:
                raise TreeError(f"{where}: record length {self.record_length} outside 1..254")
        elif not self.size or self.max_records or self.record_length:
            raise TreeError(f"{where}: transparent files need size only")
        if len(self.initial_records) > (self.max_records or 0):
            raise TreeError(f"{where}: {len(self.initial_records)} initial records, room for {self.max_records}")
        for i, rec in enumerate(self.initial_records, 1):
            if len(rec) > (self.record_length or 0):
                raise TreeError(f"{where}: initial record {i} is {len(rec)} bytes, records hold {self.record_length}")


@dataclass(frozen=True)
class DFSpec:
    """A dedicated file: FID, DF name (AID) and children."""

    name: str  #: "SSSE", "DF01"
    fid: int
    df_name: bytes
    label: str
    children: tuple[Union[EFSpec, "DFSpec"], ...]

    def __post_init__(self) -> None:
        for attr in ("name", "fid", "sfi"):
            seen: dict[object, str] = {}
            for child in self.children:
                value = getattr(child, attr, None)
                if value is None:
                    continue
                if value in seen:
                    shown = f"{value:04X}" if attr == "fid" else f"{value:02X}" if attr == "sfi" else value
                    raise TreeError(f"{self.name}: {child.name} and {seen[value]} share {attr.upper()} {shown}")
                seen[value] = child.name

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Union[EFSpec, "DFSpec"]]]:
        """Yield ``(path, node)`` for this DF and everything below it, depth first."""
        path = f"{prefix}/{self.name}" if prefix else self.name
        yield path, self
        for child in self.children:
            if isinstance(child, DFSpec):
                yield from child.walk(path)
            else:
                yield f"{path}/{child.name}", child

    def find(self, path: str) -> Union[EFSpec, "DFSpec"]:
        for p, node in self.walk():
            if p == path:
                return node
        raise TreeError(f"no file {path!r} in the {self.name} tree")

    def key_ids(self) -> set[int]:
        """Key ids named by the access rules of this DF's own EFs."""
        keys = set()
        for child in self.children:
            if isinstance(child, EFSpec):
                keys |= {r.key for r in (child.read, child.write) if r.key is not None}
        return keys


def dir_record(aid: bytes, label: str) -> bytes:
    """One DIR record ``61 [4F AID][50 label]`` (S3 §6.3; label in ASCII, at most 16 characters)."""
    raw_label = label.encode("ascii")
    if not 1 <= len(raw_label) <= 16:
        raise TreeError(f"DIR label {label!r} must be 1..16 ASCII characters")
    return build_ber(0x61, build_ber(0x4F, aid) + build_ber(0x50, raw_label))


def ssse_fci(dir_sfi: int, algorithm: AlgorithmId | None) -> bytes:
    """FCI of the SSSE: ``6F [84 name][A5 [88 SFI][9F0C [86 01 alg]]]`` (S5 table 36, TR1/TR4).

    3.0 cards announce the algorithm; 2.0 cards omit 9F0C (readers then assume DES).
    """
    prop = build_ber(0x88, bytes((dir_sfi,)))
    if algorithm is not None:
        prop += build_ber(0x9F0C, build_ber(0x86, bytes((int(algorithm),))))
    return build_ber(0x6F, build_ber(0x84, SSSE_DF_NAME) + build_ber(0xA5, prop))


def _rule(rule: str | AccessRule) -> AccessRule:
    return rule if isinstance(rule, AccessRule) else AccessRule.parse(rule)


def _ef(name: str, type_: EFType, read: str | AccessRule, write: str, label: str, **size: int) -> EFSpec:
    """An EF named ``EFxx``: FID EFxx, SFI xx."""
    fid = int(name[2:], 16) | 0xEF00
    return EFSpec(name, fid, fid & 0xFF, type_, _rule(read), _rule(write), label=label, **size)


def _tlv_ef(df_path: str, name: str, read: str | AccessRule, write: str, label: str,
            records: int | None = None) -> EFSpec:
    """A variable-record EF sized from its declared record layouts."""
    path = f"{df_path}/{name}"
    count = records if records is not None else len(layouts_in(path))
    return _ef(name, EFType.LINEAR_VARIABLE, read, write, label,
               max_records=count, record_length=max_record_length(path))


_VAR, _TRANS, _CYCLIC = EFType.LINEAR_VARIABLE, EFType.TRANSPARENT, EFType.CYCLIC
_PIN_OR_RK1 = f"pin|key:{DfKeyId.RK1:02X}"


def _uk(n: int) -> str:
    return f"key:{DfKeyId[f'UK{n:X}']:02X}"


def _df01() -> DFSpec:
    p = "SSSE/DF01"
    efs = [
        _tlv_ef(p, "EF05", _PIN_OR_RK1, _uk(1), "户籍 household registration"),
        _tlv_ef(p, "EF06", _PIN_OR_RK1, _uk(4), "常住地 usual residence"),
        _tlv_ef(p, "EF07", _PIN_OR_RK1, _uk(2), "DF01 EF07"),
        _tlv_ef(p, "EF08", _PIN_OR_RK1, _uk(3), "DF01 EF08"),
        _tlv_ef(p, "EF09", _PIN_OR_RK1, _uk(2), "DF01 EF09"),
        _tlv_ef(p, "EF0A", _PIN_OR_RK1, _uk(5), "DF01 EF0A"),
        _tlv_ef(p, "EF15", _PIN_OR_RK1, _uk(6), "DF01 EF15 (2A and three 40)", records=4),
    ]
    efs += [_ef(f"EF{0x16 + i:02X}", _TRANS, "free", _uk(7 + i), "reserved", size=0x128) for i in range(5)]
    return DFSpec("DF01", AppDF.DF01, AppDF.DF01.aid, "公共应用 public information", tuple(efs))


def _df04() -> DFSpec:
    p = "SSSE/DF04"
    return DFSpec("DF04", AppDF.DF04, AppDF.DF04.aid, "医疗保险 medical insurance", (
        _tlv_ef(p, "EF05", _PIN_OR_RK1, _uk(1), "medical data 1"),
        _tlv_ef(p, "EF06", f"pin&key:{DfKeyId.RK1:02X}", _uk(2), "medical data 2"),
        _ef("EF08", _CYCLIC, "pin", "never", "transaction log", max_records=30, record_length=0x1C),
        _ef("EF15", _CYCLIC, _PIN_OR_RK1, _uk(2), "cyclic EF15", max_records=8, record_length=3),
    ))


def _df_unlisted(df: AppDF, label: str) -> DFSpec:
    """DF02/DF03/DF07: their tag lists (V2 table 9) were not available; one record EF,
    read PIN or RK1, write UK1, sized 16 records of up to 0x80 bytes (sscard's choice)."""
    ef = _ef("EF05", _VAR, _PIN_OR_RK1, _uk(1), f"{df.name} EF05 (tags not known)",
             max_records=16, record_length=0x80)
    return DFSpec(df.name, df, df.aid, label, (ef,))


#: DIR labels (ASCII, sscard's choice: no card dump of the DIR was found).
DIR_LABELS = {AppDF.DF01: "PUBLIC INFO", AppDF.DF02: "EMPLOYMENT", AppDF.DF03: "SOCIAL INSURANCE",
              AppDF.DF04: "MEDICAL", AppDF.DF07: "PERSONNEL"}


@functools.lru_cache(maxsize=16)
def ssse_tree(generation: int, *, ef06_read: AccessRule | None = None, dir_sfi: int = DIR_SFI) -> DFSpec:
    """The SSSE DDF with its EFs and application DFs for a 2nd- or 3rd-generation card
    (immutable, so built once per set of arguments).

    EF06 is read freely on 2.0 cards and after RKSSSE (0A) ext-auth on 3.0 cards
    (SC §10.2); ``ef06_read`` overrides that (profile ``[tree] ef06_read``).
    """
    if generation not in (2, 3):
        raise TreeError(f"generation {generation}: sscard models 2nd- and 3rd-generation cards (2 or 3)")
    rk, uk = f"key:{KeyId.RK:02X}", f"key:{KeyId.UK:02X}"
    read06 = ef06_read or AccessRule.parse("free" if generation == 2 else rk)
    dir_recs = tuple(dir_record(df.aid, label) for df, label in DIR_LABELS.items())
    children: tuple[EFSpec | DFSpec, ...] = (
        _tlv_ef("SSSE", "EF05", "free", uk, "发卡机构数据 issuer data"),
        _tlv_ef("SSSE", "EF06", read06, uk, "持卡人基本信息 cardholder basics"),
        _ef("EF07", _TRANS, rk, uk, "指纹 fingerprint", size=0x300),
        _ef("EF08", _TRANS, rk, uk, "照片 photo", size=0x1000),
        EFSpec("DIR", DIR_FID, dir_sfi, _VAR, AccessRule.parse("free"), AccessRule.parse(uk),
               max_records=len(dir_recs), record_length=max(map(len, dir_recs)), label="DIR",
               initial_records=dir_recs),
        _df01(),
        _df_unlisted(AppDF.DF02, "就业 employment"),
        _df_unlisted(AppDF.DF03, "社会保险 social insurance 1"),
        _df04(),
        _df_unlisted(AppDF.DF07, "人事人才 personnel"),
    )
    return DFSpec("SSSE", SSSE_FID, SSSE_DF_NAME, "社会保障应用 social-security environment", children)
