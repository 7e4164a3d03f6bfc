"""The PIN-mailer file: where a batch with random initial PINs puts the one copy of each
PIN, for the PIN-mailer printer. The journal never holds a PIN; it only records that a
mailer was written.

The file is created with mode 0600 (an existing file must already be 0600) and opened
for appending; every entry is flushed and fsync'd before the card counts as issued. An
entry names the input row and the journal's card attempt, so an entry whose card was
later set aside (the run died between the mailer and the journal) can be told from the
good ones: print only entries whose card the journal lists as done.

>>> import tempfile, pathlib, stat
>>> from datetime import date
>>> from personalize.pin import PinMailer, PinPolicy
>>> path = pathlib.Path(tempfile.mkdtemp()) / "pins.txt"
>>> with PinMailerFile(path) as f:
...     f.write(PinMailer("王秀英", "K80362153", "4568", PinPolicy.parse("fixed:1234").initial_pin(date.today())),
...             row_number=2, card=7)
>>> print(path.read_text(encoding="utf-8"), end="")
=== row 2, card attempt 7 ===
王秀英
社会保障卡 card number K80362153
bank account ending 4568
PIN 1234
>>> oct(stat.S_IMODE(path.stat().st_mode))
'0o600'
"""
from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from apdu.errors import SSCardError

from .pin import PinMailer

__all__ = ["PinMailerFile", "MailerError"]


class MailerError(SSCardError):
    """The PIN-mailer file cannot be written safely; the batch stops (``fatal``: every
    further card would fail the same way)."""

    fatal = True


class PinMailerFile:
    """Append-only, owner-only file of PIN mailers; safe to share between worker threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise MailerError(f"{self.path}: cannot open the PIN-mailer file ({exc.strerror})") from None
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            os.close(fd)
            raise MailerError(f"{self.path}: the PIN-mailer file has mode {mode:04o}, readable by group or "
                              f"others; run 'chmod 600 {self.path}' or name a new file")
        self._fd: int | None = fd

    def write(self, mailer: PinMailer, *, row_number: int, card: int) -> None:
        """Append one mailer and make it durable (fsync) before returning."""
        text = f"=== row {row_number}, card attempt {card} ===\n{mailer.text()}"
        with self._lock:
            if self._fd is None:
                raise MailerError(f"{self.path}: the PIN-mailer file is closed")
            try:
                data = memoryview(text.encode("utf-8"))
                while data:
                    data = data[os.write(self._fd, data):]
                os.fsync(self._fd)
            except OSError as exc:
                raise MailerError(f"{self.path}: cannot write a PIN mailer ({exc.strerror})") from None

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> PinMailerFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
