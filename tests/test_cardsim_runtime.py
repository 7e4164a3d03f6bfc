"""The card runtime: power, class checks, dispatch, Le shaping, GET RESPONSE, application
hooks, security state, the store hook, and robustness against any byte string."""
from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings, strategies as st

from apdu.command import CommandAPDU
from apdu.sw import SWError
from cardsim import (DF, MF, BaseApplication, CardConfigError, CardOS, LinearVariableEF, RecordingStore,
                     RuntimeSettings, Shape, TransparentEF, shaped)
from cardsim.store import PowerLost
from cardspec.access import AccessRule

ATR = bytes.fromhex("3B6D000000814A444686605199000001AC")
SSSE_NAME = "7378312E73682EC9E7BBE1B1A3D5CF"
SELECT_SSSE = "00A404000F" + SSSE_NAME
FCI = "6F1C840F" + SSSE_NAME + "A50988011E9F0C03860103"
CARD_NUMBER = "0709484131303436393234"


class Recorder(BaseApplication):
    """An application that records its hooks and offers a few handlers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[str] = []
        self.blocked = False
        self.select_sw: int | None = None
        self.handlers = {0xCA: self.get_data, 0x20: self.verify, 0xB2: self.custom_read}

    def on_select(self, card: CardOS) -> None:
        self.events.append(f"select {self.name}")
        if self.select_sw is not None:
            raise SWError(self.select_sw)

    def on_deselect(self, card: CardOS) -> None:
        self.events.append(f"deselect {self.name}")

    def before_command(self, cmd: CommandAPDU) -> None:
        if self.blocked:
            raise SWError(0x9303)

    @shaped(Shape.EXACT)
    def get_data(self, cmd: CommandAPDU) -> bytes:
        if (cmd.p1, cmd.p2) == (0x9F, 0x77):
            return bytes.fromhex("9F7706000000000388")
        if (cmd.p1, cmd.p2) == (0x01, 0x2C):
            return bytes(300)
        raise SWError(0x6A88)

    def verify(self, cmd: CommandAPDU) -> bytes:
        raise RuntimeError("handler bug")

    def custom_read(self, cmd: CommandAPDU) -> bytes:
        return b"\x42"


def build(app: Recorder | None = None, **kwargs: object) -> tuple[CardOS, RecordingStore]:
    ssse = DF(0xDDF1, name=bytes.fromhex(SSSE_NAME), proprietary=bytes.fromhex("88011E9F0C03860103"))
    ssse.add(LinearVariableEF(0xEF05, sfi=5, write=AccessRule.parse("key:04"),
                              records=[bytes.fromhex("020133"), bytes.fromhex(CARD_NUMBER)]))
    ssse.add(TransparentEF(0xEF08, sfi=8, size=0x200, data=bytes(range(256)) * 2))
    if app is not None:
        ssse.add(DF(0xDF04, name=bytes.fromhex("D15600000503"), application=app))
    store = RecordingStore()
    options = RuntimeSettings(**kwargs)  # type: ignore[arg-type]
    card = CardOS(MF(children=[ssse]), atr=ATR, settings=options, store=store)
    card.power_on()
    return card, store


def tx(card: CardOS, apdu: str) -> str:
    return card.transmit(bytes.fromhex(apdu.replace(" ", ""))).hex().upper()


# --- power and settings -----------------------------------------------------------------------
def test_power_cycle_returns_the_atr_and_clears_transient_state() -> None:
    card, _ = build()
    assert tx(card, SELECT_SSSE) == FCI + "9000"
    card.security.pin_verified = True
    assert card.reset() == ATR
    assert card.current_df is card.mf and card.current_ef is None and not card.security.pin_verified
    card.power_off()
    assert not card.powered
    assert card.power_on() == ATR and card.powered


def test_transmit_while_powered_off_answers_6f00(caplog: pytest.LogCaptureFixture) -> None:
    card, _ = build()
    card.power_off()
    with caplog.at_level(logging.WARNING, logger="cardsim.runtime"):
        assert tx(card, SELECT_SSSE) == "6F00"
    assert "powered off" in caplog.text
    assert not card.powered  # no implicit power-on


@pytest.mark.parametrize("atr, message", [
    ("3B", "ATR 3B: needs 2-33 bytes"),
    ("3A00", "starting with 3B or 3F"),
    ("3B" * 34, "needs 2-33 bytes"),
])
def test_bad_atr(atr: str, message: str) -> None:
    with pytest.raises(CardConfigError, match=message):
        CardOS(MF(), atr=bytes.fromhex(atr))


def test_bad_le_mode() -> None:
    with pytest.raises(CardConfigError, match="le_mode 'lenient'"):
        RuntimeSettings(le_mode="lenient")  # type: ignore[arg-type]


# --- class and parse checks -------------------------------------------------------------------
@pytest.mark.parametrize("apdu, sw", [
    ("FFA4000002EF05", "6E00"),
    ("20A4000002EF05", "6E00"),
    ("A0A4000002EF05", "6E00"),
    ("E0A4000002EF05", "6E00"),
    ("01A4000002EF05", "6881"),
    ("83B2070400", "6881"),
    ("40A4000002EF05", "6881"),
    ("10A4000002EF05", "6884"),
    ("08A4000002EF05", "6882"),  # ISO SM and no application to unwrap it
    ("04A4000002EF05", "6882"),
    ("00", "6700"),
    ("00A404", "6700"),
    ("00A4040005A000", "6700"),  # Lc 05, 2 bytes
    ("00A4040000000001", "6700"),  # extended Lc 0000
    ("0012000000", "6D00"),
    ("00C0000000", "6985"),  # nothing pending
])
def test_class_and_length_checks(apdu: str, sw: str) -> None:
    card, _ = build()
    assert tx(card, apdu) == sw


# --- T=0 GET RESPONSE and Le shaping ----------------------------------------------------------
def test_t0_select_answers_611e_then_get_response() -> None:
    card, _ = build(t0_get_response=True)
    assert tx(card, SELECT_SSSE) == "611E"
    assert tx(card, "00C000001E") == FCI + "9000"
    assert tx(card, "00C000001E") == "6985"
    assert tx(card, "00A4000002EF05") == "9000"  # no data, nothing to hold
    assert tx(card, "00B2020400") == CARD_NUMBER + "9000"  # case 2: answered directly


def test_get_response_in_pieces() -> None:
    card, _ = build(t0_get_response=True)
    assert tx(card, SELECT_SSSE + "00") == "611E"  # Le is not looked at: T=0 would not carry it
    assert tx(card, "00C0000010") == FCI[:32] + "610E"
    assert tx(card, "00C0000000") == FCI[32:] + "9000"


def test_get_response_le_longer_than_the_rest() -> None:
    card, _ = build(t0_get_response=True)
    assert tx(card, SELECT_SSSE) == "611E"
    assert tx(card, "00C0000040") == FCI + "9000"
    strict, _ = build(t0_get_response=True, le_mode="strict6c")
    assert tx(strict, SELECT_SSSE) == "611E"
    assert tx(strict, "00C0000040") == "6C1E"
    assert tx(strict, "00C000001E") == FCI + "9000"  # the data was kept for the retry


@pytest.mark.parametrize("apdu, sw", [
    ("00C0010010", "6A86"),
    ("00C00000010010", "6700"),
    ("80C0000010", "6E00"),
    ("0CC0000010", "6882"),
])
def test_get_response_errors(apdu: str, sw: str) -> None:
    card, _ = build(t0_get_response=True)
    assert tx(card, SELECT_SSSE) == "611E"
    assert tx(card, apdu) == sw
    assert tx(card, "00C000001E") == "6985"  # pending data is gone


def test_any_other_command_discards_pending_data() -> None:
    card, _ = build(t0_get_response=True)
    assert tx(card, SELECT_SSSE) == "611E"
    assert tx(card, "00B2022C00") == CARD_NUMBER + "9000"
    assert tx(card, "00C000001E") == "6985"


def test_variable_response_cut_by_le_without_t0() -> None:
    card, _ = build()
    assert tx(card, SELECT_SSSE + "10") == FCI[:32] + "610E"
    assert tx(card, "00C000000E") == FCI[32:] + "9000"
    assert tx(card, SELECT_SSSE + "00") == FCI + "9000"


def test_application_handlers_exact_shape_and_long_data() -> None:
    app = Recorder("DF04")
    card, _ = build(app)
    assert tx(card, "00A4040006D15600000503") == "6F088406D156000005039000"
    assert tx(card, "80CA9F7700") == "9F77060000000003889000"
    assert tx(card, "80CA9F7705") == "6C09"
    assert tx(card, "80CA9F770C") == "9F77060000000003889000"
    assert tx(card, "80CA9F7702000005") == "9F77060000" + "6104"  # carries data: never 6Cxx
    assert tx(card, "80CA012C00") == "6700"  # 300 bytes cannot be one short response
    assert tx(card, "80CA012C000000") == "00" * 300 + "9000"  # extended Le 0000
    assert tx(card, "80CA000000") == "6A88"
    assert tx(card, "00B2010400") == "429000"  # the application's handler comes first


def test_strict_mode_and_extended_le() -> None:
    card, _ = build(le_mode="strict6c")
    assert tx(card, "00A4080004DDF1EF08") == "9000"
    assert tx(card, "00B0000000") == bytes(range(256)).hex().upper() + "9000"  # exactly 256 left
    assert tx(card, "00B0010000") == bytes(range(256)).hex().upper() + "9000"  # from offset 0100
    assert tx(card, "00B00000000000") == (bytes(range(256)) * 2).hex().upper() + "9000"  # extended: no 6C


# --- faults -----------------------------------------------------------------------------------------
def test_internal_fault_answers_6f00_and_logs_no_data(caplog: pytest.LogCaptureFixture) -> None:
    card, _ = build(Recorder("DF04"), t0_get_response=True)
    assert tx(card, "00A4040006D15600000503") == "610A"
    with caplog.at_level(logging.ERROR, logger="cardsim.runtime"):
        assert tx(card, "0020000003123456") == "6F00"
    assert "internal fault on C-APDU 0020000003 +3 bytes" in caplog.text
    assert "123456" not in caplog.text
    assert tx(card, "00C000000A") == "6985"


def test_failing_store_answers_6581(caplog: pytest.LogCaptureFixture) -> None:
    card, store = build()

    def broken(reason: str) -> None:
        raise OSError("disk full")

    store.commit = broken  # type: ignore[method-assign]
    assert tx(card, "00A4080004DDF1EF05") == "9000"
    card.security.authenticated_keys.add(0x04)
    with caplog.at_level(logging.ERROR, logger="cardsim.runtime"):
        assert tx(card, "00DC0204030201 34") == "6581"
    assert "store commit failed after UPDATE RECORD 3F00/DDF1/EF05 record 2" in caplog.text


# --- applications and security state ------------------------------------------------------------
def test_application_hooks_and_security_state() -> None:
    app = Recorder("DF04")
    card, _ = build(app)
    assert tx(card, SELECT_SSSE) == FCI + "9000"
    card.security.authenticated_keys.add(0x0A)
    assert tx(card, "00A4000002EF05") == "9000"
    assert card.security.authenticated_keys == {0x0A}  # an EF of the same DF keeps the state
    assert tx(card, SELECT_SSSE) == FCI + "9000"
    assert card.security.authenticated_keys == {0x0A}  # so does re-selecting the current DF
    assert tx(card, "00A4000002DF04") == "6F088406D156000005039000"
    assert card.security.authenticated_keys == set() and card.application is app
    card.security.pin_verified = True
    assert tx(card, "00A4000002DF04") == "6F088406D156000005039000"  # reselection: hook again
    assert card.security.pin_verified
    assert tx(card, "00A4030000") == FCI + "9000"
    assert not card.security.pin_verified and card.application is None
    assert tx(card, "00A4040006D15600000503") == "6F088406D156000005039000"
    card.power_off()
    assert app.events == ["select DF04", "select DF04", "deselect DF04", "select DF04", "deselect DF04"]


def test_security_state_belongs_to_the_application() -> None:
    """S7 §5.8, §6.6: the PIN and authenticated keys last until power-off or another
    application; an application's DFs share them (DDF → DF04 keeps the PIN). Ids with
    b8 = 1 are DF-local: DF01's key 84 does not count in DF04. Outside applications the
    S5 §6.11.1 rule stays: a different DF starts afresh (see the test above)."""
    app = Recorder("DDF")
    app.handlers = {}  # the OS reads the records
    ddf = DF(0xDDF1, name=bytes.fromhex(SSSE_NAME), application=app)
    rule = AccessRule.parse("pin|key:84")
    for fid in (0xDF01, 0xDF04):
        df = ddf.add(DF(fid))
        df.add(LinearVariableEF(0xEF05, sfi=5, read=rule, records=[b"\x81\x01\x31"]))
    card = CardOS(MF(children=[ddf]), atr=ATR)
    card.power_on()
    assert tx(card, SELECT_SSSE) == "6F11840F" + SSSE_NAME + "9000"
    card.security.pin_verified = True
    card.security.grant(0x0A)
    assert tx(card, "00A4000002DF04") == "6F048302DF049000"
    assert card.security.pin_verified and card.security_scope is ddf
    assert tx(card, "00B2012C00") == "8101319000"
    card.security.pin_verified = False
    card.security.grant(0x84, 0xDF01)  # as after EXTERNAL AUTHENTICATE 84 in DF01
    assert tx(card, "00B2012C00") == "6982"
    assert card.security.keys_in(0xDF04) == {0x0A}
    card.security.grant(0x84, 0xDF04)
    assert tx(card, "00B2012C00") == "8101319000"
    assert tx(card, "00A40000023F00")[-4:] == "9000"  # another "application": a fresh state
    assert card.security.authenticated_keys == set() and card.security.df_keys == {}
    assert app.events == ["select DDF", "deselect DDF"]


def test_power_lost_in_a_commit_reaches_the_caller_and_powers_off() -> None:
    card, store = build()

    def cut(reason: str) -> None:
        raise PowerLost(reason)

    store.commit = cut  # type: ignore[method-assign]
    assert tx(card, "00A4080004DDF1EF05") == "9000"
    card.security.authenticated_keys.add(0x04)
    with pytest.raises(PowerLost, match="UPDATE RECORD 3F00/DDF1/EF05 record 2"):
        card.transmit(bytes.fromhex("00DC020403020134"))
    assert not card.powered and card.current_df is card.mf and not card.security.authenticated_keys
    assert tx(card, "00B2020400") == "6F00"
    card.power_on()
    assert tx(card, SELECT_SSSE) == FCI + "9000"
    assert tx(card, "00B2022C00") == "0201349000"  # the in-memory tree kept the write; a store decides what lasts


def test_application_warning_and_block_on_select() -> None:
    app = Recorder("DF04")
    card, _ = build(app)
    app.select_sw = 0x6283
    assert tx(card, "00A4040006D15600000503") == "6F088406D156000005036283"  # selected, FCI, warning
    assert tx(card, "00A4040C06D15600000503") == "6283"  # P2 0C: the warning alone
    assert tx(card, "00A4030000") == FCI + "9000"
    app.select_sw, app.blocked = 0x9303, True
    assert tx(card, "00A4000002DF04") == "9303"  # on_select refuses with an error: no FCI
    assert card.application is app  # but the selection took place
    assert tx(card, "80CA9F7700") == "9303"  # before_command refuses everything
    assert tx(card, "00A4030000") == "9303"


def test_application_fci_override() -> None:
    class WithFci(Recorder):
        def fci(self, df: DF) -> bytes | None:
            return bytes.fromhex("6F03840141")

    card, _ = build(WithFci("DF04"))
    assert tx(card, "00A4080004DDF1DF04") == "6F038401419000"


def test_secure_messaging_hook() -> None:
    class WithSM(Recorder):
        def unwrap_sm(self, cmd: CommandAPDU, card: CardOS) -> tuple[CommandAPDU, frozenset[int]]:
            if cmd.data[-4:] != b"\x11\x22\x33\x44":
                raise SWError(0x6988)
            return cmd.replace(cla=cmd.cla & ~0x0C, data=cmd.data[:-4]), frozenset({0x83})

    app = WithSM("DF04")
    card, _ = build(app)
    assert tx(card, "00A4080004DDF1DF04") == "6F088406D156000005039000"
    df04 = card.current_df
    ef06 = df04.add(LinearVariableEF(0xEF06, sfi=6, write=AccessRule.parse("key:83"), records=[b"\x90\x01\x31"]))
    assert tx(card, "00A4040006D15600000503") == "6F088406D156000005039000"
    assert tx(card, "00DC01340390013A") == "6982"  # plain: key 83 not authenticated
    assert tx(card, "04DC01340790013A00000000") == "6988"
    assert tx(card, "04DC01340790013A11223344") == "9000"  # the MAC proves key 83 for this command
    assert tx(card, "00DC01340390013B") == "6982"  # and only for it
    assert ef06.records == (b"\x90\x01\x3A",)


# --- robustness ------------------------------------------------------------------------------------
def _plausible(response: bytes) -> bool:
    return len(response) >= 2 and (0x61 <= response[-2] <= 0x6F or 0x90 <= response[-2] <= 0x9F)


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_any_bytes_get_a_status_word(apdu: bytes) -> None:
    card, _ = build(Recorder("DF04"))
    assert _plausible(card.transmit(apdu))


_INS = st.sampled_from([0xA4, 0xB0, 0xB2, 0xC0, 0xCA, 0xD6, 0xDC, 0xE2, 0x20, 0x84, 0x00])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0x00, 0x04, 0x80]), _INS, st.integers(0, 255), st.integers(0, 255),
                          st.binary(max_size=40), st.one_of(st.none(), st.integers(0, 255))), max_size=12),
       st.booleans(), st.sampled_from(["full", "strict6c"]))
def test_command_sequences_never_escape(commands: list[tuple[int, int, int, int, bytes, int | None]], t0: bool,
                                        le_mode: str) -> None:
    card, _ = build(Recorder("DF04"), t0_get_response=t0, le_mode=le_mode)
    card.security.authenticated_keys.add(0x04)
    for cla, ins, p1, p2, data, le in commands:
        apdu = CommandAPDU(cla, ins, p1, p2, data, le).to_bytes()
        response = card.transmit(apdu)
        assert _plausible(response), (apdu.hex(), response.hex())
        if response[-2] == 0x6C:
            assert not data  # never 6Cxx to a command that carries data


def test_a_non_bytes_apdu_answers_6f00(caplog: pytest.LogCaptureFixture) -> None:
    card, _ = build()
    with caplog.at_level(logging.ERROR, logger="cardsim.runtime"):
        assert card.transmit("00A40000") == b"\x6F\x00"  # type: ignore[arg-type]
    assert "internal fault on C-APDU of type str" in caplog.text


def test_power_on_twice_and_an_mf_application() -> None:
    app = Recorder("MF")
    app.select_sw = 0x6283
    card = CardOS(MF(application=app), atr=ATR)
    assert card.power_on() == ATR  # the warning of on_select is logged, not raised
    assert card.power_on() == ATR  # powering a powered card is a cold reset
    assert app.events == ["select MF", "deselect MF", "select MF"]
    assert tx(card, "00A4000000") == "6F0483023F006283"
