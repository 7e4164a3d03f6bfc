"""sscard's pre-personalization dialect (docs/prepersonalization.md): a blank card built
through APDUs equals the factory's sample card; every command's conditions and SWs."""
from __future__ import annotations

import logging
import re

import pytest

from apdu.tlv import build_ber
from cardsim.factory import blank_card, personalized_sample_card
from cardsim.fcp import FcpError, FileParams, encode_fcp, params_of, parse_fcp
from cardsim.fs import DF, RecordEF
from cardsim.image import card_to_dict
from cardsim.persistent import Key, Lifecycle
from cardsim.preperso import CAPACITY, MASTER_KID, card_manager
from cardsim.runtime import CardOS
from cardsim.store import RecordingStore
from cardspec.access import AccessRule
from cardspec.crypto.blockcipher import Algorithm
from cardspec.crypto.ssse import external_auth_cryptogram, wrap_command_data
from cardspec.ids import SSSE_DF_NAME
from cardspec.profile import Profile

ORIGINAL = bytes.fromhex("0102030405060708")
FREE, UK = AccessRule.parse("free"), AccessRule.parse("key:04")


def tx(card: CardOS, apdu: bytes | str, expect: str | None = "9000") -> bytes:
    raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
    response = card.transmit(raw)
    if expect is not None:
        assert response[-2:].hex().upper() == expect, f"{raw.hex().upper()} -> {response.hex().upper()}"
    return response


def apdu(header: str, data: bytes) -> bytes:
    return bytes.fromhex(header) + bytes((len(data),)) + data


def authenticate(card: CardOS, key: Key, expect: str = "9000") -> None:
    challenge = tx(card, "0084000008")[:-2]
    cryptogram = external_auth_cryptogram(key.algorithm, key.value, challenge, ORIGINAL)
    tx(card, apdu(f"008200{key.kid:02X}", cryptogram + ORIGINAL), expect)


def key_record(key: Key) -> bytes:
    return bytes((key.algorithm.value, key.version, key.max_tries or 0)) + key.value


def create(card: CardOS, params: FileParams, expect: str = "9000") -> None:
    tx(card, apdu("00E00000", encode_fcp(params)), expect)


def create_tree(card: CardOS, df: DF) -> None:
    """CREATE FILE for everything below ``df`` of a model card, depth first."""
    for child in df.children:
        create(card, params_of(child))
        if isinstance(child, DF):
            create_tree(card, child)
            tx(card, "00A4030C")  # back to the parent: the transport session goes along


def select_path(card: CardOS, *fids: int) -> None:
    tx(card, apdu("00A4080C", b"".join(f.to_bytes(2, "big") for f in fids)))


def open_transport(card: CardOS) -> None:
    card.power_on()
    authenticate(card, card.life.mf.keys[MASTER_KID])


def build_through_apdus(profile: Profile) -> CardOS:
    """A blank card personalized with APDUs only, following the sample card."""
    model = personalized_sample_card(profile)
    model_ssse = model.mf.children[0]
    assert isinstance(model_ssse, DF)
    secrets = model_ssse.application.secrets  # type: ignore[union-attr]
    card = blank_card(profile)
    open_transport(card)
    create(card, params_of(model_ssse))
    create_tree(card, model_ssse)
    for key in secrets.keys.values():  # the SSSE is current again
        tx(card, apdu(f"80D400{key.kid:02X}", key_record(key)))
    pin = secrets.pin
    tx(card, apdu("802C0000", bytes((pin.max_tries,)) + pin.value))
    for fid, keys in secrets.df_keys.items():
        select_path(card, model_ssse.fid, fid)
        for key in keys.values():
            tx(card, apdu(f"80D400{key.kid:02X}", key_record(key)))
    tx(card, "00A4000C023F00")
    tx(card, apdu("80D40000", key_record(model.life.mf.keys[MASTER_KID])))
    tx(card, "80440000")
    # data personalization (S10 §5.4): ext-auth with each file's write key, then the records
    card.power_on()
    for path, ef in _record_efs(model_ssse, (model_ssse.fid,)):
        if not ef.records:
            continue
        select_path(card, *path)
        keys = secrets.keys if len(path) == 2 else secrets.df_keys[path[1]]
        assert ef.write.key is not None
        authenticate(card, keys[ef.write.key])
        for number, record in enumerate(ef.records, 1):
            tx(card, apdu(f"00DC{number:02X}04", record))
    return card


