"""The simulator's side of CREATE FILE: files from :class:`FileParams` and back, and
what a file costs in card memory (docs/prepersonalization.md §3.3, §4).

The FCP codec itself is pure spec data and lives in :mod:`cardspec.fcp` (the host
encodes with it); it is re-exported here.

>>> from cardspec.access import AccessRule
>>> p = FileParams(0xEF05, "linear_variable", sfi=5, record_length=0x20, max_records=7,
...                read=AccessRule.parse("free"), write=AccessRule.parse("key:04"))
>>> f = new_file(p); f.label, params_of(f) == p, hex(cost(f))
('EF05', True, '0xf0')
>>> parse_fcp(encode_fcp(p)) == p
True
"""
from __future__ import annotations

from cardspec.fcp import FcpError, FileParams, Kind, encode_fcp, parse_fcp

from .fs import DF, EF, CyclicEF, File, LinearFixedEF, LinearVariableEF, TransparentEF

__all__ = ["FcpError", "FileParams", "Kind", "encode_fcp", "parse_fcp", "params_of", "new_file", "cost",
           "DF_OVERHEAD", "EF_OVERHEAD"]

#: bookkeeping bytes a file costs besides its data (sscard's memory model)
DF_OVERHEAD = 0x20
EF_OVERHEAD = 0x10


def params_of(file: File) -> FileParams:
    """The parameters an existing file was (or would be) created with."""
    if isinstance(file, DF):
        return FileParams(file.fid, "df", name=file.name, proprietary=file.proprietary)
    assert isinstance(file, EF)
    common = {"sfi": file.sfi, "read": file.read, "write": file.write}
    if isinstance(file, TransparentEF):
        return FileParams(file.fid, "transparent", size=file.size, **common)
    if isinstance(file, LinearVariableEF):
        return FileParams(file.fid, "linear_variable", record_length=file.max_record_length,
                          max_records=file.max_records, **common)
    if isinstance(file, LinearFixedEF):
        kind: Kind = "cyclic" if isinstance(file, CyclicEF) else "linear_fixed"
        return FileParams(file.fid, kind, record_length=file.record_length, max_records=file.max_records, **common)
    raise FcpError(f"{file.label}: no FCP for {type(file).__name__}")


def new_file(p: FileParams) -> File:
    """An empty file as :class:`FileParams` describe it (a DF without application)."""
    if p.kind == "df":
        return DF(p.fid, name=p.name, proprietary=p.proprietary)
    assert p.read is not None and p.write is not None
    common = {"sfi": p.sfi, "read": p.read, "write": p.write}
    if p.kind == "transparent":
        return TransparentEF(p.fid, size=p.size or 0, **common)
    if p.kind == "linear_variable":
        return LinearVariableEF(p.fid, max_records=p.max_records or 0, max_record_length=p.record_length or 0,
                                **common)
    cls = CyclicEF if p.kind == "cyclic" else LinearFixedEF
    return cls(p.fid, record_length=p.record_length or 0, max_records=p.max_records or 0, **common)


def cost(file: File) -> int:
    """Bytes ``file`` occupies, its subtree included: data space reserved at creation
    (record files: the maximum record size times the record count) plus bookkeeping."""
    if isinstance(file, DF):
        return DF_OVERHEAD + sum(cost(child) for child in file.children)
    if isinstance(file, TransparentEF):
        return EF_OVERHEAD + file.size
    if isinstance(file, LinearVariableEF):
        return EF_OVERHEAD + file.max_record_length * file.max_records
    if isinstance(file, LinearFixedEF):
        return EF_OVERHEAD + file.record_length * file.max_records
    raise FcpError(f"{file.label}: no size for {type(file).__name__}")
