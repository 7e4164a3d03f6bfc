"""personalize.inputs: CSV (UTF-8, GBK) and JSON Lines, row numbering, row and header
errors, and constant memory over a 50 000-row file."""
from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pytest

from cardspec.records import ssn_check
from personalize.cardholder import BatchDefaults, Cardholder, RowError
from personalize.inputs import MAX_LINE, InputError, read_cardholders, write_cardholders
from personalize.pin import PinPolicy
from personalize.validate import luhn_check_digit, new_card_number

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
SAMPLE_CSV = VECTORS / "sample_cardholders.csv"
TODAY = date(2025, 6, 1)
D = BatchDefaults(today=TODAY)
HEADER = "ssn,name,pan,region,card_number\n"
GOOD = "110105196203151379,李建国,6228480899123456787,110000,B12044174\n"


def read(data: str | bytes, fmt: str = "csv", encoding: str = "utf-8",
         defaults: BatchDefaults = D) -> list[Cardholder | RowError]:
    raw = data.encode(encoding) if isinstance(data, str) else data
    return list(read_cardholders(io.BytesIO(raw), fmt=fmt, encoding=encoding, defaults=defaults))


def messages(results: Iterable[Cardholder | RowError]) -> list[str]:
    return [str(r) if isinstance(r, RowError) else f"ok {r.row_number}" for r in results]


def test_sample_csv() -> None:
    people = [p for p in read_cardholders(SAMPLE_CSV, defaults=D) if isinstance(p, Cardholder)]
    assert len(people) == 5
    assert [p.row_number for p in people] == [2, 3, 4, 5, 6]  # header = line 1
    assert {p.social.sex for p in people} == {"1", "2"}
    long = [p for p in people if p.social.name_parts[1]]
    assert [p.social.name for p in long] == ["阿依古丽·买买提艾力·阿不都热合曼"]
    assert all(p.financial.pan.startswith("622848") for p in people)
    assert people[0].social.photo == (VECTORS / "sample_photo.jpg").read_bytes()  # relative to the CSV


def test_sample_jsonl_holds_the_same_people() -> None:
    csv_people = list(read_cardholders(SAMPLE_CSV, defaults=D))
    json_people = list(read_cardholders(VECTORS / "sample_cardholders.jsonl", defaults=D))
    assert json_people == csv_people
    assert [p.row_number for p in json_people] == [1, 2, 3, 4, 5]