def _record_efs(df: DF, path: tuple[int, ...]):
    for child in df.children:
        if isinstance(child, DF):
            yield from _record_efs(child, (*path, child.fid))
        elif isinstance(child, RecordEF):
            yield (*path, child.fid), child


@pytest.mark.parametrize("name", ["ssc3-sm4", "ssc2-3des"])
def test_card_built_through_apdus_equals_the_sample_card(name: str) -> None:
    profile = Profile.load(name)
    built = build_through_apdus(profile)
    assert built.life.phase is Lifecycle.PERSONALIZED
    # the financial zone is personalized over SCP02 + STORE DATA, not by this dialect
    image, sample = card_to_dict(built), card_to_dict(personalized_sample_card(profile))
    assert set(image["sections"]) == set(sample["sections"]) == {"pboc", "gp"}
    assert {**image, "sections": None} == {**sample, "sections": None}


def in_preperso(profile: str = "ssc3-sm4") -> CardOS:
    """A blank card with an open transport session and an empty SSSE DDF (current)."""
    card = blank_card(profile)
    card.store = RecordingStore()
    open_transport(card)
    create(card, FileParams(0xDDF1, "df", name=SSSE_DF_NAME))
    return card


def ef(fid: int, size: int = 0x10, **kw: object) -> FileParams:
    return FileParams(fid, "transparent", size=size, read=FREE, write=FREE, **kw)  # type: ignore[arg-type]


def ended(profile: str = "ssc3-sm4") -> CardOS:
    """A pre-personalized card after END PERSONALIZATION (the SSSE has no keys)."""
    card = in_preperso(profile)
    tx(card, "00A4000C023F00")
    tx(card, "80440000")
    return card


def test_create_file_selects_the_new_file_and_attaches_the_ssse() -> None:
    card = blank_card("ssc3-sm4")
    card.store = store = RecordingStore()
    open_transport(card)
    assert card.life.phase is Lifecycle.BLANK  # authentication alone changes nothing
    ssse = FileParams(0xDDF1, "df", name=SSSE_DF_NAME)
    assert encode_fcp(ssse).hex().upper() == "6218820138" "8302DDF1" "840F7378312E73682EC9E7BBE1B1A3D5CF"
    create(card, ssse)
    assert card.current_df.name == SSSE_DF_NAME and card.life.phase is Lifecycle.PREPERSONALIZATION
    assert store.reasons[-1:] == ["CREATE FILE 3F00/DDF1"]
    create(card, FileParams(0xEF05, "linear_variable", sfi=5, record_length=0x20, max_records=7, read=FREE, write=UK))
    assert card.current_ef is not None and card.current_ef.fid == 0xEF05 and card.current_df.fid == 0xDDF1
    assert tx(card, "00A404000F7378312E73682EC9E7BBE1B1A3D5CF", "611E")  # the SSSE application's FCI
    assert tx(card, "00C000001E").hex().upper().endswith("9F0C038601039000")


