"""The ICC key sources: a pool hands each pre-generated key out once, generates other sizes on
the spot, stops its child processes and their reader threads when closed, carries on when
a child dies, and the flow takes its key from the source."""
from __future__ import annotations

import threading

import pytest

from cardspec.crypto import CryptoError
from personalize.icckeys import IccKeyPool, generate_now


def _pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("icc-keys")]


def test_each_key_is_handed_out_once_with_the_size_and_exponent_asked():
    with IccKeyPool(1024, 3, processes=2, ahead=3) as pool:
        keys = [pool(1024, 3) for _ in range(6)]
    moduli = {k.public_key().public_numbers().n for k in keys}
    assert len(moduli) == 6
    assert {(k.key_size, k.public_key().public_numbers().e) for k in keys} == {(1024, 3)}


def test_another_size_or_exponent_is_generated_on_the_spot():
    with IccKeyPool(1024, 3, processes=1, ahead=1) as pool:
        other = pool(1152, 65537)
    assert (other.key_size, other.public_key().public_numbers().e) == (1152, 65537)
    assert generate_now(1024, 3).key_size == 1024


def test_a_bad_size_is_refused_when_the_pool_is_made():
    with pytest.raises(CryptoError, match="multiple of 8"):
        IccKeyPool(1020, 3)
    with pytest.raises(CryptoError, match="exponent 5 is not allowed"):
        IccKeyPool(1024, 5)


def test_a_closed_pool_hands_out_nothing_and_its_processes_and_threads_end():
    pool = IccKeyPool(1024, 3, processes=2, ahead=2)
    pool(1024, 3)
    children = [g.proc for g in pool._generators]
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool(1024, 3)
    assert all(child.poll() is not None for child in children)
    for thread in _pool_threads():
        thread.join(timeout=5)
    assert not _pool_threads()


def test_a_pool_whose_children_died_generates_on_the_spot(caplog):
    with IccKeyPool(1024, 3, processes=1, ahead=1) as pool:
        pool._generators[0].proc.kill()
        keys = [pool(1024, 3) for _ in range(3)]  # at most one was made before the kill
    assert len({k.public_key().public_numbers().n for k in keys}) == 3
    assert {k.key_size for k in keys} == {1024}
    assert "ICC key generator process stopped" in caplog.text and "0 left" in caplog.text


def test_the_generator_child_answers_one_pair_of_primes_per_request_line():
    import subprocess
    import sys

    import gmpy2

    out = subprocess.run([sys.executable, "-m", "personalize.icckey_generator", "1024", "3"], input=b"\n\n",
                         capture_output=True, timeout=60, check=True)
    pairs = [tuple(int(x, 16) for x in line.split()) for line in out.stdout.splitlines()]
    assert len(pairs) == 2 and out.stderr == b""
    for p, q in pairs:
        assert (p * q).bit_length() == 1024 and gmpy2.is_prime(p) and gmpy2.is_prime(q) and p % 3 == q % 3 == 2


def test_the_flow_takes_its_icc_key_from_the_source():
    """plan_oda puts the source's key on the card (DGIs 8201-8205 carry its primes)."""
    from cardspec.pboc.oda_data import icc_key_dgis
    from personalize.debit import holder_of
    from personalize.keys import IssuerKeys
    from personalize.oda import ICC_BITS, ICC_EXPONENT, plan_oda
    from sscard_pytest.cards import TEST_ISSUER_KEYS, sample_cardholder

    keys = IssuerKeys.load(TEST_ISSUER_KEYS, insecure=True)
    given = generate_now(ICC_BITS, ICC_EXPONENT)
    asked: list[tuple[int, int]] = []

    def source(bits: int, exponent: int):
        asked.append((bits, exponent))
        return given

    plan = plan_oda(keys, holder_of(sample_cardholder()), source)
    assert plan is not None and asked == [(ICC_BITS, ICC_EXPONENT)]
    assert dict(plan.icc_dgis) == icc_key_dgis(given)
