"""Offline data authentication (cardspec.crypto.oda): published test cards, the committed test
hierarchy, every recovery check, the static-data builder, and key-file permissions.

Independent oracles: vectors/oda/emv-test-cards.json (Visa and Mastercard test-card data, values
read off the raw recovered blocks), and the EMV Book 2 Table 6/7/17 layouts rebuilt here byte by
byte (``_block``/``_issuer_fields``) to forge certificates with exactly one faulty field.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.errors import SSCardError
from apdu.tlv import build_ber
from cardspec.crypto import CryptoError, VerificationError
from cardspec.crypto.oda import (
    TEST_CA_INDEX,
    TEST_KEY_FILES,
    TEST_KEYS_DIR,
    TEST_RID,
    afl_oda_records,
    ca_key_checksum,
    generate_key,
    load_private_key,
    load_test_keys,
    make_icc_certificate,
    make_issuer_certificate,
    recover_icc_public_key,
    recover_issuer_public_key,
    save_private_key,
    sign_dynamic_data,
    sign_static_data,
    static_data_to_authenticate,
    verify_dynamic_signature,
    verify_static_data,
)

H = bytes.fromhex
PAN = "6228000100001234"
EXPIRY, SERIAL = H("1249"), H("000001")
AIP = H("7D00")
VECTORS = json.loads((TEST_KEYS_DIR / "emv-test-cards.json").read_text())
# pboc.md §2.2 D/C AFL: SFI1 r1-2; SFI2 r1-5; SFI3 r1-2, SFI3 r1 for ODA.
AFL = H("08010200" "10010500" "18010201")
SFI3_R1 = build_ber(0x70, H("5A086228000100001234" "5F2403491231" "9F0702FF00" "5F28020156" "5F340101"))
# Book 2 check names that a random (garbled) recovery can trip over.
GARBLE_CHECKS = ("range", "trailer", "header", "format", "hash algorithm", "hash")


@pytest.fixture(scope="module")
def keys():
    return load_test_keys()


def _n(key) -> int:
    return key.public_key().public_numbers().n if isinstance(key, rsa.RSAPrivateKey) else key.public_numbers().n


def _size(key) -> int:
    return (_n(key).bit_length() + 7) // 8


def _modulus(key) -> bytes:
    return _n(key).to_bytes(_size(key), "big")


def _block(fields: bytes, extra: bytes, *, header: int = 0x6A, trailer: int = 0xBC) -> bytes:
    """Book 2 recovered data: header ‖ fields ‖ SHA-1(fields ‖ extra) ‖ trailer."""
    return bytes([header]) + fields + hashlib.sha1(fields + extra).digest() + bytes([trailer])


def _forge(private: rsa.RSAPrivateKey, block: bytes) -> bytes:
    """Raw RSA signature of ``block`` (must be the modulus length), outside the module under test."""
    numbers = private.private_numbers()
    assert len(block) == _size(private)
    return pow(int.from_bytes(block, "big"), numbers.d, numbers.public_numbers.n).to_bytes(len(block), "big")


def _issuer_fields(ca: rsa.RSAPrivateKey, modulus: bytes, **override) -> tuple[bytes, bytes]:
    """Table 6 fields 2-10 and the remainder; ``override`` replaces one field."""
    room = _size(ca) - 36
    f = dict(fmt=b"\x02", issuer_id=H("622800FF"), expiry=EXPIRY, serial=SERIAL, hash_algo=b"\x01",
             pk_algo=b"\x01", key_len=bytes([len(modulus)]), exp_len=b"\x01",
             key=modulus[:room].ljust(room, b"\xBB"))
    f.update(override)
    return b"".join(f.values()), modulus[room:]


# --- published test cards -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sda_visa_01", "dda_mastercard_05"])
def test_published_issuer_certificate(name):
    v = VECTORS[name]
    ca = rsa.RSAPublicNumbers(int(v["ca_exponent"], 16), int(v["ca_modulus"], 16))
    assert ca_key_checksum(H(v["ca_rid"]), int(v["ca_index"], 16), ca).hex().upper() == v["ca_checksum"]
    issuer = recover_issuer_public_key(ca, H(v["issuer_certificate_90"]), H(v["issuer_remainder_92"]),
                                       H(v["issuer_exponent_9F32"]), v["pan_5A"])
    expected = v["expected"]
    assert issuer.owner.hex().upper() == expected["issuer_identifier"]
    assert issuer.expiry.hex() == expected["issuer_expiry"]
    assert issuer.serial.hex().upper() == expected["issuer_serial"]
    assert len(issuer.modulus) == expected["issuer_modulus_bytes"] and issuer.e == 3


def test_published_sda():
    v = VECTORS["sda_visa_01"]
    ca = rsa.RSAPublicNumbers(3, int(v["ca_modulus"], 16))
    issuer = recover_issuer_public_key(ca, H(v["issuer_certificate_90"]), H(v["issuer_remainder_92"]),
                                       H(v["issuer_exponent_9F32"]), v["pan_5A"])
    dac = verify_static_data(issuer, H(v["signed_static_data_93"]), H(v["static_data"]))
    assert dac.hex() == v["expected"]["dac_9F45"]
    with pytest.raises(VerificationError, match="hash check failed"):
        verify_static_data(issuer, H(v["signed_static_data_93"]), H(v["static_data"])[:-1] + b"\x01")


def test_published_dda_chain():
    v = VECTORS["dda_mastercard_05"]
    expected = v["expected"]
    ca = rsa.RSAPublicNumbers(3, int(v["ca_modulus"], 16))
    issuer = recover_issuer_public_key(ca, H(v["issuer_certificate_90"]), H(v["issuer_remainder_92"]),
                                       H(v["issuer_exponent_9F32"]), v["pan_5A"])
    icc = recover_icc_public_key(issuer, H(v["icc_certificate_9F46"]), None, H(v["icc_exponent_9F47"]),
                                 v["pan_5A"], H(v["static_data"]))
    assert icc.owner.hex().upper() == expected["icc_pan_field"]
    assert (icc.expiry.hex(), icc.serial.hex()) == (expected["icc_expiry"], expected["icc_serial"])
    assert len(icc.modulus) == expected["icc_modulus_bytes"]
    idn = verify_dynamic_signature(icc, H(v["signed_dynamic_data"]), H(v["ddol_data"]))
    assert idn.hex().upper() == expected["idn_9F4C"]
    with pytest.raises(VerificationError, match="hash check failed"):
        verify_dynamic_signature(icc, H(v["signed_dynamic_data"]), H("00000001"))
    with pytest.raises(VerificationError, match="application PAN"):
        recover_icc_public_key(issuer, H(v["icc_certificate_9F46"]), None, H(v["icc_exponent_9F47"]),
                               "5285881254345654", H(v["static_data"]))


def test_expiry_is_checked_to_the_last_day_of_the_month():
    v = VECTORS["sda_visa_01"]   # issuer certificate MMYY 1209: valid through 31 December 2009
    args = (rsa.RSAPublicNumbers(3, int(v["ca_modulus"], 16)), H(v["issuer_certificate_90"]),
            H(v["issuer_remainder_92"]), H(v["issuer_exponent_9F32"]), v["pan_5A"])
    assert recover_issuer_public_key(*args, today=datetime.date(2009, 12, 31)).expiry == H("1209")
    with pytest.raises(VerificationError, match="issuer certificate 90: expiry check failed: .* end of 12/09"):
        recover_issuer_public_key(*args, today=datetime.date(2010, 1, 1))


# --- issuer certificate with the test hierarchy -----------------------------------------------------

def test_issuer_certificate_layout_and_round_trip(keys):
    cert, remainder, exponent = make_issuer_certificate(keys.ca, keys.issuer.public_key(), "622800", EXPIRY, SERIAL)
    fields, expected_remainder = _issuer_fields(keys.ca, _modulus(keys.issuer))
    assert (len(cert), len(remainder), exponent) == (176, 4, b"\x03")
    assert remainder == expected_remainder
    assert pow(int.from_bytes(cert, "big"), 3, _n(keys.ca)).to_bytes(176, "big") == _block(fields, remainder + exponent)
    issuer = recover_issuer_public_key(keys.ca.public_key(), cert, remainder, exponent, PAN,
                                       today=datetime.date(2049, 12, 31))
    assert (issuer.n, issuer.e) == (_n(keys.issuer), 3)
    assert issuer.public_key().public_numbers() == keys.issuer.public_key().public_numbers()
    assert (issuer.owner, issuer.expiry, issuer.serial) == (H("622800FF"), EXPIRY, SERIAL)


def test_every_flipped_bit_is_caught(keys):
    parts = make_issuer_certificate(keys.ca, keys.issuer.public_key(), "622800", EXPIRY, SERIAL)
    ca = keys.ca.public_key()
    for which, data in enumerate(parts):
        for bit in range(8 * len(data)):
            tampered = bytearray(data)
            tampered[bit // 8] ^= 0x80 >> (bit % 8)
            args = list(parts)
            args[which] = bytes(tampered)
            with pytest.raises(VerificationError) as info:
                recover_issuer_public_key(ca, *args, PAN)
            check = str(info.value).split(": ")[1].removesuffix(" check failed")
            # A changed remainder or exponent only changes the hash input.
            assert check in (GARBLE_CHECKS if which == 0 else ("hash",)), (which, bit, str(info.value))


@pytest.mark.parametrize("override, check", [
    (dict(fmt=b"\x04"), "format"),
    (dict(hash_algo=b"\x02"), "hash algorithm"),
    (dict(pk_algo=b"\x02"), "public key algorithm"),
    (dict(exp_len=b"\x03"), "exponent"),
    (dict(issuer_id=H("623800FF")), "issuer identifier"),
    (dict(issuer_id=H("62FFFFFF")), "issuer identifier"),
    (dict(issuer_id=H("6228F0FF")), "issuer identifier"),
    (dict(expiry=H("1349")), "expiry"),
    (dict(expiry=H("12A9")), "expiry"),
    (dict(key_len=b"\x91"), "public key length"),
    (dict(key_len=b"\x8C"), "public key length"),
    (dict(key_len=b"\x00"), "public key length"),
])
def test_each_issuer_field_is_checked(keys, override, check):
    fields, remainder = _issuer_fields(keys.ca, _modulus(keys.issuer), **override)
    cert = _forge(keys.ca, _block(fields, remainder + b"\x03"))
    with pytest.raises(VerificationError, match=f"issuer certificate 90: {check} check failed"):
        recover_issuer_public_key(keys.ca.public_key(), cert, remainder, b"\x03", PAN)


@pytest.mark.parametrize("header, trailer, check", [(0x6B, 0xBC, "header"), (0x6A, 0xBD, "trailer")])
def test_header_and_trailer(keys, header, trailer, check):
    fields, remainder = _issuer_fields(keys.ca, _modulus(keys.issuer))
    cert = _forge(keys.ca, _block(fields, remainder + b"\x03", header=header, trailer=trailer))
    with pytest.raises(VerificationError, match=f"{check} check failed"):
        recover_issuer_public_key(keys.ca.public_key(), cert, remainder, b"\x03", PAN)


def test_length_and_wrong_ca(keys):
    cert, remainder, exponent = make_issuer_certificate(keys.ca, keys.issuer.public_key(), "622800", EXPIRY, SERIAL)
    with pytest.raises(VerificationError, match="length check failed: 175 bytes, the key modulus is 176"):
        recover_issuer_public_key(keys.ca.public_key(), cert[1:], remainder, exponent, PAN)
    with pytest.raises(VerificationError, match="length check failed"):
        recover_issuer_public_key(keys.issuer.public_key(), cert, remainder, exponent, PAN)
    with pytest.raises(VerificationError, match="hash check failed"):    # the remainder is hashed
        recover_issuer_public_key(keys.ca.public_key(), cert, None, exponent, PAN)


def test_issuer_key_without_remainder_and_exponent_65537(keys):
    small = generate_key(1024, 65537)   # 128 bytes fit the 140 bytes of a 176-byte certificate
    cert, remainder, exponent = make_issuer_certificate(keys.ca, small.public_key(), "62280001", EXPIRY, SERIAL)
    assert (remainder, exponent) == (b"", H("010001"))
    recovered = pow(int.from_bytes(cert, "big"), 3, _n(keys.ca)).to_bytes(176, "big")
    assert recovered[15 + 128:15 + 140] == b"\xBB" * 12
    assert recover_issuer_public_key(keys.ca.public_key(), cert, None, exponent, PAN).n == _n(small)
    with pytest.raises(VerificationError, match="hash check failed"):
        recover_issuer_public_key(keys.ca.public_key(), cert, b"\x00", exponent, PAN)
    fields, _ = _issuer_fields(keys.ca, _modulus(small), exp_len=b"\x03",
                               key=_modulus(small) + b"\xBB" * 11 + b"\x00")
    forged = _forge(keys.ca, _block(fields, exponent))
    with pytest.raises(VerificationError, match="padding check failed"):
        recover_issuer_public_key(keys.ca.public_key(), forged, None, exponent, PAN)


@pytest.mark.parametrize("call, message", [
    (lambda k: make_issuer_certificate(k.ca, k.issuer.public_key(), "62", EXPIRY, SERIAL),
     "issuer identifier must be 3-8 decimal digits, got '62'"),
    (lambda k: make_issuer_certificate(k.ca, k.issuer.public_key(), "622800", H("1349"), SERIAL),
     "certificate expiry must be BCD MMYY with month 01-12, got 1349"),
    (lambda k: make_issuer_certificate(k.ca, k.issuer.public_key(), "622800", EXPIRY, b"\x01"),
     "certificate serial must be 3 bytes, got 1"),
    (lambda k: make_issuer_certificate(k.icc, k.ca.public_key(), "622800", EXPIRY, SERIAL),
     "a 176-byte key cannot be certified by a 128-byte key"),
    (lambda k: make_issuer_certificate(k.ca, k.issuer, "622800", EXPIRY, SERIAL),
     "must be an RSA public key"),
    (lambda k: recover_issuer_public_key(k.ca.public_key(), bytes(176), None, b"\x03", "62280F"),
     "PAN must be 1-19 decimal digits"),
    (lambda k: generate_key(1000), "multiple of 8 in 1024-1984 bits, got 1000"),
    (lambda k: generate_key(1024, 17), "exponent 17 is not allowed"),
])
def test_argument_errors(keys, call, message):
    with pytest.raises(CryptoError, match=message) as info:
        call(keys)
    assert not isinstance(info.value, VerificationError)


# --- SDA, ICC certificate, DDA ------------------------------------------------------------------

def _records() -> list[tuple[int, bytes]]:
    """What a terminal reads for ODA: the AFL's ODA records, looked up on a sample card."""
    card = {(1, 1): build_ber(0x70, H("5F340101")), (3, 1): SFI3_R1, (3, 2): build_ber(0x70, H("9F4A0182"))}
    return [(sfi, card[(sfi, record)]) for sfi, record in afl_oda_records(AFL)]


