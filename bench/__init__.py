"""Benchmarks (not timed tests): each prints a table, writes JSON under ``bench/results/``
and quotes ratios against a peer measured in the same run.

- :mod:`bench.wire` (``python -m bench.wire``): APDU round trips in-process, through
  pcscd + vpcd to our server, to a minimal floor responder, and to vsmartcard's ``vicc``;
- :mod:`bench.card` (``python -m bench.card``): the simulator in-process on a reader-like
  mix next to vicc's ``Iso7816OS`` (:mod:`bench.vicc_card` runs inside vicc's venv);
- :mod:`bench.cards` holds the card the wire benchmark serves (:func:`bench.cards.bench_card`);
- :mod:`bench.floor` is the minimal vpcd responder (stdlib only) that sets the floor;
- :mod:`bench.serve_card` serves the bench card from its own process;
- :mod:`bench.measure` holds the APDU mix, the timing loop and the statistics;
- :mod:`bench.procs` starts and stops the helper processes and takes the PC/SC lock;
- :mod:`bench.vicc` runs vsmartcard's reference card ``vicc`` in its own venv.

``--short`` runs each in a few seconds; the test suite runs them that way to keep them working.
"""
