"""The ICC key sources: a pool hands each pre-generated key out once, generates other sizes on
the spot, stops its threads when closed, and a batch with [oda] keys uses one."""
from __future__ import annotations

import threading

import pytest

from cardspec.crypto import CryptoError
from personalize.icckeys import IccKeyPool, generate_now


def _pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("icc-keys")]


def test_each_key_is_handed_out_once_with_the_size_and_exponent_asked():
    with IccKeyPool(1024, 3, threads=2, ahead=3) as pool:
        keys = [pool(1024, 3) for _ in range(6)]
    moduli = {k.public_key().public_numbers().n for k in keys}
    assert len(moduli) == 6
    assert {(k.key_size, k.public_key().public_numbers().e) for k in keys} == {(1024, 3)}


def test_another_size_or_exponent_is_generated_on_the_spot():
    with IccKeyPool(1024, 3, threads=1, ahead=1) as pool:
        other = pool(1152, 65537)
    assert (other.key_size, other.public_key().public_numbers().e) == (1152, 65537)
    assert generate_now(1024, 3).key_size == 1024


def test_a_bad_size_is_refused_when_the_pool_is_made():
    with pytest.raises(CryptoError, match="multiple of 8"):
        IccKeyPool(1020, 3)
    with pytest.raises(CryptoError, match="exponent 5 is not allowed"):
        IccKeyPool(1024, 5)


def test_a_closed_pool_hands_out_nothing_and_its_threads_end():
    pool = IccKeyPool(1024, 3, threads=2, ahead=2)
    pool(1024, 3)
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool(1024, 3)
    for thread in _pool_threads():
        thread.join(timeout=5)
    assert not _pool_threads()


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