def test_static_data_builder_on_the_pboc_afl():
    assert afl_oda_records(AFL) == [(3, 1)]
    static = static_data_to_authenticate(_records(), AIP, b"\x82")
    assert static == SFI3_R1[2:] + AIP
    assert static_data_to_authenticate(_records(), AIP) == SFI3_R1[2:]
    assert static_data_to_authenticate([(11, SFI3_R1)], AIP, b"\x82") == SFI3_R1 + AIP
    long_record = H("708181") + H("5A7F") + bytes(127)            # 70 with a long-form length
    assert static_data_to_authenticate([(1, long_record)], AIP) == long_record[3:]


@pytest.mark.parametrize("records, tag_list, message", [
    ([(3, SFI3_R1 + b"\x00")], b"\x82", r"record 1 \(SFI 3\) must be one 70 template"),
    ([(3, H("7004") + H("5A0112"))], b"\x82", r"record 1 \(SFI 3\) must be one 70 template: .*runs past"),
    ([(31, SFI3_R1)], b"\x82", "record 1 has SFI 31, must be 1-30"),
    ([(3, SFI3_R1)], H("9F36"), "9F4A may hold only 82 \\(AIP\\), got 9F36"),
    ([(3, SFI3_R1)], H("8282"), "9F4A may hold only 82"),
])
def test_static_data_builder_errors(records, tag_list, message):
    with pytest.raises(CryptoError, match=message):
        static_data_to_authenticate(records, AIP, tag_list)


