"""Streaming readers and writers of cardholder files: CSV and JSON Lines.

Both read one line at a time (constant memory: a generator, never the whole file) and
yield, per row, either a :class:`~personalize.cardholder.Cardholder` or the
:class:`~personalize.cardholder.RowError` that lists its problems; the caller decides
whether to stop. Problems of the file itself (no header, unknown or missing columns, an
unknown encoding) raise :class:`InputError` instead.

Numbering: a row's number is the physical line number of its first line. In CSV the
header row is line 1 (so the first data row is 2); in JSON Lines the first object is
line 1. Column names (:data:`~personalize.cardholder.COLUMNS`) are matched after
stripping blanks and lower-casing; empty cells mean "absent". Encodings: ``utf-8`` (a
BOM is skipped), ``gbk`` and its superset ``gb18030``.

>>> import io
>>> data = ("ssn,name,pan,region,card_number\\n"
...         "11010519491231002X,李磊,6228481234567890128,110105,K80362153\\n").encode("gbk")
>>> print(next(read_cardholders(io.BytesIO(data), fmt="csv")))
line 2: not valid UTF-8 (byte 0xC0 at column 20); try --encoding gbk
>>> [(r.row_number, r.social.name) for r in read_cardholders(io.BytesIO(data), fmt="csv", encoding="gbk")]
[(2, '李磊')]
>>> next(read_cardholders(io.BytesIO(b"ssn,nmae,pan\\n"), fmt="csv"))
Traceback (most recent call last):
personalize.inputs.InputError: line 1: unknown column 'nmae' (did you mean 'name'?)
"""
from __future__ import annotations

import codecs
import csv
import dataclasses
import difflib
import io
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Literal, Union

from apdu.errors import SSCardError

from .cardholder import COLUMNS, REQUIRED, BatchDefaults, Cardholder, RowError

__all__ = ["read_cardholders", "write_cardholders", "InputError", "RowResult", "Format", "WRITTEN_COLUMNS",
           "MAX_LINE"]

RowResult = Union[Cardholder, RowError]
Format = Literal["csv", "jsonl"]
Source = Union[str, "os.PathLike[str]", IO[bytes]]
_CODECS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "gbk": "GBK", "gb18030": "GB18030"}
_SUFFIXES: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: Columns :func:`write_cardholders` writes: every column but the PIN.
WRITTEN_COLUMNS = tuple(c for c in COLUMNS if c != "pin")
#: Longest input line read (a cardholder line is well under 1 KiB); longer lines are refused.
MAX_LINE = 64 * 1024


class InputError(SSCardError, ValueError):
    """The input file as a whole is unusable (names the file or line and the problem)."""


def _codec(encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        name = ""
    if name not in _CODECS:
        raise InputError(f"encoding {encoding!r} is not supported (utf-8, gbk or gb18030)")
    return "utf-8" if name == "utf-8-sig" else name


def _format(source: Source, fmt: str | None) -> Format:
    if fmt is not None:
        if fmt not in ("csv", "jsonl"):
            raise InputError(f"format {fmt!r} is not supported (csv or jsonl)")
        return fmt  # type: ignore[return-value]
    name = source if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "")
    found = _SUFFIXES.get(Path(str(name)).suffix.lower())
    if found is None:
        raise InputError(f"cannot tell the format of {str(name) or 'the input'!r} from its name; "
                         f"give csv or jsonl")
    return found


class _Lines:
    """Decoded lines of a binary stream, numbered from 1; a decode fault is kept in
    ``faults`` (line → reason) and the line decoded with replacement characters."""

    def __init__(self, stream: IO[bytes], codec: str) -> None:
        self.stream, self.codec, self.number = stream, codec, 0
        self.faults: dict[int, str] = {}

    def _fault(self, raw: bytes) -> str | None:
        label = _CODECS[self.codec]
        try:
            raw.decode(self.codec)
        except UnicodeDecodeError as e:
            other = "gbk" if self.codec == "utf-8" else "utf-8"
            return f"not valid {label} (byte 0x{raw[e.start]:02X} at column {e.start + 1}); try --encoding {other}"
        if self.codec != "utf-8" and not raw.isascii():
            # UTF-8 hanzi are 3-byte sequences (U+0800 and up); GBK text that happens to be
            # valid UTF-8 forms 2-byte ones (e.g. 取伞 = C8A1 C9A1), so only the former is refused.
            try:
                as_utf8 = raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
            if any(ord(c) >= 0x800 for c in as_utf8):
                return f"is UTF-8 text, which {label} would misread; try --encoding utf-8"
        return None

    def __iter__(self) -> Iterator[str]:
        while raw := self.stream.readline(MAX_LINE + 1):
            self.number += 1
            if len(raw) > MAX_LINE:  # never hold more than one bounded line
                while raw and not raw.endswith(b"\n"):
                    raw = self.stream.readline(MAX_LINE)
                self.faults[self.number] = f"is longer than {MAX_LINE} bytes"
                yield "\n"
                continue
            fault = self._fault(raw)
            if fault:
                self.faults[self.number] = fault
            text = raw.decode(self.codec, errors="replace")
            yield text[1:] if self.number == 1 and text.startswith("\ufeff") else text


