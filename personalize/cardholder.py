"""One validated cardholder: social-security data (SSSE EF05/EF06/EF08) and financial data
(the PBOC zone), built from one input row and checked as a whole.

:meth:`Cardholder.from_row` checks every column, collects every problem of the row and
raises one :class:`RowError` that lists them all:

>>> row = {"ssn": "511302198507160027", "name": "王秀英", "sex": "1", "pan": "6228481234567890125",
...        "region": "511300"}
>>> Cardholder.from_row(row, row_number=7, defaults=BatchDefaults(today=date(2025, 1, 1)))
Traceback (most recent call last):
personalize.cardholder.RowError: row 7, field 'sex': is '1' (male) but the social security number's 17th digit 2 is even (female); field 'pan': Luhn check digit is '5', expected '8'
>>> row.update(sex="2", pan="6228481234567890128")
>>> ch = Cardholder.from_row(row, row_number=7, defaults=BatchDefaults(today=date(2025, 1, 1),
...                          card_numbers=lambda ssn: new_card_number("K", 8036215)))
>>> ch.social.card_number, ch.social.expiry_date, ch.financial.expiry, ch.pin
('K80362153', datetime.date(2035, 1, 1), datetime.date(2035, 1, 31), InitialPin(source='fixed', 6 digits))
>>> [r.hex().upper() for r in ch.to_records()["SSSE/EF05"]]
['020133', '050420250101', '060420350101', '07094B3830333632313533']
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from apdu.errors import SSCardError
from cardspec.ids import EF05_ORDER, EF06_ORDER
from cardspec.records import CardIdCode, InitOrgCode, encode_record, split_name
from cardspec.records.ssse import EF05, EF06

from .pin import InitialPin, PinMailer, PinPolicy
from .validate import (FieldError, load_photo, new_card_number, parse_card_number, parse_card_type, parse_date,
                       parse_digits, parse_ethnicity, parse_month_end, parse_name, parse_name_latin, parse_pan,
                       parse_region, parse_sex, parse_ssn)

__all__ = ["Cardholder", "SocialData", "FinancialData", "BatchDefaults", "RowError", "COLUMNS", "REQUIRED",
           "new_card_number"]

#: Input columns (CSV header names, JSON Lines keys) and what each holds. Empty = absent.
COLUMNS: Mapping[str, str] = {
    "ssn": "社会保障号码: 18-character GB 11643 number (required)",
    "name": "姓名: GBK, at most 50 bytes; over 30 it spills into record 4E (required)",
    "name_latin": "name for tag 5F20: A-Z 0-9 space . / ' -, 2-26 characters (absent: 5F20 is ' /', no name)",
    "sex": "GB/T 2261.1 '1' male, '2' female, '9' unstated (absent: from the SSN)",
    "ethnicity": "GB 3304 two digits 01-56, 97, 98 (absent: unknown, FF)",
    "birthplace": "GB/T 2260 6-digit region code (absent: unknown, FFFFFF)",
    "birth_date": "YYYY-MM-DD or YYYYMMDD; must match the SSN (absent: from the SSN)",
    "card_number": "9 characters, V2 appendix A (absent: allocated by the batch, --card-numbers)",
    "card_type": "'1'-'4' (absent: the batch default, '3')",
    "region": "issuing region, GB/T 2260 6 digits (absent: the batch default)",
    "issue_date": "YYYY-MM-DD or YYYYMMDD (absent: the batch issue date, else today)",
    "expiry_date": "YYYY-MM-DD or YYYYMMDD (absent: issue date + the batch validity, 10 years)",
    "photo": "JPEG path, relative to the input file, at most 4096 bytes (EF08)",
    "pan": "financial PAN, 16-19 digits with a Luhn check digit (required)",
    "psn": "PAN sequence number, 2 digits, tag 5F34 (absent: the batch default, '00')",
    "card_expiry": "financial expiry month, YYMM or YYYY-MM (absent: the month of expiry_date)",
    "card_effective": "financial effective date, YYYY-MM-DD or YYYYMMDD (absent: issue_date)",
    "service_code": "3 digits, tag 5F30 (absent: the batch default, '220')",
    "pin": "initial PIN, 4-12 digits (absent: the batch PIN policy); never written back",
}
REQUIRED = ("ssn", "name", "pan")
#: Tag 5F20 without ``name_latin``: space + slash, EMV's "no name" (ans 2-26); EMV's 9F0B is
#: ``ans`` too, so the GBK name is on the SSSE only.
NO_LATIN_NAME = b" /"
_T = TypeVar("_T")


class RowError(SSCardError, ValueError):
    """Every problem of one input row; ``field``/``reason`` are the first of ``problems``.

    ``row_number`` is the physical line number of the row in its file (the header is
    line 1). With ``unit="line"`` the error is about one line, not a row's fields.
    """

    def __init__(self, row_number: int, problems: Sequence[tuple[str | None, str]], unit: str = "row") -> None:
        if not problems:
            raise ValueError("RowError needs at least one problem")
        self.row_number, self.unit = row_number, unit
        self.problems: list[tuple[str | None, str]] = list(problems)
        self.field, self.reason = self.problems[0]
        parts = [f"field {f!r}: {r}" if f is not None else r for f, r in self.problems]
        super().__init__(f"{unit} {row_number}" + (", " if self.field is not None else ": ") + "; ".join(parts))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.row_number, self.problems, self.unit))


@dataclass(frozen=True)
class BatchDefaults:
    """What a batch supplies when a row leaves a column empty, and the checking context."""

    region: str | None = None  #: issuing region for rows without one
    card_type: str = "3"
    issue_date: date | None = None  #: None: ``today``
    validity_years: int = 10
    service_code: str = "220"
    psn: str = "00"  #: 00 derives the same UDK as an absent 5F34 (EMV Option A)
    pin_policy: PinPolicy = PinPolicy.parse("fixed:123456")
    today: date | None = None  #: None: the date at check time
    base_dir: Path | None = None  #: photo paths are relative to it (the input file's folder)
    #: allocator for rows without a card number: the holder's SSN → a new number (the batch's
    #: :meth:`~personalize.journal.Journal.allocate_card_number`: the same SSN gets the same number)
    card_numbers: Callable[[str], str] | None = None

    def __post_init__(self) -> None:
        for name, check in (("region", parse_region), ("card_type", parse_card_type),
                            ("service_code", lambda t: parse_digits(t, 3)), ("psn", lambda t: parse_digits(t, 2))):
            value = getattr(self, name)
            try:
                if value is not None:
                    check(value)
            except FieldError as e:
                raise FieldError(f"batch default {name}: {e}") from None
        if not 1 <= self.validity_years <= 50:
            raise FieldError(f"batch default validity_years: {self.validity_years} is not 1-50")


@dataclass(frozen=True)
class SocialData:
    """The SSSE values (ssse.md §2): EF05 issuer data, EF06 cardholder basics, EF08 photo."""

    ssn: str
    name: str
    sex: str
    ethnicity: str | None  #: None: unknown (FF)
    birthplace: str | None  #: None: unknown (FFFFFF)
    birth_date: date
    card_number: str
    card_type: str
    region: str  #: issuing region (EF05 tags 01 and 04)
    issue_date: date
    expiry_date: date
    photo_path: str | None = None  #: as written in the input
    photo: bytes | None = field(default=None, repr=False)  #: the JPEG for EF08

    @property
    def name_parts(self) -> tuple[str, str]:
        """The name as records 09 and 4E hold it."""
        return split_name(self.name)


@dataclass(frozen=True)
class FinancialData:
    """The personal data of the PBOC zone (pboc.md §2.3, DGIs 0101, 0102, 0301, 0302)."""

    pan: str
    psn: str
    expiry: date  #: 5F24, the last day of the expiry month
    effective: date  #: 5F25
    service_code: str  #: 5F30
    name_latin: str | None  #: 5F20 when given
    name: str  #: the GBK name (the SSSE's); 5F20 is ``name_latin`` or " /" (:mod:`personalize.debit`)
    id_number: str  #: 9F61: the SSN
    id_type: int = 0  #: 9F62: 00 identity card
    country: str = "0156"  #: 5F28
    currency: str = "0156"  #: 9F42


class _Fields:
    """The cells of one row being checked; problems are collected, not raised."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        stripped = {k: v.strip() if isinstance(v, str) else v for k, v in row.items()}
        self.cells = {k: v for k, v in stripped.items() if v is not None and v != ""}
        self.problems: list[tuple[str | None, str]] = []
        for key in self.cells:
            if key not in COLUMNS:
                self.problems.append((key, "unknown column"))

    def get(self, name: str, parse: Callable[[str], _T], default: _T | None = None) -> _T | None:
        text = self.cells.get(name, "")
        if text == "":
            if name in REQUIRED:
                self.fail(name, "is missing")
            return default
        if not isinstance(text, str):
            self.fail(name, f"must be text, not {type(text).__name__}")
            return None
        try:
            return parse(text)
        except FieldError as e:
            self.fail(name, str(e))
            return None

    def fail(self, name: str, reason: str) -> None:
        self.problems.append((name, reason))


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _month_end(day: date) -> date:
    return parse_month_end(f"{day:%Y-%m}")


