"""``sscard card read``, ``sscard card block`` and ``sscard pin …`` on a card image."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cardsim.image import load_image
from cli import main, sscard

KEYS = str(Path(__file__).resolve().parent.parent / "vectors" / "test-issuer-keys.toml")
KEY_ARGS = ("--keys", KEYS, "--insecure-keys")
NEW_PIN = "90817263"


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None):
    return CliRunner().invoke(sscard, list(args), input=input, env=env, catch_exceptions=False)


@pytest.fixture
def image(tmp_path: Path) -> str:
    out = tmp_path / "card.json"
    assert run("card", "new", "--sample", "--out", str(out)).exit_code == 0
    return str(out)


def _pins(image: str) -> tuple[int, int]:
    """(SSSE, PBOC) tries left, from the image itself."""
    data = json.loads(Path(image).read_text())
    return (data["mf"]["children"][0]["application"]["secrets"]["pin"]["tries_left"],
            data["sections"]["pboc"]["secrets"]["pin"]["tries_left"])


def test_read_with_and_without_keys(image: str) -> None:
    plain = run("card", "read", "--card", image)
    assert plain.exit_code == 0, plain.output
    assert "EF06 持卡人基本信息 (cardholder): protected (needs --keys)" in plain.output
    assert "07 卡号 (card number): K80362153" in plain.output
    assert "PAN           6228000100000010  (PSN 01)" in plain.output
    keyed = run("card", "read", "--card", image, *KEY_ARGS)
    assert keyed.exit_code == 0, keyed.output
    for expected in ("08 社会保障号码 (social security number): 511302198507160027", "09 姓名 (name): 王秀英",
                     "4E 姓名扩展 (name extension): (empty)", "  PIN: 6 tries left", "cardholder    WANG/XIUYING",
                     "ID number     511302198507160027 (id card)", "expiry        2030-12-31",
                     "service code  220", "ATC           0  (last online 0)", "PIN           3 tries left"):
        assert expected in keyed.output, expected
    info = json.loads(run("card", "read", "-c", image, *KEY_ARGS, "--json", "--gpo").output)
    assert info["ssse"]["ef06"][0]["value"] == "511302198507160027" and info["pboc"]["atc"] == 1
    assert info["atr"] == "3B6D000000814A444686605199000001AC"


def test_keys_file_modes_are_checked(image: str, tmp_path: Path) -> None:
    loose = tmp_path / "keys.toml"
    loose.write_text(Path(KEYS).read_text().replace('"oda/', f'"{Path(KEYS).parent}/oda/'))
    loose.chmod(0o644)
    assert main(["card", "read", "-c", image, "--keys", str(loose)]) == 1


def test_verify_right_and_wrong_pins_in_each_zone(image: str) -> None:
    wrong = run("pin", "verify", "--zone", "ssse", "--card", image, "--pin-stdin", input="654321\n")
    assert wrong.exit_code == 1 and wrong.output == "SSSE PIN: not verified, 5 tries left\n"
    assert _pins(image) == (5, 3)
    right = run("pin", "verify", "--zone", "ssse", "-c", image, input="123456\n")  # hidden prompt
    assert right.exit_code == 0 and "SSSE PIN: verified" in right.output and "123456" not in right.output
    assert _pins(image) == (6, 3)
    env = run("pin", "verify", "--zone", "pboc", "-c", image, "--pin-env", "MY_PIN", env={"MY_PIN": "000000"})
    assert env.exit_code == 1 and env.output == "PBOC PIN: not verified, 2 tries left\n"
    assert _pins(image) == (6, 2)
    assert run("pin", "status", "--zone", "pboc", "-c", image).output == "PBOC PIN: 2 tries left\n"


def test_pins_are_never_command_line_arguments(image: str) -> None:
    result = CliRunner().invoke(sscard, ["pin", "verify", "--zone", "ssse", "-c", image, "123456"])
    assert result.exit_code == 2 and "unexpected extra argument" in result.output.lower()
    both = CliRunner().invoke(sscard, ["pin", "verify", "--zone", "ssse", "-c", image, "--pin-stdin",
                                       "--pin-env", "X"], input="123456\n")
    assert both.exit_code == 2 and "--pin-stdin excludes" in both.output
    unset = CliRunner().invoke(sscard, ["pin", "verify", "--zone", "ssse", "-c", image, "--pin-env", "NO_SUCH_VAR"])
    assert unset.exit_code == 2 and "NO_SUCH_VAR is not set" in unset.output
    assert _pins(image) == (6, 3)


def test_ssse_pin_locked_then_unblocked_then_reset(image: str) -> None:
    for _ in range(6):
        run("pin", "verify", "--zone", "ssse", "-c", image, "--pin-stdin", input="000000\n")
    locked = run("pin", "verify", "--zone", "ssse", "-c", image, "--pin-stdin", input="123456\n")
    assert locked.exit_code == 1 and locked.output == "SSSE PIN: blocked\n"
    unblocked = run("pin", "unblock", "--zone", "ssse", "-c", image, *KEY_ARGS)
    assert unblocked.exit_code == 0 and "try counter restored" in unblocked.output
    assert _pins(image) == (6, 3)
    assert run("pin", "verify", "--zone", "ssse", "-c", image, "--pin-stdin", input="123456\n").exit_code == 0
    reset = run("pin", "reset", "--zone", "ssse", "-c", image, *KEY_ARGS, "--new-pin-env", "NEW",
                env={"NEW": NEW_PIN})
    assert reset.exit_code == 0, reset.output
    assert run("pin", "verify", "--zone", "ssse", "-c", image, "--pin-env", "P", env={"P": NEW_PIN}).exit_code == 0


def test_change_pin_in_both_zones_with_prompts(image: str, tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    typed = f"123456\n{NEW_PIN}\n{NEW_PIN}\n"  # current, new, new again (confirmation)
    ssse = run("pin", "change", "--zone", "ssse", "-c", image, "--trace", str(trace), input=typed)
    assert ssse.exit_code == 0 and ssse.output.endswith("SSSE PIN changed\n")
    no_keys = CliRunner().invoke(sscard, ["pin", "change", "--zone", "pboc", "-c", image], input=typed)
    assert no_keys.exit_code == 2 and "give --keys" in no_keys.output
    pboc = run("pin", "change", "--zone", "pboc", "-c", image, *KEY_ARGS, "--pin-stdin", "--trace", str(trace),
               input=f"123456\n{NEW_PIN}\n")
    assert pboc.exit_code == 0, pboc.output
    for zone in ("ssse", "pboc"):
        assert run("pin", "verify", "--zone", zone, "-c", image, "--pin-stdin", input=f"{NEW_PIN}\n").exit_code == 0
    text = trace.read_text()
    assert "80 5E 01 00 08 ******" in text and "84 24 00 02 14 ******" in text
    assert NEW_PIN not in text.replace(" ", "")
    pin_lines = [x for x in text.splitlines() if re.search(r">> (00 20|80 5E|84 24)( \S\S){3} ", x)]
    assert len(pin_lines) >= 3 and all("******" in x for x in pin_lines)


def test_wrong_old_pin_is_an_error_naming_the_command(image: str, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["pin", "change", "--zone", "ssse", "-c", image, "--pin-stdin"]) == 2
    assert "--pin-stdin: no current PIN on standard input" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(f"111111\n{NEW_PIN}\n"))
    assert main(["pin", "change", "--zone", "ssse", "-c", image, "--pin-stdin"]) == 1
    err = capsys.readouterr().err
    assert err == ("error: pin change (ssse): CHANGE PIN: 805E010008****** (8 secret bytes) answered 63C5 "
                   "(verification failed, 5 tries left)\n")
    assert _pins(image) == (5, 3)


def test_block_application_asks_first(image: str) -> None:
    declined = run("card", "block", "--application", "-c", image, *KEY_ARGS, input="n\n")
    assert declined.exit_code == 1 and "This permanently blocks the social-security application" in declined.output
    assert json.loads(run("card", "read", "-c", image, "--json").output)["ssse"]["status"] == "active"
    done = run("card", "block", "--application", "--zone", "ssse", "-c", image, *KEY_ARGS, "--yes")
    assert done.exit_code == 0 and done.output == "social-security (SSSE) application blocked\n"
    after = run("card", "read", "-c", image)
    assert "social-security (SSSE): application blocked (9303)" in after.output
    assert "financial (PBOC debit): active" in after.output


def test_block_pboc_application(image: str) -> None:
    assert run("card", "block", "--application", "--zone", "pboc", "-c", image, *KEY_ARGS, "--yes").exit_code == 0
    assert "financial (PBOC debit): application blocked (6283)" in run("card", "read", "-c", image).output


@pytest.mark.parametrize("zone", ["ssse", "pboc"])
def test_block_whole_card(image: str, zone: str, capsys: pytest.CaptureFixture[str]) -> None:
    done = run("card", "block", "--whole-card", "--zone", zone, "-c", image, *KEY_ARGS, "--yes")
    assert done.exit_code == 0 and done.output == "whole card blocked\n"
    assert load_image(image).life.card_blocked
    capsys.readouterr()
    assert main(["card", "read", "-c", image]) == 1
    assert "answered 6A81 (function not supported (or card blocked))" in capsys.readouterr().err
    assert main(["apdu", "-c", image, "0084000008"]) == 0
    assert "SW 6A81" in capsys.readouterr().out


def test_block_needs_a_target_and_keys(image: str) -> None:
    result = CliRunner().invoke(sscard, ["card", "block", "-c", image, *KEY_ARGS, "--yes"])
    assert result.exit_code == 2 and "--application or --whole-card" in result.output
    result = CliRunner().invoke(sscard, ["card", "block", "--application", "-c", image, "--yes"])
    assert result.exit_code == 2 and "--keys" in result.output
