"""Serve :func:`bench.cards.bench_card` through :class:`apdu.vpcd.VpcdServer` in its own process.

``python -m bench.serve_card --slot N`` runs until SIGTERM or Ctrl-C; the wire benchmark
uses it so that our server, like the floor responder, does not share the client's GIL.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from apdu.vpcd import VpcdServer

from . import runner
from .cards import bench_card


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve_card", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--slot", type=int, default=0, help="vpcd slot (0 or 1 with Debian's vpcd)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="serve_card: %(levelname)s %(message)s")
    runner.stop_on_sigterm()  # serve_forever() ends on KeyboardInterrupt and disconnects
    VpcdServer(bench_card(), args.slot, retry_interval=0.2).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
