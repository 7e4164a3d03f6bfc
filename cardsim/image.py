"""Card image files: a virtual card kept in one versioned JSON file (format:
:mod:`cardsim.imagecodec`), with atomic writes after every durable change.

The file holds the card's keys in clear, as a card's EEPROM does: it is created with
mode 0600 and its contents never reach a log or an error message. A file that cannot
be read (not JSON, truncated, another format, a newer version, a broken tree) gives
one :class:`ImageError` naming the file and the problem, and is never overwritten:

>>> import json, tempfile, pathlib
>>> bad = pathlib.Path(tempfile.mkdtemp()) / "card.json"
>>> _ = bad.write_text(json.dumps({"format": FORMAT, "version": 7}))
>>> load_image(bad)  # doctest: +ELLIPSIS
Traceback (most recent call last):
cardsim.imagecodec.ImageError: .../card.json: version 7 is newer than this sscard (1)
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from .imagecodec import (APP_KINDS, FORMAT, SECTION_MODULES, SECTIONS, VERSION, AppKind, ImageError, Section,
                         card_from_dict, card_to_dict, register_app_kind, register_section)
from .runtime import CardOS

__all__ = ["FORMAT", "VERSION", "ImageError", "ImageStore", "AppKind", "Section", "APP_KINDS", "SECTIONS",
           "SECTION_MODULES",
           "register_app_kind", "register_section", "card_to_dict", "card_from_dict", "read_image_data",
           "write_atomic", "check_image_file", "save_image", "load_image", "open_image_card"]

log = logging.getLogger(__name__)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def read_image_data(path: Path) -> Any:
    """The parsed JSON of an image file; :class:`ImageError` when unreadable or not JSON."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read card image ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImageError(f"{path}: not a card image (byte {exc.start} is not UTF-8)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.strip():
            raise ImageError(f"{path}: empty file, not a card image") from None
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise ImageError(f"{path}: truncated card image (JSON ends early at byte {len(raw)})") from None
        raise ImageError(f"{path}: corrupt card image (bad JSON at line {exc.lineno} column {exc.colno}: "
                         f"{exc.msg})") from None


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old or the new file: temp
    file (mode 0600) in the same directory, write, flush, fsync, rename, fsync the
    directory. :class:`ImageError` when the file cannot be written."""
    directory = path.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ImageError(f"{path}: cannot write card image ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise ImageError(f"{path}: cannot write card image ({exc.strerror or exc})") from None
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _dump(card: CardOS) -> str:
    return json.dumps(card_to_dict(card), ensure_ascii=False, indent=1) + "\n"


class ImageStore:
    """The :class:`~cardsim.store.Store` of a card kept in an image file.

    ``commit`` rewrites the whole image atomically (:func:`write_atomic`). It refuses,
    with :class:`ImageError` (the card answers 6581), to write over a file that changed
    since this store last read or wrote it unless that file is still a card image this
    sscard can read: a corrupt, truncated or newer image is never overwritten.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.card: CardOS | None = None
        self._known: tuple[int, int, int] | None = None

    def bind(self, card: CardOS, *, loaded: bool) -> None:
        """Attach the card; ``loaded``: the file now at ``path`` is its image (just read or written)."""
        self.card = card
        self._known = _signature(self.path) if loaded else None

    def commit(self, reason: str) -> None:
        if self.card is None:
            raise ImageError(f"{self.path}: no card attached to the image store")
        current = _signature(self.path)
        if current is not None and current != self._known:
            check_image_file(self.path)  # raises ImageError: never overwrite what we cannot read
        write_atomic(self.path, _dump(self.card))
        self._known = _signature(self.path)
        log.debug("%s: image written (%s)", self.path, reason)


def check_image_file(path: Path) -> None:
    """Raise :class:`ImageError` unless ``path`` holds a card image this sscard can read."""
    card_from_dict(read_image_data(path), label=str(path))


def _attach(card: CardOS, path: Path) -> CardOS:
    store = ImageStore(path)
    store.bind(card, loaded=True)
    card.store = store
    return card


def save_image(card: CardOS, path: Path | str) -> None:
    """Write ``card`` to ``path`` (atomically, mode 0600); from then on the card's store
    is an :class:`ImageStore` on ``path``, so its changes persist there."""
    path = Path(path)
    write_atomic(path, _dump(card))
    _attach(card, path)


def load_image(path: Path | str) -> CardOS:
    """The card stored in ``path``, with an :class:`ImageStore` attached (changes persist)."""
    path = Path(path)
    return _attach(card_from_dict(read_image_data(path), label=str(path)), path)


def open_image_card(path: Path | str) -> CardOS:
    """The card object behind ``--card PATH`` (see :func:`load_image`)."""
    return load_image(path)
