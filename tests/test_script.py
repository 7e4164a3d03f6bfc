import re

import pytest
from hypothesis import given, strategies as st

from apdu.errors import ScriptError, TransportError
from apdu.script import Expectation, Step, StepResult, load_script, parse_expectation, parse_script, run_script

SELECT_SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"
SELECT_PSE_FCI = bytes.fromhex("6F108408A000000333010101A5049F6501FF9000")
CARD = {  # APDU -> response of a tiny fake card
    SELECT_SSSE: "9000",
    "00B2010C00": "700E5A086222612345678901 5F3401019000",
    "00B2030C00": "6A83",
    "80CA9F1700": "6D00",
    "00A4040007A0000003330101": SELECT_PSE_FCI.hex(),
    "0020000003123456": "9000",
}
ATR = bytes.fromhex("3B6D000000814A444686605199000001AC")


class FakeCard:
    def __init__(self, table=None):
        self.table = {bytes.fromhex(k): bytes.fromhex(v.replace(" ", "")) for k, v in (table or CARD).items()}
        self.sent: list[bytes] = []
        self.resets = 0

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        return self.table.get(apdu, bytes.fromhex("6D00"))

    def reset(self) -> bytes:
        self.resets += 1
        return ATR


# --- parsing ------------------------------------------------------------------

def test_comments_blank_lines_continuation_and_keywords():
    text = (
        "# a whole-line comment\n"
        "\n"
        "00A4 0400 0F 7378312E73682E \\\n"
        "   C9E7BBE1B1A3D5CF   # trailing comment\n"
        "RESET\n"
        "00:B2:01:0C:00 = 9000\r\n"
        "  exit  \n"
        "80CA9F1700\n"
    )
    steps = parse_script(text, source="t.apdu")
    assert [(s.line, s.kind) for s in steps] == [(3, "apdu"), (5, "reset"), (6, "apdu"), (7, "exit"), (8, "apdu")]
    assert steps[0].apdu == bytes.fromhex(SELECT_SSSE)
    assert steps[0].text == "00A4 0400 0F 7378312E73682E \\\n   C9E7BBE1B1A3D5CF   # trailing comment"
    assert steps[0].expect is None and steps[1].apdu == b""
    assert steps[2].expect == Expectation("9000") and steps[2].location == "t.apdu:6"


def test_bom_and_empty_script():
    assert parse_script("") == [] and parse_script("\n# only a comment\n\n") == []
    assert parse_script("\ufeff00B2010C00")[0].apdu == bytes.fromhex("00B2010C00")


@pytest.mark.parametrize("text, sw, data", [
    ("9000", "9000", None),
    ("61??", "61??", None),
    ("6a8?", "6A8?", None),
    ("90 00", "9000", None),
    ("6F* 9000", "9000", ("6F", "*")),
    ("6F * * 9000", "9000", ("6F", "*")),
    ("0709 484131303436393234 9000", "9000", ("07", "09", "48", "41", "31", "30", "34", "36", "39", "32", "34")),
    ("70??5A08*9000", "9000", ("70", "??", "5A", "08", "*")),
    ("* 9000", "9000", ("*",)),
])
def test_expectation_syntax(text, sw, data):
    assert parse_expectation(text) == Expectation(sw, data)


@pytest.mark.parametrize("line, message", [
    ("00A4 04G0", "s.apdu:2: bad hex character 'G' at position 8 in '00A4 04G0'"),
    ("00A4 040", "s.apdu:2: odd number of hex digits"),
    ("00A40400050102", "s.apdu:2: Lc=05 but 2 data bytes follow in APDU '00A40400050102'"),
    ("00A4", "s.apdu:2: APDU too short: 2 bytes, a header needs 4"),
    ("FFA40400", "s.apdu:2: CLA=FF is invalid"),
    ("reset now", "s.apdu:2: 'reset' takes nothing after it, got 'reset now'"),
    ("exit 0", "s.apdu:2: 'exit' takes nothing after it"),
    ("= 9000", "s.apdu:2: expectation without an APDU before '='"),
    ("00B2010C00 =", "s.apdu:2: '=' without an expectation"),
    ("00B2010C00 = 9000 = 6A82", "s.apdu:2: more than one '=' on the line"),
    ("00B2010C00 = 90O0", "s.apdu:2: bad character 'O' at position 3 in expectation '90O0'"),
    ("00B2010C00 = 900", "s.apdu:2: odd number of hex digits at the end of expectation"),
    ("00B2010C00 = 9 000", "s.apdu:2: odd number of hex digits before position 2 in expectation '9 000'"),
    ("00B2010C00 = 6F*", "s.apdu:2: expectation '6F*' must end with a status word pattern"),
    ("00B2010C00 = 9000 *", "must end with a status word pattern"),
    ("00B2010C00 = 90", "must end with a status word pattern"),
    ("00B2010C00 = 9*00", "s.apdu:2: odd number of hex digits before position 2"),
])
def test_errors_name_file_and_line(line, message):
    with pytest.raises(ScriptError, match=re.escape(message)):
        parse_script(f"# header\n{line}\n00B2010C00\n", source="s.apdu")


