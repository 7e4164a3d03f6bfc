"""Power loss in the middle of commands (anti-tearing).

:class:`TearingStore` snapshots the persistent state (SSSE secrets, card lifecycle, every
file's content) at each commit and can cut the power at the Nth commit, either before
that write lands or just after it. A new card is then built from what was persisted,
as a card would come back from its EEPROM. The checks: no cut during VERIFY, CHANGE PIN
or EXTERNAL AUTHENTICATE yields a try for free (the comparison only ever runs after the
spent try is durable), and every persisted state is one the card could have reached.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest
from hypothesis import given, settings, strategies as st

import cardsim.auth
import cardsim.pin
from cardsim.persistent import AppSecrets, CardLife, encode_pin
from cardsim.store import PowerLost
from cardspec.crypto.ssse import command_mac, mac_input, wrap_command_data
from cardspec.ids import KeyId
from cardspec.profile import Profile

from ssse_testcard import PROFILES, SELECT_SSSE, Content, Host, TestCard, build_card, key_value

OK = "9000"


@dataclass(frozen=True)
class Snapshot:
    """The persistent state after one commit (or at the start)."""

    reason: str
    secrets: dict[str, Any]
    life: dict[str, Any]
    files: dict[str, Content]
    comparisons: int  #: secret comparisons the card had made when this was written


class Spy:
    """Counts the card's secret comparisons (PIN and EXTERNAL AUTHENTICATE)."""

    def __init__(self) -> None:
        self.calls = 0

    def counting(self, real: Callable[..., bool]) -> Callable[..., bool]:
        def compare(*args: Any) -> bool:
            self.calls += 1
            return real(*args)
        return compare

    def install(self, mp: pytest.MonkeyPatch) -> Spy:
        mp.setattr(cardsim.pin, "compare_digest", self.counting(cardsim.pin.compare_digest))
        mp.setattr(cardsim.auth, "verify_external_auth", self.counting(cardsim.auth.verify_external_auth))
        return self


class TearingStore:
    """A store that keeps a snapshot per commit and cuts the power at commit ``cut_at``
    (counted from :meth:`arm`): before the write lands (``lands=False``) or after it."""

    def __init__(self, spy: Spy) -> None:
        self.spy = spy
        self.tc: TestCard | None = None
        self.base: Snapshot | None = None
        self.snapshots: list[Snapshot] = []
        self.cut_at: int | None = None
        self.lands = True

    def _snapshot(self, reason: str) -> Snapshot:
        assert self.tc is not None
        return Snapshot(reason, self.tc.secrets.to_dict(), self.tc.card.life.to_dict(), self.tc.contents(),
                        self.spy.calls)

    def arm(self, cut_at: int | None = None, *, lands: bool = True) -> None:
        """Start counting commits from here; cut the power at commit ``cut_at`` (None: never)."""
        self.base = self.persisted()
        self.snapshots, self.cut_at, self.lands = [], cut_at, lands

    def commit(self, reason: str) -> None:
        number = len(self.snapshots) + 1
        if number == self.cut_at and not self.lands:
            raise PowerLost(reason)
        self.snapshots.append(self._snapshot(reason))
        if number == self.cut_at:
            raise PowerLost(reason)

    def persisted(self) -> Snapshot:
        if self.snapshots:
            return self.snapshots[-1]
        if self.base is None:
            self.base = self._snapshot("built")
        return self.base


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    return Spy().install(monkeypatch)


def tearing_card(profile: Profile, spy: Spy, snapshot: Snapshot | None = None) -> tuple[Host, TearingStore]:
    """A card on a :class:`TearingStore`, fresh or rebuilt from ``snapshot``, SSSE selected."""
    store = TearingStore(spy)
    if snapshot is None:
        tc = build_card(profile, store=store)
    else:
        tc = build_card(profile, store=store, secrets=AppSecrets.from_dict(snapshot.secrets),
                        life=CardLife.from_dict(snapshot.life), contents=snapshot.files)
    store.tc = tc
    store.arm()
    host = Host(tc)
    host.sw(SELECT_SSSE)
    return host, store


def cut(host: Host, store: TearingStore, apdu: str, at: int, lands: bool) -> Snapshot:
    """Send ``apdu`` with the power cut at commit ``at``; the persisted state afterwards."""
    store.arm(at, lands=lands)
    with pytest.raises(PowerLost):
        host.card.transmit(bytes.fromhex(apdu))
    assert not host.card.powered
    assert host.card.transmit(bytes.fromhex("00200000")) == b"\x6F\x00"  # no power, no answer
    return store.persisted()


def tries(snapshot: Snapshot) -> int:
    return int(snapshot.secrets["pin"]["tries_left"])


WRONG, RIGHT = "0020000003111111", "0020000003123456"


# --- the commit sequence of a VERIFY ------------------------------------------------------------
@pytest.mark.parametrize("profile", PROFILES)
def test_verify_spends_the_try_durably_before_comparing(profile: str, spy: Spy) -> None:
    host, store = tearing_card(Profile.load(profile), spy)
    store.arm()
    assert host.sw(WRONG) == "63C5"
    assert [(s.reason, tries(s), s.comparisons) for s in store.snapshots] == [("VERIFY: try spent, 5 left", 5, 0)]
    store.arm()
    assert host.sw(RIGHT) == OK
    assert [(tries(s), s.comparisons) for s in store.snapshots] == [(4, 1), (6, 2)]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("apdu, at, lands, left", [
    (WRONG, 1, False, 6),  # the decrement never landed, and the PIN was never compared
    (WRONG, 1, True, 5),
    (RIGHT, 1, False, 6),
    (RIGHT, 1, True, 5),  # compared only after this; the restore was lost: one try gone
    (RIGHT, 2, False, 5),
    (RIGHT, 2, True, 6),
])
def test_power_cut_during_verify(profile: str, spy: Spy, apdu: str, at: int, lands: bool, left: int) -> None:
    host, store = tearing_card(Profile.load(profile), spy)
    compared_before = spy.calls
    persisted = cut(host, store, apdu, at, lands)
    assert tries(persisted) == left
    if at == 1:
        assert spy.calls == compared_before  # the cut came before the comparison
    again, _ = tearing_card(Profile.load(profile), spy, persisted)
    assert again.sw("00200000") == f"63C{left}"  # a cold card: not verified, the persisted counter
    assert again.sw(RIGHT) == OK


