"""GlobalPlatform SCP02 (cardspec.crypto.scp02): published vectors, raw-cipher oracles, properties.

Published numbers (numbers only; no code carried over):
* GlobalPlatformPro (martinpaljak/GlobalPlatformPro),
  library/src/test/java/pro/javacard/gp/test/TestPlaintextKeys.java: session-key and
  diversified-key check values, SCP02 key encryption.
* pySim (osmocom/pysim), tests/unittests/test_globalplatform.py, classes SCP02_Auth_Test and
  SCP02_Test: INITIALIZE UPDATE response, EXTERNAL AUTHENTICATE and four C-MAC'd APDUs in one
  session (C-MAC on the modified APDU with ICV encryption, i.e. i=15/55).
"""
from __future__ import annotations

import re

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import given
from hypothesis import strategies as st
from pyemv import mac as pyemv_mac

from apdu.errors import SSCardError
from cardspec.crypto import CryptoError, VerificationError
from cardspec.crypto.blockcipher import Algorithm, kcv, pad_80
from cardspec.crypto.scp02 import (
    CONST_C_MAC,
    CONST_DEK,
    CONST_R_MAC,
    CONST_S_ENC,
    I15,
    I55,
    ZERO_ICV,
    InitUpdateResponse,
    KeyType,
    Options,
    SessionKeys,
    c_mac,
    c_mac_input,
    card_cryptogram,
    decrypt_dek,
    derive_session_key,
    diversify_emv,
    diversify_visa2,
    encrypt_dek,
    host_cryptogram,
    next_icv,
    unwrap_command,
    verify_card_cryptogram,
    verify_host_cryptogram,
    wrap_command,
)

H = bytes.fromhex

# GlobalPlatformPro TestPlaintextKeys
GP_KEY = H("404142434445464748494A4B4C4D4E4F")
GP_KDD = H("00010203040506070809")

# pySim test_globalplatform.py: KIC (ENC), KID (MAC), KIK (DEK)
PS_ENC = H("100102030405060708090a0b0c0d0e0f")
PS_MAC = H("101102030405060708090a0b0c0d0e0f")
PS_DEK = H("102102030405060708090a0b0c0d0e0f")
PS_HOST_CHALLENGE = H("40A62C37FA6304F8")
PS_INIT_UPDATE_RESPONSE = H("00000000000000000000700200016B4524ABEE7CF32EA3838BC148F3")
PS_EXT_AUTH = H("8482010010BA6961667737C5BCEBECE14C7D6A4376")
PS_SESSION = [  # plain → wrapped, in the order sent after EXTERNAL AUTHENTICATE
    (H("80F22002"), H("84F220020814DB34FA4341DCA8")),
    (H("80ca006600"), H("84CA00660855ED7C5FF069512B00")),
    (H("80F220020a4f0212345c054f9f70c5"), H("84F22002124F0212345C054F9F70C58FC1B380C4228AF8")),
    (H("80f28002024f0000"), H("84F280020A4F003B95F09317DE6A4E00")),
]

keys16 = st.binary(min_size=16, max_size=16)
blocks8 = st.binary(min_size=8, max_size=8)
counters = st.binary(min_size=2, max_size=2)


def tdes(key: bytes) -> Cipher:
    return Cipher(TripleDES(key + key[:8]), modes.CBC(bytes(8)))


def raw_cbc(key: bytes, data: bytes) -> bytes:
    enc = tdes(key).encryptor()
    return enc.update(data) + enc.finalize()


def pysim_session() -> SessionKeys:
    seq = InitUpdateResponse.parse(PS_INIT_UPDATE_RESPONSE).sequence_counter
    return SessionKeys.derive(PS_ENC, PS_MAC, PS_DEK, seq)


def tdes_kcv(key: bytes) -> str:
    return kcv(Algorithm.TDES, key).hex().upper()


# --- GlobalPlatformPro vectors ----------------------------------------------------------------------

def test_session_keys_from_default_key_counter_0000():
    keys = SessionKeys.derive(GP_KEY, GP_KEY, GP_KEY, bytes(2))
    assert [tdes_kcv(k) for k in (keys.enc, keys.c_mac, keys.dek, keys.r_mac)] == \
        ["F2DCDD", "5FCC69", "85272E", "9F749A"]