def test_error_in_a_continued_apdu_names_its_first_line():
    with pytest.raises(ScriptError, match=re.escape("s.apdu:2: Lc=0F but 7 data bytes follow")):
        parse_script("\n00A404000F \\\n 7378312E73682E\n", source="s.apdu")


def test_continuation_past_the_end():
    with pytest.raises(ScriptError, match=re.escape("s.apdu:3: '\\' continues the APDU past the end")):
        parse_script("00B2010C00\n\n00A4 \\", source="s.apdu")


@given(st.text(max_size=200))
def test_arbitrary_text_only_raises_script_error(text):
    try:
        steps = parse_script(text)
    except ScriptError:
        return
    assert all(isinstance(s, Step) and s.kind in ("apdu", "reset", "exit") for s in steps)


@given(st.text(alphabet="0123456789abcdefABCDEF?* =#\\\n\r", max_size=80))
def test_script_alphabet_only_raises_script_error(text):
    try:
        parse_script(text)
    except ScriptError:
        pass


# --- matching -----------------------------------------------------------------

@pytest.mark.parametrize("pattern, response, ok", [
    ("9000", "9000", True),
    ("9000", "6F109000", True),  # without a data pattern, data is not checked
    ("9000", "6A82", False),
    ("61??", "611E", True),
    ("61??", "6C1E", False),
    ("6A8?", "6A83", True),
    ("6A8?", "6A93", False),
    ("6F* 9000", "6F9000", True),
    ("6F* 9000", SELECT_PSE_FCI.hex(), True),
    ("6F* 9000", "9000", False),
    ("6F* 9000", "706F9000", False),
    ("* 9000", "9000", True),
    ("0709 4841 9000", "070948419000", True),
    ("0709 4841 9000", "07094841009000", False),  # the data pattern covers the whole data
    ("0709 4841 9000", "0709489000", False),
    ("07?9 ?? 9000", "07F9AA9000", True),
    ("70??5A08*9000", "700E5A086222612345678901 5F3401019000", True),
    ("* 5A 08 * 01 9000", "700E5A086222612345678901 5F3401019000", True),
    ("* 5A 08 * 02 9000", "700E5A086222612345678901 5F3401019000", False),
    ("*5F34*9000", "5F349000", True),
    ("5F* *34 9000", "5F349000", True),  # ** collapses to *
    ("5F * 5F 9000", "5F9000", False),  # head and tail may not overlap
    ("9000", "90", False),
])
def test_matching(pattern, response, ok):
    assert parse_expectation(pattern).matches(bytes.fromhex(response.replace(" ", ""))) is ok


@pytest.mark.parametrize("pattern, response, reason", [
    ("9000", "6A82", "expected SW 9000, got 6A82 (file or application not found)"),
    ("61??", "63C2", "expected SW 61??, got 63C2 (verification failed, 2 tries left)"),
    ("6F* 9000", "849000", "expected data 6F *, got 84"),
    ("6F* 9000", "9000", "expected data 6F *, got no data"),
    ("6F* 9000", "70" + "00" * 40 + "9000",
     "expected data 6F *, got 70 " + " ".join(["00"] * 31) + " ... (41 bytes)"),
    ("9000", "90", "expected SW 9000, got a 1-byte response without SW1 SW2"),
])
def test_mismatch_reasons(pattern, response, reason):
    assert parse_expectation(pattern).mismatch(bytes.fromhex(response)) == reason


