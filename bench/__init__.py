"""Benchmarks (not timed tests): ``python -m bench.wire`` measures APDU round trips.

- :mod:`bench.wire` runs the wire benchmark and prints/writes its results;
- :mod:`bench.cards` holds the card it serves (:func:`bench.cards.bench_card`);
- :mod:`bench.floor` is the minimal vpcd responder (stdlib only) that sets the floor;
- :mod:`bench.serve_card` serves the bench card from its own process;
- :mod:`bench.measure` holds the APDU mix, the timing loop and the statistics;
- :mod:`bench.procs` starts and stops the helper processes and takes the PC/SC lock;
- :mod:`bench.vicc` runs vsmartcard's reference card ``vicc`` in its own venv.
"""
