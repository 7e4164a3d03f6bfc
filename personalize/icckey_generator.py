"""The child process of :class:`personalize.icckeys.IccKeyPool`: ICC key primes, one pair per request.

``python -m personalize.icckey_generator BITS EXPONENT`` reads one line from stdin per
key wanted and answers each with a line ``P Q`` (hex, :func:`~cardspec.crypto.rsa_numbers.generate_primes`).
It exits when stdin ends or its reader has gone; Ctrl-C is the parent's business. The
primes are secret: they go down the pipe and nowhere else.
"""
from __future__ import annotations

import signal
import sys

from cardspec.crypto.rsa_numbers import generate_primes


def main(argv: list[str]) -> int:
    bits, exponent = (int(arg) for arg in argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for _ in sys.stdin.buffer:
            p, q = generate_primes(bits, exponent)
            sys.stdout.write(f"{p:x} {q:x}\n")
            sys.stdout.flush()
    except BrokenPipeError:  # the pool was closed, or its process died
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
