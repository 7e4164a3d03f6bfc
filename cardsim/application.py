"""How code plugs into the card runtime: handlers, response shapes, security state, applications.

A *handler* answers one INS: it takes the parsed :class:`~apdu.command.CommandAPDU` and
returns the response data (status 9000), or raises :class:`~apdu.sw.SWError` (errors, and
warnings such as 6283 or 63Cx, with optional data). How Le shapes the data is declared
on the handler with :func:`shaped`:

>>> @shaped(Shape.EXACT)
... def read_something(cmd: CommandAPDU) -> bytes:
...     return b"\\x07\\x01\\x33"
>>> shape_of(read_something), shape_of(lambda cmd: b"")
(<Shape.EXACT: 'exact'>, <Shape.VARIABLE: 'variable'>)

An *application* is the object attached to a DF (``DF(..., application=app)``): it adds
handlers that the runtime asks before its own, may build the DF's FCI, and hears when it
becomes current or stops being current. :class:`BaseApplication` gives the defaults.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Callable, Mapping, Protocol, TypeVar, runtime_checkable

from apdu.command import CommandAPDU
from apdu.sw import SW, SWError

if TYPE_CHECKING:
    from .fs import DF
    from .runtime import CardOS

Handler = Callable[[CommandAPDU], bytes]
_F = TypeVar("_F", bound=Callable[..., bytes])


class Shape(Enum):
    """How the runtime fits a handler's response data to Le (see ``CardOS`` for the rules)."""

    VARIABLE = "variable"  # FCI, authentication data: Le cuts, the rest waits for GET RESPONSE (61xx)
    EXACT = "exact"  # READ RECORD, GET DATA: never cut; a short Le answers 6Cxx
    TRUNCATE = "truncate"  # READ BINARY: exactly Le bytes of the data


def shaped(shape: Shape) -> Callable[[_F], _F]:
    """Decorator declaring the response shape of a handler (default: ``Shape.VARIABLE``)."""

    def mark(fn: _F) -> _F:
        setattr(fn, "le_shape", shape)
        return fn

    return mark


def shape_of(handler: Handler) -> Shape:
    """The shape declared with :func:`shaped` (bound methods see their function's mark)."""
    shape = getattr(handler, "le_shape", Shape.VARIABLE)
    return shape if isinstance(shape, Shape) else Shape.VARIABLE


#: ISO 7816-4 P2 b8 of VERIFY / EXTERNAL AUTHENTICATE: 0 = global reference data, 1 = specific to the DF
SPECIFIC_KEY = 0x80


