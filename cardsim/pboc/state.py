"""Persistent (EEPROM) state of the financial zone, serialisable for card images.

Everything the debit application keeps across power cycles lives here:
:class:`PbocState` for the ADF (data, keys, PIN, counters, CVR history, log) and
:class:`DirectoryState` for the PSE and PPSE instances. The record lists are *the*
storage: the EFs the application puts in the file tree use these very lists, so READ
RECORD, UPDATE RECORD and this state never disagree. ``to_dict``/``from_dict`` give the
image's ``sections["pboc"]``; an image must rebuild the zone from it
(:meth:`~cardsim.pboc.PbocApplication.from_dict`) rather than store those DFs twice.

>>> s = PbocState(aid=bytes.fromhex("A000000333010101"), atc=0x0E)
>>> s.keys_present, PbocState.from_dict(s.to_dict()) == s
(False, True)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from cardsim.persistent import AppSecrets, Key, Pin
from cardspec.crypto.blockcipher import Algorithm
from cardspec.pboc import Cvr3, Cvr4

__all__ = ["PbocKey", "DirectoryState", "PbocState", "HISTORY_BITS_3", "HISTORY_BITS_4"]

#: CVR byte-3 bits the card carries from one transaction to the next (the others are live).
HISTORY_BITS_3 = 0xFF & ~int(Cvr3.PIN_TRY_LIMIT_EXCEEDED | Cvr3.NEW_CARD)
#: CVR byte-4 bits carried over: the script count, script failed, DDA failed and declined.
HISTORY_BITS_4 = 0xF0 | int(Cvr4.SCRIPT_FAILED | Cvr4.DDA_FAILED_DECLINED)


class PbocKey(IntEnum):
    """Key ids of the ADF's three UDKs (DGI 8000 order; ids are sscard's choice)."""

    AC = 0x01  #: application cryptograms, ARPC
    MAC = 0x02  #: issuer-script MACs
    ENC = 0x03  #: PIN CHANGE/UNBLOCK data encipherment


def _hexlist(items: list[bytes]) -> list[str]:
    return [x.hex().upper() for x in items]


@dataclass
class DirectoryState:
    """A payment-system directory instance: 1PAY.SYS.DDF01 (records) or 2PAY.SYS.DDF01 (FCI only)."""

    name: bytes
    fci: bytes = b""  #: A5 template (DGI 9102); empty until personalized
    records: list[bytes] = field(default_factory=list)  #: directory records, SFI 1

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name.hex().upper(), "fci": self.fci.hex().upper(), "records": _hexlist(self.records)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DirectoryState":
        return cls(bytes.fromhex(d["name"]), bytes.fromhex(d["fci"]), [bytes.fromhex(r) for r in d["records"]])


@dataclass
class PbocState:
    """The debit ADF's persistent data (pboc.md §2.3 DGIs, §3-§4 counters)."""

    aid: bytes
    fci: bytes = b""  #: A5 template (DGI 9102)
    gpo: bytes = b""  #: 82 ‖ 94 (DGI 9104)
    iad: bytes = b""  #: IAD template, 9F10 value (DGI 9200)
    records: dict[int, list[bytes]] = field(default_factory=dict)  #: SFI -> records 1..n
    internal: dict[int, bytes] = field(default_factory=dict)  #: DGIs 0D01/0E01: tag -> value
    secrets: AppSecrets = field(default_factory=AppSecrets)  #: UDKs (:class:`PbocKey`), PIN, blocked
    atc: int = 0  #: 9F36, incremented by every GPO
    last_online_atc: int = 0  #: 9F13, set when the issuer was authenticated (ARPC)
    #: CVR bytes 3-4 as the next transaction reports them (only HISTORY_BITS_3/4 count)
    history: bytes = bytes(2)
    log: list[bytes] = field(default_factory=list)  #: transaction log, newest first
    pse: DirectoryState | None = None
    ppse: DirectoryState | None = None
    #: ICC RSA CRT components by DGI 8201-8205, plaintext without padding (:mod:`~cardsim.pboc.oda`);
    #: images carry ``icc_key`` only when there is one
    icc_key: dict[int, bytes] = field(default_factory=dict)

    @property
    def keys_present(self) -> bool:
        return all(k in self.secrets.keys for k in PbocKey)

    def udk(self, which: PbocKey) -> bytes:
        return self.secrets.keys[which].value

    def set_udks(self, udk_ac: bytes, udk_mac: bytes, udk_enc: bytes) -> None:
        for kid, value in zip(PbocKey, (udk_ac, udk_mac, udk_enc)):
            self.secrets.keys[kid] = Key(kid, Algorithm.TDES, value)

    @property
    def pin(self) -> Pin | None:
        return self.secrets.pin

    def to_dict(self) -> dict[str, Any]:
        extra = {"icc_key": {f"{dgi:04X}": v.hex().upper() for dgi, v in sorted(self.icc_key.items())}} \
            if self.icc_key else {}
        return {
            "aid": self.aid.hex().upper(), "fci": self.fci.hex().upper(), "gpo": self.gpo.hex().upper(),
            "iad": self.iad.hex().upper(),
            "records": {str(sfi): _hexlist(recs) for sfi, recs in sorted(self.records.items())},
            "internal": {f"{tag:02X}": v.hex().upper() for tag, v in self.internal.items()},
            "secrets": self.secrets.to_dict(), "atc": self.atc, "last_online_atc": self.last_online_atc,
            "history": self.history.hex().upper(), "log": _hexlist(self.log),
            "pse": self.pse.to_dict() if self.pse else None, "ppse": self.ppse.to_dict() if self.ppse else None,
            **extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PbocState":
        h = bytes.fromhex
        return cls(
            h(d["aid"]), h(d["fci"]), h(d["gpo"]), h(d["iad"]),
            {int(sfi): [h(r) for r in recs] for sfi, recs in d["records"].items()},
            {int(tag, 16): h(v) for tag, v in d["internal"].items()},
            AppSecrets.from_dict(d["secrets"]), int(d["atc"]), int(d["last_online_atc"]), h(d["history"]),
            [h(r) for r in d["log"]],
            DirectoryState.from_dict(d["pse"]) if d.get("pse") else None,
            DirectoryState.from_dict(d["ppse"]) if d.get("ppse") else None,
            {int(dgi, 16): h(v) for dgi, v in d.get("icc_key", {}).items()},
        )
