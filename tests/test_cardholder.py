"""personalize.cardholder / validate / pin: every rule of a cardholder row, the records and
PBOC values a cardholder produces, and properties over generated valid cardholders."""
from __future__ import annotations

import io
import pickle
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings

from cardspec.records import decode_record
from cardspec.records.sample import SAMPLE, sample_records
from cardspec.pboc import IdType, PbocHolder
from personalize.cardholder import BatchDefaults, Cardholder, RowError
from personalize.debit import holder_of
from personalize.inputs import read_cardholders, write_cardholders
from personalize.pin import InitialPin, PinPolicy, PinPolicyError
from personalize.strategies import cardholder_rows, cardholders, defaults_for
from personalize.validate import FieldError, luhn_check_digit, new_card_number, parse_month_end

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
TODAY = date(2025, 6, 1)
# 王秀英, the cardspec sample person (cardspec/records/sample.py)
BASE = {"ssn": "511302198507160027", "name": "王秀英", "sex": "2", "ethnicity": "01", "birthplace": "511302",
        "birth_date": "1985-07-16", "card_number": "K80362153", "region": "511300", "issue_date": "2024-03-15",
        "expiry_date": "2034-03-15", "pan": "6228480400001234568"}


def make(defaults: BatchDefaults | None = None, /, **changes: str) -> Cardholder:
    row = {**BASE, **changes}
    return Cardholder.from_row({k: v for k, v in row.items() if v is not None}, row_number=7,
                               defaults=defaults or BatchDefaults(today=TODAY, base_dir=VECTORS))


def problems(**changes: str) -> list[tuple[str | None, str]]:
    with pytest.raises(RowError) as info:
        make(**changes)
    assert info.value.row_number == 7
    return info.value.problems


def test_the_sample_person_gives_the_cardspec_sample_records() -> None:
    ch = make(photo="sample_photo.jpg")
    records = ch.to_records(card_id=SAMPLE[("SSSE/EF05", 0x01)], init_org=SAMPLE[("SSSE/EF05", 0x04)],
                            spec_version="3.00")
    expected = sample_records()
    assert records == {f: expected[f] for f in ("SSSE/EF05", "SSSE/EF06")}
    assert sum(map(len, records["SSSE/EF06"])) == 0x5B
    assert ch.social.photo is not None and ch.social.photo[:2] == b"\xff\xd8"


def test_records_of_pre_personalization_only_when_given_and_4e_padding() -> None:
    ch = make(name="阿依古丽·买买提艾力·阿不都热合曼", ssn="650102199205280465", birth_date="", birthplace="")
    ef05 = ch.to_records()["SSSE/EF05"]
    assert [r[0] for r in ef05] == [0x02, 0x05, 0x06, 0x07]
    ef06 = ch.to_records(name_ext_pad=0xFF)["SSSE/EF06"]
    assert [r[0] for r in ef06] == [0x08, 0x09, 0x4E, 0x0A, 0x0B, 0x0C, 0x0D]
    assert ef06[1] == bytes((0x09, 0x1E)) + "阿依古丽·买买提艾力·阿不都热".encode("gbk")
    assert ef06[2] == bytes((0x4E, 0x14)) + "合曼".encode("gbk") + b"\xff" * 16
    assert ef06[5] == bytes.fromhex("0C03FFFFFF")  # birthplace unknown
    assert decode_record(ef06[6]) == (0x0D, date(1992, 5, 28))


@pytest.mark.parametrize("ssn, reason", [
    ("51130219850716002", "'51130219850716002' has 17 characters, not 18"),
    ("5113021985O7160027", "character 'O' at position 11 is not a digit"),
    ("991302198507160027", "region 991302: 99 is not a province code (GB/T 2260)"),
    ("511302198502300027", "birth date 19850230 (positions 7-14) is not a valid date"),
    ("511302202607160027", "birth date 2026-07-16 (positions 7-14) is in the future"),
    ("51130219850716002X", "check character is 'X', expected '7'"),
    ("11010519491231002Y", "check character is 'Y', expected 'X'"),
])
def test_ssn_rules(ssn: str, reason: str) -> None:
    found = problems(ssn=ssn, birth_date="", sex="")
    assert found[0][0] == "ssn" and found[0][1].startswith(reason)


def test_message_names_row_field_and_reason() -> None:
    with pytest.raises(RowError) as info:
        make(ssn="511302198507160025")
    assert str(info.value) == "row 7, field 'ssn': check character is '5', expected '7'"
    assert (info.value.field, info.value.reason) == ("ssn", "check character is '5', expected '7'")


