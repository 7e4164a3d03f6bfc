r"""APDU scripts: pcsc-tools' scriptor format, plus expectations.

The format, one item per line:

- an APDU in hex, spaced or contiguous (forgiving, as :func:`apdu.hexinput.parse_hex`),
  sent **exactly as written**: nothing here adds GET RESPONSE or corrects Le;
- ``reset``: warm reset of the card (the ATR is shown); ``exit``: stop the script
  (either in any case, alone on its line);
- ``#`` starts a comment, on its own line or after an item; blank lines are ignored;
- ``\`` at the end of a line continues the APDU on the next line (the text is joined).

sscard's extension is an expectation after ``=`` at the end of an APDU line::

    APDU = [DATA-PATTERN] SW-PATTERN

- SW-PATTERN is the last two bytes: hex nibbles or ``?`` for any nibble (``9000``,
  ``61??``, ``6A8?``).
- DATA-PATTERN is hex with ``?`` nibbles and ``*`` for any number of bytes; it must match
  the whole response data. Without it only the status word is checked.

Patterns are checked when the script is loaded, and every APDU must parse as an
ISO 7816-4 command; errors name ``file:line`` (the first line of a continued APDU).
Files are read as UTF-8 (:func:`load_script`). :func:`run_script` reports each step in
scriptor's style and stops at the first mismatch unless told to keep going.

>>> steps = parse_script('''
... # select the social-security DDF, then read SSSE record 07
... 00A404000F 7378312E73682EC9E7BBE1B1A3D5CF = 6F* 9000
... 00B2070400 \\
...   = 07 09 ?? * 9000
... reset
... 00A4000002EF05 = 6A8?   # not there on this card
... ''', source="demo.apdu")
>>> [(s.line, s.kind, s.expect.describe() if s.expect else "") for s in steps]
[(3, 'apdu', 'data 6F * and SW 9000'), (4, 'apdu', 'data 07 09 ?? * and SW 9000'), (6, 'reset', ''), (7, 'apdu', 'SW 6A8?')]
>>> parse_script("00A4 04G0 = 9000", source="demo.apdu")
Traceback (most recent call last):
apdu.errors.ScriptError: demo.apdu:1: bad hex character 'G' at position 8 in '00A4 04G0'
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .command import CommandAPDU
from .errors import APDUError, HexError, ScriptError
from .hexinput import parse_hex
from .redact import command_hex, is_secret
from .sw import describe as describe_sw

_HEX = frozenset("0123456789ABCDEF")
_SEPARATORS = frozenset(" \t\r\n:-,;")
_KEYWORDS = ("reset", "exit")
_SHOWN_BYTES = 32  # response data shown in a mismatch reason

BytePattern = tuple[int, int]  # (value, mask): a byte b matches when b & mask == value


@dataclass(frozen=True)
class Expectation:
    """What a response must look like: ``sw`` is 4 characters (hex or ``?``); ``data`` is
    None (data not checked) or byte patterns such as ``"6F"``, ``"6?"``, ``"??"`` and ``"*"``.

    >>> e = parse_expectation("6F * 9000")
    >>> e.matches(bytes.fromhex("6F0A9000")), e.matches(bytes.fromhex("9000")), e.matches(bytes.fromhex("6F6A82"))
    (True, False, False)
    >>> e.mismatch(bytes.fromhex("6A82"))
    'expected SW 9000, got 6A82 (file or application not found)'
    """

    sw: str
    data: tuple[str, ...] | None = None

    def matches(self, response: bytes) -> bool:
        return self.mismatch(response) is None

    def mismatch(self, response: bytes, *, hide_data: bool = False) -> str | None:
        """None when ``response`` matches, else why not (data hidden for secret commands)."""
        if len(response) < 2:
            return f"expected SW {self.sw}, got a {len(response)}-byte response without SW1 SW2"
        sw = int.from_bytes(response[-2:], "big")
        if not _nibbles_match(self.sw, f"{sw:04X}"):
            return f"expected SW {self.sw}, got {sw:04X} ({describe_sw(sw)})"
        data = response[:-2]
        if self.data is not None and not _glob(data, self.data):
            if hide_data:
                got = f"{len(data)} redacted bytes"
            elif not data:
                got = "no data"
            else:
                more = f" ... ({len(data)} bytes)" if len(data) > _SHOWN_BYTES else ""
                got = data[:_SHOWN_BYTES].hex(" ").upper() + more
            return f"expected data {' '.join(self.data)}, got {got}"
        return None

    def describe(self) -> str:
        return f"SW {self.sw}" if self.data is None else f"data {' '.join(self.data)} and SW {self.sw}"


def _nibbles_match(pattern: str, hex_text: str) -> bool:
    return len(pattern) == len(hex_text) and all(p in ("?", c) for p, c in zip(pattern, hex_text))


def _byte_pattern(item: str) -> BytePattern:
    hi, lo = item
    value = (0 if hi == "?" else int(hi, 16) << 4) | (0 if lo == "?" else int(lo, 16))
    mask = (0 if hi == "?" else 0xF0) | (0 if lo == "?" else 0x0F)
    return value, mask


def _segment_at(data: bytes, pos: int, segment: Sequence[BytePattern]) -> bool:
    return all(data[pos + j] & mask == value for j, (value, mask) in enumerate(segment))


def _glob(data: bytes, items: Sequence[str]) -> bool:
    """Whole-data match of byte patterns with ``*``; leftmost-first, so linear per segment."""
    segments: list[list[BytePattern]] = [[]]
    for item in items:
        if item == "*":
            segments.append([])
        else:
            segments[-1].append(_byte_pattern(item))
    if len(segments) == 1:
        return len(data) == len(segments[0]) and _segment_at(data, 0, segments[0])
    head, *middle, tail = segments
    end = len(data) - len(tail)
    if end < len(head) or not _segment_at(data, 0, head) or not _segment_at(data, end, tail):
        return False
    cursor = len(head)
    for segment in middle:
        found = next((p for p in range(cursor, end - len(segment) + 1) if _segment_at(data, p, segment)), None)
        if found is None:
            return False
        cursor = found + len(segment)
    return True


def parse_expectation(text: str) -> Expectation:
    """Parse ``[DATA-PATTERN] SW-PATTERN`` (the text after ``=``); errors carry no location.

    >>> parse_expectation("61??")
    Expectation(sw='61??', data=None)
    >>> parse_expectation("6F* 90 00").data
    ('6F', '*')
    >>> parse_expectation("9000 *")
    Traceback (most recent call last):
    apdu.errors.ScriptError: expectation '9000 *' must end with a status word pattern such as 9000 or 61??
    """
    items: list[str] = []
    run = ""
    for pos, ch in enumerate(text, 1):
        upper = ch.upper()
        if upper in _HEX or ch == "?":
            run += upper
            if len(run) == 2:
                items.append(run)
                run = ""
        elif ch == "*" or ch in _SEPARATORS:
            if run:
                raise ScriptError(f"odd number of hex digits before position {pos} in expectation {text!r}")
            if ch == "*" and items[-1:] != ["*"]:
                items.append("*")
        else:
            raise ScriptError(f"bad character {ch!r} at position {pos} in expectation {text!r} "
                              "(use hex, '?' for any nibble, '*' for any bytes)")
    if run:
        raise ScriptError(f"odd number of hex digits at the end of expectation {text!r}")
    if not items:
        raise ScriptError("'=' without an expectation: write e.g. '= 9000'")
    if len(items) < 2 or "*" in items[-2:]:
        raise ScriptError(f"expectation {text!r} must end with a status word pattern such as 9000 or 61??")
    return Expectation(items[-2] + items[-1], tuple(items[:-2]) or None)


@dataclass(frozen=True)
class Step:
    """One script item: ``kind`` is 'apdu', 'reset' or 'exit'; ``line`` is its first line."""

    line: int
    kind: str
    apdu: bytes = b""
    expect: Expectation | None = None
    text: str = ""
    source: str = "<script>"

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}"


def parse_script(text: str, source: str = "<script>") -> list[Step]:
    """Parse a whole script; a :class:`ScriptError` names ``source:line`` and what is wrong."""
    steps: list[Step] = []
    pending: list[str] = []  # physical lines of a continued item
    code_so_far = ""
    first = 0
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        line = raw.removesuffix("\r")
        code = line.split("#", 1)[0].strip()
        if not pending:
            first = number
        pending.append(line)
        if code.endswith("\\"):
            code_so_far += code[:-1].strip()
            continue
        code = code_so_far + code
        item_text, pending, code_so_far = "\n".join(pending), [], ""
        if code:
            steps.append(_parse_item(code, item_text, first, source))
    if pending:
        raise ScriptError(f"{source}:{first}: '\\' continues the APDU past the end of the script")
    return steps


def _parse_item(code: str, text: str, line: int, source: str) -> Step:
    where = f"{source}:{line}"
    word = code.lower()
    for keyword in _KEYWORDS:
        if word == keyword:
            return Step(line, keyword, text=text, source=source)
        if word.startswith(keyword):
            raise ScriptError(f"{where}: '{keyword}' takes nothing after it, got {code!r}")
    apdu_text, has_expect, expect_text = code.partition("=")
    apdu_text = apdu_text.rstrip()
    if not apdu_text:
        raise ScriptError(f"{where}: expectation without an APDU before '='")
    try:
        apdu = parse_hex(apdu_text)
        CommandAPDU.parse(apdu)
    except HexError as exc:
        raise ScriptError(f"{where}: {exc}") from None
    except APDUError as exc:
        raise ScriptError(f"{where}: {exc} in APDU {apdu_text!r}") from None
    expect = None
    if has_expect:
        if "=" in expect_text:
            raise ScriptError(f"{where}: more than one '=' on the line")
        try:
            expect = parse_expectation(expect_text.strip())
        except ScriptError as exc:
            raise ScriptError(f"{where}: {exc}") from None
    return Step(line, "apdu", apdu, expect, text, source)


def load_script(path: str | Path) -> list[Step]:
    """Read a script file as UTF-8 (a BOM is allowed) and parse it."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ScriptError(f"{p}: cannot read the script: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ScriptError(f"{p}:{line}: not UTF-8 text: byte {raw[exc.start]:02X} at offset {exc.start}") from None
    return parse_script(text, source=str(p))


