"""A card feeder for the personalization benchmark: one vpcd slot that holds a fresh blank
card for every card the client personalizes.

A personalization machine changes cards mechanically; vpcd's equivalent (the card
leaves, a new one arrives) is seen by pcscd only at its ~400 ms presence polls, which
would measure the poll interval rather than personalization. :class:`CardFeeder`
changes cards at a power cycle instead: a card that has received commands is replaced
by a new blank card (:func:`cardsim.factory.blank_card`) at the next power-on. The
client leaves each card unpowered when it is done with it (``SCARD_UNPOWER_CARD``), so
its next connect finds a fresh card; a warm reset (the flow's verify step) keeps the card.

>>> feeder = CardFeeder("ssc3-sm4")
>>> atr = feeder.power_on()
>>> feeder.transmit(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")).hex().upper()  # blank: no SSSE
'6A82'
>>> feeder.reset() == atr, feeder.fed  # a warm reset keeps the card
(True, 1)
>>> feeder.power_off(); feeder.power_on() == atr, feeder.fed  # a used card powered off: the next one
(True, 2)
>>> feeder.power_off(); _ = feeder.power_on(); feeder.fed  # an unused card stays
2

``python -m bench.perso_feeder --slot N`` serves a feeder in vpcd slot N until SIGTERM.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from apdu.vpcd import VpcdServer
from cardsim.factory import blank_card
from cardsim.runtime import CardOS
from cardspec.profile import Profile

from . import runner

__all__ = ["CardFeeder"]


class CardFeeder:
    """A card (``apdu.transport.base.Card``) that is a new blank card after each used one."""

    def __init__(self, profile: Profile | str) -> None:
        self.profile = profile if isinstance(profile, Profile) else Profile.load(profile)
        self.card: CardOS = blank_card(self.profile)
        self.fed = 1  #: blank cards put in so far
        self._used = False

    def power_on(self) -> bytes:
        if self._used:
            self.card, self._used = blank_card(self.profile), False
            self.fed += 1
        return self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def reset(self) -> bytes:
        return self.card.reset()

    def transmit(self, apdu: bytes) -> bytes:
        self._used = True
        return self.card.transmit(apdu)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perso_feeder", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--slot", type=int, default=0, help="vpcd slot (0 or 1 with Debian's vpcd)")
    parser.add_argument("--profile", default="ssc3-sm4", help="profile of the blank cards")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="perso_feeder: %(levelname)s %(message)s")
    runner.stop_on_sigterm()  # serve_forever() ends on KeyboardInterrupt and disconnects
    feeder = CardFeeder(args.profile)
    VpcdServer(feeder, args.slot, retry_interval=0.2).serve_forever()
    print(f"perso_feeder: slot {args.slot}: fed {feeder.fed} blank cards", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