def test_describe():
    assert parse_expectation("61??").describe() == "SW 61??"
    assert parse_expectation("6F*9000").describe() == "data 6F * and SW 9000"


@given(data=st.binary(max_size=40), sw=st.binary(min_size=2, max_size=2), cut=st.data())
def test_patterns_derived_from_the_response_match_it(data, sw, cut):
    items = [f"{b:02X}" for b in data]
    wild = cut.draw(st.sets(st.integers(0, max(len(items) - 1, 0))))
    items = [("??" if i in wild else it) for i, it in enumerate(items)]
    if items:
        start = cut.draw(st.integers(0, len(items)))
        stop = cut.draw(st.integers(start, len(items)))
        items[start:stop] = ["*"]
    pattern = " ".join(items + [sw.hex().upper()])
    assert parse_expectation(pattern).matches(data + sw)


@given(items=st.lists(st.sampled_from(["00", "01", "0?", "??", "*"]), max_size=6),
       data=st.lists(st.sampled_from([0x00, 0x01, 0x10]), max_size=8))
def test_matching_agrees_with_a_regular_expression(items, data):
    items = [it for i, it in enumerate(items) if not (it == "*" and items[i - 1:i] == ["*"])]
    regex = "".join("(?:[0-9A-F]{2})*" if it == "*" else it.replace("?", "[0-9A-F]") for it in items)
    expected = not items or re.fullmatch(regex, bytes(data).hex().upper()) is not None  # no data pattern: any data
    pattern = " ".join(items + ["9000"])
    assert parse_expectation(pattern).matches(bytes(data) + b"\x90\x00") is expected


# --- running ------------------------------------------------------------------

PLAIN_SCRIPTOR = f"""# scriptor format, as in pcsc-vpcd.md
reset
{SELECT_SSSE}
00 B2 01 0C 00
00 B2 03 0C 00
80 CA 9F 17 00
"""


def test_plain_scriptor_script_runs():
    card = FakeCard()
    seen: list[StepResult] = []
    report = run_script(parse_script(PLAIN_SCRIPTOR), card.transmit, card.reset, on_step=seen.append)
    assert card.resets == 1
    assert card.sent == [bytes.fromhex(h) for h in (SELECT_SSSE, "00B2010C00", "00B2030C00", "80CA9F1700")]
    assert report.ok and (report.passed, report.failed, report.sent, report.not_run) == (0, 0, 4, 0)
    assert list(report.results) == seen
    assert report.format_lines() == [
        "> RESET",
        "< OK: 3B 6D 00 00 00 81 4A 44 46 86 60 51 99 00 00 01 AC",
        "> 00 A4 04 00 0F 73 78 31 2E 73 68 2E C9 E7 BB E1 B1 A3 D5 CF",
        "< 90 00 : normal processing",
        "> 00 B2 01 0C 00",
        "< 70 0E 5A 08 62 22 61 23 45 67 89 01 5F 34 01 01",
        "90 00 : normal processing",
        "> 00 B2 03 0C 00",
        "< 6A 83 : record not found",
        "> 80 CA 9F 17 00",
        "< 6D 00 : instruction code not supported or invalid",
        "4 APDUs sent, 0 expectations met, 0 mismatches",
    ]


CHECKED = f"""{SELECT_SSSE} = 9000
00B2010C00 = 70??5A08*9000
00B2030C00 = 9000      # fails: record 03 is absent
00A4040007A0000003330101 = 6F* 9000
"""


def test_stop_at_first_mismatch():
    card = FakeCard()
    report = run_script(parse_script(CHECKED, source="c.apdu"), card.transmit, card.reset)
    assert len(card.sent) == 3
    assert (report.passed, report.failed, report.ok, report.not_run) == (2, 1, False, 1)
    last = report.results[-1]
    assert not last.ok and last.sw == 0x6A83
    assert last.reason == "expected SW 9000, got 6A83 (record not found)"
    assert report.format_lines()[-3:] == [
        "< 6A 83 : record not found",
        "= MISMATCH (c.apdu:3): expected SW 9000, got 6A83 (record not found)",
        "3 APDUs sent, 2 expectations met, 1 mismatch, 1 step not run",
    ]
    assert report.format_lines()[1:3] == ["< 90 00 : normal processing", "= ok: SW 9000"]


