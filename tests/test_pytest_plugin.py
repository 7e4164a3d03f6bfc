"""The sscard pytest plugin (sscard_pytest), run in-process with pytester on small test
files: fresh personalized cards per test, the profile marker and option, the cardholder
marker, usage errors, the re-exported strategies; through pcscd (marked ``pcsc``): the
card served in a vpcd slot, and ``--sscard-reader`` against a card already in a reader."""
from __future__ import annotations

import doctest
import textwrap
from collections.abc import Iterator

import pytest

import sscard_pytest
from apdu import pcscd
from apdu.pcsc_status import reader_states
from cardsim.persistent import Lifecycle
from personalize import strategies
from sscard_pytest import cards
from sscard_pytest.cards import personalized_card
from sscard_pytest.serve import pcsc_lock, served

pytest_plugins = ["pytester"]

SELECT_SSSE = "00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF"
#: vectors/sample_cardholders.csv, row 3
OTHER_HOLDER = {"ssn": "110105196203151379", "name": "李建国", "name_latin": "LI/JIANGUO", "sex": "1",
                "birthplace": "110105", "card_number": "B12044174", "region": "110000", "issue_date": "2024-11-20",
                "pan": "6228480899123456787"}


def test_cards_doctests() -> None:  # sscard_pytest is outside the suite's doctest paths
    failed, attempted = doctest.testmod(cards, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failed == 0


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(textwrap.dedent(source))
    return pytester.runpytest("-p", "no:cacheprovider", "-rs", *args)


def test_each_test_gets_a_freshly_personalized_card(pytester: pytest.Pytester) -> None:
    result = run(pytester, f"""
        import pytest
        from cardsim.persistent import Lifecycle
        from smartcard.CardConnection import CardConnection
        from smartcard.util import toBytes

        def test_card_number(sscard_card, sscard_cardholder, sscard_profile, sscard_virtual_card):
            assert isinstance(sscard_card, CardConnection) and sscard_card.card is sscard_virtual_card
            assert sscard_virtual_card.life.phase is Lifecycle.PERSONALIZED
            assert bytes(sscard_card.getATR()) == sscard_profile.atr_bytes() and sscard_profile.name == "ssc3-sm4"
            assert sscard_card.transmit(toBytes("{SELECT_SSSE}")) == ([], 0x90, 0x00)
            data, sw1, sw2 = sscard_card.transmit(toBytes("00B2072C00"))
            assert (sw1, sw2) == (0x90, 0x00) and sscard_cardholder.social.card_number == "K80362153"
            assert bytes(data) == b"\\x07\\x09K80362153"

        @pytest.mark.parametrize("run", [1, 2])
        def test_a_wrong_pin_spends_a_try_of_this_card_only(sscard_card, sscard_profile, run):
            sscard_card.transmit(toBytes("{SELECT_SSSE}"))
            tries = sscard_profile.pin.try_limit
            assert sscard_card.transmit(toBytes("0020000003999999")) == ([], 0x63, 0xC0 | (tries - 1))
            assert sscard_card.transmit(toBytes("0020000003123456")) == ([], 0x90, 0x00)
    """)
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize(("args", "unmarked"), [((), "ssc3-sm4"), (("--sscard-profile", "ssc2-3des"), "ssc2-3des")])
def test_profile_from_the_marker_then_the_option(pytester: pytest.Pytester, args: tuple[str, ...],
                                                 unmarked: str) -> None:
    result = run(pytester, f"""
        import pytest
        from cardspec.profile import Profile
        from smartcard.util import toBytes

        @pytest.mark.sscard(profile="ssc2-3des")
        def test_marked(sscard_card, sscard_profile):
            assert sscard_profile.name == "ssc2-3des"
            assert bytes(sscard_card.getATR()) == Profile.load("ssc2-3des").atr_bytes()

        def test_unmarked(sscard_card, sscard_profile):
            assert sscard_profile.name == "{unmarked}"
            assert bytes(sscard_card.getATR()) == Profile.load("{unmarked}").atr_bytes()
            assert sscard_card.transmit(toBytes("{SELECT_SSSE}")) == ([], 0x90, 0x00)
    """, *args)
    result.assert_outcomes(passed=2)


def test_cardholder_from_the_marker(pytester: pytest.Pytester) -> None:
    result = run(pytester, f"""
        import pytest
        from smartcard.util import toBytes
        from sscard_pytest.cards import cardholder_from_row

        ROW = {OTHER_HOLDER!r}

        @pytest.mark.sscard(cardholder=ROW)
        def test_row(sscard_card, sscard_cardholder):
            assert sscard_cardholder.social.name == "李建国"
            sscard_card.transmit(toBytes("{SELECT_SSSE}"))
            assert sscard_card.transmit(toBytes("00B2072C00")) == (list(b"\\x07\\x09B12044174"), 0x90, 0x00)

        @pytest.mark.sscard(cardholder=cardholder_from_row({{**ROW, "card_number": "K80362153"}}))
        def test_cardholder(sscard_card, sscard_cardholder):
            sscard_card.transmit(toBytes("{SELECT_SSSE}"))
            assert sscard_card.transmit(toBytes("00B2072C00"))[0][2:] == list(b"K80362153")

        @pytest.mark.sscard(cardholder={{**ROW, "sex": "2"}})
        def test_bad_row(sscard_card):
            pass

        @pytest.mark.sscard(profle="ssc2-3des")
        def test_misspelt_keyword(sscard_card):
            pass
    """)
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.no_fnmatch_line("*During handling*")
    result.stdout.fnmatch_lines(["*@pytest.mark.sscard(cardholder=...): row 2, field 'sex': is '2' (female)*",
                                 "*@pytest.mark.sscard: unknown keyword 'profle' (known: profile, cardholder)*"])


def test_an_unknown_profile_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, "def test_nothing(): pass", "--sscard-profile", "ssc9-rot13")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sscard-profile: no profile named 'ssc9-rot13' (built-in: *ssc3-sm4*)*"])


