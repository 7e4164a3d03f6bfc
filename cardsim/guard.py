"""Checks shared by the SSSE handlers: the class byte of a proprietary command, and the
anti-tearing try counter of PINs and external-authentication keys.

Anti-tearing (the order a real COS writes EEPROM in): one try is spent and committed
*before* the secret is compared, and the counter is restored, in a second commit, only
after a match. A power cut at any point therefore never gives an attacker a comparison
for free: either the comparison did not run, or the spent try is already durable.

>>> f"{tries_sw(2):04X}", f"{tries_sw(0):04X}", f"{tries_sw(20):04X}"
('63C2', '63C0', '63CF')
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from apdu.command import CommandAPDU
from apdu.sw import SW, SWError

from .persistent import Key, Pin

if TYPE_CHECKING:
    from .runtime import CardOS

log = logging.getLogger(__name__)

_PROPRIETARY = 0x80
_SM_BITS = 0x0C


def check_class(cmd: CommandAPDU, expected: int) -> None:
    """Refuse a CLA other than the one the command is defined with (00, 80 or 84).

    Interindustry versus proprietary wrong: 6E00. Secure-messaging bits wrong: 6987 when
    the command needs its MAC (CLA 84) and came without, 6882 when it came with SM that
    this command does not use. The runtime has already refused channels and chaining.
    """
    if cmd.cla & _PROPRIETARY != expected & _PROPRIETARY:
        raise SWError(SW.CLA_NOT_SUPPORTED)
    sm, wanted = cmd.cla & _SM_BITS, expected & _SM_BITS
    if sm != wanted:
        raise SWError(SW.SM_DATA_MISSING if wanted and not sm else SW.SM_NOT_SUPPORTED)


def tries_sw(tries_left: int) -> int:
    """``63Cx``: verification failed, x tries left (x saturates at 15)."""
    return 0x63C0 | min(tries_left, 0x0F)


def attempt(card: CardOS, counter: Pin | Key, what: str, matches: Callable[[], bool],
            on_match: Callable[[], None] | None = None) -> bool:
    """Compare a presented secret under the try counter of ``counter``.

    With a counter: spend one try and commit (``card.durable``), then call ``matches``;
    on a match run ``on_match`` (e.g. store the new PIN), restore the counter and commit
    again, so the new value and the full counter land together. A key without a counter
    (``tries_left`` None) is compared directly and ``on_match`` is committed only if it
    ran. A blocked counter answers 6983 without comparing. ``what`` names the operation
    in commit reasons and logs; it never holds a secret.
    """
    counted = counter.tries_left is not None
    if counter.tries_left is not None:
        if counter.tries_left <= 0:
            raise SWError(SW.AUTH_METHOD_BLOCKED)
        counter.tries_left -= 1
        card.durable(f"{what}: try spent, {counter.tries_left} left")
    if not matches():
        log.info("%s refused%s", what, "" if counter.tries_left is None else f", {counter.tries_left} tries left")
        return False
    if on_match is not None:
        on_match()
    if counted:
        counter.tries_left = counter.max_tries
    if counted or on_match is not None:
        card.durable(f"{what}: accepted, try counter restored" if counted else f"{what}: accepted")
    return True
