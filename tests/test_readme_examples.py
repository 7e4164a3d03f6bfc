"""The README's "Testing your software against the card" example is itself a test: each
python code block under that heading is written to a test file and run with pytest
(in-process, through the sscard plugin's entry point); every one must pass."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"
HEADING = "## Testing your software against the card"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level.

    >>> section("# a\\n## B\\nx\\n### c\\ny\\n## D\\nz\\n", "## B")
    'x\\n### c\\ny\\n'
    """
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == heading]
    if len(starts) != 1:
        raise LookupError(f"{heading!r} appears {len(starts)} times, not once")
    level = len(heading) - len(heading.lstrip("#"))
    out = []
    for line in lines[starts[0] + 1:]:
        hashes = len(line) - len(line.lstrip("#"))
        if 0 < hashes <= level and line[hashes:hashes + 1] == " ":
            break
        out.append(line)
    return "".join(out)


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python fenced blocks of ``text``, in order."""
    return _BLOCK.findall(text)


def test_the_section_holds_a_python_example() -> None:
    blocks = python_blocks(section(README.read_text(encoding="utf-8"), HEADING))
    assert blocks and all("def test_" in block for block in blocks)


@pytest.mark.parametrize("index", range(len(python_blocks(section(README.read_text(encoding="utf-8"), HEADING)))))
def test_readme_example_passes(pytester: pytest.Pytester, index: int) -> None:
    block = python_blocks(section(README.read_text(encoding="utf-8"), HEADING))[index]
    pytester.makepyfile(**{f"test_readme_example_{index}": block})
    result = pytester.runpytest("-p", "no:cacheprovider")
    tests = len(re.findall(r"^def test_", block, re.MULTILINE))
    result.assert_outcomes(passed=tests)
