"""Initial PINs: the batch policy that chooses them and the objects that carry them.

Policies: ``fixed:123456`` (one PIN for the batch), ``birthdate`` (the last 6 digits of
the YYYYMMDD birth date) and ``random`` / ``random:N`` (N digits from :mod:`secrets`,
default 6). A row's ``pin`` column, when filled, overrides the policy. A PIN shows in no
``repr``, ``str`` or error message; only :meth:`InitialPin.reveal` and
:meth:`PinMailer.text` hand out the digits. A random PIN is unknown to the holder, so it
comes with a :class:`PinMailer` for the PIN-mailer printer, never the journal.

>>> pin = PinPolicy.parse("birthdate").initial_pin(date(1985, 7, 16)); pin
InitialPin(source='birthdate', 6 digits)
>>> pin.reveal(), pin.needs_mailer
('850716', False)
>>> PinPolicy.parse("fixed:12a456")
Traceback (most recent call last):
personalize.pin.PinPolicyError: PIN policy 'fixed:…': the PIN must be 4-12 digits
>>> len(PinPolicy.parse("random:8").initial_pin(date(2000, 1, 1)).reveal())
8
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Literal

from apdu.errors import SSCardError

from .validate import FieldError

__all__ = ["PinPolicy", "PinPolicyError", "InitialPin", "PinMailer", "PIN_LENGTHS"]

#: PIN lengths the ISO 9564 format-2 block carries (VERIFY, DGI 8010).
PIN_LENGTHS = range(4, 13)
PinSource = Literal["row", "fixed", "birthdate", "random"]


class PinPolicyError(SSCardError, ValueError):
    """A malformed PIN policy; the message never shows the PIN."""


class InitialPin:
    """The digits of an initial PIN and where they came from; masked in ``repr``."""

    __slots__ = ("_digits", "source")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, digits: str, source: PinSource) -> None:
        if not (isinstance(digits, str) and digits.isascii() and digits.isdigit() and len(digits) in PIN_LENGTHS):
            raise FieldError(f"must be {PIN_LENGTHS.start}-{PIN_LENGTHS.stop - 1} digits")
        self._digits = digits
        self.source: PinSource = source

    def reveal(self) -> str:
        """The digits, for the card and the PIN mailer only."""
        return self._digits

    @property
    def length(self) -> int:
        return len(self._digits)

    @property
    def needs_mailer(self) -> bool:
        """True when nobody but the card knows the PIN (policy ``random``)."""
        return self.source == "random"

    def __repr__(self) -> str:
        return f"InitialPin(source={self.source!r}, {len(self._digits)} digits)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InitialPin):
            return NotImplemented
        return other.source == self.source and hmac.compare_digest(self._digits.encode(), other._digits.encode())


@dataclass(frozen=True)
class PinPolicy:
    """How a batch chooses initial PINs for rows without a ``pin`` column."""

    kind: Literal["fixed", "birthdate", "random"]
    length: int = 6  #: digits of a random PIN
    fixed: InitialPin | None = None  #: the batch PIN of ``fixed:…`` (masked in repr)

    @classmethod
    def parse(cls, text: str) -> PinPolicy:
        """``fixed:DIGITS``, ``birthdate``, ``random`` or ``random:N``."""
        kind, _, arg = text.partition(":")
        if kind == "fixed" and arg:
            try:
                return cls("fixed", len(arg), InitialPin(arg, "fixed"))
            except FieldError:
                raise PinPolicyError(f"PIN policy 'fixed:…': the PIN must be {PIN_LENGTHS.start}-"
                                     f"{PIN_LENGTHS.stop - 1} digits") from None
        if kind == "birthdate" and not arg:
            return cls("birthdate")
        if kind == "random":
            if not arg:
                return cls("random")
            if arg.isascii() and arg.isdigit() and int(arg) in PIN_LENGTHS:
                return cls("random", int(arg))
            raise PinPolicyError(f"PIN policy {text!r}: the length must be {PIN_LENGTHS.start}-{PIN_LENGTHS.stop - 1}")
        shown = "fixed:…" if kind == "fixed" else text
        raise PinPolicyError(f"PIN policy {shown!r}: expected fixed:DIGITS, birthdate, random or random:N")

    def initial_pin(self, birth_date: date) -> InitialPin:
        """The PIN for one cardholder."""
        if self.kind == "fixed" and self.fixed is not None:
            return self.fixed
        if self.kind == "birthdate":
            return InitialPin(f"{birth_date.year:04d}{birth_date.month:02d}{birth_date.day:02d}"[-6:], "birthdate")
        return InitialPin("".join(secrets.choice("0123456789") for _ in range(self.length)), "random")

    def __str__(self) -> str:
        return {"fixed": "fixed:…", "birthdate": "birthdate"}.get(self.kind, f"random:{self.length}")


@dataclass(frozen=True)
class PinMailer:
    """What the PIN-mailer printer needs: who, which card, and the PIN (masked in repr)."""

    name: str
    card_number: str
    pan_last4: str
    pin: InitialPin

    def text(self) -> str:
        """The mailer body, the one place the digits are printed."""
        return (f"{self.name}\n社会保障卡 card number {self.card_number}\n"
                f"bank account ending {self.pan_last4}\nPIN {self.pin.reveal()}\n")