def test_every_problem_of_a_row_is_collected_in_column_order() -> None:
    found = problems(name="李𠀀", sex="1", ethnicity="57", pan="6228480400001234567", psn="1", colour="red")
    assert [f for f, _ in found] == ["colour", "name", "sex", "ethnicity", "pan", "psn"]
    assert ("name", "character '𠀀' is not in GBK") in found
    assert ("colour", "unknown column") in found


def test_blank_cells_are_absent_and_row_errors_pickle() -> None:
    assert problems(region="  ", pan=" ") == [("region", "is missing and the batch gives no default region"),
                                             ("pan", "is missing")]
    error = RowError(12, [(None, "not valid GBK (byte 0xA1 at column 5); try --encoding utf-8")], "line")
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.row_number, again.problems) == (str(error), 12, error.problems)
    assert str(again) == "line 12: not valid GBK (byte 0xA1 at column 5); try --encoding utf-8"


def test_lower_case_x_is_read_as_upper_case() -> None:
    ch = make(ssn="11010519491231002x", sex="", birth_date="", birthplace="")
    assert ch.social.ssn == "11010519491231002X" and ch.social.sex == "2"


@pytest.mark.parametrize("name, reason", [
    ("李𠀀", "character '𠀀' is not in GBK"),
    ("李\t磊", "control character U+0009 at position 2"),
    ("阿" * 26, "is 52 bytes in GBK; records 09 and 4E hold 50"),
    ("", "is missing"),
])
def test_name_rules(name: str, reason: str) -> None:
    assert ("name", reason) in problems(name=name)


def test_name_of_50_bytes_fills_09_and_4e_and_latin_name_goes_to_5f20() -> None:
    ch = make(name="阿" * 25, name_latin="a yi/gu-li")
    assert ch.social.name_parts == ("阿" * 15, "阿" * 10)
    assert holder_of(ch).name == "A YI/GU-LI"  # what the debit application's 5F20 gets


def test_name_that_breaks_at_no_character_boundary_is_refused() -> None:
    # 1 + 14*2 = 29 bytes, then a 2-byte character leaves 21 bytes for record 4E (20)
    assert problems(name="A" + "阿" * 14 + "阿" * 10 + "B", name_latin="ALI")[0] == \
        ("name", "does not split at a character boundary into 30 + 20 bytes")


def test_sex_rules() -> None:
    assert problems(sex="1")[0][1] == ("is '1' (male) but the social security number's 17th digit 2 is even "
                                       "(female)")
    assert problems(sex="M")[0][0] == "sex"
    assert make(sex="9").social.sex == "9"
    assert make(sex="").social.sex == "2"


@pytest.mark.parametrize("code, ok", [("01", True), ("56", True), ("97", True), ("98", True), ("00", False),
                                      ("57", False), ("1", False), ("汉", False)])
def test_ethnicity_codes(code: str, ok: bool) -> None:
    if ok:
        assert make(ethnicity=code).social.ethnicity == code
    else:
        assert problems(ethnicity=code)[0][0] == "ethnicity"


def test_birthplace_and_birth_date_rules() -> None:
    assert problems(birthplace="001302")[0] == ("birthplace", "'001302': 00 is not a province code (GB/T 2260)")
    assert problems(birth_date="1985-07-17")[0] == ("birth_date", "is 1985-07-17 but the social security "
                                                                  "number says 1985-07-16")
    assert problems(birth_date="1985-0716")[0][0] == "birth_date"
    assert make(birth_date="19850716").social.birth_date == date(1985, 7, 16)


def test_card_number_check_is_only_a_warning() -> None:
    ch = make(card_number="a21472424")
    assert ch.social.card_number == "A21472424"
    assert ch.warnings == ("row 7, field 'card_number': check character is '4', expected '1' "
                           "(kept: real cards break V2 appendix A)",)
    assert problems(card_number="1A1046924")[0] == ("card_number", "the first character must be a capital letter")
    assert problems(card_number="HA104692")[0][1] == "'HA104692' has 8 characters, not 9"


def test_card_number_allocated_only_for_good_rows() -> None:
    calls: list[str] = []

    def allocate(ssn: str) -> str:
        calls.append(ssn)
        return new_card_number("K", 8036215)

    d = BatchDefaults(today=TODAY, card_numbers=allocate)
    assert make(d, card_number="").social.card_number == "K80362153"
    with pytest.raises(RowError):
        make(d, card_number="", pan="1")
    assert calls == [BASE["ssn"]]  # the holder's SSN: the journal gives it the same number again
    assert problems(card_number="")[0] == ("card_number", "is missing and the batch allocates no card numbers "
                                                          "(--card-numbers)")


