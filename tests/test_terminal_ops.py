"""Card operations after issuance (personalize.terminal) against the simulator's sample card,
both profiles, over VirtualTransport and a Channel like the CLI's."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from apdu.atr import parse_atr
from apdu.trace import Tracer
from apdu.transport.channel import Channel, default_processors
from apdu.transport.virtual import VirtualTransport
from cardsim.factory import personalized_sample_card
from cardsim.pboc import PbocApplication, PbocKey
from cardsim.runtime import CardOS
from cardsim.ssse_app import SsseApplication
from cardspec.crypto.blockcipher import Algorithm
from cardspec.ids import KeyId
from personalize import terminal
from personalize.keys import IssuerKeys
from personalize.mfkeys import load_test_mf_keys
from personalize.terminal import CardOperationError, PinInputError, WrongPinError

from perso_support import VECTORS, key_hexes, write_key_file

PROFILES = ("ssc3-sm4", "ssc2-3des")
REGION, PAN, PSN = "511300", "6228000100000010", "01"
NEW_PIN = "90817263"  # long enough that finding its digits in a trace by chance is out of the question


def _apps(card: CardOS) -> tuple[SsseApplication, PbocApplication]:
    found: dict[type, object] = {}
    stack = [card.mf]
    while stack:
        node = stack.pop()
        if isinstance(getattr(node, "application", None), (SsseApplication, PbocApplication)):
            found[type(node.application)] = node.application
        stack += list(getattr(node, "children", ()))
    return found[SsseApplication], found[PbocApplication]  # type: ignore[return-value]


class Setup:
    """A sample card, a traced channel to it and the issuer keys that fit it."""

    def __init__(self, profile: str, tmp_path: Path) -> None:
        self.profile = profile
        self.card = personalized_sample_card(profile)
        self.ssse, self.pboc = _apps(self.card)
        self.trace = io.StringIO()
        self.channel = Channel(VirtualTransport(self.card), default_processors(), Tracer(self.trace, fmt="jsonl"))
        self.channel.connect()
        if profile == "ssc3-sm4":  # the published file is the SM4 card's
            self.keys = IssuerKeys.load(VECTORS / "test-issuer-keys.toml", insecure=True)
        else:  # the same test masters, 3DES (vectors/test-keys.toml)
            self.keys = IssuerKeys.load(write_key_file(tmp_path, Algorithm.TDES))

    def commands(self) -> list[str]:
        return re.findall(r'"c": "([0-9A-F*]+)', self.trace.getvalue())

    def ssse_tries(self) -> int:
        assert self.ssse.secrets.pin is not None
        return self.ssse.secrets.pin.tries_left

    def pboc_tries(self) -> int:
        assert self.pboc.state.pin is not None
        return self.pboc.state.pin.tries_left


@pytest.fixture(params=PROFILES)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    return Setup(request.param, tmp_path)


def test_the_issuer_key_files_fit_the_sample_cards(setup: Setup) -> None:
    historical = parse_atr(setup.card.atr).historical
    card_keys = setup.keys.ssse_card_keys(REGION, historical)
    for kid in (KeyId.RK, KeyId.PUK, KeyId.BK, KeyId.STK):
        assert card_keys[kid.name.lower()] == setup.ssse.secrets.keys[kid].value, kid.name
    udks = setup.keys.pboc_udks(PAN, PSN)
    assert udks == tuple(setup.pboc.state.udk(k) for k in (PbocKey.AC, PbocKey.MAC, PbocKey.ENC))


def _values(records: list[dict]) -> dict[str, object]:
    return {r["tag"]: r["value"] for r in records}


def test_read_both_zones(setup: Setup) -> None:
    social = terminal.read_social(setup.channel)
    assert social["status"] == "active"
    assert social["algorithm"] == ("SM4" if setup.profile == "ssc3-sm4" else "TDES")
    ef05 = _values(social["ef05"])
    assert ef05["07"] == "K80362153" and ef05["05"] == "2024-03-15" and ef05["01"]["region"] == REGION
    if setup.profile == "ssc3-sm4":  # 3.0: EF06 needs RK; without keys nothing is authenticated
        assert social["ef06"] == "protected (needs --keys)"
        assert not any(c.startswith("0082") for c in setup.commands())
        social = terminal.read_social(setup.channel, keys=setup.keys)
        assert social["ef06_read_key"] == "RK (0A) authenticated"
    ef06 = _values(social["ef06"])
    assert ef06["08"] == "511302198507160027" and ef06["09"] == "王秀英" and ef06["0D"] == "1985-07-16"
    assert social["pin"] == {"verified": False, "tries_left": 6, "blocked": False}
    fin = terminal.read_financial(setup.channel)
    assert (fin["status"], fin["aid"], fin["label"]) == ("active", "A000000333010101", "PBOC DEBIT")
    assert (fin["pan"], fin["psn"], fin["expiry"], fin["effective"]) == (PAN, PSN, "2030-12-31", "2020-01-01")
    assert (fin["name"], fin["id_number"], fin["id_type"]) == ("WANG/XIUYING", "511302198507160027",
                                                               {"code": "00", "name": "id card"})
    assert (fin["service_code"], fin["currency"], fin["country"]) == ("220", "0156", "0156")
    assert (fin["atc"], fin["pin_tries_left"], fin["last_online_atc"], fin["gpo"]) == (0, 3, 0, False)
    assert not any(c.startswith("80A8") for c in setup.commands())  # no GPO: no ATC spent
    assert setup.pboc.state.atc == 0
    swept = {(r["sfi"], r["number"]) for r in fin["records"]}
    assert swept == {(1, 1), (1, 2), (3, 1), (3, 2)}


def test_read_financial_with_gpo_spends_one_atc_and_reads_the_afl(setup: Setup) -> None:
    fin = terminal.read_financial(setup.channel, gpo=True)
    assert fin["gpo"] is True and fin["atc"] == 1 and setup.pboc.state.atc == 1
    assert {(r["sfi"], r["number"]) for r in fin["records"]} == {(1, 1), (1, 2), (3, 1), (3, 2)}


@pytest.mark.parametrize("zone", terminal.ZONES)
def test_verify_right_and_wrong_pin_leaves_the_other_zone_alone(setup: Setup, zone: str) -> None:
    other = "pboc" if zone == "ssse" else "ssse"
    before = terminal.pin_status(setup.channel, other)  # type: ignore[arg-type]
    limit = 6 if zone == "ssse" else 3
    wrong = terminal.verify_pin(setup.channel, zone, "654321")  # type: ignore[arg-type]
    assert (wrong.verified, wrong.tries_left, wrong.blocked) == (False, limit - 1, False)
    right = terminal.verify_pin(setup.channel, zone, "123456")  # type: ignore[arg-type]
    assert right.verified and not right.blocked
    assert terminal.pin_status(setup.channel, other) == before  # type: ignore[arg-type]
    assert (setup.ssse_tries(), setup.pboc_tries()) == (6, 3)  # the right PIN restored the counter


def test_ssse_pin_locked_by_six_wrong_pins_then_unblocked(setup: Setup) -> None:
    results = [terminal.verify_pin(setup.channel, "ssse", "000000") for _ in range(6)]
    assert [r.tries_left for r in results] == [5, 4, 3, 2, 1, 0] and results[-1].blocked
    blocked = terminal.verify_pin(setup.channel, "ssse", "123456")
    assert blocked.blocked and blocked.tries_left == 0  # 6983: the right PIN no longer helps
    with pytest.raises(WrongPinError) as caught:
        terminal.change_pin(setup.channel, "ssse", "123456", NEW_PIN)
    assert caught.value.sw == 0x6983 and caught.value.tries_left == 0
    terminal.unblock_pin(setup.channel, "ssse", setup.keys)
    assert terminal.pin_status(setup.channel, "ssse").tries_left == 6
    assert terminal.verify_pin(setup.channel, "ssse", "123456").verified  # the PIN itself is unchanged
    assert setup.pboc_tries() == 3
    auth = [c for c in setup.commands() if c.startswith("0082")]
    assert len(auth) == 1 and auth[0][6:8] == "06"  # one PUK authentication, never retried
    assert any(c.startswith("8424000004") for c in setup.commands())


def test_ssse_reset_to_a_new_pin(setup: Setup) -> None:
    terminal.verify_pin(setup.channel, "ssse", "000000")
    terminal.reset_pin(setup.channel, "ssse", setup.keys, NEW_PIN)
    assert setup.ssse_tries() == 6
    assert not terminal.verify_pin(setup.channel, "ssse", "123456").verified
    assert terminal.verify_pin(setup.channel, "ssse", NEW_PIN).verified
    lc = "14" if setup.profile == "ssc3-sm4" else "0C"  # one enciphered block + MAC (S5 §6.8.3)
    assert any(c.startswith(f"84240001{lc}") for c in setup.commands())


def test_ssse_change_pin(setup: Setup) -> None:
    with pytest.raises(WrongPinError) as caught:
        terminal.change_pin(setup.channel, "ssse", "111111", NEW_PIN)
    assert caught.value.tries_left == 5 and "805E0100" in str(caught.value) and "63C5" in str(caught.value)
    terminal.change_pin(setup.channel, "ssse", "123456", NEW_PIN)
    assert setup.ssse_tries() == 6
    assert terminal.verify_pin(setup.channel, "ssse", NEW_PIN).verified


def test_pboc_unblock_through_an_issuer_script(setup: Setup) -> None:
    assert [terminal.verify_pin(setup.channel, "pboc", "999999").tries_left for _ in range(3)] == [2, 1, 0]
    assert terminal.verify_pin(setup.channel, "pboc", "123456").blocked
    terminal.unblock_pin(setup.channel, "pboc", setup.keys)
    assert terminal.pin_status(setup.channel, "pboc").tries_left == 3
    assert terminal.verify_pin(setup.channel, "pboc", "123456").verified
    assert setup.pboc.state.atc == 1  # the script's transaction
    commands = setup.commands()
    order = [c[:4] for c in commands if c[:4] in ("80A8", "80AE", "0082", "8424")]
    assert order == ["80A8", "80AE", "0082", "8424", "80AE"]  # GPO, ARQC, ARPC, script, AAC
    gacs = [c for c in commands if c.startswith("80AE")]
    assert gacs[0][4:6] == "80" and gacs[1][4:6] == "00"
    assert setup.ssse_tries() == 6


def test_pboc_change_through_an_issuer_script(setup: Setup) -> None:
    with pytest.raises(CardOperationError, match="issuer script"):
        terminal.change_pin(setup.channel, "pboc", "123456", NEW_PIN)  # no keys
    with pytest.raises(WrongPinError) as caught:
        terminal.change_pin(setup.channel, "pboc", "111111", NEW_PIN, keys=setup.keys)
    assert caught.value.tries_left == 2 and not any(c.startswith("8424") for c in setup.commands())
    terminal.change_pin(setup.channel, "pboc", "123456", NEW_PIN, keys=setup.keys)
    assert setup.pboc_tries() == 3
    assert terminal.verify_pin(setup.channel, "pboc", NEW_PIN).verified
    assert not terminal.verify_pin(setup.channel, "pboc", "123456").verified
    assert any(c.startswith("8424000214") for c in setup.commands())  # 16-byte enciphered block + MAC


def test_pboc_reset_without_the_old_pin(setup: Setup) -> None:
    terminal.reset_pin(setup.channel, "pboc", setup.keys, NEW_PIN)
    assert terminal.verify_pin(setup.channel, "pboc", NEW_PIN).verified


def _everything_answers_6a81(channel: Channel) -> None:
    for command in ("00A404000F7378312E73682EC9E7BBE1B1A3D5CF", "00A404000E315041592E5359532E444446303100",
                    "00A40000023F00", "0084000008", "00B2012C00", "80CA9F3600", "0020000003123456"):
        assert channel.send(bytes.fromhex(command)).sw == 0x6A81, command


@pytest.mark.parametrize("zone", terminal.ZONES)
def test_card_block_then_every_command_answers_6a81(setup: Setup, zone: str) -> None:
    terminal.block(setup.channel, "card", zone, setup.keys)  # type: ignore[arg-type]
    assert setup.card.life.card_blocked
    _everything_answers_6a81(setup.channel)
    setup.channel.reset()
    _everything_answers_6a81(setup.channel)
    with pytest.raises(CardOperationError) as caught:
        terminal.read_social(setup.channel)
    assert caught.value.sw == 0x6A81 and "SELECT SSSE" in str(caught.value)
    if zone == "ssse":
        auth = [c for c in setup.commands() if c.startswith("0082")]
        assert len(auth) == 1 and auth[0][6:8] == "05"  # BK


def test_ssse_application_block(setup: Setup) -> None:
    terminal.block(setup.channel, "application", "ssse", setup.keys)
    assert terminal.read_social(setup.channel) == {"zone": "ssse", "status": "application blocked (9303)"}
    with pytest.raises(CardOperationError) as caught:
        terminal.verify_pin(setup.channel, "ssse", "123456")
    assert caught.value.sw == 0x9303
    assert terminal.read_financial(setup.channel)["status"] == "active"  # the other zone still works
    assert terminal.verify_pin(setup.channel, "pboc", "123456").verified


def test_pboc_application_block(setup: Setup) -> None:
    terminal.block(setup.channel, "application", "pboc", setup.keys)
    fin = terminal.read_financial(setup.channel, gpo=True)
    assert fin["status"] == "application blocked (6283)" and fin["gpo"] is False and fin["pan"] == PAN
    with pytest.raises(CardOperationError, match="is blocked .SELECT answered 6283."):
        terminal.unblock_pin(setup.channel, "pboc", setup.keys)
    assert terminal.read_social(setup.channel, keys=setup.keys)["status"] == "active"


def test_a_key_file_that_does_not_fit_spends_one_try_and_stops(setup: Setup, tmp_path: Path) -> None:
    alg = setup.keys.ssse_algorithm
    wrong = IssuerKeys.load(write_key_file(tmp_path, alg, change={"puk": bytes(range(16))}))
    with pytest.raises(CardOperationError) as caught:
        terminal.unblock_pin(setup.channel, "ssse", wrong)
    assert caught.value.sw == 0x63C2 and "not retried" in str(caught.value)
    assert "EXTERNAL AUTHENTICATE with PUK (06)" in str(caught.value)
    assert setup.ssse.secrets.keys[KeyId.PUK].tries_left == 2
    assert sum(c.startswith("0082") for c in setup.commands()) == 1
    assert not any(c.startswith("8424") for c in setup.commands())


def test_a_wrong_imk_is_caught_at_the_arqc_before_any_script(setup: Setup, tmp_path: Path) -> None:
    path = write_key_file(tmp_path, setup.keys.ssse_algorithm)
    text = path.read_text(encoding="utf-8")
    lines = {x.split("=", 1)[0].strip(): x for x in text.splitlines() if x.startswith("imk_")}
    # IMK-AC replaced by another valid key (IMK-SMI, with its own KCV)
    path.write_text(text.replace(lines["imk_ac"], "imk_ac = " + lines["imk_smi"].split("=", 1)[1]), encoding="utf-8")
    with pytest.raises(CardOperationError, match="ARQC .* not the one the key file's IMK-AC gives"):
        terminal.unblock_pin(setup.channel, "pboc", IssuerKeys.load(path))
    assert not any(c.startswith("8424") for c in setup.commands())


def test_a_key_file_of_the_other_algorithm_is_refused_before_authenticating(setup: Setup, tmp_path: Path) -> None:
    other = Algorithm.SM4 if setup.keys.ssse_algorithm is Algorithm.TDES else Algorithm.TDES
    keys = IssuerKeys.load(write_key_file(tmp_path, other))
    with pytest.raises(CardOperationError, match=f"holds {other.name} keys .* uses {setup.keys.ssse_algorithm.name}"):
        terminal.block(setup.channel, "card", "ssse", keys)
    assert not any(c.startswith(("0082", "8416")) for c in setup.commands())


def test_malformed_pins_are_refused_before_anything_is_sent(setup: Setup) -> None:
    for call in (lambda: terminal.verify_pin(setup.channel, "ssse", "12a4"),
                 lambda: terminal.verify_pin(setup.channel, "pboc", "1234567890123"),
                 lambda: terminal.change_pin(setup.channel, "ssse", "123456", "12"),
                 lambda: terminal.reset_pin(setup.channel, "pboc", setup.keys, "12345678901234")):
        with pytest.raises(PinInputError, match=r"must be 4-1[26] decimal digits \(got \d+ characters\)"):
            call()
    assert setup.commands() == []


def test_no_pin_or_key_in_the_trace(setup: Setup) -> None:
    channel = setup.channel
    text = io.StringIO()
    channel.tracer = Tracer(text)  # the readable format the CLI writes
    terminal.read_social(channel, keys=setup.keys)
    terminal.verify_pin(channel, "ssse", "123456")
    terminal.change_pin(channel, "ssse", "123456", NEW_PIN)
    terminal.reset_pin(channel, "ssse", setup.keys, "73925104")
    terminal.verify_pin(channel, "pboc", "123456")
    terminal.change_pin(channel, "pboc", "123456", NEW_PIN, keys=setup.keys)
    terminal.unblock_pin(channel, "pboc", setup.keys)
    terminal.block(channel, "card", "ssse", setup.keys)
    trace = text.getvalue()
    flat = trace.replace(" ", "")
    secrets = key_hexes(setup.keys, load_test_mf_keys(setup.keys.ssse_algorithm), REGION,
                        parse_atr(setup.card.atr).historical)
    secrets |= {k.hex().upper() for k in setup.keys.pboc_udks(PAN, PSN)}
    assert len(secrets) > 10 and not [s for s in secrets if s in flat]
    assert NEW_PIN not in flat and "73925104" not in flat
    pin_lines = [x for x in trace.splitlines() if re.search(r">> (00 20|80 5E|84 24)( [0-9A-F]{2}){3} ", x)]
    assert len(pin_lines) >= 6 and all("******" in x for x in pin_lines)


def test_a_card_without_a_latin_name_shows_no_name() -> None:
    """5F20 is " /" (EMV: no name) when the row has no name_latin: the reader shows no name."""
    from apdu.transport.channel import Channel, default_processors
    from apdu.transport.virtual import VirtualTransport
    from sscard_pytest.cards import SAMPLE_ROW, cardholder_from_row, personalized_card

    card, _ = personalized_card("ssc3-sm4", cardholder_from_row({**SAMPLE_ROW, "name_latin": ""}))
    with Channel(VirtualTransport(card), default_processors()) as channel:
        fin = terminal.read_financial(channel)
    assert fin["name"] is None and fin["pan"] == SAMPLE_ROW["pan"]
    assert any("5F2002202F" in r["hex"] for r in fin["records"]), "5F20 is ' /'"
