"""Card cryptography: known answers, independent oracles and properties (cardspec.crypto)."""
from __future__ import annotations

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st
from pyemv import kd, mac as pyemv_mac, tools

from apdu.errors import SSCardError
from cardspec.crypto import CryptoError, VerificationError
from cardspec.crypto.blockcipher import (
    Algorithm,
    block_size,
    decrypt_ecb,
    des_encrypt,
    encrypt_ecb,
    kcv,
    mac_iso9797_1_alg3,
    pad_80,
    sm4_encrypt,
    tdes_encrypt,
    unpad_80,
)
from cardspec.crypto.diversify import (
    card_factor,
    city_factor,
    diversify,
    diversify_once,
    province_factor,
)
from cardspec.crypto.ssse import (
    auth_data,
    command_mac,
    decrypt_data,
    encrypt_data,
    external_auth_cryptogram,
    internal_auth_response,
    mac,
    mac_input,
    session_key,
    unwrap_command_data,
    verify_command_mac,
    verify_external_auth,
    verify_mac,
    wrap_command_data,
)

H = bytes.fromhex
ALGS = (Algorithm.TDES, Algorithm.SM4)
TR1_HIST = H("00814A444686605199000001AC")

keys16 = st.binary(min_size=16, max_size=16)
alg_st = st.sampled_from(ALGS)


# --- independent oracles: the raw cryptography API, not cardspec's code path -------------

