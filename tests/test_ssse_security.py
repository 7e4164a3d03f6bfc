"""Security of the SSSE in the virtual card (ssse.md §4, §5, §7): PIN, keys and
authentication, the security scope, access rules, lifecycle and MAC-protected writes,
for the 3rd-generation SM4 and the 2nd-generation 3DES profile. Host cryptograms come
from the same ``cardspec.crypto.ssse`` functions as the card's."""
from __future__ import annotations

import pytest

from cardsim.persistent import AppSecrets, Key, Pin, encode_pin
from cardsim.runtime import CardConfigError
from cardsim.ssse_app import SsseApplication
from cardsim.store import RecordingStore
from cardspec.crypto.blockcipher import Algorithm
from cardspec.crypto.ssse import (command_mac, external_auth_cryptogram, internal_auth_response, mac_input,
                                  wrap_command_data)
from cardspec.ids import AppDF, KeyId
from cardspec.profile import Profile

from ssse_testcard import (PROFILES, SELECT_DF01, SELECT_DF04, SELECT_SSSE, Host, build_card, key_value,
                           new_secrets)

DF04, DF01 = int(AppDF.DF04), int(AppDF.DF01)
SSN_RECORD = "0812" + b"511302198507160027".hex().upper()


@pytest.fixture(params=PROFILES)
def host(request: pytest.FixtureRequest) -> Host:
    h = Host(build_card(Profile.load(request.param)))
    assert h.sw(SELECT_SSSE) == "9000"
    return h


def make_host(profile: str, store: RecordingStore | None = None) -> Host:
    h = Host(build_card(Profile.load(profile), store=store))
    assert h.sw(SELECT_SSSE) == "9000"
    return h


def sm_write(h: Host, header: str, body: bytes, key: bytes | None = None, *, good: bool = True) -> str:
    """GET CHALLENGE, then ``header`` (CLA INS P1 P2 in hex) with ``body ‖ MAC`` under
    ``key`` (default: the SSSE's STK 02); ``good=False`` flips a MAC bit."""
    cla, ins, p1, p2 = bytes.fromhex(header)
    mac = command_mac(h.alg, key or key_value(KeyId.STK), h.challenge(), mac_input(cla, ins, p1, p2, body))
    if not good:
        mac = bytes((mac[0] ^ 0x80,)) + mac[1:]
    return h.sw(f"{header}{len(body) + len(mac):02X}{(body + mac).hex()}")


def block_pin(h: Host) -> None:
    for left in range(5, -1, -1):
        assert h.verify("000000") == f"63C{left}"
    assert h.tc.secrets.pin is not None and h.tc.secrets.pin.blocked


# --- FCI ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile, fci", [
    ("ssc3-sm4", "6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103"),  # TR1/TR2
    ("ssc2-3des", "6F16840F7378312E73682EC9E7BBE1B1A3D5CFA50388011E"),  # TR4: no 9F0C
])
def test_fci_is_the_profiles(profile: str, fci: str) -> None:
    h = Host(build_card(Profile.load(profile)))
    assert h.card.transmit(bytes.fromhex(SELECT_SSSE)).hex().upper() == f"61{len(fci) // 2:02X}"  # T=0 profiles
    assert h.tx("00C0000000") == fci + "9000"
    assert h.tx(SELECT_DF04) == "6F088406" + AppDF.DF04.aid.hex().upper() + "9000"  # DF04 keeps the default


# --- VERIFY ------------------------------------------------------------------------------------------
def test_verify_right_pin_commits_before_and_after_the_comparison() -> None:
    store = RecordingStore()
    h = make_host("ssc3-sm4", store)
    assert h.sw("0020000003123456") == "9000"
    assert h.card.security.pin_verified
    assert store.reasons == ["VERIFY: try spent, 5 left", "VERIFY: accepted, try counter restored"]
    assert h.tc.secrets.pin == Pin(encode_pin("123456"), 6, 6)


