"""Where the ICC key pairs of offline data authentication come from.

Every card with DDA needs a fresh RSA key pair (:data:`personalize.oda.ICC_BITS`,
exponent 3). Finding its primes is the most expensive thing in personalizing a card
(~10-15 ms for 1024 bits here, against ~10 ms for the whole rest of the flow on a
virtual card), so a batch does what personalization bureaus do with their HSMs: it
takes **pre-generated** keys from a pool that background threads keep filled.
OpenSSL releases the GIL while it searches for primes, so on a machine with a spare
core the keys cost the flow nothing; on one core they cost what they always did.

:func:`generate_now` is the plain source (one key when asked); :class:`IccKeyPool`
the pre-generating one. Both hand out each key once; a pool's keys live only in its
memory and are dropped with it.
"""
from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from cardspec.crypto.oda import check_key_shape, generate_key

__all__ = ["IccKeySource", "IccKeyPool", "generate_now", "default_threads"]


class IccKeySource(Protocol):
    """Hands out a new, never used RSA key pair of ``bits`` bits and public exponent ``exponent``."""

    def __call__(self, bits: int, exponent: int) -> rsa.RSAPrivateKey: ...


def generate_now(bits: int, exponent: int) -> rsa.RSAPrivateKey:
    """A key generated on the spot (:func:`cardspec.crypto.oda.generate_key`)."""
    return generate_key(bits, exponent)


def default_threads() -> int:
    """Background threads of a pool: one per core, 2-4. The personalizing threads share
    one GIL, so they keep about one core busy; prime searches vary widely in length
    (a 1024-bit key takes 3-40 ms here), and two threads keep the pool ahead of a
    fast flow where one falls behind (measured on 2 cores: 59 vs 62 cards/s)."""
    return max(2, min(4, os.cpu_count() or 2))


class IccKeyPool:
    """Keys of one size and exponent, generated ahead by ``threads`` background threads,
    ``ahead`` of them ready or in the making. A request for another size or exponent is
    generated on the spot. Thread-safe; a context manager (closing drops unused keys).

    >>> with IccKeyPool(1024, 3, threads=1, ahead=2) as pool:
    ...     a, b = pool(1024, 3), pool(1024, 3)
    ...     (a.key_size, a.public_key().public_numbers().e, a.private_numbers() != b.private_numbers())
    (1024, 3, True)
    """

    def __init__(self, bits: int, exponent: int = 3, *, threads: int | None = None, ahead: int | None = None) -> None:
        check_key_shape(bits, exponent)  # a CryptoError now, not in a thread later
        self.bits, self.exponent = bits, exponent
        self.threads = threads or default_threads()
        self.ahead = ahead or 2 * self.threads + 2
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="icc-keys")
        self._lock = threading.Lock()
        self._queue: deque[Future[rsa.RSAPrivateKey]] = deque()
        self._closed = False
        for _ in range(self.ahead):
            self._queue.append(self._executor.submit(generate_key, bits, exponent))

    def __call__(self, bits: int, exponent: int) -> rsa.RSAPrivateKey:
        if (bits, exponent) != (self.bits, self.exponent):
            return generate_key(bits, exponent)
        with self._lock:
            if self._closed:
                raise RuntimeError("the ICC key pool is closed")
            oldest = self._queue.popleft()
            self._queue.append(self._executor.submit(generate_key, bits, exponent))
        return oldest.result()

    def close(self) -> None:
        """Stop generating; the keys not handed out are forgotten."""
        with self._lock:
            self._closed = True
            self._queue.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> IccKeyPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
