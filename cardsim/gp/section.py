"""The ISD in a card image: ``sections["gp"]`` (see :class:`cardsim.imagecodec.Section`).

The ISD's DF is rebuilt from :class:`~cardsim.gp.state.GpState`, so the generic tree
writer leaves it out (:func:`is_isd`) and :func:`load_section` adds it back under the MF.

>>> from cardsim import MF, CardOS
>>> from cardspec.profile import Profile
>>> card = CardOS(MF(), atr=bytes.fromhex("3B6D000000814A444686605199000001AC"))
>>> isd = add_isd(card, Profile.load("ssc3-sm4"), TEST_KMC)
>>> copy = CardOS(MF(), atr=card.atr)
>>> load_section(copy, dump_section(card)).state == isd.state, [df.label for df in copy.mf.children]
(True, ['3F00/A000'])
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apdu.errors import SSCardError
from cardspec.profile import GpPolicy, Profile

from ..fs import DF
from ..runtime import CardOS
from .domain import SecurityDomain
from .state import TEST_KMC, AppLifecycle, GpState

__all__ = ["SECTION_NAME", "GpImageError", "add_isd", "find_isd", "is_isd", "dump_section", "load_section", "TEST_KMC"]

SECTION_NAME = "gp"


class GpImageError(SSCardError, ValueError):
    """An ISD that cannot be added to a card or read from an image."""


def is_isd(df: DF) -> bool:
    return isinstance(df.application, SecurityDomain)


def find_isd(card: CardOS) -> SecurityDomain | None:
    """The card's issuer security domain, if it has one."""
    for df in card.mf.walk():
        if isinstance(df.application, SecurityDomain):
            return df.application
    return None


def add_isd(card: CardOS, profile: Profile, kmc: bytes, *, personalized: Iterable[bytes] = ()) -> SecurityDomain:
    """Put an ISD with keys diversified from ``kmc`` under the MF of ``card``; the AIDs in
    ``personalized`` (applications built personalized, e.g. the sample card's) are
    registered PERSONALIZED."""
    if find_isd(card) is not None:
        raise GpImageError("the card already holds an issuer security domain")
    state = GpState.from_kmc(profile, kmc)
    state.registry.update({bytes(aid): AppLifecycle.PERSONALIZED for aid in personalized})
    isd = SecurityDomain(state, profile.gp)
    card.mf.add(isd.df)
    return isd


def dump_section(card: CardOS) -> dict[str, Any] | None:
    isd = find_isd(card)
    return isd.state.to_dict() if isd is not None else None


def load_section(card: CardOS, data: Any, policy: GpPolicy = GpPolicy()) -> SecurityDomain:
    """Rebuild the ISD from ``data`` under the MF of ``card``; ``policy`` is the profile's ``[gp]``."""
    if find_isd(card) is not None:
        raise GpImageError("the card already holds an issuer security domain")
    try:
        isd = SecurityDomain(GpState.from_dict(data), policy)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise GpImageError(f"sections.{SECTION_NAME} unreadable ({type(exc).__name__}: {exc})") from None
    card.mf.add(isd.df)
    return isd


def _load_into(card: CardOS, data: Any) -> None:
    from ..preperso import card_manager  # the image's profile names the ISD's policy

    load_section(card, data, card_manager(card).profile.gp)


def _register() -> None:
    from ..imagecodec import Section, register_section

    register_section(Section(SECTION_NAME, dump_section, _load_into, owns=is_isd))


_register()
