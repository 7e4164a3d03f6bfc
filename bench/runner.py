"""What every benchmark command shares: its command line (``--short``, ``--json``, the
APDU counts), SIGTERM as Ctrl-C (so that helper processes and pcscd are cleaned up), the
run's timestamp and the machine it ran on.

>>> @dataclasses.dataclass(frozen=True)
... class Counts:
...     apdus: int
...     vicc_apdus: int
>>> positive("3"), with_counts(Counts(3, 4), argparse.Namespace(apdus=None, vicc_apdus=7))
(3, Counts(apdus=3, vicc_apdus=7))
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import os
import platform
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

__all__ = ["parser", "add_counts", "with_counts", "positive", "stop_on_sigterm", "run_in_workdir", "timestamp", "machine", "cpu_model"]

_C = TypeVar("_C")
_R = TypeVar("_R")


def parser(prog: str, doc: str | None, default_json: Path, short_help: str) -> argparse.ArgumentParser:
    """``python -m PROG [--short] [--json PATH]``, described by the first paragraph of ``doc``."""
    out = argparse.ArgumentParser(prog=prog, description=(doc or "").split("\n\n")[0])
    out.add_argument("--short", action="store_true", help=short_help)
    out.add_argument("--json", type=Path, default=default_json, help=f"results file (default {default_json})")
    return out


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive count")
    return value


def add_counts(parser: argparse.ArgumentParser, apdus_help: str, vicc_help: str) -> None:
    """``--apdus N`` and ``--vicc-apdus N``, overriding the mode's counts (:func:`with_counts`)."""
    parser.add_argument("--apdus", type=positive, help=apdus_help)
    parser.add_argument("--vicc-apdus", type=positive, help=vicc_help)


def with_counts(config: _C, args: argparse.Namespace) -> _C:
    """``config`` (a dataclass) with the counts given on the command line."""
    given = {k: v for k, v in (("apdus", args.apdus), ("vicc_apdus", args.vicc_apdus)) if v is not None}
    return dataclasses.replace(config, **given)  # type: ignore[type-var]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> None:
    """SIGTERM raises KeyboardInterrupt, so the same cleanup runs as on Ctrl-C."""
    signal.signal(signal.SIGTERM, _interrupt)


def run_in_workdir(prog: str, prefix: str, run: Callable[[Path], _R]) -> _R | None:
    """``run(workdir)`` in a new temporary directory, with SIGTERM as Ctrl-C; on either,
    says that ``prog`` was interrupted (its helpers stopped by their cleanup) and returns None."""
    stop_on_sigterm()  # run the cleanup (children, pcscd) on SIGTERM too
    with tempfile.TemporaryDirectory(prefix=prefix) as workdir:
        try:
            return run(Path(workdir))
        except KeyboardInterrupt:
            print(f"{prog}: interrupted; helper processes stopped", file=sys.stderr)
            return None


def timestamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine(**extra: Any) -> dict[str, Any]:
    """The machine and Python a result was measured on."""
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), **extra}