@pytest.mark.parametrize("afl, message", [
    (b"", "non-empty multiple of 4 bytes, got 0"),
    (H("080102"), "multiple of 4 bytes, got 3"),
    (H("00010100"), r"AFL entry 1 \(00010100\): byte 1 must be SFI 1-30"),
    (H("0801020009010100"), r"AFL entry 2 \(09010100\): byte 1"),
    (H("08000000"), "first record 0, last 0"),
    (H("08010203"), "ODA count 3 are inconsistent"),
])
def test_afl_errors(afl, message):
    with pytest.raises(CryptoError, match=message):
        afl_oda_records(afl)


def test_sda_sign_verify_and_tampered_record(keys):
    static = static_data_to_authenticate(_records(), AIP, b"\x82")
    sig = sign_static_data(keys.issuer, static, H("DAC0"))
    assert len(sig) == 144
    assert pow(int.from_bytes(sig, "big"), 3, _n(keys.issuer)).to_bytes(144, "big") \
        == _block(H("0301DAC0") + b"\xBB" * 118, static)
    assert verify_static_data(keys.issuer.public_key(), sig, static) == H("DAC0")
    tampered = bytearray(SFI3_R1)
    tampered[5] ^= 0x01                      # one PAN digit in the record
    with pytest.raises(VerificationError, match="signed static data 93: hash check failed"):
        verify_static_data(keys.issuer.public_key(), sig,
                           static_data_to_authenticate([(3, bytes(tampered))], AIP, b"\x82"))
    with pytest.raises(VerificationError, match="hash check failed"):
        verify_static_data(keys.issuer.public_key(), sig, static[:-2] + H("7C00"))   # AIP changed
    forged = _forge(keys.issuer, _block(H("0301DAC0") + b"\xBB" * 117 + b"\x00", static))
    with pytest.raises(VerificationError, match="padding check failed"):
        verify_static_data(keys.issuer.public_key(), forged, static)
    forged = _forge(keys.issuer, _block(H("0501DAC0") + b"\xBB" * 118, static))
    with pytest.raises(VerificationError, match="format check failed: recovered 05, expected 03"):
        verify_static_data(keys.issuer.public_key(), forged, static)


