"""cardspec.crypto.rsa_numbers: the key pairs it makes pass OpenSSL's full key check and
sign as keys from OpenSSL do; the constant-time power agrees with pow."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardspec.crypto import CryptoError
from cardspec.crypto.oda import generate_key, sign_dynamic_data, verify_dynamic_signature
from cardspec.crypto.rsa_numbers import generate_primes, private_key_from_primes, secret_power


@pytest.mark.parametrize("bits, exponent", [(1024, 3), (1024, 65537), (1152, 3), (1408, 3)])
def test_new_keys_pass_openssls_full_check_and_sign(bits, exponent):
    for _ in range(3):
        key = generate_key(bits, exponent)
        numbers = key.private_numbers()
        numbers.private_key()  # OpenSSL's RSA key check: primality of p and q, d, CRT values
        p, q = numbers.p, numbers.q
        assert key.key_size == bits and numbers.public_numbers.e == exponent
        assert p.bit_length() == q.bit_length() == bits // 2 and abs(p - q).bit_length() > bits // 2 - 100
        assert (p - 1) % exponent and (q - 1) % exponent
        signature = sign_dynamic_data(key, b"\x12\x34", b"\x01\x02\x03\x04")
        assert verify_dynamic_signature(key.public_key(), signature, b"\x01\x02\x03\x04") == b"\x12\x34"


def test_two_searches_never_find_the_same_primes():
    seen = [generate_primes(1024, 3) for _ in range(20)]
    assert len({p for pair in seen for p in pair}) == 40


@pytest.mark.parametrize("bits, exponent", [(1023, 3), (256, 3), (1024, 4), (1024, 1)])
def test_impossible_shapes_are_refused(bits, exponent):
    with pytest.raises(CryptoError, match="generate_primes"):
        generate_primes(bits, exponent)


def test_primes_that_do_not_make_a_key_are_refused():
    with pytest.raises(CryptoError, match="p = q"):
        private_key_from_primes(1_000_003, 1_000_003, 65537)


@settings(max_examples=200, deadline=None)
@given(base=st.integers(min_value=0, max_value=2**1100), exponent=st.integers(min_value=1, max_value=2**600),
       modulus=st.integers(min_value=1, max_value=2**600).map(lambda m: 2 * m + 1))
def test_secret_power_is_pow(base, exponent, modulus):
    assert secret_power(base, exponent, modulus) == pow(base, exponent, modulus)
