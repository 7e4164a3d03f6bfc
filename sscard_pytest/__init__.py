"""sscard's pytest plugin and helpers for people who test their own software against the
social-security card (see the README, "Testing your software against the card").

- :mod:`sscard_pytest.plugin`: the fixtures ``sscard_card``, ``sscard_reader``,
  ``sscard_cardholder``, ``sscard_profile``, ``sscard_virtual_card``, the marker
  ``@pytest.mark.sscard(profile=..., cardholder=...)`` and the options ``--sscard-profile``,
  ``--sscard-slot``, ``--sscard-reader`` (loaded automatically: a ``pytest11`` entry point);
- :mod:`sscard_pytest.cards`: :func:`personalized_card`, :func:`sample_cardholder`,
  :func:`issuer_keys_for` (the published TEST keys), usable without pytest;
- hypothesis strategies of valid cardholders, re-exported from
  :mod:`personalize.strategies`: ``from sscard_pytest import cardholders`` (imported on
  first use: hypothesis is a test dependency).
"""
from __future__ import annotations

from typing import Any

__all__ = ["cardholders", "cardholder_rows", "personalized_card", "sample_cardholder", "issuer_keys_for"]

_STRATEGIES = ("cardholders", "cardholder_rows")
_CARDS = ("personalized_card", "sample_cardholder", "issuer_keys_for")


def __getattr__(name: str) -> Any:
    # Lazy: pytest imports this package in every session of an environment where sscard is
    # installed; neither hypothesis nor the card stack should load unless a test asks.
    if name in _STRATEGIES:
        from personalize import strategies

        return getattr(strategies, name)
    if name in _CARDS:
        from . import cards

        return getattr(cards, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