def test_icc_certificate_round_trip(keys):
    static = static_data_to_authenticate(_records(), AIP, b"\x82")
    cert, remainder, exponent = make_icc_certificate(keys.issuer, keys.icc.public_key(), PAN, EXPIRY, SERIAL, static)
    assert (len(cert), len(remainder), exponent) == (144, 26, b"\x03")
    modulus = _modulus(keys.icc)
    fields = H("04") + H(PAN + "FFFF") + EXPIRY + SERIAL + H("0101") + bytes([128, 1]) + modulus[:102]
    assert pow(int.from_bytes(cert, "big"), 3, _n(keys.issuer)).to_bytes(144, "big") \
        == _block(fields, modulus[102:] + b"\x03" + static)
    icc = recover_icc_public_key(keys.issuer.public_key(), cert, remainder, exponent, PAN, static,
                                 today=datetime.date(2025, 1, 1))
    assert (icc.n, icc.e, icc.owner) == (_n(keys.icc), 3, H(PAN + "FFFF"))
    with pytest.raises(VerificationError, match="ICC certificate 9F46: application PAN check failed"):
        recover_icc_public_key(keys.issuer.public_key(), cert, remainder, exponent, PAN[:-1], static)
    with pytest.raises(VerificationError, match="ICC certificate 9F46: hash check failed"):
        recover_icc_public_key(keys.issuer.public_key(), cert, remainder, exponent, PAN, static + b"\x00")
    with pytest.raises(VerificationError, match="format check failed: recovered 04, expected 02"):
        recover_issuer_public_key(keys.issuer.public_key(), cert, remainder, exponent, PAN)


