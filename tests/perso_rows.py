"""Synthetic, valid cardholder rows for the batch tests: deterministic and distinct (SSN,
card number and PAN differ per index), written as the CSV an issuer would send."""
from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

from cardspec.records import ssn_check
from personalize.validate import luhn_check_digit, new_card_number

_SURNAMES = "王李张刘陈杨黄赵吴周"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
COLUMNS = ("ssn", "name", "sex", "card_number", "region", "issue_date", "pan", "pin")


def row(i: int, *, pin: str = "") -> dict[str, str]:
    """Row ``i`` (0-based): born 1950-01-01 + 367·i days, a man for even i."""
    born = date(1950, 1, 1) + timedelta(days=367 * i)
    seq = f"{i % 100:02d}{(i % 5) * 2 + (i % 2 == 0)}"
    body = f"110105{born:%Y%m%d}{seq}"
    pan = f"622848{i:010d}"
    return {"ssn": body + ssn_check(body),
            "name": _SURNAMES[i % 10] + _GIVEN[(i * 7) % 20] + _GIVEN[(i * 3 + 1) % 20],
            "sex": "1" if i % 2 == 0 else "2",
            "card_number": new_card_number("K", 1_000_000 + i),
            "region": "110100", "issue_date": "2025-01-15", "pan": pan + luhn_check_digit(pan), "pin": pin}


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