def test_six_wrong_pins_block_and_the_block_survives_power_cycles(host: Host) -> None:
    block_pin(host)
    assert host.sw("0020000003123456") == "6983"  # even the right PIN
    assert host.sw("00200000") == "6983"
    assert host.sw("805E010007123456FF654321") == "6983"
    for _ in range(2):
        host.power_cycle()
        assert host.sw(SELECT_SSSE) == "9000"
        assert host.sw("0020000003123456") == "6983"


def test_verify_without_data_reports_without_spending(host: Host) -> None:
    assert host.sw("00200000") == "63C6"
    assert host.sw("0020000000") == "63C6"  # Le 00, no data: the same question
    assert host.verify("111111") == "63C5"
    assert host.sw("00200000") == "63C5"
    assert host.verify("123456") == "9000"
    assert host.sw("00200000") == "9000"  # verified in this session (ISO 7816-4 §11.5.6)
    assert host.verify("111111") == "63C5"  # a failed VERIFY drops the verified state
    assert host.sw("00200000") == "63C5"


def test_verify_without_a_pin_on_the_card() -> None:
    profile = Profile.load("ssc2-3des")
    h = Host(build_card(profile, secrets=new_secrets(profile, pin=None)))
    assert h.sw(SELECT_SSSE) == "9000"
    assert h.sw("00200000") == "9000"  # no PIN: nothing to verify (S7 §5.6)
    assert h.sw("0020000003123456") == "6A88"
    assert h.sw("805E010007123456FF654321") == "6A88"


@pytest.mark.parametrize("apdu, sw", [
    ("002000000312F456", "6A80"),  # F in the middle
    ("00200000031234A6", "6A80"),  # not BCD
    ("0020000002FFFF", "6A80"),  # no digit at all
    ("00200000011F", "6700"),  # Lc below 2
    ("002000000912345678901234567F", "6700"),  # Lc above 8
    ("0020000103123456", "6A86"),
    ("0020008003123456", "6A86"),
    ("8020000003123456", "6E00"),
    ("0420000003123456", "6882"),
])
def test_malformed_verify_spends_no_try(host: Host, apdu: str, sw: str) -> None:
    assert host.sw(apdu) == sw
    assert host.sw("00200000") == "63C6"


def test_verify_is_not_available_outside_the_ssse(host: Host) -> None:
    assert host.sw("00A40000023F00") == "9000"
    assert host.sw("0020000003123456") == "6D00"


# --- CHANGE PIN ----------------------------------------------------------------------------------
def test_change_pin(host: Host) -> None:
    assert host.sw("805E010007 123456 FF 654321") == "9000"
    assert host.card.security.pin_verified
    assert host.verify("123456") == "63C5"
    assert host.verify("654321") == "9000"
    assert host.sw("805E010007 654321 FF 12345F") == "9000"  # odd length: F-padded
    assert host.sw("002000000312345F") == "9000"
    assert host.verify("123456") == "63C5"
    assert host.sw("805E010006 12345F FF 5678") == "9000"  # 2-byte PINs are allowed (Lc 5)
    assert host.verify("5678") == "9000"


def test_change_pin_with_a_wrong_old_pin_spends_a_try(host: Host) -> None:
    assert host.sw("805E010007 111111 FF 654321") == "63C5"
    assert not host.card.security.pin_verified
    assert host.verify("654321") == "63C4"
    assert host.verify("123456") == "9000"  # unchanged, counter restored
    assert host.sw("00200000") == "9000"


@pytest.mark.parametrize("apdu, sw", [
    ("805E010006 123456 654321", "6A80"),  # no separator
    ("805E010007 123456 FF 65F321", "6A80"),
    ("805E010007 12345F FF FF4321", "6A80"),
    ("805E010004 12 FF 5678", "6700"),  # Lc below 2 + 1 + 2
    ("805E010013" + "12" * 8 + "FF" + "34" * 10, "6700"),  # Lc above 8 + 1 + 8
    ("805E010106 123456 FF 1234", "6A86"),
    ("005E010007 123456 FF 654321", "6E00"),
    ("845E010007 123456 FF 654321", "6882"),
])
def test_change_pin_errors(host: Host, apdu: str, sw: str) -> None:
    assert host.sw(apdu) == sw
    assert host.sw("00200000") == "63C6"