def test_full_chain_from_the_ca(keys):
    """Personalize with the test hierarchy, then authenticate as a terminal would (SDA and DDA)."""
    static = static_data_to_authenticate(_records(), AIP, b"\x82")
    issuer_parts = make_issuer_certificate(keys.ca, keys.issuer.public_key(), PAN[:6], EXPIRY, SERIAL)
    icc_parts = make_icc_certificate(keys.issuer, keys.icc.public_key(), PAN, EXPIRY, H("000002"), static)
    sig93 = sign_static_data(keys.issuer, static, H("DAC0"))
    un = H("1E78EEBC")
    sdad = sign_dynamic_data(keys.icc, H("0102030405060708"), un)

    issuer = recover_issuer_public_key(keys.ca.public_key(), *issuer_parts, PAN)
    assert verify_static_data(issuer, sig93, static) == H("DAC0")
    icc = recover_icc_public_key(issuer, *icc_parts, PAN, static)
    assert verify_dynamic_signature(icc, sdad, un) == H("0102030405060708")


def test_dda_layout_and_failures(keys):
    un = H("1E78EEBC")
    sdad = sign_dynamic_data(keys.icc, H("A1B2"), un)
    assert len(sdad) == 128
    assert pow(int.from_bytes(sdad, "big"), 3, _n(keys.icc)).to_bytes(128, "big") \
        == _block(H("05010302A1B2") + b"\xBB" * 100, un)
    with pytest.raises(VerificationError, match="signed dynamic data: hash check failed"):
        verify_dynamic_signature(keys.icc.public_key(), sdad, H("1E78EEBD"))
    for idn in (b"\x01", bytes(9)):
        with pytest.raises(CryptoError, match=f"ICC dynamic number must be 2-8 bytes, got {len(idn)}"):
            sign_dynamic_data(keys.icc, idn, un)
    for dynamic_fields, detail in [(H("050101") + H("02") + b"\xBB" * 100, "dynamic number length 02"),
                                   (H("050109") + H("09") + bytes(8) + b"\xBB" * 93, "length 09"),
                                   (H("05016F") + bytes(103), "L_DD=111 runs past")]:
        forged = _forge(keys.icc, _block(dynamic_fields[:106].ljust(106, b"\xBB"), un))
        with pytest.raises(VerificationError, match=f"dynamic data check failed: .*{detail}"):
            verify_dynamic_signature(keys.icc.public_key(), forged, un)