@pytest.mark.parametrize(("diversify", "expected"), [
    (diversify_emv, ("C33013", "6F4CA6", "BB8179")),
    (diversify_visa2, ("2BE598", "58DA38", "3C328E")),
])
def test_kmc_diversification_check_values(diversify, expected):
    assert tuple(tdes_kcv(diversify(GP_KEY, GP_KDD, t)) for t in (KeyType.ENC, KeyType.MAC, KeyType.DEK)) \
        == expected


def test_key_encryption_under_session_dek():
    s_dek = SessionKeys.derive(GP_KEY, GP_KEY, GP_KEY, bytes(2)).dek
    assert encrypt_dek(s_dek, GP_KEY) == H("EFBEE6C6D99D7B70BDE9D7E927F020AF")
    assert decrypt_dek(s_dek, H("EFBEE6C6D99D7B70BDE9D7E927F020AF")) == GP_KEY


# --- pySim vectors -------------------------------------------------------------------------------------

def test_initialize_update_response_fields():
    iu = InitUpdateResponse.parse(PS_INIT_UPDATE_RESPONSE)
    assert (iu.kdd, iu.kvn, iu.sequence_counter) == (bytes(10), 0x70, H("0001"))
    assert (iu.card_challenge, iu.card_cryptogram) == (H("6B4524ABEE7C"), H("F32EA3838BC148F3"))
    assert iu.to_bytes() == PS_INIT_UPDATE_RESPONSE


def test_card_and_host_cryptograms():
    iu = InitUpdateResponse.parse(PS_INIT_UPDATE_RESPONSE)
    keys = pysim_session()
    cc = card_cryptogram(keys.enc, PS_HOST_CHALLENGE, iu.sequence_counter, iu.card_challenge)
    assert cc == iu.card_cryptogram
    hc = host_cryptogram(keys.enc, iu.sequence_counter, iu.card_challenge, PS_HOST_CHALLENGE)
    assert hc == PS_EXT_AUTH[5:13]
    assert verify_host_cryptogram(keys.enc, iu.sequence_counter, iu.card_challenge, PS_HOST_CHALLENGE, hc)
    wrong = PS_INIT_UPDATE_RESPONSE[:-1] + b"\xFF"  # pySim's test_mutual_auth_fail_card_cryptogram
    assert not verify_card_cryptogram(keys.enc, PS_HOST_CHALLENGE, iu.sequence_counter, iu.card_challenge,
                                      wrong[20:28])


def test_external_authenticate_and_session_byte_for_byte_host_side():
    keys = pysim_session()
    hc = PS_EXT_AUTH[5:13]
    apdu, mac = wrap_command(keys.c_mac, H("8082010008") + hc, ZERO_ICV, I15)
    assert apdu == PS_EXT_AUTH
    for plain, wrapped in PS_SESSION:
        apdu, mac = wrap_command(keys.c_mac, plain, next_icv(keys.c_mac, mac, I15), I15)
        assert apdu == wrapped


def test_same_session_card_side():
    keys = pysim_session()
    plain, mac = unwrap_command(keys.c_mac, PS_EXT_AUTH, ZERO_ICV, I55)
    assert plain == H("8082010008") + PS_EXT_AUTH[5:13]
    for expected_plain, wrapped in PS_SESSION:
        plain, mac = unwrap_command(keys.c_mac, wrapped, next_icv(keys.c_mac, mac, I55), I55)
        assert plain.hex().upper() == expected_plain.hex().upper()


def test_replayed_command_fails_once_the_icv_has_moved_on():
    keys = pysim_session()
    _, mac = unwrap_command(keys.c_mac, PS_EXT_AUTH, ZERO_ICV)
    icv = next_icv(keys.c_mac, mac)
    with pytest.raises(VerificationError, match="C-MAC of 84820100 does not verify"):
        unwrap_command(keys.c_mac, PS_EXT_AUTH, icv)


# --- independent oracles: raw cryptography / pyemv ------------------------------------------------------

@given(keys16, counters, st.sampled_from((CONST_C_MAC, CONST_R_MAC, CONST_S_ENC, CONST_DEK)))
def test_session_key_is_3des_cbc_of_the_derivation_block(key, seq, constant):
    assert derive_session_key(key, seq, constant) == raw_cbc(key, constant + seq + bytes(12))


@given(keys16, st.binary(max_size=60), blocks8)
def test_c_mac_is_retail_mac_with_the_icv_folded_into_block_1(key, data, icv):
    padded = pad_80(data, 8)
    folded = bytes(a ^ b for a, b in zip(icv, padded[:8])) + padded[8:]
    assert c_mac(key, data, icv) == pyemv_mac.mac_iso9797_3(key[:8], key[8:], folded, 1)


