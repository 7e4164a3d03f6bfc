"""Parse a file once per version of it: a loader wrapped with :func:`per_file_version`
runs again only when the file's modification time or size has changed.

>>> import tempfile
>>> calls = []
>>> @per_file_version
... def words(path: Path) -> list[str]:
...     calls.append(path)
...     return path.read_text().split()
>>> with tempfile.TemporaryDirectory() as tmp:
...     f = Path(tmp) / "w.txt"
...     _ = f.write_text("a b")
...     first, again = words(f), words(f)
...     _ = f.write_text("a b c")
...     (first, again, words(f), len(calls))
(['a', 'b'], ['a', 'b'], ['a', 'b', 'c'], 2)
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, TypeVar

__all__ = ["per_file_version"]

_T = TypeVar("_T")


def per_file_version(load: Callable[..., _T]) -> Callable[..., _T]:
    """``load(path, *args)`` (``args`` hashable), kept for the last 16 (path, version, args).
    A path that cannot be examined goes straight to ``load``, whose error names it."""
    @functools.lru_cache(maxsize=16)
    def cached(path: Path, _mtime_ns: int, _size: int, *args: object) -> _T:
        return load(path, *args)

    @functools.wraps(load)
    def wrapper(path: Path, *args: object) -> _T:
        try:
            version = path.stat()
        except OSError:
            return load(path, *args)
        return cached(path, version.st_mtime_ns, version.st_size, *args)

    return wrapper
