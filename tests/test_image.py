"""Card images: round trips, atomic writes, bad files (clear errors, never overwritten), mode 0600."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cardsim import image as image_mod
from cardsim import imagecodec
from cardsim.application import BaseApplication
from cardsim.factory import blank_card, personalized_sample_card
from cardsim.fs import DF, MF
from cardsim.preperso import assemble
from cardspec.profile import Profile
from cardsim.image import (FORMAT, VERSION, ImageError, ImageStore, Section, card_to_dict, load_image,
                           open_image_card, register_section, save_image)
from cardsim.persistent import Lifecycle
from cardsim.runtime import CardOS

SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
VERIFY_WRONG = bytes.fromhex("0020000003999999")


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "card.json"
    save_image(personalized_sample_card("ssc3-sm4"), path)
    return path


@pytest.mark.parametrize("profile", ["ssc3-sm4", "ssc2-3des"])
def test_round_trip_keeps_every_byte(tmp_path: Path, profile: str) -> None:
    card = personalized_sample_card(profile)
    save_image(card, tmp_path / "c.json")
    again = load_image(tmp_path / "c.json")
    assert card_to_dict(again) == card_to_dict(card)
    data = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert (data["format"], data["version"], data["profile"]) == (FORMAT, VERSION, profile)
    assert set(data["sections"]) == {"pboc", "gp"} and data["sections"]["pboc"]["aid"] == "A000000333010101"
    # the behaviour comes back too: FCI, T=0 GET RESPONSE, records
    again.power_on()
    first = again.transmit(SELECT_SSSE)
    assert first[-2] == 0x61 and again.transmit(bytes.fromhex("00C00000") + first[-1:])[-2:] == b"\x90\x00"


def test_blank_card_round_trip(tmp_path: Path) -> None:
    save_image(blank_card("ssc2-3des"), tmp_path / "b.json")
    card = load_image(tmp_path / "b.json")
    assert card.life.phase is Lifecycle.BLANK and [df.fid for df in card.mf.children] == [0xDDF2, 0xA000]
    assert card.settings.t0_get_response is True


def test_image_is_mode_0600_even_over_a_public_file(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text("{}")
    path.chmod(0o644)
    save_image(blank_card(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]  # no temp file left


def test_every_durable_change_reaches_the_file(saved: Path) -> None:
    card = load_image(saved)
    card.power_on()
    card.transmit(SELECT_SSSE)
    assert card.transmit(VERIFY_WRONG) == bytes.fromhex("63C5")
    pin = json.loads(saved.read_text())["mf"]["children"][0]["application"]["secrets"]["pin"]
    assert pin["tries_left"] == 5
    assert load_image(saved).mf.children[0].application.secrets.pin.tries_left == 5  # type: ignore[union-attr]


def test_crash_between_temp_write_and_rename_leaves_the_old_file(saved: Path, monkeypatch) -> None:
    before = saved.read_bytes()
    card = load_image(saved)
    card.power_on()
    card.transmit(SELECT_SSSE)

    def crash(src: str, dst: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(image_mod.os, "replace", crash)
    assert card.transmit(VERIFY_WRONG) == bytes.fromhex("6581")  # the store failed: memory error
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == ["card.json"]
    monkeypatch.undo()
    assert card.transmit(VERIFY_WRONG) == bytes.fromhex("63C4")  # both tries count; now written
    assert load_image(saved).mf.children[0].application.secrets.pin.tries_left == 4  # type: ignore[union-attr]


def test_an_interrupt_before_the_rename_keeps_a_loadable_old_image(saved: Path, monkeypatch) -> None:
    """Even an exception that is not an error (Ctrl-C) leaves the old image, and no temp file."""
    before = saved.read_bytes()
    real_replace = os.replace
    monkeypatch.setattr(image_mod.os, "replace", lambda src, dst: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        image_mod.write_atomic(saved, "{}")
    monkeypatch.setattr(image_mod.os, "replace", real_replace)
    assert saved.read_bytes() == before and [p.name for p in saved.parent.iterdir()] == ["card.json"]
    load_image(saved)


def test_a_stray_temp_file_from_a_killed_process_is_ignored(saved: Path) -> None:
    (saved.parent / ".card.json.abc123.tmp").write_text('{"format": "sscard-card-image", "ver')
    card = load_image(saved)
    card.power_on()
    card.transmit(SELECT_SSSE)
    assert card.transmit(VERIFY_WRONG) == bytes.fromhex("63C5")
    assert load_image(saved).mf.children[0].application.secrets.pin.tries_left == 5  # type: ignore[union-attr]


@pytest.mark.parametrize("content, message", [
    (b'{"format": "sscard-card-image", "version": 1, "profile": "ssc3', "truncated card image"),
    (b"", "empty file, not a card image"),
    (b'{"format": "sscard-card-image",, "version": 1}', "corrupt card image (bad JSON at line 1 column 32"),
    (b"\xff\xfe{}", "not a card image (byte 0 is not UTF-8)"),
    (b'{"format": "other", "version": 1}', "not an sscard card image (format 'other'"),
    (b"[1, 2]", "not an sscard card image (format 'list'"),
    (b'{"format": "sscard-card-image", "version": 7}', "version 7 is newer than this sscard (1)"),
    (b'{"format": "sscard-card-image", "version": "1"}', "version '1' is not a card-image version"),
    (b'{"format": "sscard-card-image", "version": 1}', "profile missing"),
])
def test_bad_files_give_one_clear_error_and_are_never_overwritten(tmp_path: Path, content: bytes,
                                                                   message: str) -> None:
    path = tmp_path / "card.json"
    path.write_bytes(content)
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)
    store = ImageStore(path)  # a store that did not read the file refuses to write over it
    store.bind(blank_card(), loaded=False)
    with pytest.raises(ImageError):
        store.commit("test")
    assert path.read_bytes() == content


def test_a_file_corrupted_behind_the_cards_back_is_not_overwritten(saved: Path) -> None:
    card = load_image(saved)
    card.power_on()
    card.transmit(SELECT_SSSE)
    saved.write_bytes(saved.read_bytes()[:100])  # another program truncates it
    assert card.transmit(VERIFY_WRONG) == bytes.fromhex("6581")
    assert len(saved.read_bytes()) == 100


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["mf"]["children"][0].update(fid="DDF"), "3F00/#1: fid 'DDF' is not 4 hex digits"),
    (lambda d: d["mf"]["children"][0]["children"][0].update(type="ring"), "unknown file type 'ring'"),
    (lambda d: d["mf"]["children"][0]["children"][0]["records"].__setitem__(0, "0G"), "record 1 is not hexadecimal"),
    (lambda d: d["mf"]["children"][0]["children"][0].update(read="maybe"), "read: bad access rule 'maybe'"),
    (lambda d: d["mf"]["children"][0]["application"].update(kind="pboc"), "application kind 'pboc' is not known"),
    (lambda d: d["mf"]["children"][0]["children"][0].update(max_records=1),
     "3F00/DDF1/EF05: EF EF05: more than 1 records"),
    (lambda d: d["mf"].update(fid="3F01"), "the root of the tree must be the MF 3F00"),
    (lambda d: d.update(profile="nope"), "no profile named 'nope'"),
    (lambda d: d["settings"].update(le_mode="loose"), "le_mode 'loose'"),
    (lambda d: d["life"].update(phase="molten"), "life: unreadable"),
    (lambda d: d["sections"].update(emoney={}), "section 'emoney' is not known to this sscard"),
    (lambda d: d["sections"].update(pboc={}), "sections.pboc unreadable"),
    (lambda d: d.update(atr="3B"), "ATR 3B: needs 2-33 bytes"),
    (lambda d: d["life"]["mf"]["keys"][0].update(algorithm="TDES"), "life.mf: key 00 is not a 16-byte SM4 key"),
    (lambda d: d["life"]["mf"]["keys"][0].update(tries_left=16), "life.mf: key 00 is not a 16-byte SM4 key"),
    (lambda d: d["mf"]["children"][0]["application"]["secrets"]["keys"][0].update(value="00"),
     "3F00/DDF1: profile ssc3-sm4: SSSE key 00 has 1 bytes"),
])
def test_schema_errors_name_the_place(saved: Path, edit, message: str) -> None:
    data = json.loads(saved.read_text())
    edit(data)
    saved.write_text(json.dumps(data))
    with pytest.raises(ImageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_image_card(saved)


def test_image_secrets_never_reach_logs(saved: Path, caplog) -> None:
    caplog.set_level("DEBUG")
    card = load_image(saved)
    card.power_on()
    card.transmit(SELECT_SSSE)
    card.transmit(VERIFY_WRONG)
    keys = json.loads(saved.read_text())["life"]["mf"]["keys"]
    assert keys and all(k["value"] not in caplog.text for k in keys)


def test_sections_extend_the_image(tmp_path: Path, monkeypatch) -> None:
    """A zone keeps its own state in a section and rebuilds its DFs, which the tree leaves out."""
    monkeypatch.setattr(imagecodec, "SECTIONS", {})

    class Zone(BaseApplication):  # an application no image kind knows
        pass

    def load(card: CardOS, data: dict) -> None:
        card.mf.add(DF(int(data["fid"], 16), application=Zone()))

    register_section(Section("zone", dump=lambda card: {"fid": "DDF2"}, load=load,
                             owns=lambda df: isinstance(df.application, Zone)))
    blank = blank_card()
    card = assemble(MF(), profile=Profile.load("ssc3-sm4"), atr=blank.atr, settings=blank.settings, life=blank.life)
    card.mf.add(DF(0xDDF2, application=Zone()))
    save_image(card, tmp_path / "c.json")
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["sections"] == {"zone": {"fid": "DDF2"}} and data["mf"]["children"] == []
    again = load_image(tmp_path / "c.json")
    assert [type(df.application).__name__ for df in again.mf.children] == ["Zone"]
    monkeypatch.setattr(imagecodec, "SECTIONS", {})
    with pytest.raises(ImageError, match="application Zone cannot be stored in a card image"):
        save_image(card, tmp_path / "d.json")


def test_profile_files_are_stored_by_absolute_path(tmp_path: Path) -> None:
    from cardspec.profile import Profile, _read

    text = _read("ssc2-3des")[1].replace('serial = "00BF7C7A"', 'serial = "00000042"')
    (tmp_path / "mine.toml").write_text(text, encoding="utf-8")
    card = personalized_sample_card(Profile.load(tmp_path / "mine.toml"))
    save_image(card, tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text())["profile"] == str((tmp_path / "mine.toml").resolve())
    assert load_image(tmp_path / "c.json").atr.hex().upper().endswith("00000042")