@dataclass
class SecurityState:
    """Transient security status of one *security scope* (ISO 7816-4 §5.4).

    The scope is the DF that owns the current application (``DF.application_owner()``):
    the verified PIN and the authenticated keys last until power-off or reset, or until
    another application is selected (S7 §5.8, §6.6), and survive moves between the
    application's own DFs (SSSE → DF04 keeps the PIN). Outside any application each DF
    is its own scope (S5 §6.11.1: security states last while the current DF is
    unchanged). The runtime starts a fresh state whenever the scope changes.

    Key ids: ``authenticated_keys`` are keys of the scope DF itself. A DF below the scope
    has its own key space for ids with b8 = 1 (the SSSE's DF01-DF07 keys 82-8F), kept in
    ``df_keys`` under that DF's FID, so DF01's key 84 never opens DF04's files.

    >>> state = SecurityState(challenge=bytes.fromhex("E603E2CAADAF02B6"))
    >>> state.take_challenge().hex().upper(), state.take_challenge()
    ('E603E2CAADAF02B6', None)
    >>> state.grant(0x0A); state.grant(0x84, 0xDF04); state.grant(0x84)
    >>> sorted(state.keys_in(None)), sorted(state.keys_in(0xDF04)), sorted(state.keys_in(0xDF01))
    ([10, 132], [10, 132], [10])
    """

    pin_verified: bool = False
    authenticated_keys: set[int] = field(default_factory=set)
    #: FID of a DF below the scope -> its own (b8 = 1) keys authenticated there
    df_keys: dict[int, set[int]] = field(default_factory=dict)
    #: the last GET CHALLENGE random; usable once (S5 §6.5), so consumers set it back to None
    challenge: bytes | None = None

    def take_challenge(self) -> bytes | None:
        """Return the pending challenge and forget it (a challenge authenticates once)."""
        challenge, self.challenge = self.challenge, None
        return challenge

    def grant(self, kid: int, df_fid: int | None = None) -> None:
        """Record key ``kid`` as authenticated: of the scope DF (``df_fid`` None) or of a DF below it."""
        (self.authenticated_keys if df_fid is None else self.df_keys.setdefault(df_fid, set())).add(kid)

    def revoke(self, kid: int, df_fid: int | None = None) -> None:
        """Forget an authentication (a failed EXTERNAL AUTHENTICATE of that key)."""
        (self.authenticated_keys if df_fid is None else self.df_keys.get(df_fid, set())).discard(kid)

    def keys_in(self, df_fid: int | None) -> frozenset[int]:
        """Key ids that count for access rules in a DF: in the scope DF (``df_fid`` None)
        its own keys; in a DF below it, the scope's global ids (b8 = 0) and that DF's own."""
        if df_fid is None:
            return frozenset(self.authenticated_keys)
        inherited = {k for k in self.authenticated_keys if not k & SPECIFIC_KEY}
        return frozenset(inherited | self.df_keys.get(df_fid, set()))


@runtime_checkable
class Application(Protocol):
    """What the runtime expects of the object attached to a DF."""

    #: INS -> handler, asked before the OS table while this application is current
    handlers: Mapping[int, Handler]

    def fci(self, df: DF) -> bytes | None:
        """The FCI answered when ``df`` is selected, or None for the default FCI."""
        ...

    def on_select(self, card: CardOS) -> None:
        """Called after a SELECT (or power-on) made this application current, and on every
        explicit selection of its own DF. Raising ``SWError`` with a warning (62xx/63xx)
        answers that warning with the FCI; raising an error answers the error. The
        selection has taken place either way."""
        ...

    def on_deselect(self, card: CardOS) -> None:
        """Called when another application (or none) becomes current, and at power-off.
        Must not raise."""
        ...

    def before_command(self, cmd: CommandAPDU) -> None:
        """Called before every command (except GET RESPONSE) while current; raise
        ``SWError`` to refuse it, e.g. ``9303`` once the application is blocked."""
        ...

    def unwrap_sm(self, cmd: CommandAPDU, card: CardOS) -> tuple[CommandAPDU, frozenset[int]]:
        """Check the secure messaging of an OS command (CLA b3/b4 set) and return the plain
        command (SM bits cleared, MAC removed) with the key ids the MAC proved for this
        command; raise the application's "MAC invalid" SW for a wrong MAC (ISO: 6988; the
        SSSE answers 9302), ``6882`` when SM is not supported."""
        ...


class BaseApplication:
    """Defaults for :class:`Application`: no handlers, default FCI, no SM, silent hooks.

    Subclasses that need the card they run on set ``self._card`` in :meth:`on_select` and
    read it through :attr:`card`.
    """

    handlers: Mapping[int, Handler] = {}
    _card: CardOS | None = None

    @property
    def card(self) -> CardOS:
        """The card this application was selected on; handlers only run after that."""
        if self._card is None:
            raise SWError(SW.UNKNOWN)  # answered 6F00: a handler ran before on_select
        return self._card

    def fci(self, df: DF) -> bytes | None:
        return None

    def on_select(self, card: CardOS) -> None:
        return None

    def on_deselect(self, card: CardOS) -> None:
        return None

    def before_command(self, cmd: CommandAPDU) -> None:
        return None

    def unwrap_sm(self, cmd: CommandAPDU, card: CardOS) -> tuple[CommandAPDU, frozenset[int]]:
        raise SWError(SW.SM_NOT_SUPPORTED)