BAD_FCP = [  # content of the 62 template, and the reason the card logs
    ("8302EF01", "82 (file descriptor) missing"),
    ("820101", "83 (file identifier) missing"),
    ("820107 8302EF01 86020000", "file descriptor byte 07"),
    ("820101 8302EF01 86020000", "80 (size) missing"),
    ("820101 8302EF01 80020010 8401 41 86020000", "tag 84 is not allowed for a transparent file"),
    ("820101 8302EF01 80020010 860100", "86 (access rules) 00: access rule missing"),
    ("820101 8302EF01 80020010", "86 (access rules) missing"),
    ("820101 8302EF01 80020010 860140", "lacks its key id byte"),
    ("820101 8302EF01 80020010 86024000", "86 (access rules) 4000: access rule missing"),
    ("820101 8302EF01 80020010 86020077", "unknown access rule code 77"),
    ("820101 8302EF01 80020010 8603000000", "bytes left after the write rule"),
    ("820101 8302EF01 80020010 880129 86020000", "88 (SFI) 29"),
    ("820101 8302EF01 80020010 8801F8 86020000", "88 (SFI) F8"),
    ("820101 8302EF01 80029000 86020000", "size 36864 outside"),
    ("820101 8302EF01 80020000 86020000", "size 0 outside"),
    ("820101 8302EF01 8003000010 86020000", "80 (size): 3 bytes"),
    ("82030521 20 8302EF01 86020000", "needs FDB, DCB, maximum record size"),
    ("82050521 00FF 00 8302EF01 86020000", "count 0"),
    ("82050521 0100 0A 8302EF01 86020000", "record size 256"),
    ("82050521 0001 0A 8302EF01 86020000", "record size 1 (2-255)"),
    ("82050221 0000 0A 8302EF01 86020000", "record size 0 (1-255)"),
    ("820101 83023FFF 80020010 86020000", "file identifier 3FFF is reserved"),
    ("820101 8302EF01 80020010 86020000 8A0105", "tag 8A is not allowed"),
    ("820101 8302EF01 8302EF02 80020010 86020000", "tag 83 given twice"),
    ("820138 8302DF0A 86020000", "tag 86 is not allowed for a df"),
    ("820138 8302DF0A 8400", "84 (DF name) of 0 bytes"),
    ("820138 8302DF0A 8411" + "41" * 17, "84 (DF name) of 17 bytes"),
    ("82033821 00 8302DF0A", "a df has no record size"),
]


