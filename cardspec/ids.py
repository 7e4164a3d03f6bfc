"""Identifiers of the social-security card, declared once (ssse.md §1, §2, §5).

>>> SSSE_DF_NAME.decode("gbk")
'sx1.sh.社会保障'
>>> AppDF.DF04.aid.hex().upper(), AppDF.from_aid(bytes.fromhex("D15600000504")).name
('D15600000503', 'DF07')
>>> SsseEF.EF06.sfi, f"{SsseEF.EF06:04X}"
(6, 'EF06')
>>> KeyId(0x0A).name, DfKeyId.RK1.role
('RK', 'read key 1 (RK1DFxx): ext-auth that opens PIN-or-key reads')
>>> SsseTag(0x4E).name, SsseTag.NAME_EXT.file
('NAME_EXT', 'SSSE/EF06')
"""
from __future__ import annotations

from enum import IntEnum

#: DF name of the SSSE (social-security environment): "sx1.sh." + GBK "社会保障" (S5 table 36).
SSSE_DF_NAME = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
#: Name of the financial payment-system environment (JR/T 0025), a sibling DDF of the SSSE.
PSE_NAME = b"1PAY.SYS.DDF01"
#: Registered application provider id of MOHRSS; AIDs of the application DFs are RID ‖ PIX.
RID = bytes.fromhex("D156000005")
#: Constant prefix of the initializing-organisation number (EF05 tag 04).
INIT_ORG_PREFIX = bytes.fromhex("9156000002")

MF_FID = 0x3F00
#: FID of the SSSE DDF. No source gives one (every trace selects the SSSE by name);
#: sscard uses DDF1 so that CREATE FILE and SELECT by FID have a value.
SSSE_FID = 0xDDF1
#: SFI of the SSSE DIR file as real cards announce it in FCI tag 88 (S3 says 5-15; ⚠ ssse.md §8.1).
DIR_SFI = 0x1E
#: FID of the DIR file: sscard's choice (EF ‖ SFI); no card dump shows it.
DIR_FID = 0xEF1E


class SsseEF(IntEnum):
    """Elementary files directly under the SSSE; the low FID byte is the SFI."""

    EF05 = 0xEF05  #: 发卡机构数据 issuer data (variable TLV records)
    EF06 = 0xEF06  #: 持卡人基本信息 cardholder basics (variable TLV records)
    EF07 = 0xEF07  #: 指纹 fingerprint (transparent, 0x300)
    EF08 = 0xEF08  #: 照片 photo (transparent, 0x1000)

    @property
    def sfi(self) -> int:
        return self & 0xFF


class AppDF(IntEnum):
    """Application DFs under the SSSE (V2 §5.1-5.7); AID = RID ‖ one PIX byte."""

    DF01 = 0xDF01  #: 公共应用 public information
    DF02 = 0xDF02  #: 就业 employment
    DF03 = 0xDF03  #: 社会保险 1 social insurance 1
    DF04 = 0xDF04  #: 医疗保险 medical insurance
    DF07 = 0xDF07  #: 人事人才 personnel

    @property
    def aid(self) -> bytes:
        return RID + bytes((_PIX[self],))

    @classmethod
    def from_aid(cls, aid: bytes) -> "AppDF":
        for df in cls:
            if df.aid == aid:
                return df
        raise ValueError(f"no application DF has AID {aid.hex().upper()}")


_PIX = {AppDF.DF01: 0x00, AppDF.DF02: 0x01, AppDF.DF03: 0x02, AppDF.DF04: 0x03, AppDF.DF07: 0x04}


class AlgorithmId(IntEnum):
    """Algorithm byte of FCI ``9F0C [86 01 xx]`` (SC §10.1)."""

    DES = 0x01  #: DES / 3DES (also the default when 9F0C is absent, except Beijing)
    SSF33 = 0x02
    SM4 = 0x03