def test_new_card_number() -> None:
    # V2 appendix A examples (ssse.md §2) and the cardspec sample card
    assert [new_card_number("B", 13), new_card_number("X", 1), new_card_number("K", 8036215)] == \
        ["B00000131", "X00000019", "K80362153"]
    with pytest.raises(FieldError, match="one capital letter"):
        new_card_number("k", 1)
    with pytest.raises(FieldError, match="0-9999999"):
        new_card_number("K", 10_000_000)


def test_card_type_region_and_dates() -> None:
    assert make().social.card_type == "3" and make(card_type="1").social.card_type == "1"
    assert problems(card_type="5")[0] == ("card_type", "'5' is not a card type '1'-'4'")
    assert problems(region="")[0] == ("region", "is missing and the batch gives no default region")
    assert make(BatchDefaults(today=TODAY, region="511300"), region="").social.region == "511300"
    assert problems(expiry_date="2024-03-15")[0] == ("expiry_date", "2024-03-15 is not after the issue date "
                                                                    "2024-03-15")
    assert problems(issue_date="2014-03-15", expiry_date="2024-03-15")[0] == \
        ("expiry_date", "2024-03-15 has passed (today is 2025-06-01)")
    assert problems(issue_date="1980-01-01")[0][1] == "1980-01-01 is before the birth date 1985-07-16"
    d = BatchDefaults(today=TODAY, issue_date=date(2024, 2, 29), validity_years=10)
    ch = make(d, issue_date="", expiry_date="")
    assert (ch.social.issue_date, ch.social.expiry_date) == (date(2024, 2, 29), date(2034, 2, 28))


def test_photo_rules(tmp_path: Path) -> None:
    d = BatchDefaults(today=TODAY, base_dir=tmp_path)
    (tmp_path / "png.jpg").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(10))
    (tmp_path / "big.jpg").write_bytes(b"\xff\xd8" + bytes(4093) + b"\xff\xd9")
    (tmp_path / "max.jpg").write_bytes(b"\xff\xd8" + bytes(4092) + b"\xff\xd9")
    for name, reason in (("png.jpg", "'{p}' is not a JPEG: it starts with 89 50, not FF D8 (SOI)"),
                         ("cut.jpg", "'{p}' is not a whole JPEG: it ends with 00 00, not FF D9 (EOI)"),
                         ("big.jpg", "'{p}' is 4097 bytes; EF08 holds 4096 (0x1000)"),
                         ("none.jpg", "cannot read '{p}' (No such file or directory)")):
        with pytest.raises(RowError) as info:
            make(d, photo=name)
        assert info.value.problems == [("photo", reason.format(p=tmp_path / name))]
    assert len(make(d, photo="max.jpg").social.photo or b"") == 4096


def test_pan_rules() -> None:
    assert luhn_check_digit("411111111111111") == "1" and luhn_check_digit("7992739871") == "3"
    assert problems(pan="6228480400001234567")[0] == ("pan", "Luhn check digit is '7', expected '8'")
    assert problems(pan="622848040000123")[0] == ("pan", "'622848040000123' is not 16-19 digits")
    assert problems(pan="")[0] == ("pan", "is missing")


def test_financial_defaults_and_values() -> None:
    fin = make().financial
    assert (fin.psn, fin.service_code, fin.expiry, fin.effective) == ("00", "220", date(2034, 3, 31),
                                                                      date(2024, 3, 15))
    assert (fin.country, fin.currency, fin.id_type) == ("0156", "0156", 0)
    # what the debit application is built from (cardspec.pboc.builder): no Latin name, 5F20 " /"
    assert holder_of(make()) == PbocHolder(pan="6228480400001234568", expiry="340331", name=" /",
                                           id_number="511302198507160027", id_type=IdType.ID_CARD, psn="00",
                                           effective="240315", service_code="220")
    other = holder_of(make(pan="6228481234567894", psn="01", service_code="201", card_expiry="2912",
                           card_effective="2025-01-01", name="阿" * 23))  # 46 GBK bytes: only the SSSE has them
    assert (other.pan, other.psn, other.service_code, other.expiry, other.effective, other.name) == \
        ("6228481234567894", "01", "201", "291231", "250101", " /")


@pytest.mark.parametrize("text, day", [("2912", date(2029, 12, 31)), ("2028-02", date(2028, 2, 29)),
                                       ("3002", date(2030, 2, 28))])