def _card_dates(f: _Fields, d: BatchDefaults, today: date, born: date | None) -> tuple[date | None, date | None]:
    """Issue and expiry dates (EF05 tags 05, 06); an expiry that fails is returned as None."""
    issue = f.get("issue_date", parse_date, d.issue_date or today)
    expiry = f.get("expiry_date", parse_date, _add_years(issue, d.validity_years) if issue else None)
    if issue and born and issue < born:
        f.fail("issue_date", f"{issue.isoformat()} is before the birth date {born.isoformat()}")
    if issue and expiry and expiry <= issue:
        f.fail("expiry_date", f"{expiry.isoformat()} is not after the issue date {issue.isoformat()}")
        return issue, None
    if expiry and expiry <= today:
        f.fail("expiry_date", f"{expiry.isoformat()} has passed (today is {today.isoformat()})")
        return issue, None
    return issue, expiry


def _allocate(f: _Fields, d: BatchDefaults, ssn: str) -> tuple[str | None, str | None]:
    if d.card_numbers is None:
        f.fail("card_number", "is missing and the batch allocates no card numbers (--card-numbers)")
        return None, None
    try:
        return parse_card_number(d.card_numbers(ssn))
    except FieldError as e:
        f.fail("card_number", f"the allocated number: {e}")
        return None, None


