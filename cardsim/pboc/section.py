"""The financial zone in a card image: ``sections["pboc"]`` (see :class:`cardsim.imagecodec.Section`).

The zone's DFs and EFs are views of :class:`~cardsim.pboc.state.PbocState`, so an image
keeps the state only: :func:`dump_section` writes it, :func:`load_section` rebuilds the
zone from it and puts it under the MF. The generic tree writer must leave the zone's
DFs out (:func:`is_financial`), or they would be stored twice.

>>> from cardsim import MF, CardOS
>>> from cardspec.profile import Profile
>>> from cardsim.pboc import load_test_imks, pboc_sample
>>> app = pboc_sample(Profile.load("ssc2-3des"), **load_test_imks())
>>> card = CardOS(MF(children=app.zone), atr=bytes.fromhex("3B6D000000814E43238697159900BF7C7A"))
>>> data = dump_section(card)
>>> copy = CardOS(MF(), atr=card.atr)
>>> restored = load_section(copy, data)
>>> [df.label for df in copy.mf.children], restored.state == app.state
(['3F00/DDF2'], True)
"""
from __future__ import annotations

from typing import Any

from cardspec.pboc import PbocDataError
from cardspec.profile import PbocPolicy

from ..fs import DF
from ..runtime import CardOS
from .app import PbocApplication
from .directory import DirectoryApplication

__all__ = ["SECTION_NAME", "find_pboc", "is_financial", "dump_section", "load_section"]

SECTION_NAME = "pboc"


def is_financial(df: DF) -> bool:
    """True for the DFs the financial zone builds itself (PSE, PPSE, the ADF)."""
    return isinstance(df.application, (PbocApplication, DirectoryApplication))


def find_pboc(card: CardOS) -> PbocApplication | None:
    """The debit application of ``card``, if it has one."""
    for df in card.mf.walk():
        if isinstance(df.application, PbocApplication):
            return df.application
    return None


def dump_section(card: CardOS) -> dict[str, Any] | None:
    """``sections["pboc"]``: the zone's persistent state, or None for a card without it."""
    app = find_pboc(card)
    return app.to_dict() if app is not None else None


def load_section(card: CardOS, data: Any, policy: PbocPolicy = PbocPolicy()) -> PbocApplication:
    """Rebuild the zone from ``data`` and add it under the MF of ``card`` (which must not
    hold one yet); ``policy`` is the image's profile ``[pboc]`` section."""
    if find_pboc(card) is not None:
        raise PbocDataError("the card already holds a financial zone")
    try:
        app = PbocApplication.from_dict(data, policy)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise PbocDataError(f"sections.{SECTION_NAME} unreadable ({type(exc).__name__}: {exc})") from None
    for df in app.zone:
        card.mf.add(df)
    return app


def _load_into(card: CardOS, data: Any) -> None:
    from ..preperso import card_manager  # the image's profile names the zone's policy

    load_section(card, data, card_manager(card).profile.pboc)


def _register() -> None:
    from ..imagecodec import Section, register_section

    register_section(Section(SECTION_NAME, dump_section, _load_into, owns=is_financial))


_register()