@given(keys16, blocks8)
def test_icv_encryption_is_single_des_under_s_mac_k1(key, mac):
    enc = Cipher(TripleDES(key[:8] * 3), modes.ECB()).encryptor()
    assert next_icv(key, mac, I15) == enc.update(mac) + enc.finalize()
    assert next_icv(key, mac, Options.from_i(0x05)) == mac


@given(keys16, counters, st.binary(min_size=6, max_size=6), blocks8)
def test_cryptograms_are_full_3des_cbc_macs(key, seq, card_chal, host_chal):
    def full_mac(data: bytes) -> bytes:
        return raw_cbc(key, pad_80(data, 8))[-8:]

    assert card_cryptogram(key, host_chal, seq, card_chal) == full_mac(host_chal + seq + card_chal)
    assert host_cryptogram(key, seq, card_chal, host_chal) == full_mac(seq + card_chal + host_chal)


@given(keys16, st.binary(min_size=6, max_size=6), st.sampled_from(list(KeyType)))
def test_diversification_blocks(kmc, six, key_type):
    kdd = bytes(4) + six
    enc = Cipher(TripleDES(kmc + kmc[:8]), modes.ECB()).encryptor()
    expected = enc.update(six + bytes([0xF0, key_type]) + six + bytes([0x0F, key_type])) + enc.finalize()
    assert diversify_emv(kmc, kdd, key_type) == expected
    assert diversify_visa2(kmc, six[:2] + bytes(2) + six[2:] + bytes(2), key_type) == expected


# --- variants and properties -------------------------------------------------------------------------

def test_options_bits():
    assert (I15.three_keys, I15.mac_on_unmodified, I15.icv_encryption, I15.r_mac, I15.pseudo_random_challenge) \
        == (True, False, True, False, False)
    assert I55.pseudo_random_challenge and I55.icv_encryption
    assert Options.from_i(0x17).mac_on_unmodified
    assert Options.from_i(0x35).r_mac


@pytest.mark.parametrize(("i", "message"), [
    (0x11, "implicit initiation (b3=0) is not supported"),
    (0x1D, "ICV = MAC over the AID (b4) is not supported"),
    (0x80, "is not a 7-bit option byte"),
])
def test_unsupported_options_are_refused(i, message):
    with pytest.raises(CryptoError, match=re.escape(message)):
        Options.from_i(i)


def test_mac_input_modified_and_unmodified():
    data = H("4F00")
    assert c_mac_input(0x80, 0xF2, 0x80, 0x02, data, I15) == H("84F280020A4F00")
    assert c_mac_input(0x80, 0xF2, 0x80, 0x02, data, Options.from_i(0x17)) == H("80F28002024F00")
    assert c_mac_input(0x81, 0xCA, 0x00, 0x66, b"", I15) == H("85CA006608")  # logical channel 1 kept


short_commands = st.builds(
    lambda cla, ins, p1p2, data, le: bytes([cla, ins]) + p1p2 + (bytes([len(data)]) + data if data else b"")
    + (bytes([le]) if le is not None else b""),
    st.sampled_from((0x80, 0x81, 0x82, 0x83)), st.integers(0, 0xFF).filter(lambda i: i & 0xF0 not in (0x60, 0x90)),
    st.binary(min_size=2, max_size=2), st.binary(max_size=200), st.none() | st.integers(0, 0xFF))
options = st.sampled_from((I15, I55, Options.from_i(0x05), Options.from_i(0x17)))


@given(keys16, keys16, st.lists(short_commands, min_size=1, max_size=4), options, st.booleans())
def test_host_and_card_stay_in_step(s_mac, s_enc, commands, opts, encrypt):
    host_icv = card_icv = ZERO_ICV
    enc_key = s_enc if encrypt else None
    for command in commands:
        wrapped, host_mac = wrap_command(s_mac, command, host_icv, opts, enc_key)
        assert wrapped[0] == command[0] | 0x04
        plain, card_mac = unwrap_command(s_mac, wrapped, card_icv, opts, enc_key)
        assert plain == command and card_mac == host_mac
        host_icv, card_icv = next_icv(s_mac, host_mac, opts), next_icv(s_mac, card_mac, opts)