@dataclass(frozen=True)
class Cardholder:
    """A validated cardholder; build it with :meth:`from_row`."""

    social: SocialData
    financial: FinancialData
    pin: InitialPin
    row_number: int = field(default=0, compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)  #: e.g. a card-number check mismatch

    @classmethod
    def from_row(cls, row: Mapping[str, str], *, row_number: int,
                 defaults: BatchDefaults | None = None) -> Cardholder:
        """Check one row (column → text) and build the cardholder, or raise :class:`RowError`
        listing every problem, in column order. A card number is allocated (and a random
        PIN drawn) only for a row without problems."""
        d = defaults or BatchDefaults()
        today = d.today or date.today()
        f = _Fields(row)
        ssn = f.get("ssn", lambda t: parse_ssn(t, today=today))
        name = f.get("name", lambda t: "".join(parse_name(t)))
        name_latin = f.get("name_latin", parse_name_latin)
        sex = f.get("sex", lambda t: parse_sex(t, ssn)) or (ssn.sex if ssn else None)
        born = f.get("birth_date", parse_date)
        if born is not None and ssn is not None and born != ssn.birth_date:
            f.fail("birth_date", f"is {born.isoformat()} but the social security number says "
                                 f"{ssn.birth_date.isoformat()}")
        born = ssn.birth_date if ssn else born
        issue, expiry = _card_dates(f, d, today, born)
        card_expiry = f.get("card_expiry", parse_month_end) or (_month_end(expiry) if expiry else None)
        effective = f.get("card_effective", parse_date) or issue
        if card_expiry and effective and card_expiry <= effective:
            f.fail("card_expiry", f"{card_expiry:%Y-%m} is not after the effective date {effective.isoformat()}")
        elif card_expiry and card_expiry <= today:
            f.fail("card_expiry", f"{card_expiry:%Y-%m} has passed (today is {today.isoformat()})")
        region = f.get("region", parse_region, d.region)
        if region is None and "region" not in f.cells:
            f.fail("region", "is missing and the batch gives no default region")
        base = d.base_dir or Path(".")
        photo = f.get("photo", lambda t: load_photo(base / t))
        ethnicity, birthplace = f.get("ethnicity", parse_ethnicity), f.get("birthplace", parse_region)
        card_type = f.get("card_type", parse_card_type, d.card_type)
        pan = f.get("pan", parse_pan)
        psn = f.get("psn", lambda t: parse_digits(t, 2), d.psn)
        service_code = f.get("service_code", lambda t: parse_digits(t, 3), d.service_code)
        pin = f.get("pin", lambda t: InitialPin(t, "row"))
        card_number, warning = f.get("card_number", parse_card_number) or (None, None)
        if card_number is None and not f.problems:
            assert ssn is not None
            card_number, warning = _allocate(f, d, ssn.number)
        if f.problems:
            order = {c: i for i, c in enumerate(COLUMNS)}
            raise RowError(row_number, sorted(f.problems, key=lambda p: order.get(p[0] or "", -1)))
        assert ssn and name and sex and born and card_number and region and card_type and issue and expiry \
            and pan and psn and service_code and card_expiry and effective
        social = SocialData(ssn.number, name, sex, ethnicity, birthplace, born, card_number, card_type, region,
                            issue, expiry, f.cells.get("photo"), photo)
        financial = FinancialData(pan, psn, card_expiry, effective, service_code, name_latin, name, ssn.number)
        warnings = (f"row {row_number}, field 'card_number': {warning}",) if warning else ()
        return cls(social, financial, pin or d.pin_policy.initial_pin(born), row_number, warnings)

    def to_row(self) -> dict[str, str]:
        """The row that :meth:`from_row` turns back into this cardholder (the PIN is left out)."""
        s, fin = self.social, self.financial
        row = {"ssn": s.ssn, "name": s.name, "name_latin": fin.name_latin or "", "sex": s.sex,
               "ethnicity": s.ethnicity or "", "birthplace": s.birthplace or "", "birth_date": s.birth_date.isoformat(),
               "card_number": s.card_number, "card_type": s.card_type, "region": s.region,
               "issue_date": s.issue_date.isoformat(), "expiry_date": s.expiry_date.isoformat(),
               "photo": s.photo_path or "", "pan": fin.pan, "psn": fin.psn, "card_expiry": f"{fin.expiry:%Y-%m}",
               "card_effective": fin.effective.isoformat(), "service_code": fin.service_code, "pin": ""}
        assert list(row) == list(COLUMNS)
        return row

    def to_records(self, *, card_id: CardIdCode | None = None, init_org: InitOrgCode | None = None,
                   spec_version: str | None = None, name_ext_pad: int = 0x00) -> dict[str, list[bytes]]:
        """Whole SSSE records (``tag len value``) per file, in record order (ssse.md §2).

        EF05 records 01 (card serial from the chip), 03 (COS spec version) and 04
        (initialising organisation) belong to pre-personalization and appear only when
        given. ``name_ext_pad`` pads record 4E only (profile ``name_ext_padding``).
        """
        s = self.social
        head, tail = s.name_parts
        ef05: dict[int, Any] = {0x01: card_id, 0x02: s.card_type, 0x03: spec_version, 0x04: init_org,
                                0x05: s.issue_date, 0x06: s.expiry_date, 0x07: s.card_number}
        ef06: dict[int, Any] = {0x08: s.ssn, 0x09: head, 0x4E: tail, 0x0A: s.sex, 0x0B: s.ethnicity,
                                0x0C: s.birthplace, 0x0D: s.birth_date}
        return {
            EF05: [encode_record(t, ef05[t], file=EF05) for t in EF05_ORDER if ef05[t] is not None],
            EF06: [encode_record(t, ef06[t], file=EF06, an_pad=name_ext_pad if t == 0x4E else 0x00)
                   for t in EF06_ORDER],
        }

    def to_face_data(self) -> dict[str, str]:
        """What the card printer puts on the card face."""
        s, fin = self.social, self.financial
        return {"name": s.name, "name_latin": fin.name_latin or "", "ssn": s.ssn, "card_number": s.card_number,
                "pan": fin.pan, "issue_date": s.issue_date.isoformat(), "expiry_date": s.expiry_date.isoformat(),
                "card_expiry": f"{fin.expiry:%m/%y}", "photo": s.photo_path or ""}

    def pin_mailer(self) -> PinMailer | None:
        """The PIN mailer when the holder cannot know the PIN (policy ``random``), else None."""
        if not self.pin.needs_mailer:
            return None
        return PinMailer(self.social.name, self.social.card_number, self.financial.pan[-4:], self.pin)
