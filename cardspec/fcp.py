"""File control parameters of CREATE FILE in sscard's pre-personalization dialect
(ISO 7816-9 §6.1 with ISO 7816-4 §7.4 FCP tags; docs/prepersonalization.md §3.3).

Pure data, shared by the card (``cardsim.preperso`` parses) and the host
(``personalize`` encodes):

``62 L [82 descriptor][83 FID][84 DF name][88 SFI][80 size][86 access][A5 proprietary]``

* 82: file descriptor byte (38 DF, 01 transparent, 02 linear fixed, 04/05 linear
  variable, 06 cyclic), then for record EFs the data coding byte (any value, ignored),
  the maximum record size (2 bytes) and the number of records (1 or 2 bytes).
* 83: FID (2 bytes). 84: DF name, 1-16 bytes (DFs only).
* 88 (EFs only): one byte, SFI in b8-b4; empty: no SFI; absent: FID b5-b1 (ISO rule).
* 80 (transparent EFs only): size in bytes, 1 or 2 bytes.
* 86 (EFs only, required): read rule ‖ write rule, each :meth:`AccessRule.to_bytes`.
* A5 (DFs only): content of the FCI proprietary template the DF answers to SELECT.

>>> from cardspec.access import AccessRule
>>> p = FileParams(0xEF05, "linear_variable", sfi=5, record_length=0x20, max_records=7,
...                read=AccessRule.parse("free"), write=AccessRule.parse("key:04"))
>>> encode_fcp(p).hex(" ").upper()
'62 13 82 05 05 21 00 20 07 83 02 EF 05 88 01 28 86 03 00 40 04'
>>> parse_fcp(encode_fcp(p)) == p
True
>>> parse_fcp(bytes.fromhex("6204 8302EF05"))
Traceback (most recent call last):
cardspec.fcp.FcpError: 82 (file descriptor) missing
>>> from cardspec.tree import ssse_tree
>>> encode_fcp(spec_params(ssse_tree(3).find("SSSE/EF08"))).hex().upper()  # prepersonalization.md §3.3
'62148201018302EF08880140800210008604400A4004'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from apdu.errors import SSCardError, TLVError
from apdu.tlv import build_ber, parse_ber, parse_one

from .access import AccessRule, AccessRuleError
from .tree import DFSpec, EFSpec

__all__ = ["Kind", "FileParams", "FcpError", "parse_fcp", "encode_fcp", "spec_params",
           "MAX_DF_NAME", "MAX_TRANSPARENT_SIZE"]

Kind = Literal["df", "transparent", "linear_fixed", "linear_variable", "cyclic"]

#: longest DF name (ISO 7816-4 §8.2.1.2: 1-16 bytes)
MAX_DF_NAME = 16
#: largest transparent EF: READ BINARY offsets are 15 bits
MAX_TRANSPARENT_SIZE = 0x8000

#: file descriptor byte -> kind (ISO 7816-4 table 12); 04 is read as 05 (records are simple TLV)
_FDB: dict[int, Kind] = {0x38: "df", 0x01: "transparent", 0x02: "linear_fixed", 0x04: "linear_variable",
                         0x05: "linear_variable", 0x06: "cyclic"}
_KIND_FDB = {"df": 0x38, "transparent": 0x01, "linear_fixed": 0x02, "linear_variable": 0x05, "cyclic": 0x06}
_DCB = 0x21  # data coding byte sscard writes (ignored when read)
_RESERVED = (0x3F00, 0x3FFF, 0xFFFF)
_ALLOWED = {"df": {0x82, 0x83, 0x84, 0xA5}, "transparent": {0x82, 0x83, 0x88, 0x80, 0x86}}
_RECORD_TAGS = {0x82, 0x83, 0x88, 0x86}


class FcpError(SSCardError, ValueError):
    """FCP data that cannot describe a file (the card answers 6A80 and logs the reason)."""


@dataclass(frozen=True)
class FileParams:
    """What CREATE FILE says about one file (record sizes: exact for fixed/cyclic, maximum
    for linear variable)."""

    fid: int
    kind: Kind
    name: bytes | None = None
    proprietary: bytes | None = None
    sfi: int | None = None
    size: int | None = None
    record_length: int | None = None
    max_records: int | None = None
    read: AccessRule | None = None
    write: AccessRule | None = None


def _int(value: bytes, what: str, sizes: tuple[int, ...]) -> int:
    if len(value) not in sizes:
        raise FcpError(f"{what}: {len(value)} bytes (allowed: {', '.join(map(str, sizes))})")
    return int.from_bytes(value, "big")


def _descriptor(value: bytes) -> tuple[Kind, int | None, int | None]:
    if not 1 <= len(value) <= 6:
        raise FcpError(f"82 (file descriptor) of {len(value)} bytes")
    kind = _FDB.get(value[0])
    if kind is None:
        raise FcpError(f"file descriptor byte {value[0]:02X} (sscard: 38, 01, 02, 04, 05, 06)")
    if kind in ("df", "transparent"):
        if len(value) > 2:
            raise FcpError(f"82 of {len(value)} bytes: a {kind} has no record size or count")
        return kind, None, None
    if len(value) < 5:
        raise FcpError("82 of a record EF needs FDB, DCB, maximum record size (2) and number of records")
    return kind, _int(value[2:4], "maximum record size", (2,)), _int(value[4:], "number of records", (1, 2))


def _sfi(tlvs: dict[int, bytes], fid: int) -> int | None:
    if 0x88 not in tlvs:
        low = fid & 0x1F
        return low if 1 <= low <= 30 else None
    value = tlvs[0x88]
    if not value:
        return None
    if len(value) != 1 or value[0] & 0x07 or not 1 <= value[0] >> 3 <= 30:
        raise FcpError(f"88 (SFI) {value.hex().upper()}: one byte, SFI 1-30 in b8-b4")
    return value[0] >> 3


def _access(value: bytes | None) -> tuple[AccessRule, AccessRule]:
    if value is None:
        raise FcpError("86 (access rules) missing: an EF needs its read and write rules")
    try:
        read, used = AccessRule.from_bytes(value)
        write, used2 = AccessRule.from_bytes(value[used:])
    except AccessRuleError as exc:
        raise FcpError(f"86 (access rules) {value.hex().upper()}: {exc}") from None
    if used + used2 != len(value):
        raise FcpError(f"86 (access rules) {value.hex().upper()}: bytes left after the write rule")
    return read, write


def parse_fcp(data: bytes) -> FileParams:
    """The CREATE FILE data field ``62 L …`` as :class:`FileParams`; :class:`FcpError` names the problem."""
    try:
        template = parse_one(data, tag=0x62, allow_padding=False)
        objects = parse_ber(template.value, allow_padding=False)
    except TLVError as exc:
        raise FcpError(f"not an FCP template: {exc}") from None
    tlvs: dict[int, bytes] = {}
    for obj in objects:
        if obj.tag in tlvs:
            raise FcpError(f"tag {obj.tag:02X} given twice")
        tlvs[obj.tag] = obj.value
    if 0x82 not in tlvs:
        raise FcpError("82 (file descriptor) missing")
    kind, record_length, max_records = _descriptor(tlvs[0x82])
    if 0x83 not in tlvs:
        raise FcpError("83 (file identifier) missing")
    fid = _int(tlvs[0x83], "83 (file identifier)", (2,))
    if fid in _RESERVED:
        raise FcpError(f"file identifier {fid:04X} is reserved")
    extra = sorted(set(tlvs) - _ALLOWED.get(kind, _RECORD_TAGS))
    if extra:
        raise FcpError(f"tag {extra[0]:02X} is not allowed for a {kind.replace('_', ' ')} file")
    if kind == "df":
        name = tlvs.get(0x84)
        if name is not None and not 1 <= len(name) <= MAX_DF_NAME:
            raise FcpError(f"84 (DF name) of {len(name)} bytes (1-{MAX_DF_NAME})")
        return FileParams(fid, kind, name=name, proprietary=tlvs.get(0xA5))
    read, write = _access(tlvs.get(0x86))
    sfi = _sfi(tlvs, fid)
    if kind == "transparent":
        if 0x80 not in tlvs:
            raise FcpError("80 (size) missing for a transparent EF")
        size = _int(tlvs[0x80], "80 (size)", (1, 2))
        if not 1 <= size <= MAX_TRANSPARENT_SIZE:
            raise FcpError(f"size {size} outside 1-{MAX_TRANSPARENT_SIZE}")
        return FileParams(fid, kind, sfi=sfi, size=size, read=read, write=write)
    assert record_length is not None and max_records is not None
    low = 2 if kind == "linear_variable" else 1
    if not low <= record_length <= 0xFF or not 1 <= max_records <= 254:
        raise FcpError(f"record size {record_length} ({low}-255) or count {max_records} (1-254) out of range")
    return FileParams(fid, kind, sfi=sfi, record_length=record_length, max_records=max_records,
                      read=read, write=write)


def encode_fcp(p: FileParams) -> bytes:
    """The FCP template for ``p`` (always with an explicit 88 for EFs)."""
    out = build_ber(0x83, p.fid.to_bytes(2, "big"))
    if p.kind == "df":
        out = build_ber(0x82, bytes((0x38,))) + out
        if p.name is not None:
            out += build_ber(0x84, p.name)
        if p.proprietary is not None:
            out += build_ber(0xA5, p.proprietary)
        return build_ber(0x62, out)
    if p.read is None or p.write is None:
        raise FcpError(f"EF {p.fid:04X}: read and write rules are needed")
    fdb = _KIND_FDB[p.kind]
    if p.kind == "transparent":
        descriptor = bytes((fdb,))
        tail = build_ber(0x80, (p.size or 0).to_bytes(2, "big"))
    else:
        descriptor = bytes((fdb, _DCB)) + (p.record_length or 0).to_bytes(2, "big") + bytes((p.max_records or 0,))
        tail = b""
    sfi = build_ber(0x88, b"" if p.sfi is None else bytes((p.sfi << 3,)))
    return build_ber(0x62, build_ber(0x82, descriptor) + out + sfi + tail
                     + build_ber(0x86, p.read.to_bytes() + p.write.to_bytes()))


def spec_params(node: Union[EFSpec, DFSpec]) -> FileParams:
    """The CREATE FILE parameters of a declared file (:mod:`cardspec.tree`); a DF's children
    are created by their own CREATE FILE commands."""
    if isinstance(node, DFSpec):
        return FileParams(node.fid, "df", name=node.df_name)
    common = {"sfi": node.sfi, "read": node.read, "write": node.write}
    if not node.type.is_record:
        return FileParams(node.fid, "transparent", size=node.size, **common)
    return FileParams(node.fid, node.type.value, record_length=node.record_length,  # type: ignore[arg-type]
                      max_records=node.max_records, **common)