# --- running ----------------------------------------------------------------------

@dataclass(frozen=True)
class StepResult:
    """What one step did: ``response`` is the R-APDU (the ATR for reset, empty for exit)."""

    step: Step
    response: bytes
    ok: bool
    reason: str = ""

    @property
    def checked(self) -> bool:
        return self.step.expect is not None

    @property
    def sw(self) -> int | None:
        if self.step.kind != "apdu" or len(self.response) < 2:
            return None
        return int.from_bytes(self.response[-2:], "big")

    def format_lines(self, *, show_secrets: bool = False) -> list[str]:
        """scriptor-style lines: ``> C-APDU``, ``< data``, ``SW1 SW2 : meaning``, then the verdict."""
        kind = self.step.kind
        if kind == "reset":
            return ["> RESET", f"< OK: {self.response.hex(' ').upper()}"]
        if kind == "exit":
            return [f"> EXIT ({self.step.location})"]
        apdu = self.step.apdu
        lines = [f"> {command_hex(apdu, sep=' ', show_secrets=show_secrets)}"]
        if len(self.response) < 2:
            lines.append(f"< {self.response.hex(' ').upper() or '(nothing)'} : malformed response, no SW1 SW2")
        else:
            data, sw = self.response[:-2], int.from_bytes(self.response[-2:], "big")
            status = f"{sw >> 8:02X} {sw & 0xFF:02X} : {describe_sw(sw)}"
            if data:
                hidden = is_secret(apdu) and not show_secrets
                lines += [f"< {'<redacted>' if hidden else data.hex(' ').upper()}", status]
            else:
                lines.append(f"< {status}")
        if not self.ok:
            lines.append(f"= MISMATCH ({self.step.location}): {self.reason}")
        elif self.step.expect is not None:
            lines.append(f"= ok: {self.step.expect.describe()}")
        return lines

    def to_dict(self, *, show_secrets: bool = False) -> dict[str, Any]:
        secret = self.step.kind == "apdu" and is_secret(self.step.apdu) and not show_secrets
        data = self.response[:-2] if self.step.kind == "apdu" and len(self.response) >= 2 else self.response
        return {
            "line": self.step.line,
            "kind": self.step.kind,
            "command": command_hex(self.step.apdu, show_secrets=show_secrets) if self.step.apdu else None,
            "response": None if secret and data else data.hex().upper(),
            "sw": None if self.sw is None else f"{self.sw:04X}",
            "expect": self.step.expect.describe() if self.step.expect else None,
            "ok": self.ok,
            "reason": self.reason or None,
        }


