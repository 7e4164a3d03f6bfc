"""Hypothesis strategies of VALID cardholder rows and cardholders, for tests (and, later,
the sscard pytest plugin). Needs ``hypothesis``, a test dependency.

Dates are drawn around ``today`` (default: the day the strategy is built); check the
rows with the same day, i.e. :func:`defaults_for` ``(today)``.

>>> from hypothesis import find
>>> ch = find(cardholders(today=date(2025, 1, 1)), lambda c: len(c.social.name.encode("gbk")) > 30)
>>> ch.social.name_parts[1] != ""
True
"""
from __future__ import annotations

from datetime import date, timedelta

from hypothesis import strategies as st

from cardspec.records import ssn_check

from .cardholder import BatchDefaults, Cardholder
from .pin import PinPolicy
from .validate import ETHNICITIES, PROVINCES, luhn_check_digit, new_card_number

__all__ = ["cardholder_rows", "cardholders", "defaults_for", "gbk_names", "HAN"]


def _gb2312_level1() -> list[str]:
    chars = []
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.append(bytes((hi, lo)).decode("gbk"))
            except UnicodeDecodeError:
                continue
    return chars


#: The 3755 level-1 hanzi of GB 2312 (2 bytes each in GBK).
HAN = _gb2312_level1()
_han = st.sampled_from(HAN)
_PROVINCES = sorted(PROVINCES)


def gbk_names(max_bytes: int = 50) -> st.SearchStrategy[str]:
    """Chinese names: 2-4 hanzi, or 2-3 parts joined by '·' (may pass 30 bytes and spill into 4E)."""
    plain = st.lists(_han, min_size=2, max_size=4).map("".join)
    parts = st.lists(st.lists(_han, min_size=2, max_size=8).map("".join), min_size=2, max_size=3)
    long = parts.map("·".join).filter(lambda n: len(n.encode("gbk")) <= max_bytes)
    return st.one_of(plain, long)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@st.composite
def cardholder_rows(draw: st.DrawFn, today: date | None = None) -> dict[str, str]:
    """One valid input row (column → text), as a CSV or JSON Lines file would hold it."""
    today = today or date.today()
    region = draw(st.sampled_from(_PROVINCES)) + f"{draw(st.integers(0, 9999)):04d}"
    born = draw(st.dates(date(1920, 1, 1), today))
    male = draw(st.booleans())
    seq = f"{draw(st.integers(0, 99)):02d}{draw(st.integers(0, 4)) * 2 + male}"
    body = region + f"{born:%Y%m%d}" + seq
    name_latin = draw(st.one_of(st.just(""), st.from_regex(r"[A-Z]{1,12}/[A-Z]{1,12}", fullmatch=True)))
    issue = draw(st.dates(max(born, _add_years(today, -9)), today))
    card_expiry = today + timedelta(days=draw(st.integers(31, 3650)))
    pan_body = "622848" + "".join(str(d) for d in draw(st.lists(st.integers(0, 9), min_size=9, max_size=12)))
    return {
        "ssn": body + ssn_check(body),
        "name": draw(gbk_names(50 if name_latin else 45)),
        "name_latin": name_latin,
        "sex": draw(st.sampled_from(("", "1" if male else "2", "9"))),
        "ethnicity": draw(st.one_of(st.just(""), st.sampled_from(sorted(ETHNICITIES)))),
        "birthplace": draw(st.sampled_from(("", region))),
        "birth_date": draw(st.sampled_from(("", born.isoformat(), f"{born:%Y%m%d}"))),
        "card_number": new_card_number(draw(st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ")),
                                       draw(st.integers(0, 9_999_999))),
        "card_type": draw(st.sampled_from(("", "1", "2", "3", "4"))),
        "region": region[:4] + "00",
        "issue_date": issue.isoformat(),
        "expiry_date": draw(st.sampled_from(("", _add_years(issue, draw(st.integers(10, 20))).isoformat()))),
        "photo": "",
        "pan": pan_body + luhn_check_digit(pan_body),
        "psn": draw(st.sampled_from(("", "00", "01", "02"))),
        "card_expiry": draw(st.sampled_from(("", f"{card_expiry:%Y-%m}", f"{card_expiry:%y%m}"))),
        "card_effective": draw(st.sampled_from(("", issue.isoformat()))),
        "service_code": draw(st.sampled_from(("", "220", "201", "120"))),
    }


def defaults_for(today: date, pin_policy: str = "birthdate") -> BatchDefaults:
    """Batch defaults that accept the rows drawn for ``today`` (deterministic PINs)."""
    return BatchDefaults(today=today, pin_policy=PinPolicy.parse(pin_policy))


def cardholders(*, today: date | None = None, pin_policy: str = "birthdate") -> st.SearchStrategy[Cardholder]:
    """Valid cardholders (built by :meth:`Cardholder.from_row` from :func:`cardholder_rows`)."""
    today = today or date.today()
    defaults = defaults_for(today, pin_policy)
    return cardholder_rows(today).map(lambda row: Cardholder.from_row(row, row_number=2, defaults=defaults))
