"""Financial-zone cryptography (cardspec.crypto.emv): published vectors, pyemv as oracle, properties.

Vectors: docs pboc.md §4.3 (vector A [P1], vector B [P2]) and §3.3 (MAC-key example [P5]).
pyemv (knovichikhin/pyemv) is an independent implementation: it is only a test dependency.
"""
from __future__ import annotations

import re

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import given
from hypothesis import strategies as st
from pyemv import ac as pyemv_ac
from pyemv import kd, sm, tools
from pyemv import mac as pyemv_mac

from apdu.dol import build_dol_data, split_dol_data
from apdu.errors import SSCardError
from cardspec.crypto import CryptoError
from cardspec.crypto.emv import (
    AC_TAG_LENGTHS,
    AC_TAGS,
    ac_input,
    arpc_method1,
    build_script_command,
    cvr_from_iad,
    decipher_pin_from_script,
    derive_udk_option_a,
    encipher_pin_for_script,
    generate_ac,
    parse_pin_block_format2,
    pboc_session_key,
    pin_block_iso9564_format2,
    script_mac,
    udk_kcvs,
    verify_ac,
    verify_arpc,
    verify_script_mac,
)

H = bytes.fromhex

# pboc.md §4.3 vector A [P1]
A_UDK = H("0D2E3CB0BC1F9E03AED58F663A2F9679")
A_ATC = H("000E")
A_SK = H("C3D3F062E9992B4E923D338D66193526")
A_TERMINAL = H("0000000012340000000000340156D86004A80001561205160101010101")
A_AIP, A_CVR = H("7C00"), H("03A4B904")
A_ARQC = H("F294D7022FA9B058")
A_ARPC_00 = H("3846EEB4C8D34271")

# pboc.md §4.3 vector B [P2]
B_IMK_AC = H("F0C34A8124CEE0A91A0B034AA97D6EAC")
B_PAN, B_PSN = "6228000100001", "01"
B_UDK = H("014C986ECD8F49157CC8B59E3BCDFD98")
B_ATC = H("0240")
B_SK = H("D4102725E6E5AD329E55AAB50BF23DA9")
B_TERMINAL = H("000000000001" "000000000000" "0156" "0080046000" "0156" "140701" "00" "1E78EEBC")
B_AIP, B_CVR = H("7D00"), H("03A04002")
B_ARQC = H("5D016C91005E7CC2")
B_ARPC_01 = H("21415243527CE78F")

# pboc.md §3.3 [P5]
MAC_UDK, MAC_ATC, MAC_SK = H("40BF52BFD9AD67456B078A19011A1391"), H("0001"), H("85FF218BB721253B726B8F8BFFA4326E")

# pboc.md §2.2 CDOL1 (52 bytes of data): the AC tags plus 9F21 and 9F4E
CDOL1 = H("9F02069F03069F1A0295055F2A029A039F21039C019F37049F4E14")

keys16 = st.binary(min_size=16, max_size=16)
atcs = st.binary(min_size=2, max_size=2)
blocks8 = st.binary(min_size=8, max_size=8)
pins = st.text("0123456789", min_size=4, max_size=12)


def split_terminal(data: bytes) -> dict[int, bytes]:
    """The 29 terminal bytes of a published AC input, cut by :data:`AC_TAG_LENGTHS`."""
    values, pos = {}, 0
    for tag in AC_TAGS:
        values[tag] = data[pos:pos + AC_TAG_LENGTHS[tag]]
        pos += AC_TAG_LENGTHS[tag]
    assert pos == len(data)
    return values