def test_card_expiry_is_the_end_of_the_month(text: str, day: date) -> None:
    assert parse_month_end(text) == day


def test_financial_rules() -> None:
    assert problems(psn="1")[0] == ("psn", "'1' is not 2 digits")
    assert problems(service_code="22")[0] == ("service_code", "'22' is not 3 digits")
    assert problems(card_expiry="2913")[0] == ("card_expiry", "'2913': month 13 is not 01-12")
    assert problems(card_expiry="2402")[0] == ("card_expiry", "2024-02 is not after the effective date 2024-03-15")
    assert problems(card_expiry="2504", card_effective="2024-01-01")[0] == \
        ("card_expiry", "2025-04 has passed (today is 2025-06-01)")
    assert problems(name_latin="Z")[0][1] == "'Z' has 1 characters; tag 5F20 holds 2-26"
    assert problems(name_latin="ZHĀNG/WEI")[0][1] == "character 'Ā' is not allowed (A-Z, 0-9, space, . / ' -)"


def test_pin_policies_and_the_pin_column() -> None:
    assert make(BatchDefaults(today=TODAY, pin_policy=PinPolicy.parse("birthdate"))).pin.reveal() == "850716"
    assert make(pin="4321").pin == InitialPin("4321", "row")
    assert make().pin == InitialPin("123456", "fixed") and make().pin_mailer() is None
    assert problems(pin="12a4567") == [("pin", "must be 4-12 digits")]
    ch = make(BatchDefaults(today=TODAY, pin_policy=PinPolicy.parse("random")))
    mailer = ch.pin_mailer()
    assert mailer is not None and mailer.pan_last4 == "4568" and ch.pin.reveal() in mailer.text()
    for text in (repr(ch), str(ch), repr(mailer), repr(ch.pin), f"{ch.pin}"):
        assert ch.pin.reveal() not in text.replace(ch.social.ssn, "").replace(ch.financial.pan, "") \
            .replace(ch.social.card_number, "")
    with pytest.raises(PinPolicyError) as info:
        PinPolicy.parse("fixed:98765x")
    assert "98765" not in str(info.value)
    assert str(PinPolicy.parse("fixed:987654")) == "fixed:…" and "987654" not in repr(PinPolicy.parse("fixed:987654"))


def test_face_data() -> None:
    face = make(photo="sample_photo.jpg").to_face_data()
    assert face == {"name": "王秀英", "name_latin": "", "ssn": "511302198507160027", "card_number": "K80362153",
                    "pan": "6228480400001234568", "issue_date": "2024-03-15", "expiry_date": "2034-03-15",
                    "card_expiry": "03/34", "photo": "sample_photo.jpg"}


def test_batch_defaults_are_checked() -> None:
    with pytest.raises(FieldError, match="batch default region: '99' is not 6 digits"):
        BatchDefaults(region="99")


@settings(max_examples=60)
@given(cardholders(today=TODAY))
def test_generated_cardholders_round_trip_through_csv_and_jsonl(ch: Cardholder) -> None:
    d = defaults_for(TODAY)
    for fmt, encoding in (("csv", "utf-8"), ("csv", "gbk"), ("jsonl", "utf-8")):
        buffer = io.BytesIO()
        assert write_cardholders(buffer, [ch], fmt=fmt, encoding=encoding) == 1
        back = list(read_cardholders(io.BytesIO(buffer.getvalue()), fmt=fmt, encoding=encoding, defaults=d))
        assert back == [ch]


@settings(max_examples=60)
@given(cardholder_rows(TODAY))
def test_generated_rows_give_records_that_decode_to_the_row(row: dict[str, str]) -> None:
    ch = Cardholder.from_row(row, row_number=2, defaults=defaults_for(TODAY))
    decoded = dict(decode_record(r, file="SSSE/EF06") for r in ch.to_records()["SSSE/EF06"])
    assert decoded[0x08] == ch.social.ssn and decoded[0x09] + decoded[0x4E] == row["name"]
    assert decoded[0x0A] == (row["sex"] or ch.social.sex) and decoded[0x0D] == ch.social.birth_date
    assert holder_of(ch).pan == row["pan"] and holder_of(ch).id_number == ch.social.ssn


def test_the_personalization_guide_lists_every_column() -> None:
    from personalize.cardholder import COLUMNS

    guide = (VECTORS.parent / "docs" / "personalization.md").read_text(encoding="utf-8")
    for name, meaning in COLUMNS.items():
        assert f"| `{name}` | {meaning} |" in guide, f"docs/personalization.md: column {name} is missing or stale"