# --- PIN UNBLOCK / RESET (8424) ------------------------------------------------------------------
def test_only_an_authenticated_unblock_unlocks_the_pin(host: Host) -> None:
    block_pin(host)
    assert host.protected(0x84, 0x24, 0x00, 0x00) == "6982"  # no PUK authentication
    assert host.ext_auth(KeyId.PUK) == "9000"
    assert host.protected(0x84, 0x24, 0x00, 0x00, good=False) == "9302"
    assert host.verify("123456") == "6983"  # nothing changed
    assert host.sw("8424000004" + command_mac(host.alg, key_value(2), bytes(8), mac_input(0x84, 0x24, 0, 0)).hex()) \
        == "6984"  # no challenge
    assert host.protected(0x84, 0x24, 0x00, 0x00, key=key_value(KeyId.PUK)) == "9302"  # MAC under PUK, not STK
    assert host.protected(0x84, 0x24, 0x00, 0x00) == "9000"
    assert host.sw("00200000") == "63C6"
    assert host.verify("123456") == "9000"


def test_pin_reset_to_a_new_pin(host: Host) -> None:
    block_pin(host)
    assert host.ext_auth(KeyId.PUK) == "9000"
    assert host.protected(0x84, 0x24, 0x00, 0x01, encode_pin("888888")) == "9000"
    assert host.verify("123456") == "63C5"
    assert host.verify("888888") == "9000"
    assert host.protected(0x84, 0x24, 0x00, 0x01, encode_pin("1234567"), good=False) == "9302"
    assert host.verify("888888") == "9000"  # unchanged by the failed reset


@pytest.mark.parametrize("profile, lc", [("ssc3-sm4", 0x14), ("ssc2-3des", 0x0C)])
def test_pin_reset_lengths_of_s5(profile: str, lc: int) -> None:
    """S5 §6.8.3: Lc 14 (SM4: 16-byte PIN block + MAC), 0C (DES: 8 + 4); TR1 sends 8424000114."""
    h = make_host(profile)
    assert h.ext_auth(KeyId.PUK) == "9000"
    data = wrap_command_data(h.alg, key_value(KeyId.STK), h.challenge(), 0x84, 0x24, 0x00, 0x01, encode_pin("123456"))
    assert len(data) == lc
    assert h.sw(f"84240001{lc:02X}{data.hex()}") == "9000"


@pytest.mark.parametrize("apdu, sw", [
    ("8424000008" + "00" * 8, "6700"),  # P2 00 takes the MAC only
    ("8424000104" + "00" * 4, "6700"),  # P2 01 needs a PIN block
    ("8424000107" + "00" * 7, "6700"),  # not whole blocks
    ("8424000204" + "00" * 4, "6A86"),
    ("8424010004" + "00" * 4, "6A86"),
    ("8024000004" + "00" * 4, "6987"),  # the MAC is missing by class
    ("0424000004" + "00" * 4, "6E00"),
])
def test_pin_unblock_errors(host: Host, apdu: str, sw: str) -> None:
    assert host.ext_auth(KeyId.PUK) == "9000"
    host.challenge()
    assert host.sw(apdu) == sw


def test_pin_reset_rejects_a_malformed_new_pin(host: Host) -> None:
    assert host.ext_auth(KeyId.PUK) == "9000"
    assert host.protected(0x84, 0x24, 0x00, 0x01, bytes.fromhex("12F4")) == "6A80"
    assert host.protected(0x84, 0x24, 0x00, 0x01, bytes.fromhex("12")) == "6A80"  # 1 byte < min_bytes
    assert host.verify("123456") == "9000"