def test_gbk_csv_and_the_decode_error_of_a_wrong_encoding(tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(SAMPLE_CSV.read_text(encoding="utf-8").encode("gbk"))
    (tmp_path / "sample_photo.jpg").write_bytes((VECTORS / "sample_photo.jpg").read_bytes())
    assert list(read_cardholders(gbk, encoding="gbk", defaults=D)) == list(read_cardholders(SAMPLE_CSV, defaults=D))
    wrong = list(read_cardholders(gbk, defaults=D))
    assert messages(wrong)[0] == "line 2: not valid UTF-8 (byte 0xCD at column 20); try --encoding gbk"
    assert all(isinstance(r, RowError) and r.field is None for r in wrong) and len(wrong) == 5
    # UTF-8 read as GBK: some lines fail, others would decode to wrong hanzi (张伟 as 寮犱紵)
    assert messages(read_cardholders(SAMPLE_CSV, encoding="gbk", defaults=D)) == [
        "line 2: not valid GBK (byte 0xA7 at column 24); try --encoding utf-8",
        "line 3: not valid GBK (byte 0xBD at column 28); try --encoding utf-8",
        "line 4: not valid GBK (byte 0xAD at column 62); try --encoding utf-8",
        "line 5: is UTF-8 text, which GBK would misread; try --encoding utf-8",
        "line 6: is UTF-8 text, which GBK would misread; try --encoding utf-8",
    ]


def test_gbk_that_is_also_valid_utf8_is_read() -> None:
    data = (HEADER + "110105196203151379,取伞,6228480899123456787,110000,B12044174\n").encode("gbk")
    assert data.decode("utf-8")  # C8A1 C9A1: two 2-byte UTF-8 sequences
    assert [r.social.name for r in read(data, encoding="gbk")] == ["取伞"]  # type: ignore[union-attr]


def test_utf8_bom_and_crlf_and_blank_lines() -> None:
    data = "\ufeff" + HEADER.replace("\n", "\r\n") + "\r\n" + GOOD.replace("\n", "\r\n") + ",,,,\r\n"
    assert messages(read(data)) == ["ok 3"]


def test_bad_cardholders_one_problem_per_row() -> None:
    expected = [
        (2, "ssn", "check character is '5', expected '9'"),
        (3, "name", "character '𠀀' is not in GBK"),
        (4, "sex", "is '2' (female) but the social security number's 17th digit 7 is odd (male)"),
        (5, "ethnicity", "'60' is not a GB 3304 code (two digits 01-56, 97 other, 98 foreign origin)"),
        (6, "birth_date", "is 1962-03-16 but the social security number says 1962-03-15"),
        (7, "pan", "Luhn check digit is '8', expected '7'"),
        (8, "expiry_date", "2024-11-19 is not after the issue date 2024-11-20"),
        (9, "card_type", "'5' is not a card type '1'-'4'"),
        (10, "photo", f"cannot read '{VECTORS / 'no-such-photo.jpg'}' (No such file or directory)"),
        (11, "name", "is 52 bytes in GBK; records 09 and 4E hold 50"),
        (12, "region", "'990000': 99 is not a province code (GB/T 2260)"),
        (13, "ssn", "birth date 19620230 (positions 7-14) is not a valid date"),
        (14, "psn", "'1' is not 2 digits"),
        (15, "card_expiry", "'2913': month 13 is not 01-12"),
        (16, "name_latin", "character 'Ā' is not allowed (A-Z, 0-9, space, . / ' -)"),
        (17, None, "has 15 cells; the header has 18"),
    ]
    results = [r for r in read_cardholders(VECTORS / "bad_cardholders.csv", defaults=D) if isinstance(r, RowError)]
    assert len(results) == len(expected)
    assert [(r.row_number, r.problems) for r in results] == [(n, [(f, why)]) for n, f, why in expected]


def test_multi_line_cells_and_row_numbers() -> None:
    data = HEADER + '110105196203151379,"李\n建国",6228480899123456787,110000,B12044174\n\n' + GOOD
    assert messages(read(data)) == ["row 2, field 'name': control character U+000A at position 2", "ok 5"]


def test_an_overlong_line_is_refused_without_being_held() -> None:
    data = HEADER + "x" * (3 * MAX_LINE) + "\n" + GOOD
    assert messages(read(data)) == [f"line 2: is longer than {MAX_LINE} bytes", "ok 3"]
    assert messages(read(GOOD.replace("\n", "") + "y" * MAX_LINE + "\n" + GOOD, fmt="jsonl")) == \
        [f"line 1: is longer than {MAX_LINE} bytes", "line 2: not valid JSON (Extra data at column 19)"]


def test_cell_count_and_csv_syntax() -> None:
    assert messages(read(HEADER + "110105196203151379,李建国\n" + GOOD)) == \
        ["row 2: has 2 cells; the header has 5", "ok 3"]
    assert messages(read(HEADER + '"ab"c,d,e,f,g\n' + GOOD))[0].startswith("line 2: not valid CSV (")


@pytest.mark.parametrize("header, message", [
    ("ssn,nmae,pan,region\n", "line 1: unknown column 'nmae' (did you mean 'name'?)"),
    ("ssn,name,pan,region,colour\n", "line 1: unknown column 'colour'; known: ssn, name, name_latin,"),
    ("ssn,name,pan,region,SSN\n", "line 1: column 'ssn' appears twice (columns 1 and 5)"),
    ("ssn,name,,region\n", "line 1: column 3 has no name"),
    ("name,sex\n", "line 1: missing required columns: ssn, pan, region (or a batch default region)"),
    (GOOD, "line 1 is not a header row: no cell names a column (a header starts like ssn,name,pan)"),
])
def test_header_errors(header: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        read(header + GOOD)
    assert str(info.value).startswith(message)


def test_an_empty_file_has_no_header() -> None:
    with pytest.raises(InputError, match="^the file is empty; a header row is required$"):
        read("")


def test_header_names_are_case_and_blank_insensitive_and_region_may_come_from_the_batch() -> None:
    data = " SSN , Name ,PAN,card_number\n110105196203151379,李建国,6228480899123456787,B12044174\n"
    assert messages(read(data, defaults=BatchDefaults(today=TODAY, region="110000"))) == ["ok 2"]


def test_header_decode_error() -> None:
    with pytest.raises(InputError, match=r"^line 1: not valid UTF-8 \(byte 0xD0 at column 1\); try --encoding gbk"):
        read("姓名,ssn\n".encode("gbk"))


def test_jsonl_rows() -> None:
    lines = [
        '{"ssn": "110105196203151379", "name": "李建国", "pan": "6228480899123456787", "region": "110000",'
        ' "card_number": "B12044174", "photo": null}',
        "",
        '{"ssn": "110105196203151379", "name": "李建国", "pan": 6228480899123456787, "region": "110000",'
        ' "card_number": "B12044174", "color": "red"}',
        '{"ssn": "110105196203151379",',
        '["not", "an", "object"]',
    ]
    assert messages(read("\n".join(lines) + "\n", fmt="jsonl")) == [
        "ok 1",
        "row 3, field 'pan': must be a JSON string, not a number (quote codes to keep leading zeros); "
        "field 'color': unknown column",
        "line 4: not valid JSON (Expecting property name enclosed in double quotes at column 30)",
        "line 5: is a list, not a JSON object",
    ]


def test_format_and_encoding_arguments(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot tell the format of '.*people.txt' from its name"):
        read_cardholders(tmp_path / "people.txt")
    with pytest.raises(InputError, match="encoding 'latin-1' is not supported"):
        read_cardholders(SAMPLE_CSV, encoding="latin-1")
    with pytest.raises(InputError, match="format 'xml' is not supported"):
        read_cardholders(SAMPLE_CSV, fmt="xml")
    missing = read_cardholders(tmp_path / "none.csv")
    with pytest.raises(InputError, match=r"none.csv: cannot open \(No such file or directory\)"):
        next(missing)


def test_written_files_leave_the_pin_out(tmp_path: Path) -> None:
    d = BatchDefaults(today=TODAY, pin_policy=PinPolicy.parse("fixed:975310"))
    people = [p for p in read_cardholders(SAMPLE_CSV, defaults=d) if isinstance(p, Cardholder)]
    assert people[0].pin.reveal() == "975310"
    for name in ("out.csv", "out.jsonl"):
        assert write_cardholders(tmp_path / name, people) == 5
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert "975310" not in text and '"pin"' not in text
    assert "pin" not in (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()[0].split(",")


def _write_big_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["ssn", "name", "pan", "region", "card_number", "issue_date"])
        for i in range(rows):
            body = f"511302{1950 + i % 60}0{1 + i % 9}1{i % 10}{i % 1000:03d}"
            pan = f"622848{i:012d}"
            out.writerow([body + ssn_check(body), "阿依古丽·买买提艾力·阿不都热合曼"[:2 + i % 16],
                          pan + luhn_check_digit(pan), "511300", new_card_number("K", i), "2024-03-15"])


@pytest.mark.slow
def test_reading_is_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    _write_big_file(path, 50_000)
    assert path.stat().st_size > 4_000_000
    tracemalloc.start()
    try:
        count = 0
        for result in read_cardholders(path, defaults=D):
            assert isinstance(result, Cardholder), str(result)
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 50_000
    assert peak < 512 * 1024, f"peak {peak} bytes while streaming a {path.stat().st_size}-byte file"
