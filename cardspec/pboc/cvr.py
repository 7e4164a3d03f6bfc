"""Card Verification Results and Issuer Application Data (JR/T 0025, pboc.md §4.1).

IAD (tag 9F10) = ``07`` ‖ DKI ‖ CVN ``01`` ‖ CVR (4 bytes, the first is its length
``03``) ‖ algorithm id ``01`` (3DES) [‖ IDD length ‖ IDD]. The CVR bit layout is the
VIS one that PBOC adopted (pboc.md §3.2, §4.1; byte 3 and 4 as in vectors A and B):

>>> cvr = Cvr.parse(bytes.fromhex("03A4B904"))
>>> cvr.gac1, cvr.gac2, sorted(f.name for f in cvr.flags2)
(<AcType.ARQC: 128>, None, ['OFFLINE_PIN_PERFORMED'])
>>> [f.name for f in Cvr3 if f in cvr.flags3]
['LAST_ONLINE_NOT_COMPLETED', 'VELOCITY_EXCEEDED', 'NEW_CARD', 'ISSUER_AUTH_FAILED_LAST_ONLINE', 'SDA_FAILED_DECLINED']
>>> cvr.script_count, Cvr4.DDA_FAILED_DECLINED in cvr.flags4
(0, True)
>>> iad = Iad.parse(bytes.fromhex("07020103A4B904010A010000000000" "1BFC423C"))
>>> iad.dki, iad.cvn, iad.cvr.hex().upper(), iad.algorithm, iad.idd.hex().upper()
(2, 1, '03A4B904', 1, '0100000000001BFC423C')
>>> Iad(dki=1, cvr=Cvr(AcType.ARQC).to_bytes()).to_bytes().hex().upper()
'07010103A0000001'
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag

from .tags import PbocDataError

__all__ = ["AcType", "Cvr2", "Cvr3", "Cvr4", "Cvr", "Iad", "CVN_PBOC", "ALGORITHM_3DES"]

CVN_PBOC = 0x01  #: cryptogram version number of JR/T 0025 (3DES AC, pboc.md §4.1)
ALGORITHM_3DES = 0x01  #: IAD algorithm id; SM4 cards use another value (not modelled, §7)
_CVR_LENGTH = 0x03


class AcType(IntEnum):
    """Cryptogram types, coded as in GENERATE AC P1 b8-b7 and the CID (EMV Book 3 §6.5.5)."""

    AAC = 0x00
    TC = 0x40
    ARQC = 0x80

    @property
    def cvr_code(self) -> int:
        """The two-bit code of the CVR (00 AAC, 01 TC, 10 ARQC)."""
        return self.value >> 6

    @classmethod
    def from_p1(cls, p1: int) -> "AcType | None":
        """The type a GENERATE AC P1 asks for; None for the RFU code 11."""
        code = p1 & 0xC0
        return None if code == 0xC0 else cls(code)


class Cvr2(IntFlag):
    """CVR byte 2, bits b4-b1 (b8-b5 hold the two cryptogram types)."""

    ISSUER_AUTH_FAILED = 0x08
    OFFLINE_PIN_PERFORMED = 0x04
    OFFLINE_PIN_FAILED = 0x02
    UNABLE_TO_GO_ONLINE = 0x01


class Cvr3(IntFlag):
    """CVR byte 3: what earlier transactions left behind."""

    LAST_ONLINE_NOT_COMPLETED = 0x80
    PIN_TRY_LIMIT_EXCEEDED = 0x40
    VELOCITY_EXCEEDED = 0x20
    NEW_CARD = 0x10
    ISSUER_AUTH_FAILED_LAST_ONLINE = 0x08
    ISSUER_AUTH_NOT_PERFORMED = 0x04
    BLOCKED_BY_PIN_LIMIT = 0x02
    SDA_FAILED_DECLINED = 0x01


class Cvr4(IntFlag):
    """CVR byte 4, bits b4-b1 (b8-b5 count the issuer script commands)."""

    SCRIPT_FAILED = 0x08
    DDA_FAILED_DECLINED = 0x04
    DDA_PERFORMED = 0x02


_NOT_REQUESTED = 0b10  # CVR byte 2 b8-b7 before a second GENERATE AC


@dataclass(frozen=True)
class Cvr:
    """The 4-byte CVR: ``03`` ‖ byte 2 ‖ byte 3 ‖ byte 4.

    ``gac2`` None means "second GENERATE AC not requested" (code 10).
    """

    gac1: AcType
    gac2: AcType | None = None
    flags2: Cvr2 = Cvr2(0)
    flags3: Cvr3 = Cvr3(0)
    flags4: Cvr4 = Cvr4(0)
    script_count: int = 0  #: issuer script commands of the last transaction (0-15)

    def __post_init__(self) -> None:
        if not 0 <= self.script_count <= 15:
            raise PbocDataError(f"CVR script count {self.script_count} does not fit in 4 bits (0-15)")

    def to_bytes(self) -> bytes:
        gac2 = self.gac2.cvr_code if self.gac2 is not None else _NOT_REQUESTED
        byte2 = gac2 << 6 | self.gac1.cvr_code << 4 | int(self.flags2)
        return bytes((_CVR_LENGTH, byte2, int(self.flags3), self.script_count << 4 | int(self.flags4)))

    @classmethod
    def parse(cls, data: bytes) -> "Cvr":
        if len(data) != 4 or data[0] != _CVR_LENGTH:
            raise PbocDataError(f"CVR {data.hex().upper()}: must be 4 bytes starting with its length 03")
        b2, b3, b4 = data[1:]
        if b2 >> 4 & 0b11 == 0b11 or b2 >> 6 == 0b11:
            raise PbocDataError(f"CVR byte 2 {b2:02X}: cryptogram type code 11 is RFU")
        gac1 = AcType((b2 >> 4 & 0b11) << 6)
        gac2 = None if b2 >> 6 == _NOT_REQUESTED else AcType((b2 >> 6) << 6)
        if b4 & 0x01:
            raise PbocDataError(f"CVR byte 4 {b4:02X}: bit b1 is RFU")
        return cls(gac1, gac2, Cvr2(b2 & 0x0F), Cvr3(b3), Cvr4(b4 & 0x0F), b4 >> 4)


@dataclass(frozen=True)
class Iad:
    """Issuer Application Data in the JR/T 0025 layout (pboc.md §4.1)."""

    dki: int
    cvr: bytes
    cvn: int = CVN_PBOC
    algorithm: int = ALGORITHM_3DES
    idd: bytes = b""  #: issuer discretionary data, without its length byte

    def __post_init__(self) -> None:
        for name in ("dki", "cvn", "algorithm"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise PbocDataError(f"IAD {name} {getattr(self, name)} is not a byte")
        Cvr.parse(self.cvr)
        if len(self.idd) > 15:
            raise PbocDataError(f"IAD issuer discretionary data of {len(self.idd)} bytes (1-15 allowed)")

    def to_bytes(self) -> bytes:
        fixed = bytes((0x07, self.dki, self.cvn)) + self.cvr + bytes((self.algorithm,))
        return fixed + (bytes((len(self.idd),)) + self.idd if self.idd else b"")

    def with_cvr(self, cvr: bytes) -> "Iad":
        """The same IAD with another CVR (the card fills the template of DGI 9200)."""
        return Iad(self.dki, cvr, self.cvn, self.algorithm, self.idd)

    @classmethod
    def parse(cls, data: bytes) -> "Iad":
        """Parse a 9F10 value; :class:`PbocDataError` names the faulty part."""
        if len(data) < 8 or data[0] != 0x07:
            raise PbocDataError(f"IAD {data.hex().upper()}: must start with length 07 and hold at least 8 bytes")
        idd = data[8:]
        if idd and (idd[0] == 0 or idd[0] != len(idd) - 1):
            raise PbocDataError(f"IAD issuer discretionary data: length byte {idd[0]:02X} but "
                                f"{len(idd) - 1} bytes follow")
        return cls(data[1], bytes(data[3:7]), data[2], data[7], bytes(idd[1:]))