# --- GET CHALLENGE, INTERNAL and EXTERNAL AUTHENTICATE ----------------------------------------------
def test_get_challenge_lengths(host: Host) -> None:
    sizes = (4, 8, 16) if host.alg is Algorithm.SM4 else (4, 8)
    for size in sizes:
        assert len(host.challenge(size)) == size
    for le in ("00", "05", "02", "20") + (() if host.alg is Algorithm.SM4 else ("10",)):
        assert host.sw("00840000" + le) == "6700"
    assert host.sw("0084000001AA08") == "6700"
    assert host.sw("0084000108") == "6A86"
    assert host.sw("8084000008") == "6E00"
    assert host.sw("0084000000") == "6700"
    assert host.challenge() != host.challenge()


def test_challenge_serves_one_authentication(host: Host) -> None:
    challenge = host.challenge()
    cryptogram = external_auth_cryptogram(host.alg, key_value(KeyId.UK), challenge, bytes(8))
    apdu = "0082000410" + (cryptogram + bytes(8)).hex()
    assert host.sw(apdu) == "9000"
    assert host.sw(apdu) == "6984"  # replay: the challenge is gone
    host.challenge()
    assert host.sw(apdu) == "63C2"  # a new challenge: the old cryptogram is wrong under it


@pytest.mark.parametrize("size", [4, 8])
def test_external_auth_with_short_challenges(host: Host, size: int) -> None:
    original = bytes.fromhex("E603E2CAADAF02B6")
    cryptogram = external_auth_cryptogram(host.alg, key_value(KeyId.RK), host.challenge(size), original)
    assert host.sw("0082000A10" + (cryptogram + original).hex()) == "9000"
    assert KeyId.RK in host.card.security.authenticated_keys


def test_external_auth_blocks_after_three_failures(host: Host) -> None:
    assert host.ext_auth(KeyId.RK, good=False) == "63C2"
    assert host.ext_auth(KeyId.RK) == "9000"  # success restores the counter
    for left in (2, 1, 0):
        assert host.ext_auth(KeyId.RK, good=False) == f"63C{left}"
    assert host.ext_auth(KeyId.RK) == "6983"
    host.power_cycle()
    assert host.sw(SELECT_SSSE) == "9000"
    assert host.ext_auth(KeyId.RK) == "6983"
    assert host.ext_auth(KeyId.UK) == "9000"  # other keys are unaffected


def test_a_failed_external_auth_revokes_that_key(host: Host) -> None:
    assert host.ext_auth(KeyId.UK) == "9000"
    assert host.ext_auth(KeyId.UK, good=False) == "63C2"
    assert KeyId.UK not in host.card.security.authenticated_keys


def test_bk_never_locks(host: Host) -> None:
    for _ in range(5):
        assert host.ext_auth(KeyId.BK, good=False) == "6300"
    assert host.ext_auth(KeyId.BK) == "9000"


@pytest.mark.parametrize("apdu, sw", [
    ("008200" "0B" "10" + "00" * 16, "6A88"),  # no key 0B
    ("008200" "00" "10" + "00" * 16, "6A88"),  # IRK is for internal authentication
    ("008200" "02" "10" + "00" * 16, "6A88"),  # STK is for MACs
    ("008200" "84" "10" + "00" * 16, "6A88"),  # DF keys are not reachable from the SSSE
    ("008201" "0A" "10" + "00" * 16, "6A86"),
    ("008200" "0A" "08" + "00" * 8, "6700"),
    ("008200" "0A" "12" + "00" * 18, "6700"),
    ("008200" "0A" "11" + "00" * 16 + "01", "6A88"),  # key version 01, the key is version 00
    ("808200" "0A" "10" + "00" * 16, "6E00"),
])
def test_external_auth_errors(host: Host, apdu: str, sw: str) -> None:
    host.challenge()
    assert host.sw(apdu) == sw
    assert host.tc.secrets.keys[KeyId.RK].tries_left == 3  # nothing was spent


def test_external_auth_without_a_challenge(host: Host) -> None:
    assert host.sw("0082000A10" + "00" * 16) == "6984"
    assert host.tc.secrets.keys[KeyId.RK].tries_left == 3