def test_sscard_reader_is_skipped_without_pcscd(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    stopped = pcscd.PcscdStatus(binary="/usr/sbin/pcscd", pid=None, pid_file_pid=None, socket_present=False,
                                vpcd=(), listening=frozenset())
    monkeypatch.setattr(pcscd, "status", lambda: stopped)
    result = run(pytester, """
        def test_reader(sscard_reader):
            raise AssertionError("not reached")

        def test_card_of_the_reader(sscard_card, sscard_reader):
            raise AssertionError("not reached")
    """)
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] *: pcscd with vpcd is not running (see sscard doctor)"] * 2)


def test_an_unknown_bench_reader_fails_the_tests_that_need_it(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        def test_card(sscard_card):
            raise AssertionError("not reached")

        def test_without_card():
            pass
    """, "--sscard-reader", "re:^no such reader$")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*--sscard-reader 're:^no such reader$': *"])


def test_strategies_are_re_exported_and_make_cards(pytester: pytest.Pytester) -> None:
    assert sscard_pytest.cardholders is strategies.cardholders
    assert sscard_pytest.cardholder_rows is strategies.cardholder_rows
    with pytest.raises(AttributeError, match="has no attribute 'cardholder'"):
        sscard_pytest.cardholder  # noqa: B018
    result = run(pytester, """
        from hypothesis import given, settings
        from sscard_pytest import cardholders, personalized_card

        @settings(max_examples=3, deadline=None)
        @given(cardholders())
        def test_any_valid_cardholder_fits_a_card(holder):
            card, result = personalized_card("ssc2-3des", holder)
            assert result.verified and result.card_number == holder.social.card_number
    """)
    result.assert_outcomes(passed=1)


# --- through pcscd ------------------------------------------------------------------------------
@pytest.fixture
def pcscd_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """pcscd with vpcd, used as found or started for the test, under the PC/SC lock."""
    current = pcscd.status()
    if current.binary is None or not current.vpcd:
        pytest.skip(f"pcscd with vsmartcard-vpcd is not installed ({pcscd.INSTALL_HINT})")
    with pcsc_lock(), pcscd.ensure_running(tmp_path_factory.mktemp("pcscd") / "pcscd.log"):
        yield


def _present(reader: str) -> bool:
    return any(state.present for state in reader_states() if state.name == reader)


@pytest.mark.pcsc
@pytest.mark.parametrize("slot", [None, 0])
def test_sscard_reader_serves_the_card_in_a_vpcd_slot(pytester: pytest.Pytester, pcscd_running: None,
                                                      slot: int | None) -> None:
    reader = f"Virtual PCD 00 {1 if slot is None else slot:02X}"
    result = run(pytester, f"""
        from smartcard.pcsc.PCSCCardConnection import PCSCCardConnection
        from smartcard.util import toBytes

        def test_through_pcscd(sscard_reader, sscard_card, sscard_virtual_card, sscard_profile):
            assert sscard_reader == "{reader}" and isinstance(sscard_card.component, PCSCCardConnection)
            assert str(sscard_card.getReader()) == sscard_reader
            assert sscard_card.transmit(toBytes("{SELECT_SSSE}")) == ([], 0x90, 0x00)
            assert sscard_card.transmit(toBytes("00B2072C00")) == (list(b"\\x07\\x09K80362153"), 0x90, 0x00)
            assert sscard_card.transmit(toBytes("0020000003999999"))[1:] == (0x63, 0xC5)
            assert sscard_virtual_card.transmit(bytes.fromhex("0020000003999999")).hex() == "63c4"  # the same card
    """, *(() if slot is None else ("--sscard-slot", str(slot))))
    result.assert_outcomes(passed=1)
    assert not _present(reader)  # the fixture waited for the slot to empty


@pytest.mark.pcsc
def test_bench_reader_option_uses_the_card_already_in_the_reader(pytester: pytest.Pytester,
                                                                 pcscd_running: None) -> None:
    card, _ = personalized_card("ssc3-sm4")
    with served(card, 0) as reader:
        result = run(pytester, f"""
            import pytest
            from smartcard.util import toBytes

            def test_card(sscard_card, sscard_reader, sscard_profile):
                assert sscard_reader == "{reader}" and sscard_profile.name == "ssc3-sm4"
                assert sscard_card.transmit(toBytes("{SELECT_SSSE}")) == ([], 0x90, 0x00)
                assert sscard_card.transmit(toBytes("0020000003999999"))[1:] == (0x63, 0xC5)

            def test_holder(sscard_cardholder):
                raise AssertionError("not reached")

            @pytest.mark.sscard(profile="ssc2-3des")
            def test_other_profile(sscard_card):
                raise AssertionError("not reached")
        """, "--sscard-reader", "PCD 00 00")
        result.assert_outcomes(passed=1, skipped=2)
        result.stdout.fnmatch_lines(["*the card in reader 'PCD 00 00' was not personalized by the sscard plugin*",
                                     "*needs a ssc2-3des card; the card in reader 'PCD 00 00' is declared ssc3-sm4*"])
        assert _present(reader)  # the plugin left the bench card where it was
    card.power_on()
    card.transmit(bytes.fromhex(SELECT_SSSE))
    assert card.transmit(bytes.fromhex("0020000003999999")).hex().upper() == "63C4"  # the inner test spent one try
    assert card.life.phase is Lifecycle.PERSONALIZED
