"""Payment-system directories: 1PAY.SYS.DDF01 (PSE) and 2PAY.SYS.DDF01 (PPSE) (pboc.md §1).

The PSE is a DDF whose FCI names its directory EF (``88 01 01``); terminals read the
directory records with READ RECORD SFI 1 until 6A83. The PPSE lists its applications
inside the FCI (``BF0C{61{4F,50,87}}``) and has no records. Each is personalized as an
instance of its own: DGI 9102 (the A5 template) and, for the PSE, DGIs 0101.. (records).

>>> from cardspec.pboc import PSE_NAME
>>> pse = DirectoryApplication(DirectoryState(PSE_NAME))
>>> pse.store_dgi(0x9102, bytes.fromhex("A5038801"))
Traceback (most recent call last):
cardspec.pboc.tags.PbocDataError: PSE DGI 9102: BER-TLV at offset 0: tag A5 length 0x03 runs past the end (2 bytes left)
>>> pse.store_dgi(0x9102, bytes.fromhex("A503880101"))
>>> pse.fci(pse.df).hex().upper()
'6F15840E315041592E5359532E4444463031A503880101'
"""
from __future__ import annotations

from apdu.errors import TLVError
from apdu.tlv import build_ber, parse_one
from cardspec.pboc import DIRECTORY_SFI, PPSE_FID, PPSE_NAME, PSE_FID, Dgi, PbocDataError, dgi_record

from ..application import BaseApplication
from ..fs import DF
from .files import put_record, record_ef
from .state import DirectoryState

__all__ = ["DirectoryApplication"]


class DirectoryApplication(BaseApplication):
    """The PSE or PPSE DDF: FCI from the state, records through the OS's READ RECORD."""

    def __init__(self, state: DirectoryState) -> None:
        self.state = state
        self.kind = "PPSE" if state.name == PPSE_NAME else "PSE"
        self.df = DF(PPSE_FID if self.kind == "PPSE" else PSE_FID, name=state.name, application=self)
        if state.records:
            record_ef(self.df, DIRECTORY_SFI, state.records)

    def fci(self, df: DF) -> bytes | None:
        """``6F{84 name, A5 …}``; before personalization (no DGI 9102) the FCI has no A5."""
        return build_ber(0x6F, build_ber(0x84, self.state.name) + self.state.fci)

    def store_dgi(self, dgi: int, data: bytes) -> None:
        """Apply one DGI of this instance: 9102 (A5 template) or a directory record (PSE only)."""
        where = f"{self.kind} DGI {dgi:04X}"
        if dgi == Dgi.FCI:
            try:
                parse_one(data, tag=0xA5, allow_padding=False)
            except TLVError as exc:
                raise PbocDataError(f"{where}: {exc}") from None
            self.state.fci = bytes(data)
            return
        place = dgi_record(dgi)
        if self.kind == "PPSE" or place is None or place[0] != DIRECTORY_SFI:
            raise PbocDataError(f"{where}: a {self.kind} instance takes DGI 9102"
                                + ("" if self.kind == "PPSE" else " and directory records 0101-01FE"))
        put_record(record_ef(self.df, DIRECTORY_SFI, self.state.records), place[1], data, where)