@settings(max_examples=15)
@given(static=st.binary(max_size=300), dac=st.binary(min_size=2, max_size=2),
       idn=st.binary(min_size=2, max_size=8), ddol=st.binary(max_size=40))
def test_sign_verify_properties(keys, static, dac, idn, ddol):
    assert verify_static_data(keys.issuer.public_key(), sign_static_data(keys.issuer, static, dac), static) == dac
    assert verify_dynamic_signature(keys.icc.public_key(), sign_dynamic_data(keys.icc, idn, ddol), ddol) == idn


# --- test keys and key files --------------------------------------------------------------------

def test_test_key_files_say_test(keys):
    assert (keys.rid, keys.ca_index) == (TEST_RID, TEST_CA_INDEX) == (H("A000000333"), 0xF1)
    assert [k.key_size for k in (keys.ca, keys.issuer, keys.icc)] == [1408, 1152, 1024]
    for name in TEST_KEY_FILES.values():
        assert name.startswith("TEST-")
        assert (TEST_KEYS_DIR / name).read_text().startswith("TEST KEY - ")
    readme = (TEST_KEYS_DIR / "README.md").read_text()
    assert "TEST KEYS — never use on real cards" in readme
    assert ca_key_checksum(TEST_RID, TEST_CA_INDEX, keys.ca.public_key()).hex().upper() in readme
    assert _modulus(keys.ca).hex().upper() in readme


def test_load_private_key_refuses_readable_files(tmp_path: Path, keys):
    path = tmp_path / "issuer.pem"
    save_private_key(path, keys.issuer, banner="TEST KEY - copy")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_private_key(path).private_numbers() == keys.issuer.private_numbers()
    os.chmod(path, 0o644)
    with pytest.raises(CryptoError, match=f"^{re.escape(str(path))}: key file mode 0644 lets group/others read it"):
        load_private_key(path)
    assert load_private_key(path, insecure=True).key_size == 1152
    os.chmod(path, 0o640)
    with pytest.raises(SSCardError, match="mode 0640"):
        load_private_key(path)


def test_key_file_errors(tmp_path: Path, keys):
    with pytest.raises(CryptoError, match="cannot create key file: File exists"):
        save_private_key(TEST_KEYS_DIR / TEST_KEY_FILES["icc"], keys.icc)
    with pytest.raises(CryptoError, match="banner must be one line"):
        save_private_key(tmp_path / "x.pem", keys.icc, banner="two\nlines")
    with pytest.raises(CryptoError, match="cannot read key file: No such file"):
        load_private_key(tmp_path / "missing.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    os.chmod(garbage, 0o600)
    with pytest.raises(CryptoError, match="garbage.pem: not a PEM private key"):
        load_private_key(garbage)
    ec_file = tmp_path / "ec.pem"
    ec_file.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    os.chmod(ec_file, 0o600)
    with pytest.raises(CryptoError, match="ec.pem: holds a .*, ODA needs an RSA key"):
        load_private_key(ec_file)
    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(keys.icc.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.BestAvailableEncryption(b"secret")))
    os.chmod(encrypted, 0o600)
    assert load_private_key(encrypted, password=b"secret").key_size == 1024
    with pytest.raises(CryptoError, match="enc.pem: .*encrypted"):
        load_private_key(encrypted)