def test_internal_authenticate(host: Host) -> None:
    proc, original = host.challenge(), host.challenge()
    expected = internal_auth_response(host.alg, key_value(KeyId.IRK), proc, original)
    assert host.tx("0088000010" + (proc + original).hex()) == expected.hex().upper() + "9000"
    assert host.tx("0088000011" + (proc + original).hex() + "00") == expected.hex().upper() + "9000"  # keyVer 00
    assert host.sw("0088000011" + (proc + original).hex() + "01") == "6A88"
    assert host.sw("0088000410" + "00" * 16) == "6A88"  # UK is not an internal key
    assert host.sw("008800000F" + "00" * 15) == "6700"
    assert host.sw("0088010010" + "00" * 16) == "6A86"


def test_internal_authenticate_tr1_shape_on_t0() -> None:
    """TR1: ``0088000010 procFactor original`` → 8 bytes; a T=0 card answers 6108 first."""
    h = make_host("ssc3-sm4")
    raw = h.card.transmit(bytes.fromhex("0088000010" + "32D9E876ADB31BBF" "DBF7A936D0D18C9E"))
    assert raw == b"\x61\x08"
    expected = internal_auth_response(Algorithm.SM4, key_value(0), bytes.fromhex("32D9E876ADB31BBF"),
                                      bytes.fromhex("DBF7A936D0D18C9E"))
    assert h.tx("00C0000008") == expected.hex().upper() + "9000"


# --- access rules and the security scope --------------------------------------------------------------
def test_ef06_needs_rk_on_3rd_generation_cards() -> None:
    h = make_host("ssc3-sm4")
    assert h.sw("00B2013400") == "6982"
    assert h.verify("123456") == "9000"
    assert h.sw("00B2013400") == "6982"  # the PIN does not open EF06
    assert h.ext_auth(KeyId.RK) == "9000"
    assert h.tx("00B2013400") == SSN_RECORD + "9000"
    assert h.sw("00B0870010") == "9000"  # EF07 too


def test_ef06_is_free_on_2nd_generation_cards() -> None:
    h = make_host("ssc2-3des")
    assert h.tx("00B2013400") == SSN_RECORD + "9000"
    assert h.sw("00B0870010") == "6982"  # EF07 still needs RK


def test_df04_pin_or_key_and_pin_and_key(host: Host) -> None:
    assert host.sw(SELECT_DF04) == "9000"
    assert host.sw("00B2012C00") == "6982"  # EF05: pin|key:84
    assert host.sw("00B2013400") == "6982"  # EF06: pin&key:84
    assert host.ext_auth(0x84, DF04) == "9000"
    assert host.tx("00B2012C00") == "8108" + b"12345678".hex().upper() + "9000"
    assert host.sw("00B2013400") == "6982"  # the key alone is not enough
    assert host.verify("123456") == "9000"
    assert host.tx("00B2013400") == "9001319000"


def test_pin_rule(host: Host) -> None:
    """DF04 EF08 (the purse log, cyclic, empty here) is read with the PIN only."""
    assert host.sw(SELECT_DF04) == "9000"
    assert host.ext_auth(0x84, DF04) == "9000"
    assert host.sw("00B2014400") == "6982"  # a key does not stand in for "pin"
    assert host.verify("123456") == "9000"
    assert host.sw("00B2014400") == "6A83"  # allowed; no record yet


def test_pin_verified_in_the_ssse_opens_df04(host: Host) -> None:
    """S7 §5.8: the verified state lasts until power-off or another application; the
    SSSE's DFs are one application, so SSSE → DF04 keeps it."""
    assert host.verify("123456") == "9000"
    assert host.sw(SELECT_DF04) == "9000"
    assert host.sw("00B2012C00") == "9000"
    assert host.sw("00B2013400") == "6982"  # EF06 also needs RK1DF04
    assert host.sw("00A40000023F00") == "9000"  # leaving the application clears the state
    assert host.sw(SELECT_DF04) == "9000"
    assert host.sw("00B2012C00") == "6982"
    assert host.verify("123456") == "9000"
    host.card.reset()
    assert host.sw(SELECT_DF04) == "9000"
    assert host.sw("00B2012C00") == "6982"


