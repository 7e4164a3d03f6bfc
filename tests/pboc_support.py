"""Shared pieces of the financial-zone tests: a card holding the PBOC zone and a small terminal.

The terminal is deliberately naive (it is the *test's* side): it follows 61xx with GET
RESPONSE, and builds DOL data with :func:`apdu.dol.build_dol_data`.
"""
from __future__ import annotations

from dataclasses import replace

from apdu.dol import build_dol_data
from apdu.tlv import find, parse_one
from cardsim import MF, CardOS, RecordingStore, RuntimeSettings
from cardsim.pboc import PbocApplication, load_test_imks, pboc_sample
from cardspec.crypto.emv import pin_block_iso9564_format2
from cardspec.pboc import PbocHolder
from cardspec.profile import Profile

IMKS = load_test_imks()
PSE = b"1PAY.SYS.DDF01".hex().upper()
AID = "A000000333010101"

#: Terminal data of a purchase: CDOL1/CDOL2 values (EMV Book 3 Annex A formats).
PURCHASE = {
    0x9F02: bytes.fromhex("000000001234"), 0x9F03: bytes(6), 0x9F1A: bytes.fromhex("0156"),
    0x95: bytes.fromhex("0000000000"), 0x5F2A: bytes.fromhex("0156"), 0x9A: bytes.fromhex("260315"),
    0x9F21: bytes.fromhex("101500"), 0x9C: b"\x00", 0x9F37: bytes.fromhex("11223344"),
    0x9F4E: b"SSCARD TEST MERCHANT",
}


def sample_card(profile: str = "ssc3-sm4", *, holder: PbocHolder | None = None,
                **policy: object) -> tuple[CardOS, PbocApplication, RecordingStore]:
    """A powered card with the sample PBOC zone under the MF; ``policy`` overrides ``[pboc]``."""
    loaded = Profile.load(profile)
    if policy:
        loaded = replace(loaded, pboc=replace(loaded.pboc, **policy))
    app = pboc_sample(loaded, **IMKS, holder=holder)
    store = RecordingStore()
    card = CardOS(MF(children=app.zone), atr=loaded.atr_bytes(), store=store,
                  settings=RuntimeSettings(loaded.card.t0_get_response, loaded.card.le_mode))
    card.power_on()
    return card, app, store


class Terminal:
    """Sends hex or bytes, follows 61xx, returns (data, SW)."""

    def __init__(self, card: CardOS) -> None:
        self.card = card

    def send(self, apdu: str | bytes) -> tuple[bytes, int]:
        raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
        reply = self.card.transmit(raw)
        data, sw = reply[:-2], int.from_bytes(reply[-2:], "big")
        while sw >> 8 == 0x61:
            more = self.card.transmit(bytes((0x00, 0xC0, 0x00, 0x00, sw & 0xFF)))
            data, sw = data + more[:-2], int.from_bytes(more[-2:], "big")
        return data, sw

    def ok(self, apdu: str | bytes) -> bytes:
        data, sw = self.send(apdu)
        assert sw == 0x9000, f"{apdu if isinstance(apdu, str) else apdu.hex().upper()} -> {sw:04X}"
        return data

    def select(self, name_hex: str) -> tuple[bytes, int]:
        return self.send(f"00A40400{len(name_hex) // 2:02X}{name_hex}00")

    def gpo(self, pdol_values: dict[int, bytes] | None = None,
            pdol: bytes = bytes.fromhex("9F7A019F02065F2A02")) -> tuple[bytes, int]:
        data = b"" if pdol_values is None else build_dol_data(pdol, pdol_values)
        body = b"\x83" + bytes((len(data),)) + data
        return self.send(bytes.fromhex("80A80000") + bytes((len(body),)) + body + b"\x00")

    def verify(self, pin: str) -> int:
        return self.send("0020008008" + pin_block_iso9564_format2(pin).hex() + "00")[1]

    def gac(self, p1: int, dol: bytes, values: dict[int, bytes]) -> tuple[bytes, int]:
        data = build_dol_data(dol, values)
        return self.send(bytes((0x80, 0xAE, p1, 0x00, len(data))) + data + b"\x00")

    def records(self, afl: bytes) -> dict[int, bytes]:
        """Read every AFL record; returns the primitive tags found (tag -> value)."""
        found: dict[int, bytes] = {}
        for i in range(0, len(afl), 4):
            sfi, first, last = afl[i] >> 3, afl[i + 1], afl[i + 2]
            for n in range(first, last + 1):
                record = self.ok(bytes((0x00, 0xB2, n, sfi << 3 | 4, 0x00)))
                for obj in parse_one(record, tag=0x70).children():
                    found[obj.tag] = obj.value
        return found


def gac_fields(response: bytes) -> tuple[int, bytes, bytes, bytes]:
    """CID, ATC, AC, IAD of a format-1 GENERATE AC response."""
    value = parse_one(response, tag=0x80).value
    return value[0], value[1:3], value[3:11], value[11:]


def afl_of(gpo_response: bytes) -> bytes:
    if gpo_response[0] == 0x80:
        return parse_one(gpo_response, tag=0x80).value[2:]
    afl = find(gpo_response, 0x94)
    assert afl is not None
    return afl.value
