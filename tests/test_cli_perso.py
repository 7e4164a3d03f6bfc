"""``sscard perso run / status / export`` with CliRunner, on virtual card images."""
from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from perso_rows import row, write_csv

from cardsim.image import load_image
from cardsim.persistent import Lifecycle
from cardspec.crypto.blockcipher import Algorithm, kcv
from cli import sscard

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
SAMPLE = VECTORS / "sample_cardholders.csv"
KEYS = VECTORS / "test-issuer-keys.toml"
TRANSPORT_HEX = "737363617264207472616E73706F7274"


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(sscard, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """The sample input (and its photo) in a scratch folder, so its journal lands there."""
    shutil.copy(VECTORS / "sample_photo.jpg", tmp_path)
    return Path(shutil.copy(SAMPLE, tmp_path))


def keys_with_transport(tmp_path: Path, key_hex: str) -> Path:
    """The test key file with another transport key (and its right KCV)."""
    text = KEYS.read_text(encoding="utf-8")
    text = text.replace(f'transport = {{ key = "{TRANSPORT_HEX}", kcv = "1A687A" }}',
                        f'transport = {{ key = "{key_hex}", '
                        f'kcv = "{kcv(Algorithm.SM4, bytes.fromhex(key_hex)).hex().upper()}" }}')
    text = re.sub(r'= "(oda/[^"]+)"', lambda m: f'= "{VECTORS / m[1]}"', text)
    out = tmp_path / "keys.toml"
    out.write_text(text, encoding="utf-8")
    out.chmod(0o600)
    return out


def test_dry_run_valid_input(sample: Path) -> None:
    r = invoke("perso", "run", sample, "--keys", KEYS, "--insecure-keys", "--dry-run")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "5 valid rows, 0 problems"
    assert re.fullmatch(r"plan for row 2 on a blank ssc3-sm4 card: 6 steps, \d+ commands \(headers only, no data shown\)",
                        lines[1])
    assert "  pre-personalize the SSSE" in lines and "  end personalization" in lines
    assert any(re.fullmatch(r"    00 E0 00 00  Lc=[0-9A-F]{2}(  ×\d+)?", line) for line in lines), "CREATE FILE"
    assert "    00 84 00 00  Le=08" in lines, "GET CHALLENGE"
    assert TRANSPORT_HEX not in r.output and "123456" not in r.output, "no key, no PIN"
    assert not list(sample.parent.glob("*.sqlite")), "a dry run writes no journal"


def test_dry_run_lists_bad_rows(tmp_path: Path) -> None:
    rows = [row(0), {**row(1), "pan": row(1)["pan"][:-1] + "0"}, {**row(2), "ssn": row(0)["ssn"]}]
    path = write_csv(tmp_path / "in.csv", rows)
    r = invoke("perso", "run", path, "--keys", KEYS, "--insecure-keys", "--dry-run", "--json")
    assert r.exit_code == 1
    out = json.loads(r.output)
    assert out["valid_rows"] == 1
    assert [(b["row"], b["field"]) for b in out["bad_rows"]] == [(3, "pan"), (4, "ssn")]
    assert out["bad_rows"][1]["reason"] == "the same social security number as row 2"
    assert out["plan"]["row"] == 2 and len(out["plan"]["steps"]) == 6


def test_run_status_export(sample: Path, tmp_path: Path) -> None:
    cards = tmp_path / "cards"
    r = invoke("perso", "run", sample, "--cards", cards, "--keys", KEYS, "--insecure-keys", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output[r.output.index("{"):])
    assert (summary["done"], summary["failed_total"], summary["bad_rows"]) == (5, 0, 0)
    journal = sample.with_name(sample.name + ".journal.sqlite")
    assert summary["journal"] == str(journal) and journal.exists()
    images = sorted(p.name for p in cards.iterdir())
    assert images == [f"card-{n:05d}.json" for n in range(1, 6)]
    assert all(load_image(cards / name).life.phase is Lifecycle.PERSONALIZED for name in images)

    again = invoke("perso", "run", sample, "--cards", cards, "--keys", KEYS, "--insecure-keys")
    assert again.exit_code == 0
    assert "issued 0, already issued 5, failed 0, bad rows 0" in again.output
    assert len(list(cards.iterdir())) == 5, "no card is spent on an issued holder"

    status = invoke("perso", "status", journal, "--json")
    assert status.exit_code == 0
    st = json.loads(status.output)
    assert st["counts"] == {"pending": 0, "in_progress": 0, "done": 5, "failed": 0}
    assert [r["row"] for r in st["rows"]] == [2, 3, 4, 5, 6]
    assert st["rows"][0]["card_number"] == "K80362153" and st["rows"][0]["verified"] is True
    assert [r["input"] for r in st["runs"]] == [str(sample)] * 2
    text = invoke("perso", "status", journal)
    assert "done 5, failed 0 (bad input rows 0), pending 0, in progress 0" in text.output

    out = tmp_path / "face.csv"
    exp = invoke("perso", "export", journal, sample, "--out", out)
    assert exp.exit_code == 0, exp.output
    assert exp.output.strip() == f"{out}: 5 cards"
    with out.open(encoding="utf-8", newline="") as f:
        face = list(csv.DictReader(f))
    assert [f["name"] for f in face] == ["王秀英", "李建国", "阿依古丽·买买提艾力·阿不都热合曼", "张伟", "陈静"]
    assert face[0]["card_number"] == "K80362153" and face[0]["pan"] == "6228480400001234568"
    assert face[0]["photo"] == "sample_photo.jpg" and len(face[0]["atr_serial"]) == 8

    edited = sample.read_text(encoding="utf-8").replace("王秀英", "王秀芳")
    sample.write_text(edited, encoding="utf-8")
    exp = invoke("perso", "export", journal, sample, "--out", out)
    assert exp.exit_code == 1
    assert "warning: row 2: name is '王秀芳' in the input, '王秀英' on the card" in exp.output


def test_wrong_keys_stop_after_the_first_card(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [row(i) for i in range(4)])
    keys = keys_with_transport(tmp_path, "00112233445566778899AABBCCDDEEFF")
    cards = tmp_path / "cards"
    # the ODA key files it names are the published test keys (mode 0644 in a git checkout)
    r = invoke("perso", "run", path, "--cards", cards, "--keys", keys, "--insecure-keys", "--json")
    assert r.exit_code == 1
    summary = json.loads(r.output[r.output.index("{"):])
    assert summary["done"] == 0 and summary["failed_total"] == 1
    assert "issuer keys do not match" in summary["stopped"]
    assert [p.name for p in cards.iterdir()] == ["card-00001.json.failed"], "one card spent, set aside"
    assert summary["failures"][0]["sw"][:3] == "63C"


def test_random_pins_need_a_mailer(sample: Path, tmp_path: Path) -> None:
    r = invoke("perso", "run", sample, "--cards", tmp_path / "c", "--keys", KEYS, "--insecure-keys",
               "--pin-policy", "random")
    assert r.exit_code == 2 and "--pin-policy random needs --pin-mailer FILE" in r.output


def test_needs_exactly_one_card_source(sample: Path, tmp_path: Path) -> None:
    r = invoke("perso", "run", sample, "--keys", KEYS, "--insecure-keys")
    assert r.exit_code == 2 and "give either --cards DIR or --reader NAME" in r.output
    r = invoke("perso", "run", sample, "--keys", KEYS, "--insecure-keys", "--cards", tmp_path, "--reader", "0")
    assert r.exit_code == 2


def test_status_of_a_missing_journal(tmp_path: Path) -> None:
    r = invoke("perso", "status", tmp_path / "none.sqlite")
    assert r.exit_code == 2 and "does not exist" in r.output


def test_trace_has_every_card_and_no_secret(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [row(0, pin="739184602751"), row(1)])
    trace = tmp_path / "trace.txt"
    r = invoke("perso", "run", path, "--cards", tmp_path / "cards", "--keys", KEYS, "--insecure-keys",
               "--trace", trace)
    assert r.exit_code == 0, r.output
    text = trace.read_text(encoding="utf-8")
    assert text.count("## ") and text.count("step: pre-personalize the SSSE") == 2
    assert ">> 00 E0 00 00" in text
    assert TRANSPORT_HEX not in text.replace(" ", "") and "739184602751" not in text.replace(" ", "")


class _FakeTransport:
    """Stands in for PcscTransport: a card that answers 9000."""

    def __init__(self, reader: str, protocol: str = "auto") -> None:
        self.description = f"fake reader {reader!r}"
        self.atr = b""

    def connect(self) -> bytes:
        self.atr = bytes.fromhex("3B6D000000814A444686605199000001AC")
        return self.atr

    def transmit(self, apdu: bytes) -> bytes:
        return b"\x90\x00"

    def reset(self) -> bytes:
        return self.atr

    def disconnect(self) -> None:
        pass


def test_reader_source_waits_for_a_fresh_card(monkeypatch: pytest.MonkeyPatch) -> None:
    import apdu.pcsc_status
    import apdu.transport.pcsc
    from apdu.errors import NoCard
    from apdu.pcsc_status import ReaderState
    from clicmd.perso_sources import ReaderSource

    readers = ["Virtual PCD 00 00", "Virtual PCD 00 01"]
    present = {"Virtual PCD 00 01": True}
    comply = [True]

    def wait(reader: str, want: bool, timeout: float = 5.0) -> bool:
        if comply[0]:
            present[reader] = want
        return comply[0]

    monkeypatch.setattr(apdu.transport.pcsc, "list_readers", lambda: readers)
    monkeypatch.setattr(apdu.transport.pcsc, "PcscTransport", _FakeTransport)
    monkeypatch.setattr(apdu.pcsc_status, "reader_states",
                        lambda timeout_ms=0: [ReaderState(n, present.get(n, False), b"", 0) for n in readers])
    monkeypatch.setattr(apdu.pcsc_status, "wait_for_state", wait)
    said: list[str] = []
    source = ReaderSource("01", timeout=2, say=said.append)
    assert source.name == "reader 'Virtual PCD 00 01'"

    first = source.next_card()  # a card is in the reader already: taken without a prompt
    assert said == []
    label = source.card_label(first)
    assert label == "reader 'Virtual PCD 00 01' card 1 (ATR 3B6D000000814A444686605199000001AC)"
    assert source.release(first, True) is None
    second = source.next_card()
    assert said == ["remove the card from 'Virtual PCD 00 01'", "insert a blank card into 'Virtual PCD 00 01'"]
    label2 = source.card_label(second)
    assert label2.startswith("reader 'Virtual PCD 00 01' card 2 ")
    assert source.release(second, False) == label2 + ", set aside"
    assert said[-1] == "set the card in 'Virtual PCD 00 01' aside: it failed"

    assert source.set_aside("reader 'Virtual PCD 00 00' card 3 (ATR 3B)") is None, "another reader's card"
    assert source.set_aside(label) == label + ", set aside"
    comply[0] = False
    with pytest.raises(NoCard, match="the card was not removed from 'Virtual PCD 00 01' within 2 s"):
        source.next_card()
    present["Virtual PCD 00 01"] = False
    with pytest.raises(NoCard, match="no card inserted into 'Virtual PCD 00 01' within 2 s"):
        source.next_card()


def test_card_numbers_are_allocated_once_per_holder_and_skip_numbers_in_use(tmp_path: Path) -> None:
    """Rows without a card number get the next serial of --card-numbers, check character
    computed; a number the journal already holds is skipped; a rerun gives each holder the
    number it got before (the journal keeps it), even after its card failed."""
    from cardspec.records import card_number_valid
    from personalize.journal import SqliteJournal
    from personalize.validate import new_card_number

    given = row(0)  # issued with the number the allocator would hand out first
    given["card_number"] = new_card_number("K", 2_000_000)
    rows = [given] + [{**row(i), "card_number": ""} for i in (1, 2, 3)]
    rows[2]["pan"] = rows[2]["pan"][:-1] + str((int(rows[2]["pan"][-1]) + 1) % 10)  # bad Luhn: no number for it
    source = write_csv(tmp_path / "people.csv", rows)
    args = ("perso", "run", source, "--keys", KEYS, "--insecure-keys", "--cards", tmp_path / "cards",
            "--card-numbers", "k2000000", "--json")
    first = invoke(*args)
    assert first.exit_code == 1, first.output  # the bad row
    journal = SqliteJournal(tmp_path / "people.csv.journal.sqlite")
    numbers = {e.key: e.issued.card_number for e in journal.entries() if e.issued is not None}
    journal.close()
    expected = {rows[0]["ssn"]: "K20000003", rows[1]["ssn"]: new_card_number("K", 2_000_001),
                rows[3]["ssn"]: new_card_number("K", 2_000_002)}
    assert numbers == expected and all(card_number_valid(n) for n in numbers.values())
    for ssn, number in expected.items():  # on the card itself: EF05 tag 07
        image = next(p for p in (tmp_path / "cards").glob("*.json") if number.encode().hex().upper()
                     in p.read_text(encoding="utf-8").upper())
        assert image.exists()
    rows[2]["pan"] = row(2)["pan"]  # fixed: it gets the next number, the others are skipped as issued
    write_csv(source, rows)
    second = invoke(*args)
    assert second.exit_code == 0, second.output
    journal = SqliteJournal(tmp_path / "people.csv.journal.sqlite")
    assert journal.get(rows[2]["ssn"]).issued.card_number == new_card_number("K", 2_000_003)
    assert journal.allocate_card_number(rows[1]["ssn"], "K", 2_000_000) == expected[rows[1]["ssn"]]
    journal.close()


def test_card_numbers_option_is_checked(tmp_path: Path) -> None:
    r = CliRunner().invoke(sscard, ["perso", "run", str(SAMPLE), "--keys", str(KEYS), "--insecure-keys",
                                    "--dry-run", "--card-numbers", "K123"])
    assert r.exit_code == 2 and "'K123' is not a district letter and a 7-digit serial, such as K8036215" in r.output


def test_a_card_number_given_twice_is_a_bad_row(tmp_path: Path) -> None:
    rows = [row(0), {**row(1), "card_number": row(0)["card_number"]}]
    source = write_csv(tmp_path / "people.csv", rows)
    r = invoke("perso", "run", source, "--keys", KEYS, "--insecure-keys", "--cards", tmp_path / "cards")
    assert r.exit_code == 1
    assert (f"bad_row: row 3, field 'card_number': {rows[0]['card_number']} is the card number of another "
            f"holder (SSN {rows[0]['ssn'][:6]}") in r.output


def test_the_last_serial_of_a_district_is_the_last_allocated(tmp_path: Path) -> None:
    from personalize.journal import JournalError, SqliteJournal

    journal = SqliteJournal(tmp_path / "j.sqlite")
    assert journal.allocate_card_number("A", "Z", 9_999_999) == "Z99999997"
    with pytest.raises(JournalError, match=r"the card numbers of district Z are used up \(the last is Z99999997\)"):
        journal.allocate_card_number("B", "Z", 9_999_999)
    assert journal.note_card_number("C", "Z99999997") == "A" and journal.note_card_number("A", "Z99999997") is None
    journal.close()