@dataclass(frozen=True)
class ScriptReport:
    """The results of the steps that ran, in order, and how many steps the script had."""

    results: tuple[StepResult, ...]
    total: int

    @property
    def passed(self) -> int:
        """Expectations met."""
        return sum(1 for r in self.results if r.ok and r.checked)

    @property
    def failed(self) -> int:
        """Mismatches (including malformed responses)."""
        return sum(1 for r in self.results if not r.ok)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def sent(self) -> int:
        return sum(1 for r in self.results if r.step.kind == "apdu")

    @property
    def not_run(self) -> int:
        """Steps after an ``exit`` or after the first mismatch."""
        return self.total - len(self.results)

    def summary(self) -> str:
        text = (f"{self.sent} APDU{'s' if self.sent != 1 else ''} sent, {self.passed} expectation"
                f"{'s' if self.passed != 1 else ''} met, {self.failed} mismatch{'es' if self.failed != 1 else ''}")
        return text + (f", {self.not_run} step{'s' if self.not_run != 1 else ''} not run" if self.not_run else "")

    def format_lines(self, *, show_secrets: bool = False) -> list[str]:
        lines = [line for r in self.results for line in r.format_lines(show_secrets=show_secrets)]
        return lines + [self.summary()]

    def to_dict(self, *, show_secrets: bool = False) -> dict[str, Any]:
        return {"ok": self.ok, "passed": self.passed, "failed": self.failed, "sent": self.sent,
                "not_run": self.not_run, "steps": [r.to_dict(show_secrets=show_secrets) for r in self.results]}