def _check_header(cells: list[str], defaults: BatchDefaults) -> list[str]:
    names = [c.strip().lower() for c in cells]
    if not any(n in COLUMNS for n in names):
        raise InputError(f"line 1 is not a header row: no cell names a column (a header starts like "
                         f"{','.join(REQUIRED)})")
    for i, n in enumerate(names):
        if not n:
            raise InputError(f"line 1: column {i + 1} has no name")
        if n not in COLUMNS:
            hint = difflib.get_close_matches(n, COLUMNS, 1)
            raise InputError(f"line 1: unknown column {cells[i].strip()!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else f"; known: {', '.join(COLUMNS)}"))
        if names.index(n) != i:
            raise InputError(f"line 1: column {n!r} appears twice (columns {names.index(n) + 1} and {i + 1})")
    missing = [c for c in REQUIRED if c not in names]
    if defaults.region is None and "region" not in names:
        missing.append("region (or a batch default region)")
    if missing:
        raise InputError(f"line 1: missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    return names


def _read_csv(stream: IO[bytes], codec: str, defaults: BatchDefaults) -> Iterator[RowResult]:
    lines = _Lines(stream, codec)
    reader = csv.reader(iter(lines), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("the file is empty; a header row is required") from None
    except csv.Error as e:
        raise InputError(f"line 1: not a CSV header ({e})") from None
    if lines.faults:
        raise InputError(f"line 1: {lines.faults[min(lines.faults)]}")
    columns = _check_header(header, defaults)
    first = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield RowError(lines.number, [(None, f"not valid CSV ({e})")], unit="line")
            first = reader.line_num + 1
            continue
        row_number, first = first, reader.line_num + 1
        fault = _take_fault(lines, row_number, reader.line_num)
        if fault is not None:
            yield fault
        elif any(c.strip() for c in cells):
            if len(cells) != len(columns):
                yield RowError(row_number, [(None, f"has {len(cells)} cells; the header has {len(columns)}")])
                continue
            yield _build(dict(zip(columns, cells)), row_number, defaults)


def _take_fault(lines: _Lines, first: int, last: int) -> RowError | None:
    bad = [n for n in sorted(lines.faults) if first <= n <= last]
    error = RowError(bad[0], [(None, lines.faults[bad[0]])], unit="line") if bad else None
    lines.faults.clear()
    return error


def _build(row: dict[str, str], row_number: int, defaults: BatchDefaults,
           problems: list[tuple[str | None, str]] | None = None) -> RowResult:
    try:
        cardholder = Cardholder.from_row(row, row_number=row_number, defaults=defaults)
    except RowError as e:
        named = {f for f, _ in problems or []}
        return RowError(row_number, (problems or []) + [p for p in e.problems if p[0] not in named])
    return RowError(row_number, problems) if problems else cardholder


_JSON_KINDS = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}


def _read_jsonl(stream: IO[bytes], codec: str, defaults: BatchDefaults) -> Iterator[RowResult]:
    lines = _Lines(stream, codec)
    for text in lines:
        n = lines.number
        fault = _take_fault(lines, n, n)
        if fault is not None:
            yield fault
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text.rstrip("\r\n"))
        except json.JSONDecodeError as e:
            yield RowError(n, [(None, f"not valid JSON ({e.msg} at column {e.colno})")], unit="line")
            continue
        if not isinstance(obj, dict):
            yield RowError(n, [(None, f"is {_JSON_KINDS.get(type(obj), 'a string')}, not a JSON object")], unit="line")
            continue
        problems: list[tuple[str | None, str]] = []
        row: dict[str, str] = {}
        for key, value in obj.items():
            if value is None or isinstance(value, str):
                row[key] = value or ""
            else:
                problems.append((key, f"must be a JSON string, not {_JSON_KINDS[type(value)]} "
                                      f"(quote codes to keep leading zeros)"))
        yield _build(row, n, defaults, problems)


def read_cardholders(source: Source, *, encoding: str = "utf-8", fmt: str | None = None,
                     defaults: BatchDefaults | None = None) -> Iterator[RowResult]:
    """Stream the cardholders of a CSV or JSON Lines file (or binary stream).

    ``fmt`` defaults to the file suffix (.csv, .jsonl, .ndjson). Photo paths are relative
    to the file's folder unless ``defaults.base_dir`` says otherwise.
    """
    codec, form = _codec(encoding), _format(source, fmt)
    d = defaults or BatchDefaults()
    if d.base_dir is None and isinstance(source, (str, os.PathLike)):
        d = dataclasses.replace(d, base_dir=Path(source).parent)
    read = _read_csv if form == "csv" else _read_jsonl
    if not isinstance(source, (str, os.PathLike)):
        return read(source, codec, d)
    return _from_path(Path(source), read, codec, d)


def _from_path(path: Path, read, codec: str, d: BatchDefaults) -> Iterator[RowResult]:  # type: ignore[no-untyped-def]
    try:
        stream = path.open("rb")
    except OSError as e:
        raise InputError(f"{path}: cannot open ({e.strerror})") from None
    with stream:
        yield from read(stream, codec, d)


def write_cardholders(target: Source, cardholders: Iterable[Cardholder], *, encoding: str = "utf-8",
                      fmt: str | None = None) -> int:
    """Write cardholders (:meth:`Cardholder.to_row`, PIN left out) one by one; return the count."""
    codec, form = _codec(encoding), _format(target, fmt)
    if isinstance(target, (str, os.PathLike)):
        with open(target, "w", encoding=codec, newline="") as out:
            return _write(out, cardholders, form)
    text = io.TextIOWrapper(target, encoding=codec, newline="", write_through=True)
    try:
        return _write(text, cardholders, form)
    finally:
        text.detach()


def _write(out: IO[str], cardholders: Iterable[Cardholder], form: Format) -> int:
    count = 0
    writer = csv.DictWriter(out, WRITTEN_COLUMNS, extrasaction="ignore", lineterminator="\n")
    if form == "csv":
        writer.writeheader()
    for ch in cardholders:
        row = ch.to_row()
        if form == "csv":
            writer.writerow(row)
        else:
            out.write(json.dumps({k: v for k, v in row.items() if v and k in WRITTEN_COLUMNS},
                                 ensure_ascii=False) + "\n")
        count += 1
    return count