@pytest.mark.parametrize("content, reason", BAD_FCP)
def test_bad_fcp_answers_6a80(content: str, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    data = build_ber(0x62, bytes.fromhex(content.replace(" ", "")))
    with pytest.raises(FcpError, match=re.escape(reason)):
        parse_fcp(data)
    card = in_preperso()
    with caplog.at_level(logging.INFO, logger="cardsim.preperso"):
        tx(card, apdu("00E00000", data), "6A80")
    assert reason in caplog.text
    assert card.current_df.children == ()


@pytest.mark.parametrize("data", ["6210 820101 8302EF01 80020010 86020000",  # template longer than the data
                                  "620F 820101 8302EF01 80020010 86020000 00",  # a byte after it
                                  "6F0F 820101 8302EF01 80020010 86020000"])  # not 62
def test_fcp_template_itself_must_be_exact(data: str) -> None:
    with pytest.raises(FcpError, match="not an FCP template"):
        parse_fcp(bytes.fromhex(data.replace(" ", "")))


def test_fcp_accepts_what_iso_allows() -> None:
    def fcp(content: str) -> bytes:
        return build_ber(0x62, bytes.fromhex(content.replace(" ", "")))

    df = parse_fcp(fcp("82023821 8302DF0A 8406D15600000509 A503880101"))
    assert (df.kind, df.fid, df.name, df.proprietary) == ("df", 0xDF0A, bytes.fromhex("D15600000509"),
                                                          bytes.fromhex("880101"))
    rec = parse_fcp(fcp("8206040000FE00FE 8302EF0C 880160 86035083FF"))  # FDB 04, 2-byte record count
    assert (rec.kind, rec.record_length, rec.max_records, rec.sfi) == ("linear_variable", 0xFE, 0xFE, 12)
    assert (str(rec.read), str(rec.write)) == ("pin|key:83", "never")


def test_create_file_identifier_and_name_clashes() -> None:
    card = in_preperso()
    tx(card, apdu("00E00000", bytes.fromhex("620F 820101 8302EF01 80020010 86020000".replace(" ", ""))))
    assert card.current_df.ef_by_sfi(1) is card.current_ef  # no 88: SFI = FID b5-b1 (ISO 7816-4)
    create(card, ef(0xEF01, sfi=2), "6A89")
    create(card, ef(0xDDF1), "6A89")  # the current DF's own FID
    create(card, ef(0xEF21, sfi=1), "6A89")  # SFI 1 taken
    create(card, ef(0xEF21))  # 88 00: no SFI
    create(card, FileParams(0xDF01, "df", name=bytes.fromhex("D15600000500")))
    tx(card, "00A4030C")
    create(card, FileParams(0xDF02, "df", name=bytes.fromhex("D15600000500")), "6A8A")
    create(card, FileParams(0xDF02, "df", name=SSSE_DF_NAME), "6A8A")  # names are unique card-wide
    assert [f"{c.fid:04X}" for c in card.current_df.children] == ["EF01", "EF21", "DF01"]


def test_create_file_without_space_answers_6a84_and_changes_nothing() -> None:
    card = in_preperso()
    for fid in range(0xEF10, 0xEF11 + CAPACITY // 0x8000 - 2):
        create(card, ef(fid, 0x8000, sfi=None))
    before = card_to_dict(card)
    create(card, ef(0xEF30, 0x8000, sfi=None), "6A84")
    assert card_to_dict(card) == before


def test_create_file_conditions() -> None:
    card = blank_card("ssc3-sm4")
    card.power_on()
    tx(card, apdu("00E00000", encode_fcp(ef(0xEF01))), "6982")  # no transport session
    open_transport(card)
    tx(card, apdu("80E00000", encode_fcp(ef(0xEF01))), "6E00")
    tx(card, apdu("00E00100", encode_fcp(ef(0xEF01))), "6A86")
    tx(card, "00E00000", "6700")
    card = ended()
    tx(card, apdu("00E00000", encode_fcp(ef(0xEF01))), "6985")
    card.power_on()
    authenticate(card, card.life.mf.keys[MASTER_KID])  # even with the transport key
    tx(card, apdu("00E00000", encode_fcp(ef(0xEF01))), "6985")
    assert all(child.fid != 0xEF01 for child in card.current_df.children)


# --- the transport session ------------------------------------------------------------------
def test_transport_session_survives_select_and_ends_at_power_off() -> None:
    card = in_preperso()
    tx(card, "00A4000C023F00")
    tx(card, "00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF")
    create(card, ef(0xEF01))
    card.reset()
    tx(card, "00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF")
    create(card, ef(0xEF02), "6982")


def test_wrong_transport_key_spends_a_committed_try_and_closes_the_session() -> None:
    card = in_preperso()
    tx(card, "00A4000C023F00")
    wrong = Key(MASTER_KID, Algorithm.SM4, bytes(16))
    authenticate(card, wrong, "63CE")
    assert card.life.mf.keys[MASTER_KID].tries_left == 14
    assert card.store.reasons[-1] == "EXTERNAL AUTHENTICATE MF key 00: try spent, 14 left"  # type: ignore[attr-defined]
    create(card, ef(0xEF01), "6982")
    authenticate(card, card.life.mf.keys[MASTER_KID])
    assert card.life.mf.keys[MASTER_KID].tries_left == 15
    create(card, ef(0xEF01))


def test_transport_key_blocks_after_its_tries() -> None:
    card = blank_card("ssc2-3des")
    card.power_on()
    wrong = Key(MASTER_KID, Algorithm.TDES, bytes(16))
    for left in range(14, -1, -1):
        authenticate(card, wrong, f"63C{left:X}")
    authenticate(card, wrong, "6983")
    authenticate(card, card.life.mf.keys[MASTER_KID], "6983")


@pytest.mark.parametrize("command, sw", [
    ("0084000005", "6700"), ("0084000010", "6700"), ("0084010008", "6A86"), ("8084000008", "6E00"),
    ("00820000100000000000000000" "0000000000000000", "6984"),  # no challenge
    ("00820001100000000000000000" "0000000000000000", "6A88"),  # no MF key 01
    ("008201001000000000000000000000000000000000", "6A86"),
    ("008200000F000000000000000000000000000000", "6700"),
])
def test_mf_authentication_status_words(command: str, sw: str) -> None:
    card = blank_card("ssc2-3des")  # 3DES: no 16-byte challenge
    card.power_on()
    tx(card, command, sw)


# --- WRITE KEY ------------------------------------------------------------------------------
def test_plain_key_load_needs_the_session_and_stops_after_end_personalization() -> None:
    key = Key(0x0A, Algorithm.SM4, bytes(range(16)), 1, 3, 3)
    card = blank_card("ssc3-sm4")
    card.power_on()
    tx(card, apdu("80D4000A", key_record(key)), "6982")
    card = in_preperso()
    tx(card, apdu("80D4000A", key_record(key)))
    stored = card.current_df.application.secrets.keys[0x0A]  # type: ignore[union-attr]
    assert (stored.value, stored.version, stored.max_tries, stored.tries_left) == (key.value, 1, 3, 3)
    assert card.store.reasons[-1] == "WRITE KEY 3F00/DDF1 key 0A version 01"  # type: ignore[attr-defined]
    tx(card, "00A4000C023F00")
    tx(card, "80440000")
    assert card.life.phase is Lifecycle.PERSONALIZED
    tx(card, apdu("80D40000", key_record(Key(0, Algorithm.SM4, bytes(16), 0, 15, 15))), "6985")
    tx(card, "00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF")
    tx(card, apdu("80D4000A", key_record(key)), "6985")


@pytest.mark.parametrize("header, record, sw", [
    ("80D4010A", "03 00 03" + "11" * 16, "6A86"),
    ("80D4000A", "03 00 03" + "11" * 15, "6700"),
    ("80D4000A", "01 00 03" + "11" * 16, "6A80"),  # 3DES key on an SM4 card
    ("80D4000A", "03 00 10" + "11" * 16, "6A80"),  # 16 tries
    ("00D4000A", "03 00 03" + "11" * 16, "6E00"),
])
def test_write_key_status_words(header: str, record: str, sw: str) -> None:
    card = in_preperso()
    tx(card, apdu(header, bytes.fromhex(record.replace(" ", ""))), sw)
    assert card.current_df.application.secrets.keys == {}  # type: ignore[union-attr]


def test_keys_of_application_dfs_use_specific_ids() -> None:
    card = in_preperso()
    create(card, FileParams(0xDF01, "df", name=bytes.fromhex("D15600000500")))
    record = bytes.fromhex("030003") + bytes(16)
    tx(card, apdu("80D40004", record), "6A86")  # a global id belongs to the SSSE
    tx(card, apdu("80D40084", record))
    ssse = card.current_df.parent
    assert ssse is not None and list(ssse.application.secrets.df_keys[0xDF01]) == [0x84]  # type: ignore[union-attr]


def protected_key_load(card: CardOS, master: Key, new: Key, *, mac_key: bytes | None = None) -> bytes:
    challenge = tx(card, "0084000008")[:-2]
    data = wrap_command_data(master.algorithm, mac_key or master.value, challenge, 0x84, 0xD4, 0x00, new.kid,
                             key_record(new))
    return apdu(f"84D400{new.kid:02X}", data)


def test_protected_key_load_replaces_the_master_key_after_personalization() -> None:
    card = personalized_sample_card("ssc3-sm4")
    card.power_on()
    master = card.life.mf.keys[MASTER_KID]
    new = Key(MASTER_KID, Algorithm.SM4, bytes(range(16)), 2, 15, 15)
    tx(card, protected_key_load(card, master, new, mac_key=bytes(16)), "6988")  # wrong MAC: nothing changes
    assert card.life.mf.keys[MASTER_KID] is master
    tx(card, apdu("84D40000", bytes(36)), "6984")  # the challenge was consumed
    tx(card, protected_key_load(card, master, new))
    assert card.life.mf.keys[MASTER_KID].value == new.value and card.life.mf.keys[MASTER_KID].version == 2
    authenticate(card, new)
    tx(card, "00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF")
    tx(card, apdu("84D40000", bytes(36)), "6882")  # the SSSE's SM covers its file writes only


# --- SET PIN, END PERSONALIZATION -----------------------------------------------------------
def test_set_pin_then_verify() -> None:
    card = in_preperso()
    tx(card, "802C0000040312345F")
    assert card.store.reasons[-1] == "SET PIN 3F00/DDF1 try limit 3"  # type: ignore[attr-defined]
    tx(card, "0020000003123456", "63C2")
    tx(card, "002000000312345F")


@pytest.mark.parametrize("command, sw", [
    ("802C00000403123A56", "6A80"),   # not BCD
    ("802C0000041F123456", "6A80"),   # 31 tries
    ("802C00000100", "6700"),         # tries only, no PIN
    ("802C0000020312", "6700"),       # 1 byte: under min_bytes (2)
    ("802C00000A06" + "11" * 9, "6700"),  # 9 bytes: over max_bytes (8)
    ("802C010004 06123456".replace(" ", ""), "6A86"),
    ("002C000004 06123456".replace(" ", ""), "6E00"),
])
def test_set_pin_status_words(command: str, sw: str) -> None:
    card = in_preperso()
    tx(card, command, sw)
    assert card.current_df.application.secrets.pin is None  # type: ignore[union-attr]


def test_set_pin_and_end_personalization_are_mf_or_application_bound() -> None:
    card = in_preperso()
    tx(card, "80440000", "6985")  # not at the MF
    tx(card, "00A4000C023F00")
    tx(card, "802C00000406123456", "6985")  # the MF keeps no PIN
    tx(card, "8044000001 00".replace(" ", ""), "6700")
    tx(card, "80440100", "6A86")
    tx(card, "80440000")
    assert card.store.reasons[-1] == "END PERSONALIZATION"  # type: ignore[attr-defined]
    tx(card, "80440000", "6985")
    assert card_manager(card).session_open is False


# --- the examples of docs/prepersonalization.md, byte for byte ----------------------------
DOC_CHALLENGE = bytes.fromhex("1122334455667788")


def fixed_random(card: CardOS) -> None:
    card_manager(card).random = lambda n: DOC_CHALLENGE[:n]


@pytest.mark.parametrize("name, auth", [("ssc3-sm4", "C94C692F9F29295F"), ("ssc2-3des", "464C8161D5DAB517")])
def test_documented_transport_authentication(name: str, auth: str) -> None:
    card = blank_card(name)
    fixed_random(card)
    card.power_on()
    assert tx(card, "0084000008") == DOC_CHALLENGE + b"\x90\x00"
    tx(card, "0082000010" + auth + "0102030405060708")
    assert card_manager(card).session_open


def test_documented_create_file_apdus() -> None:
    model = personalized_sample_card("ssc3-sm4")
    ssse = model.mf.children[0]
    assert isinstance(ssse, DF)
    df01 = ssse.child(0xDF01)
    assert isinstance(df01, DF)
    documented = {
        ssse: "00E000001A 6218 820138 8302DDF1 840F7378312E73682EC9E7BBE1B1A3D5CF",
        ssse.child(0xEF05): "00E0000015 6213 8205052100 1207 8302EF05 880128 8603004004",
        ssse.child(0xEF06): "00E0000016 6214 82050521002007 8302EF06 880130 8604400A4004",
        ssse.child(0xEF08): "00E0000016 6214 820101 8302EF08 880140 80021000 8604400A4004",
        df01: "00E0000011 620F 820138 8302DF01 8406D15600000500",
        df01.child(0xEF05): "00E0000016 6214 82050521005203 8302EF05 880128 860450844083",
    }
    for file, text in documented.items():
        assert file is not None
        assert apdu("00E00000", encode_fcp(params_of(file))).hex().upper() == text.replace(" ", "")


def test_documented_protected_key_load() -> None:
    card = ended()
    fixed_random(card)
    card.power_on()
    tx(card, "0084000008")
    tx(card, "84D4000024 190F042050BBEA039AF0365F9E00A652595B4B0938B541CA24B6C7B1EF72D9DC 56E9A189".replace(" ", ""))
    key = card.life.mf.keys[MASTER_KID]
    assert (key.value, key.version, key.max_tries, key.tries_left) == (bytes(range(16)), 1, 15, 15)


def test_dialect_data_is_redacted_in_traces() -> None:
    from apdu.redact import command_hex

    for command in ("80D4000A13" + "03" * 19, "84D4000024" + "00" * 36, "802C00000406123456"):
        shown = command_hex(bytes.fromhex(command))
        assert shown.startswith(command[:10]) and "secret bytes" in shown and "123456" not in shown