@given(keys16, keys16, st.binary(min_size=1, max_size=100))
def test_c_decryption_field_is_3des_cbc_of_the_padded_data(s_mac, s_enc, data):
    command = H("80E20000") + bytes([len(data)]) + data
    wrapped, mac = wrap_command(s_mac, command, ZERO_ICV, I15, s_enc)
    padded = pad_80(data, 8)
    assert wrapped[4] == len(padded) + 8
    assert wrapped[5:-8] == raw_cbc(s_enc, padded) and wrapped[-8:] == mac
    assert mac == c_mac(s_mac, H("84E20000") + bytes([len(data) + 8]) + data, ZERO_ICV)


def test_session_keys_repr_shows_check_values_only():
    keys = SessionKeys.derive(GP_KEY, GP_KEY, GP_KEY, bytes(2))
    text = repr(keys)
    assert "KCV F2DCDD" in text and "KCV 5FCC69" in text
    assert keys.enc.hex() not in text.lower() and keys.enc.hex().upper() not in text


# --- errors ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: derive_session_key(GP_KEY, bytes(2), H("0103")), CryptoError,
     "derivation constant 0103 is not 0101, 0102, 0181 or 0182"),
    (lambda: derive_session_key(GP_KEY, bytes(3), CONST_S_ENC), CryptoError,
     "sequence counter must be 2 bytes, got 3"),
    (lambda: derive_session_key(GP_KEY[:8], bytes(2), CONST_S_ENC), CryptoError,
     "SCP02 static key must be 16 bytes"),
    (lambda: diversify_emv(GP_KEY, GP_KDD[:8], KeyType.ENC), CryptoError, "KDD must be 10 bytes, got 8"),
    (lambda: InitUpdateResponse.parse(PS_INIT_UPDATE_RESPONSE[:11] + b"\x03" + PS_INIT_UPDATE_RESPONSE[12:]),
     CryptoError, "SCP identifier 03 at byte 12, expected 02"),
    (lambda: card_cryptogram(GP_KEY, bytes(8), bytes(2), bytes(8)), CryptoError,
     "card challenge must be 6 bytes, got 8"),
    (lambda: wrap_command(GP_KEY, H("84F22002"), ZERO_ICV), CryptoError,
     "CLA 84 already has the secure-messaging bit b3"),
    (lambda: wrap_command(GP_KEY, H("80E20000F8") + bytes(248), ZERO_ICV), CryptoError,
     "248 data bytes do not fit a short APDU once wrapped"),
    (lambda: wrap_command(GP_KEY, H("80E20000F0") + bytes(240), ZERO_ICV, I15, GP_KEY), CryptoError,
     "240 data bytes do not fit a short APDU once wrapped"),
    (lambda: unwrap_command(GP_KEY, H("84E2000010") + bytes(16), ZERO_ICV, I15, GP_KEY), CryptoError,
     "padding: no 80 marker in the last 8 bytes"),
    (lambda: wrap_command(GP_KEY, H("80E2000000000101"), ZERO_ICV), CryptoError, "extended"),
    (lambda: wrap_command(GP_KEY, H("80E2000005AA"), ZERO_ICV), CryptoError,
     "SCP02: Lc=05 but 1 data bytes follow"),
    (lambda: wrap_command(GP_KEY, H("80F22002"), bytes(4)), CryptoError, "ICV must be 8 bytes, got 4"),
    (lambda: unwrap_command(GP_KEY, H("80F220020814DB34FA4341DCA8"), ZERO_ICV), CryptoError,
     "80F22002 carries no C-MAC (CLA b3 clear, 8 data bytes)"),
    (lambda: unwrap_command(GP_KEY, H("84F2200204AABBCCDD"), ZERO_ICV), CryptoError,
     "84F22002 carries no C-MAC (CLA b3 set, 4 data bytes)"),
    (lambda: unwrap_command(GP_KEY, PS_SESSION[0][1], ZERO_ICV), VerificationError,
     "C-MAC of 84F22002 does not verify"),
    (lambda: encrypt_dek(GP_KEY, bytes(12)), CryptoError, "positive multiple of 8 bytes, got 12"),
    (lambda: next_icv(GP_KEY, bytes(4)), CryptoError, "previous C-MAC must be 8 bytes, got 4"),
])
def test_errors_name_what_is_wrong(call, error, message):
    with pytest.raises(error, match=re.escape(message)) as exc:
        call()
    assert isinstance(exc.value, SSCardError)
