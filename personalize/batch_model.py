"""What a batch talks about: card sources, progress events, the summary, and which card
failures stop a batch (:func:`is_fatal`)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from apdu.errors import SSCardError
from apdu.transport.channel import Channel

__all__ = ["CardSource", "BatchEvent", "BatchSummary", "BatchError", "EventKind", "is_fatal", "mask_ssn"]

EventKind = Literal["issued", "failed", "bad_row", "skipped", "interrupted", "set_aside", "step", "warning",
                    "stopped"]


class BatchError(SSCardError):
    """The batch cannot go on (wrong keys, no card source left, a random PIN without mailer)."""


class CardSource(Protocol):
    """Where a worker gets its cards (the CLI provides PC/SC and virtual-card sources).

    ``name`` identifies the worker in the journal. ``next_card`` returns a connected
    channel to a fresh card (waiting for the operator, or making a blank virtual card) or
    raises :class:`~apdu.errors.SSCardError` (e.g. no card within the timeout), which
    ends this worker. ``release`` takes the card back (``ok=False``: set it aside) and
    may return its new label. ``set_aside`` is told about a card of a dead run by its
    label; it returns the card's new label when the card is its own, else None.
    """

    name: str

    def next_card(self) -> Channel: ...
    def card_label(self, channel: Channel) -> str: ...
    def release(self, channel: Channel, ok: bool) -> str | None: ...
    def set_aside(self, label: str) -> str | None: ...


@dataclass(frozen=True)
class BatchEvent:
    """What the progress callback hears."""

    kind: EventKind
    message: str
    row_number: int | None = None
    worker: str | None = None


@dataclass
class BatchSummary:
    """The outcome of one :func:`run_batch`."""

    run: int
    done: int = 0
    already_issued: int = 0
    bad_rows: int = 0
    failed: Counter[str] = field(default_factory=Counter)  #: card failures by reason ("step: SW 6A82")
    interrupted: list[str] = field(default_factory=list)  #: holders a dead run left half done
    set_aside: list[str] = field(default_factory=list)  #: cards of dead runs, and where they went
    busy: int = 0  #: in progress at another live station
    failures: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None  #: why the batch stopped early
    elapsed: float = 0.0
    card_seconds: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Cards issued per minute."""
        return 60.0 * self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.bad_rows or self.stopped)

    def to_dict(self) -> dict[str, Any]:
        mean = sum(self.card_seconds) / len(self.card_seconds) if self.card_seconds else None
        return {"run": self.run, "done": self.done, "already_issued": self.already_issued,
                "bad_rows": self.bad_rows, "failed": dict(self.failed), "failed_total": sum(self.failed.values()),
                "interrupted": self.interrupted, "set_aside": self.set_aside, "busy_elsewhere": self.busy,
                "failures": self.failures, "stopped": self.stopped, "elapsed_s": round(self.elapsed, 3),
                "cards_per_minute": round(self.rate, 2),
                "mean_card_s": None if mean is None else round(mean, 3)}


def mask_ssn(ssn: str) -> str:
    """An SSN for logs and progress lines: region and check digits only.

    >>> mask_ssn("11010519491231002X")
    '110105…002X'
    """
    return f"{ssn[:6]}…{ssn[-4:]}" if len(ssn) > 10 else ssn


def _ins(apdu: object) -> int | None:
    """INS of a command given as bytes or as (possibly redacted) hex text."""
    if isinstance(apdu, (bytes, bytearray)):
        return apdu[1] if len(apdu) > 1 else None
    if isinstance(apdu, str):
        digits = apdu.replace(" ", "")[2:4]
        try:
            return int(digits, 16) if len(digits) == 2 else None
        except ValueError:
            return None
    return None


def is_fatal(exc: BaseException) -> bool:
    """True when a card failure means every further card would fail too: the card refused
    the issuer's key (wrong key file), so more cards would only spend key tries.

    An error may say so itself (``exc.fatal``); otherwise a 63Cx (wrong cryptogram, x
    tries left) or 6983 (key blocked) answer to EXTERNAL AUTHENTICATE (INS 82) is fatal.

    >>> class E(Exception):
    ...     def __init__(self, apdu, sw): self.apdu, self.sw = apdu, sw
    >>> is_fatal(E("0082000010****", 0x63C2)), is_fatal(E("00DC093020091E", 0x63C2)), is_fatal(E("0082000010", 0x9000))
    (True, False, False)
    """
    fatal = getattr(exc, "fatal", None)
    if fatal is not None:
        return bool(fatal)
    if getattr(exc, "card_removed", False):
        return False
    sw = getattr(exc, "sw", None)
    return _ins(getattr(exc, "apdu", None)) == 0x82 and isinstance(sw, int) and (sw & 0xFFF0 == 0x63C0 or sw == 0x6983)
