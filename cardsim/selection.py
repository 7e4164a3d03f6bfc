"""SELECT (INS A4, ISO 7816-4 §11.2.2; S5 §6.11) over the file model.

P1: 00 MF/DF/EF by FID (no data or 3F00: the MF), 01 child DF, 02 EF of the current DF,
03 parent DF, 04 DF name (right-truncated names match; P2 b2-b1 = first, last, next,
previous occurrence), 08 path from the MF, 09 path from the current DF.
P2 b4-b3: 00 FCI, 04 FCP (answered with the FCI), 0C no response data; 08 is refused.
A selected DF answers its FCI; a selected EF answers nothing (S5 §6.11: no FCI for
AEFs). A failed SELECT leaves the selection as it was.

Status words: 6A82 nothing found; 6A86 bad P1/P2; 6700 a data field of the wrong length
(odd path, FID not 2 bytes, DF name over 16 bytes, data for P1 = 03).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from apdu.command import CommandAPDU
from apdu.sw import SW, SWError

from .application import Handler
from .filecmds import interindustry
from .fs import DF, MAX_DF_NAME, MF_FID, File

if TYPE_CHECKING:
    from .runtime import CardOS


def _fid(data: bytes) -> int:
    if len(data) != 2:
        raise SWError(SW.WRONG_LENGTH)
    return int.from_bytes(data, "big")


class SelectFile:
    """The SELECT handler of a :class:`~cardsim.runtime.CardOS`."""

    def __init__(self, card: CardOS) -> None:
        self.card = card

    @property
    def handlers(self) -> dict[int, Handler]:
        return {0xA4: self.select}

    def select(self, cmd: CommandAPDU) -> bytes:
        target = self.resolve(cmd)
        p2 = cmd.p2
        try:
            self.card.select(target)
        except SWError as exc:
            if exc.sw >> 8 in (0x62, 0x63):  # a warning such as 6283 still answers the FCI
                raise SWError(exc.sw, self._answer(target, p2)) from None
            raise
        return self._answer(target, p2)

    def resolve(self, cmd: CommandAPDU) -> File:
        """The file a SELECT command names, without selecting it; raises what SELECT
        would answer (6E00, 6A86, 6700, 6A82). A blocked application uses it to tell a
        SELECT that leaves it from one that stays inside."""
        interindustry(cmd)
        p2 = cmd.p2
        if p2 & 0xF0 or p2 & 0x0C == 0x08 or (p2 & 0x03 and cmd.p1 != 0x04):
            raise SWError(SW.INCORRECT_P1P2)
        return self._find(cmd)

    @staticmethod
    def _answer(target: File, p2: int) -> bytes:
        if p2 & 0x0C == 0x0C or not isinstance(target, DF):
            return b""
        return target.fci()

    def _find(self, cmd: CommandAPDU) -> File:
        card, data, p1 = self.card, cmd.data, cmd.p1
        here = card.current_df
        if p1 == 0x00:
            if not data:
                return card.mf
            fid = _fid(data)
            return card.mf if fid == MF_FID else self._by_fid(here, fid)
        if p1 in (0x01, 0x02):
            child = here.child(_fid(data))
            if child is None or isinstance(child, DF) != (p1 == 0x01):
                raise SWError(SW.FILE_NOT_FOUND)
            return child
        if p1 == 0x03:
            if data:
                raise SWError(SW.WRONG_LENGTH)
            if here.parent is None:
                raise SWError(SW.FILE_NOT_FOUND)
            return here.parent
        if p1 == 0x04:
            return self._by_name(data, cmd.p2 & 0x03)
        if p1 == 0x08:
            return self._by_path(card.mf, data, from_mf=True)
        if p1 == 0x09:
            return self._by_path(here, data, from_mf=False)
        raise SWError(SW.INCORRECT_P1P2)

    @staticmethod
    def _by_fid(here: DF, fid: int) -> File:
        """Search order of ISO 7816-4 §7.1.1: the current DF, its children, its parent,
        the parent's children."""
        if here.fid == fid:
            return here
        found = here.child(fid)
        if found is None and here.parent is not None:
            parent = here.parent
            found = parent if parent.fid == fid else parent.child(fid)
        if found is None:
            raise SWError(SW.FILE_NOT_FOUND)
        return found

    def _by_name(self, name: bytes, occurrence: int) -> File:
        """DF name search over every DF of the card in tree order; P2 b2-b1 picks the
        first (00), last (01), next (10) or previous (11) DF whose name starts with ``name``,
        next and previous counted from the current DF. No name at all selects the MF."""
        if not name:
            return self.card.mf
        if len(name) > MAX_DF_NAME:
            raise SWError(SW.WRONG_LENGTH)
        if occurrence == 0b00:  # the usual case: stop at the first hit, without listing the tree
            for df in self.card.mf.walk():
                if df.name is not None and df.name.startswith(name):
                    return df
            raise SWError(SW.FILE_NOT_FOUND)
        dfs = list(self.card.mf.walk())
        hits = [i for i, df in enumerate(dfs) if df.name is not None and df.name.startswith(name)]
        here = dfs.index(self.card.current_df)
        if occurrence == 0b10:
            hits = [i for i in hits if i > here]
        elif occurrence == 0b11:
            hits = [i for i in hits if i < here]
        if not hits:
            raise SWError(SW.FILE_NOT_FOUND)
        return dfs[hits[0] if occurrence in (0b00, 0b10) else hits[-1]]

    @staticmethod
    def _by_path(start: DF, data: bytes, *, from_mf: bool) -> File:
        """Walk FIDs down from ``start``. A path from the MF may repeat 3F00 first
        (ISO leaves it out; readers often send it)."""
        if not data or len(data) % 2:
            raise SWError(SW.WRONG_LENGTH)
        fids = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
        if from_mf and fids[0] == MF_FID:
            fids = fids[1:]
        node: File = start
        for fid in fids:
            child = node.child(fid) if isinstance(node, DF) else None
            if child is None:
                raise SWError(SW.FILE_NOT_FOUND)
            node = child
        return node
