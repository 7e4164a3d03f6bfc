"""APPLICATION BLOCK and CARD BLOCK of the SSSE (ssse.md §7; S5 §6.1-6.2; S7 §13.1-13.2).

Both are final: the social-security specification has no unblock command and no
temporary block (the PBOC-style ``841E 0000`` temporary block answers 6A86 here).

* ``841E 0001 04 MAC``: APPLICATION BLOCK. ``secrets.blocked`` is set and committed;
  from then on the SSSE answers 9303 to every command while current and to its SELECT
  (see :class:`~cardsim.ssse_app.SsseApplication`).
* ``8416 0000 04 MAC``: CARD BLOCK, after EXTERNAL AUTHENTICATE with BK (05), the card
  block control key (S7 §13.1: block commands need the MAC *and* the control key;
  6982 without it). ``card.life.card_blocked`` is set and committed; the runtime then
  answers 6A81 to everything.

The MAC is under STK (02) with the current challenge (S4 §8.2, S7 §13). A wrong MAC
answers 9302 and changes nothing; it spends no try, as STK has no counter (S7 §13.1-13.2).
APPLICATION BLOCK needs no prior external authentication: its control key would be the
lock key (LK) of the SSSE DDF, which no source assigns an id.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from apdu.command import CommandAPDU
from apdu.sw import SW, SWError
from cardspec.crypto.ssse import MAC_SIZE
from cardspec.ids import KeyId

from .application import Handler
from .guard import check_class

if TYPE_CHECKING:
    from .ssse_app import SsseApplication


class LifecycleCommands:
    """APPLICATION BLOCK (841E) and CARD BLOCK (8416)."""

    def __init__(self, app: SsseApplication) -> None:
        self.app = app

    @property
    def handlers(self) -> dict[int, Handler]:
        return {0x1E: self.application_block, 0x16: self.card_block}

    def _check_header(self, cmd: CommandAPDU, p1p2: tuple[int, int]) -> None:
        check_class(cmd, 0x84)
        if (cmd.p1, cmd.p2) != p1p2:
            raise SWError(SW.INCORRECT_P1P2)

    def application_block(self, cmd: CommandAPDU) -> bytes:
        """``841E 0001 04 MAC``: block the SSSE for good."""
        self._check_header(cmd, (0x00, 0x01))
        if len(cmd.data) != MAC_SIZE:
            raise SWError(SW.WRONG_LENGTH)
        self.app.open_maintenance(cmd)
        self.app.secrets.blocked = True
        self.app.card.durable("APPLICATION BLOCK: SSSE blocked permanently")
        return b""

    def card_block(self, cmd: CommandAPDU) -> bytes:
        """``8416 0000 04 MAC`` after BK authentication: block the whole card for good."""
        self._check_header(cmd, (0x00, 0x00))
        if not self.app.authenticated(KeyId.BK):
            raise SWError(SW.SECURITY_NOT_SATISFIED)
        if len(cmd.data) != MAC_SIZE:
            raise SWError(SW.WRONG_LENGTH)
        self.app.open_maintenance(cmd)
        card = self.app.card
        card.life.card_blocked = True
        card.durable("CARD BLOCK: card blocked permanently")
        return b""
