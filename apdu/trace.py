"""APDU tracing: every exchange with a timestamp and a duration.

Two formats: readable (``>>`` / ``<<`` lines, as engineers know them from GPPro and
scriptor) and JSON lines (one object per exchange). Secret command data is redacted
unless ``show_secrets`` is set; responses to secret commands carry only a status word.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import IO, Callable

from .redact import command_hex, is_secret
from .sw import describe


@dataclass(frozen=True)
class Exchange:
    """One C-APDU/R-APDU pair as it crossed the transport."""

    timestamp: float
    duration: float
    command: bytes
    response: bytes
    origin: str = ""  # "" for the caller's own APDU, else the processor that added it
    step: str = ""  # a named step of a higher-level flow ("write EF05", ...)

    @property
    def sw(self) -> int:
        return int.from_bytes(self.response[-2:], "big") if len(self.response) >= 2 else 0


class Tracer:
    """Collects exchanges and writes them to a stream as they happen."""

    def __init__(self, stream: IO[str] | None = None, *, fmt: str = "text", show_secrets: bool = False,
                 keep: bool = False) -> None:
        if fmt not in ("text", "jsonl"):
            raise ValueError(f"unknown trace format {fmt!r}: use text or jsonl")
        self.stream = stream
        self.fmt = fmt
        self.show_secrets = show_secrets
        self.keep = keep
        self.exchanges: list[Exchange] = []
        self.step = ""

    def record(self, exchange: Exchange) -> None:
        if self.keep:
            self.exchanges.append(exchange)
        if self.stream is not None:
            self.stream.write(self.format(exchange))
            self.stream.flush()

    def note(self, text: str) -> None:
        """A free-text line (session start, reset, named step)."""
        if self.stream is None:
            return
        if self.fmt == "jsonl":
            self.stream.write(json.dumps({"ts": round(time.time(), 6), "note": text}) + "\n")
        else:
            self.stream.write(f"## {time.strftime('%H:%M:%S')} {text}\n")
        self.stream.flush()

    def format(self, ex: Exchange) -> str:
        secret = is_secret(ex.command) and not self.show_secrets
        cmd = command_hex(ex.command, sep=" ", show_secrets=self.show_secrets)
        data = ex.response[:-2]
        rsp_data = "" if not data else ("<redacted>" if secret else data.hex(" ").upper())
        if self.fmt == "jsonl":
            obj = {"ts": round(ex.timestamp, 6), "ms": round(ex.duration * 1000, 3),
                   "c": cmd.replace(" ", ""), "r": rsp_data.replace(" ", ""), "sw": f"{ex.sw:04X}"}
            if ex.origin:
                obj["origin"] = ex.origin
            if ex.step:
                obj["step"] = ex.step
            return json.dumps(obj) + "\n"
        stamp = time.strftime("%H:%M:%S", time.localtime(ex.timestamp)) + f".{int(ex.timestamp * 1000) % 1000:03d}"
        origin = f"  [{ex.origin}]" if ex.origin else ""
        step = f"  ({ex.step})" if ex.step else ""
        lines = [f"{stamp} >> {cmd}{origin}{step}\n"]
        body = f"{rsp_data} " if rsp_data else ""
        lines.append(f"{stamp} << {body}{ex.sw:04X}  {describe(ex.sw)}  [{ex.duration * 1000:.3f} ms]\n")
        return "".join(lines)


def timed(transmit: Callable[[bytes], bytes], apdu: bytes) -> tuple[bytes, float, float]:
    """Call ``transmit`` and return (response, start timestamp, duration in seconds)."""
    start_wall = time.time()
    start = time.perf_counter()
    response = transmit(apdu)
    return response, start_wall, time.perf_counter() - start