def raw_tdes_ecb(key: bytes, data: bytes) -> bytes:
    enc = Cipher(TripleDES(key + key[:8]), modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


# --- published vectors -------------------------------------------------------------------------

def test_vector_a_session_key_arqc_arpc():
    sk = pboc_session_key(A_UDK, A_ATC)
    assert sk == A_SK
    data = ac_input(split_terminal(A_TERMINAL), A_AIP, A_ATC, A_CVR)
    assert data == A_TERMINAL + A_AIP + A_ATC + A_CVR
    assert generate_ac(sk, data) == A_ARQC
    assert arpc_method1(sk, A_ARQC, b"00") == A_ARPC_00


def test_vector_b_udk_session_key_arqc_arpc():
    udk = derive_udk_option_a(B_IMK_AC, B_PAN, B_PSN)
    assert udk == B_UDK
    sk = pboc_session_key(udk, B_ATC)
    assert sk == B_SK
    arqc = generate_ac(sk, ac_input(split_terminal(B_TERMINAL), B_AIP, B_ATC, B_CVR))
    assert arqc == B_ARQC
    assert arpc_method1(sk, arqc, b"01") == B_ARPC_01


def test_mac_key_example():
    assert pboc_session_key(MAC_UDK, MAC_ATC) == MAC_SK


def test_ac_input_from_a_52_byte_cdol1_ignores_extra_tags():
    """pboc.md §0: the CDOL1 carries 9F21 and 9F4E, yet only the AC tags enter the MAC."""
    values = split_terminal(A_TERMINAL) | {0x9F21: H("235959"), 0x9F4E: b"MERCHANT".ljust(20, b"\x00")}
    cdol1_data = build_dol_data(CDOL1, values)
    assert len(cdol1_data) == 52
    split = split_dol_data(CDOL1, cdol1_data)
    assert generate_ac(A_SK, ac_input(split, A_AIP, A_ATC, A_CVR)) == A_ARQC


def test_cvr_from_the_published_gac_response():
    # pboc.md §4.1 [P1]: 80 1E 80 000E F294D7022FA9B058 ‖ IAD
    response = H("801E" "80" "000E" "F294D7022FA9B058"
                 "07" "02" "01" "03A4B904" "01" "0A" "01" "0000000000" "1BFC423C")
    iad = response[2 + 1 + 2 + 8:]
    assert cvr_from_iad(iad) == A_CVR
    assert generate_ac(A_SK, ac_input(split_terminal(A_TERMINAL), A_AIP, response[3:5], cvr_from_iad(iad))) \
        == response[5:13]


def test_verify_functions_accept_the_vectors_and_reject_a_flipped_bit():
    data = B_TERMINAL + B_AIP + B_ATC + B_CVR
    assert verify_ac(B_SK, data, B_ARQC)
    assert not verify_ac(B_SK, data, bytes([B_ARQC[0] ^ 1]) + B_ARQC[1:])
    assert verify_arpc(B_SK, B_ARQC, b"01", B_ARPC_01)
    assert not verify_arpc(B_SK, B_ARQC, b"00", B_ARPC_01)
    assert not verify_arpc(B_SK, B_ARQC, b"01", B_ARPC_01[:7] + bytes([B_ARPC_01[7] ^ 0x80]))


def test_plaintext_verify_pin_block_of_the_published_log():
    # pboc.md §3.2 [P5]: 0020008008 26000000FFFFFFFF
    assert pin_block_iso9564_format2("000000") == H("26000000FFFFFFFF")
    assert parse_pin_block_format2(H("26000000FFFFFFFF")) == "000000"


# --- pyemv as an independent oracle --------------------------------------------------------------

@given(keys16, st.text("0123456789", min_size=1, max_size=19), st.text("0123456789", min_size=2, max_size=2))
def test_udk_matches_pyemv(imk, pan, psn):
    assert derive_udk_option_a(imk, pan, psn) == kd.derive_icc_mk_a(imk, pan, psn)


@given(keys16, st.text("0123456789", min_size=12, max_size=19))
def test_udk_default_psn_is_00(imk, pan):
    assert derive_udk_option_a(imk, pan) == kd.derive_icc_mk_a(imk, pan, None)


@given(keys16, atcs)
def test_session_key_matches_raw_formula(udk, atc):
    inverted = bytes(b ^ 0xFF for b in atc)
    expected = tools.encrypt_tdes_ecb(udk, bytes(6) + atc + bytes(6) + inverted)
    assert pboc_session_key(udk, atc) == expected == raw_tdes_ecb(udk, bytes(6) + atc + bytes(6) + inverted)


@given(keys16, st.binary(max_size=80))
def test_ac_matches_pyemv(sk, data):
    assert generate_ac(sk, data) == pyemv_ac.generate_ac(sk, data)


@given(keys16, blocks8, st.binary(min_size=2, max_size=2))
def test_arpc_matches_pyemv(sk, arqc, arc):
    assert arpc_method1(sk, arqc, arc) == pyemv_ac.generate_arpc_1(sk, arqc, arc)


@given(keys16, st.binary(min_size=4, max_size=4), atcs, blocks8, st.binary(max_size=40))
def test_script_mac_matches_pyemv(sk, header, atc, arqc, data):
    header_lc = header + bytes([len(data) + 4])
    mac = script_mac(sk, header_lc, atc, arqc, data)
    assert mac == sm.generate_command_mac(sk, header_lc + atc + arqc + data, length=4)
    assert mac == pyemv_mac.mac_iso9797_3(sk[:8], sk[8:], header_lc + atc + arqc + data, 2, 4)
    assert verify_script_mac(sk, header_lc, atc, arqc, data, mac)
    assert not verify_script_mac(sk, header_lc, atc, arqc, data, bytes([mac[0] ^ 1]) + mac[1:])
    assert build_script_command(sk, header, atc, arqc, data) == header_lc + data + mac


@given(pins)
def test_pin_block_matches_pyemv_and_parses_back(pin):
    block = pin_block_iso9564_format2(pin)
    assert block == sm.format_iso9564_2_pin_block(pin)
    assert parse_pin_block_format2(block) == pin


@given(keys16, pins)
def test_enciphered_pin_matches_pyemv_visa_layout(sk, pin):
    """pyemv's VISA command-data layout is len ‖ data ‖ 80 00…, 3DES-ECB: the PBOC layout."""
    block = pin_block_iso9564_format2(pin)
    expected = sm.encrypt_command_data(sk, block, sm.EncryptionType.VISA)
    assert encipher_pin_for_script(sk, block) == expected
    assert decipher_pin_from_script(sk, expected) == block


@given(keys16, keys16, pins)
def test_pin_xor_profile_matches_the_vis_mask(sk, udk, pin):
    """Bytes 5-8 XOR card-key bytes 5-8: pyemv's VIS block differs only in the control nibble."""
    vis = sm.format_vis_pin_block(udk, pin)
    masked = bytes([vis[0] | 0x20]) + vis[1:]
    block = pin_block_iso9564_format2(pin)
    data = encipher_pin_for_script(sk, block, udk_for_xor=udk)
    assert data == sm.encrypt_command_data(sk, masked, sm.EncryptionType.VISA)
    assert decipher_pin_from_script(sk, data, udk_for_xor=udk) == block
    assert decipher_pin_from_script(sk, data) == masked


@given(keys16, keys16, keys16)
def test_dgi9000_kcvs_match_pyemv(k1, k2, k3):
    assert udk_kcvs(k1, k2, k3) == b"".join(tools.key_check_digits(k, 3) for k in (k1, k2, k3))


@given(keys16, st.text("0123456789", min_size=1, max_size=19))
def test_udk_has_odd_parity(imk, pan):
    assert all(bin(b).count("1") % 2 == 1 for b in derive_udk_option_a(imk, pan))


# --- errors: precise, typed, never showing a secret ------------------------------------------------

@pytest.mark.parametrize(("call", "message"), [
    (lambda: derive_udk_option_a(bytes(8), B_PAN), "IMK must be 16 bytes, got 8"),
    (lambda: derive_udk_option_a(B_IMK_AC, "62280001000012345678"), "PAN must be 1-19 decimal digits"),
    (lambda: derive_udk_option_a(B_IMK_AC, B_PAN, "1"), "PSN must be 2 decimal digits, got '1'"),
    (lambda: pboc_session_key(A_UDK, H("000E00")), "ATC must be 2 bytes, got 3"),
    (lambda: ac_input(split_terminal(A_TERMINAL) | {0x9C: H("0101")}, A_AIP, A_ATC, A_CVR),
     "AC input tag 9C must be 1 bytes, got 2"),
    (lambda: ac_input(split_terminal(A_TERMINAL), A_AIP, A_ATC, H("04A4B904")),
     "CVR must start with its length 03, got 04"),
    (lambda: ac_input(split_terminal(A_TERMINAL), H("7C"), A_ATC, A_CVR), "AIP must be 2 bytes, got 1"),
    (lambda: cvr_from_iad(H("0601010300000001")), "IAD must start with length 07"),
    (lambda: arpc_method1(A_SK, A_ARQC, b"0"), "ARC must be 2 bytes, got 1"),
    (lambda: generate_ac(A_SK[:8], A_TERMINAL), "AC session key must be 16 bytes, got 8"),
    (lambda: script_mac(MAC_SK, H("8418000004"), MAC_ATC, A_ARQC, b"\x01"),
     "script Lc=04 must count the 1 data bytes plus the 4-byte MAC (05)"),
    (lambda: verify_script_mac(MAC_SK, H("8418000004"), MAC_ATC, A_ARQC, b"", bytes(8)),
     "script MAC must be 4 bytes, got 8"),
    (lambda: encipher_pin_for_script(A_SK, bytes(7)), "PIN block must be 8 bytes, got 7"),
    (lambda: encipher_pin_for_script(A_SK, bytes(8), udk_for_xor=bytes(8)), "PIN-block XOR key must be 16 bytes"),
    (lambda: decipher_pin_from_script(A_SK, bytes(24)), "enciphered PIN data must be 16 bytes, got 24"),
])
def test_errors_name_what_is_wrong(call, message):
    with pytest.raises(CryptoError, match=re.escape(message)) as exc:
        call()
    assert isinstance(exc.value, SSCardError)


@pytest.mark.parametrize(("block", "message"), [
    ("361234FFFFFFFFFF", "control field is 3, format 2 needs 2"),
    ("231234FFFFFFFFFF", "PIN length 3 is outside 4-12"),
    ("2D12345678901234", "PIN length 13 is outside 4-12"),
    ("2412A4FFFFFFFFFF", "PIN nibble 5 is not a decimal digit"),
    ("2412345FFFFFFFFF", "filler nibble 7 is 5, must be F"),
])
def test_malformed_pin_blocks_are_rejected_without_showing_digits(block, message):
    with pytest.raises(CryptoError, match=message) as exc:
        parse_pin_block_format2(H(block))
    assert "1234" not in str(exc.value)


@pytest.mark.parametrize("pin", ["123", "1234567890123", "12 34", "１２３４", ""])
def test_bad_pins_are_rejected_without_echoing_them(pin):
    with pytest.raises(CryptoError, match="PIN must be 4-12 decimal digits") as exc:
        pin_block_iso9564_format2(pin)
    assert not pin or pin not in str(exc.value)


def test_deciphered_data_with_a_wrong_length_byte_is_rejected():
    plain = H("07") + H("241234FFFFFFFFFF") + H("80000000000000")
    data = raw_tdes_ecb(A_SK, plain)
    message = "must hold 08 ‖ 8-byte PIN block, got a length byte 07 and 9 bytes"
    with pytest.raises(CryptoError, match=re.escape(message)):
        decipher_pin_from_script(A_SK, data)


def test_tampered_enciphered_pin_fails_padding_or_format():
    data = encipher_pin_for_script(A_SK, pin_block_iso9564_format2("123456"))
    tampered = data[:8] + bytes([data[8] ^ 1]) + data[9:]
    with pytest.raises(CryptoError):
        parse_pin_block_format2(decipher_pin_from_script(A_SK, tampered))
