"""The ``sscard`` pytest plugin (registered as a ``pytest11`` entry point): test your own
software against a freshly personalized social-security card.

Fixtures (function scope: every test gets a new card):

- ``sscard_card``: a connected pyscard ``CardConnection`` to the card. By default an
  in-process :class:`~apdu.transport.pyscard_compat.VirtualCardConnection` (no pcscd); in
  a test that also uses ``sscard_reader``, or with ``--sscard-reader``, a real pyscard
  connection through pcscd to that reader's card, so both fixtures mean the same card.
- ``sscard_reader``: the PC/SC reader name of the card. Virtual cards are served in vpcd
  slot ``--sscard-slot`` (default 1) under the machine-wide PC/SC lock; the test is
  skipped when pcscd with vpcd is not running. The slot is EMPTY again after the test.
- ``sscard_cardholder``: the :class:`~personalize.cardholder.Cardholder` the card was
  personalized for (default: :func:`sscard_pytest.cards.sample_cardholder`).
- ``sscard_profile``: the card's :class:`~cardspec.profile.Profile`.
- ``sscard_virtual_card``: the simulator object itself (:class:`cardsim.runtime.CardOS`),
  for white-box checks.

Choose the profile with ``@pytest.mark.sscard(profile="ssc2-3des")`` or
``--sscard-profile``, the cardholder with ``@pytest.mark.sscard(cardholder=...)`` (a
``Cardholder`` or an input row). ``--sscard-reader NAME`` (an index, a name fragment or
``re:REGEX``) runs the same tests against the card in a real reader at the bench: no
virtual card is made, ``--sscard-profile`` declares the card's profile (tests marked for
another profile are skipped) and tests that need ``sscard_cardholder`` or
``sscard_virtual_card`` are skipped (that card's holder is unknown to the plugin).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from cardsim.runtime import CardOS
    from cardspec.profile import Profile
    from personalize.cardholder import Cardholder

MARKER = "sscard"
DEFAULT_SLOT = 1
_NOT_RUNNING = "pcscd with vpcd is not running (see sscard doctor)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sscard", "sscard: freshly personalized social-security cards")
    group.addoption("--sscard-profile", metavar="NAME", default=None,
                    help="card profile of the sscard fixtures (default ssc3-sm4); with --sscard-reader, "
                         "the profile of the card in that reader")
    group.addoption("--sscard-slot", metavar="N", type=int, default=DEFAULT_SLOT,
                    help=f"vpcd slot that sscard_reader serves virtual cards in (default {DEFAULT_SLOT})")
    group.addoption("--sscard-reader", metavar="NAME", default=None,
                    help="run the sscard fixtures against the card in this PC/SC reader (index, name "
                         "fragment or re:REGEX) instead of fresh virtual cards")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(profile=None, cardholder=None): the profile and cardholder "
                                       "of the card the sscard fixtures give this test")
    name = config.getoption("--sscard-profile")
    if name is not None:
        from cardspec.profile import Profile, ProfileError

        try:
            Profile.load(name)
        except ProfileError as exc:
            raise pytest.UsageError(f"--sscard-profile: {exc}") from None
    if config.getoption("--sscard-slot") < 0:
        raise pytest.UsageError(f"--sscard-slot {config.getoption('--sscard-slot')}: a vpcd slot is 0 or more")


def pytest_report_header(config: pytest.Config) -> str | None:
    reader, profile = config.getoption("--sscard-reader"), config.getoption("--sscard-profile")
    if reader is not None:
        return f"sscard: the card in reader {reader!r} (profile {_declared_profile(config)})"
    return f"sscard: fresh virtual cards, profile {profile}" if profile is not None else None


def _marker(request: pytest.FixtureRequest) -> Mapping[str, Any]:
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return {}
    if marker.args:
        pytest.fail(f"@pytest.mark.{MARKER} takes keywords only (profile=..., cardholder=...)", pytrace=False)
    unknown = sorted(set(marker.kwargs) - {"profile", "cardholder"})
    if unknown:
        pytest.fail(f"@pytest.mark.{MARKER}: unknown keyword {unknown[0]!r} (known: profile, cardholder)",
                    pytrace=False)
    return marker.kwargs


def _bench_reader(config: pytest.Config) -> str | None:
    return config.getoption("--sscard-reader")


def _declared_profile(config: pytest.Config) -> str:
    """``--sscard-profile``, else the default profile."""
    from cardspec.profile import DEFAULT_PROFILE

    return config.getoption("--sscard-profile") or DEFAULT_PROFILE


@pytest.fixture
def sscard_profile(request: pytest.FixtureRequest) -> Profile:
    """The card's profile: the marker's, else ``--sscard-profile``, else ssc3-sm4."""
    from cardspec.profile import Profile, ProfileError

    declared = _declared_profile(request.config)
    wanted = _marker(request).get("profile")
    if _bench_reader(request.config) is not None and wanted is not None and wanted != declared:
        pytest.skip(f"needs a {wanted} card; the card in reader {_bench_reader(request.config)!r} is declared "
                    f"{declared} (--sscard-profile)")
    try:
        return Profile.load(wanted or declared)
    except ProfileError as exc:
        problem = str(exc)
    pytest.fail(f"@pytest.mark.{MARKER}(profile={wanted!r}): {problem}", pytrace=False)


@pytest.fixture
def sscard_cardholder(request: pytest.FixtureRequest) -> Cardholder:
    """The cardholder the card is personalized for (the marker's, else the sample cardholder)."""
    from personalize.cardholder import Cardholder, RowError

    from .cards import cardholder_from_row, sample_cardholder

    if _bench_reader(request.config) is not None:
        pytest.skip(f"the card in reader {_bench_reader(request.config)!r} was not personalized by the sscard "
                    "plugin: its cardholder is unknown")
    given = _marker(request).get("cardholder")
    if given is None:
        return sample_cardholder()
    if isinstance(given, Cardholder):
        return given
    if isinstance(given, Mapping):
        try:
            return cardholder_from_row(given)
        except RowError as exc:
            problem = str(exc)
        pytest.fail(f"@pytest.mark.{MARKER}(cardholder=...): {problem}", pytrace=False)
    pytest.fail(f"@pytest.mark.{MARKER}(cardholder=...) takes a Cardholder or an input row (a mapping of "
                f"column to text), not {type(given).__name__}", pytrace=False)


@pytest.fixture
def sscard_virtual_card(sscard_profile: Profile, sscard_cardholder: Cardholder) -> CardOS:
    """A blank simulator card personalized (and verified) through the real flow, powered off."""
    from .cards import personalized_card

    card, _ = personalized_card(sscard_profile, sscard_cardholder)
    return card


@pytest.fixture
def sscard_reader(request: pytest.FixtureRequest) -> Iterator[str]:
    """The PC/SC reader name of the test's card (see the module notes)."""
    bench = _bench_reader(request.config)
    if bench is not None:
        request.getfixturevalue("sscard_profile")  # skips a test marked for another profile
        yield _resolve(bench)
        return
    from apdu import pcscd

    if not pcscd.status().ready:
        pytest.skip(_NOT_RUNNING)
    pytest.importorskip("smartcard", reason="pyscard is not installed")
    from apdu.filelock import LockTimeout

    from .serve import SlotError, pcsc_lock, served

    card = request.getfixturevalue("sscard_virtual_card")
    slot = request.config.getoption("--sscard-slot")
    try:
        with pcsc_lock(), served(card, slot) as reader:
            yield reader
    except (LockTimeout, SlotError) as exc:
        problem = str(exc)
    else:
        return
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def sscard_card(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A connected pyscard ``CardConnection`` to the test's card (see the module notes)."""
    if _bench_reader(request.config) is None and "sscard_reader" not in request.fixturenames:
        from apdu.transport.pyscard_compat import VirtualCardConnection, VirtualReader

        card = request.getfixturevalue("sscard_virtual_card")
        connection = VirtualCardConnection(card, VirtualReader("sscard virtual reader", card))
        connection.connect()
        yield connection
        connection.disconnect()
        return
    reader = request.getfixturevalue("sscard_reader")
    with _pcsc_connection(reader) as connection:
        yield connection


def _resolve(spec: str) -> str:
    from apdu.errors import SSCardError
    from apdu.transport.pcsc import list_readers, select_reader

    try:
        return select_reader(spec, list_readers())
    except SSCardError as exc:
        problem = str(exc)
    pytest.fail(f"--sscard-reader {spec!r}: {problem}", pytrace=False)


@contextlib.contextmanager
def _pcsc_connection(reader: str) -> Iterator[Any]:
    from smartcard.Exceptions import CardConnectionException, NoCardException
    from smartcard.System import readers

    found = [r for r in readers() if str(r) == reader]
    if not found:
        pytest.fail(f"reader {reader!r} is gone (readers: {', '.join(map(str, readers())) or 'none'})", pytrace=False)
    connection = found[0].createConnection()
    try:
        connection.connect()
    except (NoCardException, CardConnectionException) as exc:
        connection.release()
        problem = str(exc)
    else:
        problem = ""
    if problem:
        pytest.fail(f"reader {reader!r}: cannot connect to the card: {problem}", pytrace=False)
    try:
        yield connection
    finally:
        with contextlib.suppress(CardConnectionException):
            connection.disconnect()  # the test may have pulled the card
        connection.release()