@settings(max_examples=40, deadline=None)
@given(profile=st.sampled_from(PROFILES),
       plan=st.lists(st.sampled_from(["answer", "cut before", "cut after"]), min_size=1, max_size=10))
def test_a_brute_force_with_power_cuts_gets_no_extra_comparison(profile: str, plan: list[str]) -> None:
    """However the attacker cuts the power, every wrong PIN the card compared has cost a
    durable try; cuts cost a try or nothing, and never reveal anything."""
    p = Profile.load(profile)
    with pytest.MonkeyPatch.context() as mp:
        spy = Spy().install(mp)
        host, store = tearing_card(p, spy)
        answered = cut_after = 0
        for step in plan:
            left = tries(store.persisted())
            if left == 0:
                assert host.sw(WRONG) == "6983"
                continue
            if step == "answer":
                assert host.sw(WRONG) == f"63C{left - 1}"
                answered += 1
            else:
                host, store = tearing_card(p, spy, cut(host, store, WRONG, 1, step == "cut after"))
                cut_after += step == "cut after"
            spent = p.pin.try_limit - tries(store.persisted())
            assert spy.calls == answered <= spent == answered + cut_after


# --- CHANGE PIN and EXTERNAL AUTHENTICATE ----------------------------------------------------------------
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("at, lands, pin, left", [
    (1, False, "123456", 6),
    (1, True, "123456", 5),
    (2, False, "123456", 5),
    (2, True, "654321", 6),  # the new PIN and the full counter land in one write
])
def test_power_cut_during_change_pin(profile: str, spy: Spy, at: int, lands: bool, pin: str, left: int) -> None:
    host, store = tearing_card(Profile.load(profile), spy)
    persisted = cut(host, store, "805E010007123456FF654321", at, lands)
    assert (persisted.secrets["pin"]["value"], tries(persisted)) == (encode_pin(pin).hex().upper(), left)
    again, _ = tearing_card(Profile.load(profile), spy, persisted)
    assert again.verify(pin) == OK


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("lands", [False, True])
def test_power_cut_during_external_authenticate(profile: str, spy: Spy, lands: bool) -> None:
    host, store = tearing_card(Profile.load(profile), spy)
    host.challenge()
    compared_before = spy.calls
    persisted = cut(host, store, "0082000A10" + "00" * 16, 1, lands)
    assert spy.calls == compared_before
    rk = next(k for k in persisted.secrets["keys"] if k["kid"] == KeyId.RK)
    assert rk["tries_left"] == (2 if lands else 3)
    again, _ = tearing_card(Profile.load(profile), spy, persisted)
    assert again.ext_auth(KeyId.RK, good=False) == ("63C1" if lands else "63C2")


# --- lifecycle and file writes: all or nothing ----------------------------------------------------------
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("lands", [False, True])
def test_power_cut_during_application_block(profile: str, spy: Spy, lands: bool) -> None:
    host, store = tearing_card(Profile.load(profile), spy)
    data = wrap_command_data(host.alg, key_value(KeyId.STK), host.challenge(), 0x84, 0x1E, 0x00, 0x01)
    persisted = cut(host, store, "841E000104" + data.hex(), 1, lands)
    assert persisted.secrets["blocked"] is lands
    again, _ = tearing_card(Profile.load(profile), spy, persisted)
    assert again.sw(SELECT_SSSE) == ("9303" if lands else OK)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("lands", [False, True])
def test_power_cut_during_a_mac_protected_write(profile: str, spy: Spy, lands: bool) -> None:
    host, store = tearing_card(Profile.load(profile), spy)
    record = bytes.fromhex("050420250101")
    mac = command_mac(host.alg, key_value(KeyId.STK), host.challenge(), mac_input(0x04, 0xDC, 0x05, 0x28, record))
    before = store.persisted().files["SSSE/EF05"]
    persisted = cut(host, store, "04DC05280A" + (record + mac).hex(), 1, lands)
    records = persisted.files["SSSE/EF05"]
    assert isinstance(records, tuple) and isinstance(before, tuple)
    assert records == (before[:4] + (record,) + before[5:] if lands else before)
    again, _ = tearing_card(Profile.load(profile), spy, persisted)
    assert again.tx("00B2052C00") == (records[4].hex().upper() + OK)


# --- ordinary store failures are not power cuts -------------------------------------------------------------
def test_a_failing_store_answers_6581_and_nothing_is_compared(spy: Spy) -> None:
    host, store = tearing_card(Profile.load("ssc3-sm4"), spy)

    def broken(reason: str) -> None:
        raise OSError("EEPROM write failed")

    store.commit = broken  # type: ignore[method-assign]
    assert host.sw(WRONG) == "6581"
    assert host.sw(RIGHT) == "6581"
    assert spy.calls == 0
    assert host.card.powered