def run_script(steps: Iterable[Step], transmit: Callable[[bytes], bytes], reset: Callable[[], bytes], *,
               keep_going: bool = False, on_step: Callable[[StepResult], None] | None = None) -> ScriptReport:
    """Run the steps in order; stop after the first mismatch unless ``keep_going``.

    Transport errors propagate: they are not mismatches.

    >>> card = {bytes.fromhex("00A4000002EF05"): bytes.fromhex("6A82")}
    >>> report = run_script(parse_script("00A4000002EF05 = 9000\\n00B2070400"), card.__getitem__, bytes)
    >>> report.failed, report.not_run, report.format_lines()[-2:]
    (1, 1, ['= MISMATCH (<script>:1): expected SW 9000, got 6A82 (file or application not found)', '1 APDU sent, 0 expectations met, 1 mismatch, 1 step not run'])
    """
    steps = list(steps)
    results: list[StepResult] = []
    for step in steps:
        if step.kind == "reset":
            result = StepResult(step, bytes(reset()), True)
        elif step.kind == "exit":
            result = StepResult(step, b"", True)
        else:
            response = bytes(transmit(step.apdu))
            if step.expect is not None:
                reason = step.expect.mismatch(response, hide_data=is_secret(step.apdu))
            elif len(response) < 2:
                reason = f"a {len(response)}-byte response without SW1 SW2"
            else:
                reason = None
            result = StepResult(step, response, reason is None, reason or "")
        results.append(result)
        if on_step is not None:
            on_step(result)
        if step.kind == "exit" or (not result.ok and not keep_going):
            break
    return ScriptReport(tuple(results), len(steps))
