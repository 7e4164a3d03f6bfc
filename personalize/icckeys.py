"""Where the ICC key pairs of offline data authentication come from.

Every card with DDA needs a fresh RSA key pair (:data:`personalize.oda.ICC_BITS`,
exponent 3). Finding its primes (:mod:`cardspec.crypto.rsa_numbers`, ~4 ms for 1024 bits
here, against ~10 ms for the whole rest of the flow on a virtual card) is the most
expensive thing in personalizing a card, so a batch does what personalization bureaus
do with their HSMs: it takes **pre-generated** keys from a pool that child processes
keep filled. Processes, not threads: GMP holds the GIL while it tests a candidate, and
a thread searching for primes would make every APDU of the flow wait for it.

:func:`generate_now` is the plain source (one key when asked); :class:`IccKeyPool`
the pre-generating one. Both hand out each key once; a pool's keys live only in its
memory and its pipes, and are dropped with it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from cardspec.crypto.oda import check_key_shape, generate_key
from cardspec.crypto.rsa_numbers import private_key_from_primes

__all__ = ["IccKeySource", "IccKeyPool", "generate_now", "default_processes"]

log = logging.getLogger(__name__)
_ROOT = Path(__file__).resolve().parent.parent  #: where ``personalize`` and ``cardspec`` are importable from
_STOP_TIMEOUT_S = 2.0


class IccKeySource(Protocol):
    """Hands out a new, never used RSA key pair of ``bits`` bits and public exponent ``exponent``."""

    def __call__(self, bits: int, exponent: int) -> rsa.RSAPrivateKey: ...


def generate_now(bits: int, exponent: int) -> rsa.RSAPrivateKey:
    """A key generated on the spot (:func:`cardspec.crypto.oda.generate_key`)."""
    return generate_key(bits, exponent)


def default_processes() -> int:
    """Generator processes of a pool: one core in two for the flow, the rest (1-4) for keys.
    One process makes ~230 keys/s of 1024 bits here, more than one flow's ~100 cards/s."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class _Generator:
    """One child process (:mod:`personalize.icckey_generator`) and the thread that reads its keys."""

    def __init__(self, bits: int, exponent: int, ready: queue.SimpleQueue[tuple[_Generator, int, int]]) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (str(_ROOT), os.environ.get("PYTHONPATH")))))
        self.proc = subprocess.Popen([sys.executable, "-m", "personalize.icckey_generator", str(bits), str(exponent)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self._stdin: IO[bytes] = self.proc.stdin  # type: ignore[assignment]
        self._reader = threading.Thread(target=self._read, args=(ready,), name="icc-keys", daemon=True)
        self._reader.start()

    def _read(self, ready: queue.SimpleQueue[tuple[_Generator, int, int]]) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            try:
                p, q = (int(part, 16) for part in line.split())
            except ValueError:
                break
            ready.put((self, p, q))
        ready.put((self, 0, 0))  # this generator has stopped

    def request(self, count: int = 1) -> bool:
        """Ask for ``count`` more keys; False when the process is gone."""
        try:
            self._stdin.write(b"\n" * count)
            self._stdin.flush()
            return True
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        self.proc.terminate()  # its unanswered requests are not worth waiting for
        try:
            self.proc.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(_STOP_TIMEOUT_S)  # it reads to the end of the dead child's output
        for pipe in (self._stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()  # type: ignore[union-attr]


class IccKeyPool:
    """Keys of one size and exponent, generated ahead by ``processes`` child processes,
    ``ahead`` of them ready or in the making. A request for another size or exponent, or
    one made after every child has died, is generated on the spot. Thread-safe; a
    context manager (closing stops the children and drops unused keys).

    >>> with IccKeyPool(1024, 3, processes=1, ahead=2) as pool:
    ...     a, b = pool(1024, 3), pool(1024, 3)
    ...     (a.key_size, a.public_key().public_numbers().e, a.private_numbers() != b.private_numbers())
    (1024, 3, True)
    """

    def __init__(self, bits: int, exponent: int = 3, *, processes: int | None = None,
                 ahead: int | None = None) -> None:
        check_key_shape(bits, exponent)  # a CryptoError now, not in a child later
        self.bits, self.exponent = bits, exponent
        self.processes = processes or default_processes()
        self.ahead = max(ahead or 4 * self.processes + 4, self.processes)
        self._ready: queue.SimpleQueue[tuple[_Generator, int, int]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._generators = [_Generator(bits, exponent, self._ready) for _ in range(self.processes)]
        self._alive = len(self._generators)
        for i, generator in enumerate(self._generators):
            generator.request(len(range(i, self.ahead, self.processes)))

    def __call__(self, bits: int, exponent: int) -> rsa.RSAPrivateKey:
        if (bits, exponent) != (self.bits, self.exponent):
            return generate_key(bits, exponent)
        while True:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the ICC key pool is closed")
                if not self._alive:
                    break
            generator, p, q = self._ready.get()
            if p:
                generator.request()  # keep its share of keys coming
                return private_key_from_primes(p, q, exponent)
            with self._lock:
                self._alive -= 1
                log.warning("an ICC key generator process stopped (exit status %s); %d left",
                            generator.proc.poll(), self._alive)
        return generate_key(bits, exponent)

    def close(self) -> None:
        """Stop the children; the keys not handed out are forgotten."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for generator in self._generators:
            generator.stop()

    def __enter__(self) -> IccKeyPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