def test_keep_going():
    card = FakeCard()
    report = run_script(parse_script(CHECKED), card.transmit, card.reset, keep_going=True)
    assert len(card.sent) == 4
    assert (report.passed, report.failed, report.not_run) == (3, 1, 0)
    assert [r.ok for r in report.results] == [True, True, False, True]
    assert report.to_dict()["steps"][2] == {
        "line": 3, "kind": "apdu", "command": "00B2030C00", "response": "", "sw": "6A83", "expect": "SW 9000",
        "ok": False, "reason": "expected SW 9000, got 6A83 (record not found)"}


def test_exit_stops_the_script():
    card = FakeCard()
    report = run_script(parse_script("00B2010C00\nexit\n00B2030C00 = 9000\n"), card.transmit, card.reset)
    assert card.sent == [bytes.fromhex("00B2010C00")]
    assert report.ok and report.not_run == 1
    assert report.format_lines()[-2:] == ["> EXIT (<script>:2)", "1 APDU sent, 0 expectations met, 0 mismatches, "
                                          "1 step not run"]


def test_apdus_are_sent_exactly_as_written():
    card = FakeCard({"00B2010C00": "6C10"})  # no Le correction, no GET RESPONSE here
    report = run_script(parse_script("00B2010C00 = 6C??"), card.transmit, card.reset)
    assert card.sent == [bytes.fromhex("00B2010C00")] and report.ok and report.passed == 1


def test_transport_errors_propagate():
    def broken(apdu: bytes) -> bytes:
        raise TransportError("reader gone")

    with pytest.raises(TransportError, match="reader gone"):
        run_script(parse_script("00B2010C00 = 9000"), broken, lambda: ATR)


def test_malformed_response_is_a_failure_even_without_expectation():
    report = run_script(parse_script("00B2010C00"), lambda apdu: b"\x90", lambda: ATR)
    assert report.failed == 1 and report.results[0].reason == "a 1-byte response without SW1 SW2"
    assert report.format_lines()[1] == "< 90 : malformed response, no SW1 SW2"


def test_secret_commands_are_redacted_in_output():
    card = FakeCard({"0020000003123456": "6A80", "0024000003123456": "AABB9000"})
    report = run_script(parse_script("0020000003123456 = 9000"), card.transmit, card.reset)
    lines = report.format_lines()
    assert lines[0] == "> 00 20 00 00 03 ****** (3 secret bytes)"
    assert "12 34 56" not in "\n".join(lines)
    assert report.format_lines(show_secrets=True)[0] == "> 00 20 00 00 03 12 34 56"
    assert report.to_dict()["steps"][0]["command"] == "0020000003****** (3 secret bytes)"


def test_secret_response_data_is_redacted_in_reasons():
    card = FakeCard({"0024000003123456": "AABB9000"})
    report = run_script(parse_script("0024000003123456 = CC 9000"), card.transmit, card.reset)
    assert report.results[0].reason == "expected data CC, got 2 redacted bytes"
    assert report.format_lines()[1:3] == ["< <redacted>", "90 00 : normal processing"]
    assert report.to_dict()["steps"][0]["response"] is None


def test_load_script(tmp_path):
    good = tmp_path / "ok.apdu"
    good.write_bytes("\ufeff# 选择社保应用\n00B2010C00 = 9000\n".encode("utf-8"))
    assert [s.line for s in load_script(good)] == [2]
    bad = tmp_path / "gbk.apdu"
    bad.write_bytes("# ok\n# 社保\n".encode("gbk"))  # C9 E7 B1 A3
    with pytest.raises(ScriptError, match=re.escape(f"{bad}:2: not UTF-8 text: byte C9 at offset 7")):
        load_script(bad)
    with pytest.raises(ScriptError, match=re.escape(f"{tmp_path / 'missing.apdu'}: cannot read the script")):
        load_script(tmp_path / "missing.apdu")
    with pytest.raises(ScriptError, match=re.escape(f"{good}:2: ")):
        good.write_text("\n00A4 04G0\n", encoding="utf-8")
        load_script(good)