class KeyId(IntEnum):
    """SSSE-level key identifiers (S9 appendix B; traces confirm 00, 04, 06, 0A)."""

    IRK = 0x00  #: internal authentication (0088)
    STK = 0x02  #: SSSE maintenance: MACs of block, unblock and 04-class updates
    UK = 0x04  #: UKSSSE (UKMF in 1.0): ext-auth before writing EF05..EF08
    BK = 0x05  #: card block control key
    PUK = 0x06  #: PIN unblock / reset control key (ext-auth, TR1)
    RK = 0x0A  #: RKSSSE: ext-auth before reading EF06 (3.0), EF07, EF08

    @property
    def role(self) -> str:
        return _KEY_ROLES[self]


_KEY_ROLES = {
    KeyId.IRK: "internal authentication key (IRK)",
    KeyId.STK: "SSSE maintenance key (STKSSSE): MAC of 841E/8416/8424 and 04DC",
    KeyId.UK: "SSSE update key (UKSSSE): ext-auth that opens EF05-EF08 writes",
    KeyId.BK: "card block control key (BK)",
    KeyId.PUK: "PIN unblock control key (PUK): ext-auth before 8424",
    KeyId.RK: "SSSE read key (RKSSSE): ext-auth that opens EF06 (3.0), EF07, EF08 reads",
}


class DfKeyId(IntEnum):
    """Key identifiers inside an application DF (each DF has its own key space).

    The sources are ambiguous: S9 puts STK at 82, RK1 (DF03/DF04) at 84 and RK2 (DF03)
    at 85, yet also says "UKxDFyy 83-88", which collides with the RKs, and DF01 needs
    eleven update keys. sscard keeps every specific assignment (STK 82, UK1 83, RK1 84,
    RK2 85) and numbers UK2..UKB from 86 upwards. The purse load key LK (83 in S9) is a
    key of another type and is not modelled.
    """

    STK = 0x82
    UK1 = 0x83
    RK1 = 0x84
    RK2 = 0x85
    UK2 = 0x86
    UK3 = 0x87
    UK4 = 0x88
    UK5 = 0x89
    UK6 = 0x8A
    UK7 = 0x8B
    UK8 = 0x8C
    UK9 = 0x8D
    UKA = 0x8E
    UKB = 0x8F

    @property
    def role(self) -> str:
        if self is DfKeyId.STK:
            return "DF maintenance key (STKDFxx)"
        if self.name.startswith("RK"):
            return f"read key {self.name[2:]} (RK{self.name[2:]}DFxx): ext-auth that opens PIN-or-key reads"
        return f"update key {int(self.name[2:], 16)} (UK{self.name[2:]}DFxx): ext-auth that opens writes"


class SsseTag(IntEnum):
    """Record tags (= record identifiers) of SSSE EF05 (01-07) and EF06 (08-0D, 4E)."""

    CARD_ID = 0x01  #: 卡识别码
    CARD_TYPE = 0x02  #: 卡的类别
    SPEC_VERSION = 0x03  #: 规范版本
    INIT_ORG = 0x04  #: 初始化机构编号
    ISSUE_DATE = 0x05  #: 发卡日期
    EXPIRY_DATE = 0x06  #: 卡有效期
    CARD_NUMBER = 0x07  #: 卡号
    SSN = 0x08  #: 社会保障号码
    NAME = 0x09  #: 姓名
    NAME_EXT = 0x4E  #: 姓名扩展
    SEX = 0x0A  #: 性别
    ETHNICITY = 0x0B  #: 民族
    BIRTHPLACE = 0x0C  #: 出生地
    BIRTH_DATE = 0x0D  #: 出生日期

    @property
    def file(self) -> str:
        return "SSSE/EF05" if self <= 0x07 else "SSSE/EF06"


#: Record order of EF05 and EF06 (TR3 dump, EV/T10 write sequences): record n holds this tag.
EF05_ORDER = (SsseTag.CARD_ID, SsseTag.CARD_TYPE, SsseTag.SPEC_VERSION, SsseTag.INIT_ORG,
              SsseTag.ISSUE_DATE, SsseTag.EXPIRY_DATE, SsseTag.CARD_NUMBER)
EF06_ORDER = (SsseTag.SSN, SsseTag.NAME, SsseTag.NAME_EXT, SsseTag.SEX,
              SsseTag.ETHNICITY, SsseTag.BIRTHPLACE, SsseTag.BIRTH_DATE)