def raw_sm4(key: bytes, data: bytes, mode: modes.Mode | None = None) -> bytes:
    enc = Cipher(algorithms.SM4(key), mode or modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def raw_des(key8: bytes, data: bytes, mode: modes.Mode | None = None) -> bytes:
    enc = Cipher(TripleDES(key8 * 3), mode or modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def raw_tdes(key16: bytes, data: bytes) -> bytes:
    enc = Cipher(TripleDES(key16 + key16[:8]), modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def raw_pad(data: bytes, block: int) -> bytes:
    out = data + b"\x80"
    while len(out) % block:
        out += b"\x00"
    return out


def raw_mac(alg: Algorithm, sk: bytes, data: bytes) -> bytes:
    if alg is Algorithm.TDES:
        return raw_des(sk, raw_pad(data, 8), modes.CBC(bytes(8)))[-8:][:4]
    last = raw_sm4(sk, raw_pad(data, 16), modes.CBC(bytes(16)))[-16:]
    return bytes(last[i] ^ last[4 + i] ^ last[8 + i] ^ last[12 + i] for i in range(4))


def raw_session_key(alg: Algorithm, key: bytes, rnd: bytes) -> bytes:
    if alg is Algorithm.TDES:
        return raw_tdes(key, rnd.ljust(8, b"\x00"))
    return raw_sm4(key, rnd.ljust(16, b"\x00"))


def raw_auth(alg: Algorithm, sk: bytes, original: bytes) -> bytes:
    if alg is Algorithm.TDES:
        return raw_des(sk, original)
    r = raw_sm4(sk, original + bytes(8))
    return bytes(a ^ b for a, b in zip(r[:8], r[8:]))


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


# --- block-cipher known answers ------------------------------------------------------------

def test_sm4_gbt32907_vector() -> None:
    key = H("0123456789ABCDEFFEDCBA9876543210")
    assert sm4_encrypt(key, key) == H("681EDF34D206965E86B3E94F536E4246")
    assert encrypt_ecb(Algorithm.SM4, key, key + key) == H("681EDF34D206965E86B3E94F536E4246") * 2


@pytest.mark.parametrize(
    "key, plain, cipher",
    [
        ("0123456789ABCDEF", "4E6F772069732074", "3FA40E8A984D4815"),  # FIPS 81 "Now is t"
        ("133457799BBCDFF1", "0123456789ABCDEF", "85E813540F0AB405"),  # classic DES worked example
        ("0101010101010101", "8000000000000000", "95F8A5E5DD31D900"),  # SP 800-17 variable plaintext
    ],
)
def test_des_known_answers(key: str, plain: str, cipher: str) -> None:
    assert des_encrypt(H(key), H(plain)) == H(cipher)
    assert decrypt_ecb(Algorithm.TDES, H(key), H(cipher)) == H(plain)


def test_3des_known_answers() -> None:
    k = H("0123456789ABCDEFFEDCBA9876543210")
    assert kcv(Algorithm.TDES, k) == H("08D7B4")
    assert tdes_encrypt(k, bytes(8)) == tools.encrypt_tdes_ecb(k, bytes(8))


@given(k1=st.binary(min_size=8, max_size=8), data=st.binary(min_size=8, max_size=8))
def test_3des_with_equal_halves_is_single_des(k1: bytes, data: bytes) -> None:
    assert tdes_encrypt(k1 + k1, data) == des_encrypt(k1, data) == raw_des(k1, data)


@given(key=keys16, blocks=st.integers(1, 4), seed=st.binary(min_size=64, max_size=64))
def test_3des_matches_pyemv(key: bytes, blocks: int, seed: bytes) -> None:
    data = seed[: 8 * blocks]
    assert tdes_encrypt(key, data) == tools.encrypt_tdes_ecb(key, data)


@given(alg=alg_st, key=keys16, data=st.binary(max_size=40))
def test_ecb_round_trip(alg: Algorithm, key: bytes, data: bytes) -> None:
    padded = pad_80(data, block_size(alg))
    assert decrypt_ecb(alg, key, encrypt_ecb(alg, key, padded)) == padded
    assert unpad_80(padded, block_size(alg)) == data


@pytest.mark.parametrize(
    "bad", ["0102000000000000", "0102800000000001", "8000000000000000" "0000000000000000"]
)
def test_unpad_rejects_malformed(bad: str) -> None:
    with pytest.raises(CryptoError):
        unpad_80(H(bad), 8)


@pytest.mark.parametrize(
    "sk, data, arqc",
    [
        ("C3D3F062E9992B4E923D338D66193526",  # pboc.md vector A
         "0000000012340000000000340156D86004A80001561205160101010101" "7C00" "000E" "03A4B904",
         "F294D7022FA9B058"),
        ("D4102725E6E5AD329E55AAB50BF23DA9",  # pboc.md vector B
         "000000000001000000000000015600800460000156140701001E78EEBC" "7D00" "0240" "03A04002",
         "5D016C91005E7CC2"),
    ],
)
def test_retail_mac_pboc_vectors(sk: str, data: str, arqc: str) -> None:
    assert mac_iso9797_1_alg3(H(sk), H(data)) == H(arqc)


@given(key=keys16, data=st.binary(max_size=64))
def test_retail_mac_matches_pyemv(key: bytes, data: bytes) -> None:
    assert mac_iso9797_1_alg3(key, data) == pyemv_mac.mac_iso9797_3(key[:8], key[8:], data, padding=2)


def test_algorithm_ids() -> None:
    assert Algorithm.from_id(0x01) is Algorithm.TDES and Algorithm.from_id(0x03) is Algorithm.SM4
    with pytest.raises(CryptoError, match="02 \\(SSF33\\)"):
        Algorithm.from_id(0x02)


def test_errors_are_user_errors_and_hide_keys() -> None:
    secret = H("A1B2C3D4E5F60718293A4B5C6D7E8F")  # 15 bytes
    with pytest.raises(CryptoError) as info:
        sm4_encrypt(secret, bytes(16))
    assert isinstance(info.value, SSCardError) and isinstance(info.value, ValueError)
    assert "15" in str(info.value)
    assert secret.hex().upper() not in str(info.value).upper()
    with pytest.raises(CryptoError, match="3DES key must be 16 bytes, got 24"):
        tdes_encrypt(bytes(24), bytes(8))


# --- SSSE formulas -------------------------------------------------------------------------

@given(alg=alg_st, key=keys16, rnd=st.binary(min_size=4, max_size=4))
def test_session_key_pads_short_randoms(alg: Algorithm, key: bytes, rnd: bytes) -> None:
    sk = session_key(alg, key, rnd)
    assert sk == session_key(alg, key, rnd + bytes(4)) == raw_session_key(alg, key, rnd)
    assert len(sk) == (8 if alg is Algorithm.TDES else 16)


def test_session_key_random_lengths() -> None:
    k = bytes(range(16))
    assert session_key(Algorithm.SM4, k, bytes(16)) == raw_sm4(k, bytes(16))
    for alg, bad in ((Algorithm.TDES, 16), (Algorithm.TDES, 5), (Algorithm.SM4, 12)):
        with pytest.raises(CryptoError, match=f"got {bad}"):
            session_key(alg, k, bytes(bad))


@given(alg=alg_st, key=keys16, pf=st.binary(min_size=8, max_size=8), orig=st.binary(min_size=8, max_size=8))
def test_internal_auth_matches_oracle(alg: Algorithm, key: bytes, pf: bytes, orig: bytes) -> None:
    expected = raw_auth(alg, raw_session_key(alg, key, pf), orig)
    assert internal_auth_response(alg, key, pf, orig) == expected
    assert auth_data(alg, session_key(alg, key, pf), orig) == expected


@given(
    alg=alg_st,
    key=keys16,
    challenge=st.sampled_from((4, 8, 16)).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    orig=st.binary(min_size=8, max_size=8),
    bit=st.integers(0, 63),
)
def test_external_auth_accepts_right_rejects_flipped(
    alg: Algorithm, key: bytes, challenge: bytes, orig: bytes, bit: int
) -> None:
    if alg is Algorithm.TDES and len(challenge) == 16:
        challenge = challenge[:8]
    cryptogram = external_auth_cryptogram(alg, key, challenge, orig)
    assert verify_external_auth(alg, key, challenge, cryptogram, orig)
    assert not verify_external_auth(alg, key, challenge, flip(cryptogram, bit), orig)
    assert not verify_external_auth(alg, key, challenge, cryptogram, flip(orig, bit))


def test_external_auth_uses_the_current_challenge_not_the_original() -> None:
    # TR1 roles: 1st challenge = original (sent), 2nd = the card's current random (not sent).
    k = bytes(range(16))
    original, current = H("E603E2CAADAF02B6"), H("98B4D293D091C331")
    c = external_auth_cryptogram(Algorithm.SM4, k, current, original)
    assert c == raw_auth(Algorithm.SM4, raw_sm4(k, current + bytes(8)), original)
    assert not verify_external_auth(Algorithm.SM4, k, original, c, original)


def test_mac_input_counts_the_mac_in_lc() -> None:
    assert mac_input(0x84, 0x24, 0x00, 0x00) == H("8424000004")
    assert mac_input(0x04, 0xDC, 0x05, 0x28, H("0504") + H("20180403")) == H("04DC05280A050420180403")
    with pytest.raises(CryptoError, match="exceeds Lc FF"):
        mac_input(0x84, 0x24, 0x00, 0x01, bytes(252))
    with pytest.raises(CryptoError, match="P2 256"):
        mac_input(0x84, 0x24, 0x00, 0x100)


@given(alg=alg_st, key=keys16, rnd=st.binary(min_size=8, max_size=8), data=st.binary(max_size=60))
def test_mac_matches_oracle(alg: Algorithm, key: bytes, rnd: bytes, data: bytes) -> None:
    sk = raw_session_key(alg, key, rnd)
    header_and_data = mac_input(0x84, 0x24, 0x00, 0x01, data)
    expected = raw_mac(alg, sk, header_and_data)
    assert mac(alg, sk, header_and_data) == expected
    assert command_mac(alg, key, rnd, header_and_data) == expected
    assert verify_command_mac(alg, key, rnd, header_and_data, expected)


@given(
    alg=alg_st,
    sk=keys16,
    data=st.binary(min_size=1, max_size=48),
    index=st.integers(0),
    mask=st.integers(1, 255),
)
def test_mac_changes_when_any_byte_changes(
    alg: Algorithm, sk: bytes, data: bytes, index: int, mask: int
) -> None:
    sk = sk[: 8 if alg is Algorithm.TDES else 16]
    tampered = bytearray(data)
    tampered[index % len(data)] ^= mask
    m = mac(alg, sk, data)
    assert len(m) == 4
    assert mac(alg, sk, bytes(tampered)) != m
    assert not verify_mac(alg, sk, bytes(tampered), m)
    assert mac(alg, sk, data + b"\x00") != m  # padding 80 keeps trailing zeros significant


def test_mac_iv_and_key_checks() -> None:
    sk = bytes(range(16))
    data = H("841E000104")
    assert mac(Algorithm.SM4, sk, data, iv=bytes(16)) == mac(Algorithm.SM4, sk, data)
    assert mac(Algorithm.SM4, sk, data, iv=b"\x01" + bytes(15)) != mac(Algorithm.SM4, sk, data)
    with pytest.raises(CryptoError, match="CBC IV must be 16 bytes, got 8"):
        mac(Algorithm.SM4, sk, data, iv=bytes(8))
    with pytest.raises(CryptoError, match="TDES MAC key must be 8 bytes"):
        mac(Algorithm.TDES, sk, data)


@given(alg=alg_st, key=keys16, plaintext=st.binary(min_size=1, max_size=255))
def test_encrypt_decrypt_round_trip(alg: Algorithm, key: bytes, plaintext: bytes) -> None:
    ct = encrypt_data(alg, key, plaintext)
    size = block_size(alg)
    assert len(ct) % size == 0 and len(ct) == -(-(1 + len(plaintext)) // size) * size
    assert decrypt_data(alg, key, ct) == plaintext
    formatted = bytes([len(plaintext)]) + plaintext
    if len(formatted) % size:
        formatted = raw_pad(formatted, size)
    assert decrypt_ecb(alg, key, ct) == formatted


def test_encrypt_data_pin_block_layout() -> None:
    sk8, sk16 = bytes(range(8)), bytes(range(16))
    pin = H("123456")
    assert decrypt_ecb(Algorithm.TDES, sk8, encrypt_data(Algorithm.TDES, sk8, pin)) == H("0312345680000000")
    assert raw_des(sk8, H("0312345680000000")) == encrypt_data(Algorithm.TDES, sk8, pin)
    assert raw_sm4(sk16, H("03123456") + H("80") + bytes(11)) == encrypt_data(Algorithm.SM4, sk16, pin)
    # aligned LD ‖ data gets no padding block (S4 §8.3.3 step 3)
    assert len(encrypt_data(Algorithm.TDES, sk8, bytes(7))) == 8
    # LD 0 (empty PIN) only in the DES family
    assert decrypt_data(Algorithm.TDES, sk8, encrypt_data(Algorithm.TDES, sk8, b"")) == b""
    with pytest.raises(CryptoError, match="LD >= 1"):
        encrypt_data(Algorithm.SM4, sk16, b"")


@pytest.mark.parametrize(
    "alg, key, block",
    [
        (Algorithm.TDES, bytes(8), "0312345600000000"),  # no 80 marker
        (Algorithm.TDES, bytes(8), "0312345680000001"),  # junk after the marker
        (Algorithm.TDES, bytes(8), "0912345680000000"),  # LD beyond the block
        (Algorithm.TDES, bytes(8), "0712345680000000" "8000000000000000"),  # padding where none belongs
        (Algorithm.TDES, bytes(8), "0312345680000000" "0000000000000000"),  # extra block
        (Algorithm.SM4, bytes(16), "00" "80" + "00" * 14),  # SM4 LD 0
    ],
    ids=["no-marker", "junk", "ld-too-long", "needless-padding", "extra-block", "sm4-ld0"],
)
def test_decrypt_data_rejects_bad_format(alg: Algorithm, key: bytes, block: str) -> None:
    with pytest.raises(CryptoError):
        decrypt_data(alg, key, encrypt_ecb(alg, key, H(block)))


def test_decrypt_data_rejects_bad_length() -> None:
    with pytest.raises(CryptoError, match="multiple of 16 bytes, got 8"):
        decrypt_data(Algorithm.SM4, bytes(16), bytes(8))


@pytest.mark.parametrize("alg, lc", [(Algorithm.TDES, 0x0C), (Algorithm.SM4, 0x14)])
def test_pin_reset_field(alg: Algorithm, lc: int) -> None:
    stk, rnd, pin = bytes(range(16)), H("2AFD6A015D2D9BAC"), H("123456")
    field = wrap_command_data(alg, stk, rnd, 0x84, 0x24, 0x00, 0x01, pin)
    assert len(field) == lc  # S5 §6.8.3 table 26
    sk = raw_session_key(alg, stk, rnd)
    assert field[-4:] == raw_mac(alg, sk, bytes((0x84, 0x24, 0x00, 0x01, lc)) + field[:-4])
    assert unwrap_command_data(alg, stk, rnd, 0x84, 0x24, 0x00, 0x01, field) == pin
    with pytest.raises(VerificationError):
        unwrap_command_data(alg, stk, flip(rnd, 0), 0x84, 0x24, 0x00, 0x01, field)
    with pytest.raises(VerificationError):
        unwrap_command_data(alg, stk, rnd, 0x84, 0x24, 0x00, 0x01, flip(field, 3))
    with pytest.raises(CryptoError, match="at least the 4-byte MAC"):
        unwrap_command_data(alg, stk, rnd, 0x84, 0x24, 0x00, 0x01, field[:3])


# --- diversification -----------------------------------------------------------------------

def test_factors() -> None:
    assert province_factor("650100") == H("3635303030307368")
    assert city_factor("650100") == H("3635303130307378")
    assert city_factor("330106", zhejiang_rule=True) == b"3301" + H("30307378")
    assert card_factor(TR1_HIST) == H("86605199000001AC")
    for bad in ("65010", "65O100", "６５０１００"):
        with pytest.raises(CryptoError, match="6 decimal digits"):
            city_factor(bad)
    with pytest.raises(CryptoError, match="not the whole ATR"):
        card_factor(H("3B6D0000") + TR1_HIST)


@given(key=keys16, factor=st.binary(min_size=8, max_size=8))
def test_sm4_child_matches_raw_api(key: bytes, factor: bytes) -> None:
    inverted = bytes(b ^ 0xFF for b in factor)
    assert diversify_once(Algorithm.SM4, key, factor) == raw_sm4(key, factor + inverted)


@given(key=keys16, digits=st.text("0123456789", min_size=16, max_size=16))
def test_3des_child_matches_emv_option_a(key: bytes, digits: str) -> None:
    # EMV option A is 3DES_K(Y) ‖ 3DES_K(~Y) plus odd parity: an independent oracle.
    child = diversify_once(Algorithm.TDES, key, H(digits))
    assert tools.adjust_key_parity(child) == kd.derive_icc_mk_a(key, digits[:-2], digits[-2:])


def test_diversify_three_levels() -> None:
    master = H("0123456789ABCDEFFEDCBA9876543210")
    expected = master
    for f in (H("3531303030307368"), H("3531393930307378"), H("86605199000001AC")):
        expected = raw_tdes(expected, f) + raw_tdes(expected, bytes(b ^ 0xFF for b in f))
    assert diversify(Algorithm.TDES, master, "519900", TR1_HIST) == expected
    assert diversify(Algorithm.TDES, master, "519900", TR1_HIST, levels=0) == master


@given(key=keys16, serial_a=st.binary(min_size=4, max_size=4), serial_b=st.binary(min_size=4, max_size=4))
def test_diversify_per_card_and_deterministic(key: bytes, serial_a: bytes, serial_b: bytes) -> None:
    hist_a, hist_b = TR1_HIST[:9] + serial_a, TR1_HIST[:9] + serial_b
    for alg in ALGS:
        a = diversify(alg, key, "519900", hist_a)
        assert a == diversify(alg, key, "519900", hist_a)
        assert (a == diversify(alg, key, "519900", hist_b)) == (serial_a == serial_b)
        assert a != diversify(alg, key, "519901", hist_a)
