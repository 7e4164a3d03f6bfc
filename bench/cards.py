"""The card the wire benchmark serves, and the fixed answers the floor responder replays.

:func:`bench_card` is sscard's sample card from :mod:`cardsim.factory` (profile
``ssc3-sm4``, T=0: the SSSE FCI comes with 61xx), so the benchmark measures the real
simulator behind the vpcd front-end:

>>> card = bench_card()
>>> card.power_on().hex().upper()
'3B6D000000814A444686605199000001AC'
>>> def tx(hex_apdu): return card.transmit(bytes.fromhex(hex_apdu)).hex().upper()
>>> tx("00A4000C023F00"), tx("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
('9000', '611E')
>>> tx("00B2072C00"), tx("00B2072C05"), tx("00B2082C00")
('07094B38303336323135339000', '6C0B', '6A83')
>>> tx("00B0850000"), tx("0002000000"), tx("80A4000000"), tx("00A4")
('6981', '6D00', '6E00', '6700')
"""
from __future__ import annotations

from typing import Sequence

from apdu.transport.base import Card
from cardspec.profile import Profile

#: the profile of the measured card, and its ATR (what every target must answer)
PROFILE = "ssc3-sm4"
ATR: bytes = Profile.load(PROFILE).atr_bytes()


def bench_card() -> Card:
    """The card object every in-process and vpcd target serves: the simulator's sample card."""
    from cardsim.factory import personalized_sample_card

    return personalized_sample_card(Profile.load(PROFILE))


def fixed_answers(card: Card, apdus: Sequence[bytes]) -> dict[bytes, bytes]:
    """What ``card`` answers to each APDU of the cyclic mix, in its steady state.

    Runs the mix twice from power-on; the floor responder can replay the answers only
    if both cycles agree and each APDU has one answer.

    >>> fixed_answers(bench_card(), [bytes.fromhex("0002000000")])
    {b'\\x00\\x02\\x00\\x00\\x00': b'm\\x00'}
    """
    card.power_on()
    first = [card.transmit(apdu) for apdu in apdus]
    second = [card.transmit(apdu) for apdu in apdus]
    card.power_off()
    answers: dict[bytes, bytes] = {}
    for apdu, a, b in zip(apdus, first, second):
        if a != b or answers.setdefault(apdu, b) != b:
            raise ValueError(f"the card answers {apdu.hex().upper()} differently from one cycle to the next "
                             f"({a.hex().upper()}, {b.hex().upper()}): a fixed-answer floor cannot replay it")
    return answers
