"""``sscard card new`` / ``sscard card show`` (CliRunner, and cli.main for the one-line errors)."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cli import main, sscard
from cardsim.image import load_image
from cardsim.persistent import Lifecycle


def run(*args: str):
    return CliRunner().invoke(sscard, list(args), catch_exceptions=False)


def test_new_blank_card_by_default(tmp_path: Path) -> None:
    out = tmp_path / "blank.json"
    result = run("card", "new", "--profile", "ssc2-3des", "--out", str(out))
    assert result.exit_code == 0, result.output
    atr = "3B 6D 00 00 00 81 4E 43 23 86 97 15 99 00 BF 7C 7A"
    assert result.output == f"{out}: blank card, profile ssc2-3des, ATR {atr}\n"
    card = load_image(out)
    assert card.life.phase is Lifecycle.BLANK
    assert [df.fid for df in card.mf.children] == [0xDDF2, 0xA000]  # the financial zone and the ISD only


def test_new_sample_and_show(tmp_path: Path) -> None:
    out = tmp_path / "alice.json"
    assert run("card", "new", "--sample", "-o", str(out)).exit_code == 0
    result = run("card", "show", str(out))
    assert result.exit_code == 0, result.output
    text = result.output
    for expected in ("profile     ssc3-sm4", "lifecycle   personalized", "PIN 6/6 tries left",
                     "07 卡号 (card number): K80362153",
                     "08 社会保障号码 (social security number): 511302198507160027",
                     "09 姓名 (name): 王秀英", "05 发卡日期 (issue date): 2024-03-15",
                     "aid=D15600000503 label=MEDICAL", "key 0A RK               SM4  v00  KCV",
                     "EF06 linear variable, SFI 06, 7/7 records of 32 bytes; read key:0A, write key:04"):
        assert expected in text, expected


def test_show_never_prints_a_key_or_the_pin(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    run("card", "new", "--sample", "-o", str(out))
    image = json.loads(out.read_text())
    secrets = [k["value"] for k in image["life"]["mf"]["keys"]]
    app = image["mf"]["children"][0]["application"]["secrets"]
    secrets += [k["value"] for k in app["keys"]] + [k["value"] for ks in app["df_keys"].values() for k in ks]
    for flag in ([], ["--json"]):
        shown = run("card", "show", *flag, str(out)).output
        assert secrets and not any(s in shown.upper() for s in secrets)
        assert app["pin"]["value"] not in shown


def test_show_json(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    run("card", "new", "--sample", "-p", "ssc2-3des", "-o", str(out))
    info = json.loads(run("card", "show", "--json", str(out)).output)
    assert info["lifecycle"] == "personalized" and info["profile"] == "ssc2-3des"
    assert info["mf_keys"][0]["role"] == "card master key" and len(info["mf_keys"][0]["kcv"]) == 6
    ssse = info["tree"]["children"][0]
    assert ssse["application"] == "SsseApplication" and ssse["pin"] == {"tries_left": 6, "max_tries": 6,
                                                                       "blocked": False}
    ef05 = next(c for c in ssse["children"] if c["fid"] == "EF05")
    assert ef05["records"][6] == {"number": 7, "hex": "07094B3830333632313533", "tag": "07", "name": "卡号",
                                  "name_en": "card number", "value": "K80362153"}
    assert ef05["records"][0]["value"] == {"region": "511300", "serial": "00BF7C7A", "auth_code": "FFFFFFFF"}


def test_new_refuses_to_overwrite_unless_forced(tmp_path: Path, capsys) -> None:
    out = tmp_path / "c.json"
    out.write_text("precious")
    assert main(["card", "new", "-o", str(out)]) == 1
    assert capsys.readouterr().err == f"error: {out} already exists (use --force to replace it)\n"
    assert out.read_text() == "precious"
    assert main(["card", "new", "-o", str(out), "--force"]) == 0
    assert load_image(out).life.phase is Lifecycle.BLANK


def test_bad_image_is_one_line_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "sscard-card-image", "version": 2}')
    assert main(["card", "show", str(bad)]) == 1
    assert capsys.readouterr().err == f"error: {bad}: version 2 is newer than this sscard (1)\n"
    assert main(["card", "show", str(tmp_path / "missing.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'missing.json'}: cannot read card image") and err.count("\n") == 1


def test_unknown_profile_is_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["card", "new", "-p", "nope", "-o", str(tmp_path / "c.json")]) == 1
    assert capsys.readouterr().err.startswith("error: no profile named 'nope'")
    assert not (tmp_path / "c.json").exists()