def test_df_keys_are_local_to_their_df(host: Host) -> None:
    assert host.sw(SELECT_DF01) == "9000"
    assert host.ext_auth(0x84, DF01) == "9000"
    assert host.sw("00B2012C00") == "9000"  # DF01 EF05 with DF01's RK1
    assert host.sw(SELECT_DF04) == "9000"
    assert host.sw("00B2012C00") == "6982"  # DF01's key 84 is not DF04's
    assert host.ext_auth(0x84, DF01) == "63C2"  # DF04's key 84 is a different key
    assert host.sw(SELECT_SSSE) == "9000"
    assert host.ext_auth(KeyId.RK) == "9000"
    assert host.sw(SELECT_DF04) == "9000"
    assert host.ext_auth(0x84, DF04) == "9000"
    assert host.sw("00B2012C00") == "9000"
    assert host.sw("00A4000002EF05") == "9000"
    assert host.card.security.keys_in(DF04) == {KeyId.RK, 0x84}


# --- APPLICATION BLOCK and CARD BLOCK -------------------------------------------------------------------
def test_application_block(host: Host) -> None:
    assert host.protected(0x84, 0x1E, 0x00, 0x01, good=False) == "9302"
    assert not host.tc.secrets.blocked
    assert host.sw("841E000104" + "00" * 4) == "6984"  # no challenge
    assert host.protected(0x84, 0x1E, 0x00, 0x00) == "6A86"  # no temporary block
    assert host.protected(0x84, 0x1E, 0x00, 0x01) == "9000"
    assert host.tc.secrets.blocked
    for apdu in ("00B2010C00", "0020000003123456", "0084000008", "00A4000002EF05", SELECT_DF04,
                 "841E000004" + "00" * 4):
        assert host.sw(apdu) == "9303", apdu
    assert host.sw("00A404000F" + "00" * 15) == "6A82"  # a SELECT of nothing is the OS's answer
    assert host.sw("00A40000023F00") == "9000"  # a SELECT that leaves the SSSE is the OS's
    assert host.sw(SELECT_SSSE) == "9303"
    assert host.sw(SELECT_DF04) == "9303"
    assert host.sw("00A4080004DDF1EF05") == "9303"
    host.power_cycle()
    assert host.sw("00A40000023F00") == "9000"
    assert host.sw(SELECT_SSSE) == "9303"


@pytest.mark.parametrize("apdu, sw", [
    ("841E000108" + "00" * 8, "6700"),
    ("841E00010400000000", "9302"),
    ("801E000104" + "00" * 4, "6987"),
    ("841E010104" + "00" * 4, "6A86"),
])
def test_application_block_errors(host: Host, apdu: str, sw: str) -> None:
    host.challenge()
    assert host.sw(apdu) == sw
    assert not host.tc.secrets.blocked


def test_card_block(host: Host) -> None:
    assert host.protected(0x84, 0x16, 0x00, 0x00) == "6982"  # BK not authenticated
    assert host.ext_auth(KeyId.BK) == "9000"
    assert host.protected(0x84, 0x16, 0x00, 0x00, good=False) == "9302"
    assert not host.card.life.card_blocked
    assert host.protected(0x84, 0x16, 0x00, 0x01) == "6A86"
    assert host.protected(0x84, 0x16, 0x00, 0x00) == "9000"
    assert host.card.life.card_blocked
    for apdu in ("00B2010C00", "0020000003123456", "0084000008", SELECT_SSSE, "00A40000023F00"):
        assert host.sw(apdu) == "6A81", apdu
    host.power_cycle()
    assert host.sw("00A40000023F00") == "6A81"


# --- MAC-protected writes (04DC / 04D6) ---------------------------------------------------------------
def test_mac_protected_update_record(host: Host) -> None:
    record = bytes.fromhex("050420250101")
    assert host.sw("00DC0528" + "06" + record.hex()) == "6982"  # plain: UK 04 not authenticated
    assert sm_write(host, "04DC0528", record, good=False) == "9302"
    assert sm_write(host, "04DC0528", record, key_value(KeyId.UK)) == "9302"  # the MAC key is STK
    assert host.tx("00B2052C00") == "0504202403159000"  # unchanged
    challenge = host.challenge()
    mac = command_mac(host.alg, key_value(KeyId.STK), challenge, mac_input(0x04, 0xDC, 0x05, 0x28, record))
    apdu = "04DC05280A" + record.hex() + mac.hex()
    assert host.sw(apdu) == "9000"
    assert host.tx("00B2052C00") == record.hex().upper() + "9000"
    assert host.sw(apdu) == "6984"  # the challenge served once
    assert host.sw("00DC0528" + "06" + record.hex()) == "6982"  # the MAC proved the key for one command only


def test_mac_protected_update_binary(host: Host) -> None:
    body = bytes.fromhex("CAFEBABE")
    assert sm_write(host, "04D68702", body, good=False) == "9302"
    assert host.tc.files["SSSE/EF07"].content[:6] == bytes.fromhex("000102030405")  # type: ignore[attr-defined]
    assert sm_write(host, "04D68702", body) == "9000"
    assert host.tc.files["SSSE/EF07"].content[:6] == bytes.fromhex("0001CAFEBABE")  # type: ignore[attr-defined]


def test_mac_protected_write_in_df04_uses_stkdf(host: Host) -> None:
    assert host.sw(SELECT_DF04) == "9000"
    record = bytes.fromhex("8108") + b"87654321"
    assert sm_write(host, "04DC012C", record) == "9302"  # the SSSE's STK is not DF04's
    assert sm_write(host, "04DC012C", record, key_value(0x82, DF04)) == "9000"
    assert host.tc.files["SSSE/DF04/EF05"].records == (record,)  # type: ignore[attr-defined]


@pytest.mark.parametrize("apdu, sw", [
    ("0CDC052806050420250101", "6882"),  # ISO SM
    ("04B2052C00", "6882"),  # reads have no SM
    ("84DC05280A0504202501010000000000", "6E00"),
    ("04DC052803AABBCC", "6988"),  # shorter than a MAC
])
def test_sm_errors(host: Host, apdu: str, sw: str) -> None:
    host.challenge()
    assert host.sw(apdu) == sw


# --- the secrets a card can hold -------------------------------------------------------------------
def test_secrets_checked_at_construction() -> None:
    profile = Profile.load("ssc3-sm4")
    tdes = AppSecrets(keys={0x0A: Key(0x0A, Algorithm.TDES, bytes(16))})
    with pytest.raises(CardConfigError, match="profile ssc3-sm4: SSSE key 0A is TDES; the card uses SM4"):
        SsseApplication(profile, tdes)
    with pytest.raises(CardConfigError, match="DF DF04 key 84 has 8 bytes"):
        SsseApplication(profile, AppSecrets(df_keys={DF04: {0x84: Key(0x84, Algorithm.SM4, bytes(8))}}))
    with pytest.raises(CardConfigError, match="filed under id 0A but has id 0B"):
        SsseApplication(profile, AppSecrets(keys={0x0A: Key(0x0B, Algorithm.SM4, bytes(16))}))
    with pytest.raises(CardConfigError, match="try counter 4/3"):
        SsseApplication(profile, AppSecrets(keys={0x0A: Key(0x0A, Algorithm.SM4, bytes(16), 0, 3, 4)}))
    with pytest.raises(CardConfigError, match="stored PIN is not 2-8 bytes"):
        SsseApplication(profile, AppSecrets(pin=Pin(bytes.fromhex("1F34"))))
    with pytest.raises(CardConfigError, match="PIN try counter 7/6"):
        SsseApplication(profile, AppSecrets(pin=Pin(bytes.fromhex("1234"), 6, 7)))
