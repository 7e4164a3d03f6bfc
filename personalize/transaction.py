"""The test transaction of step 6, as a terminal runs it (pboc.md §1-§4): SELECT the PSE
and read its directory, SELECT the debit ADF, GET PROCESSING OPTIONS, READ RECORD of
every AFL entry, the PIN try counter (GET DATA 9F17) and an offline VERIFY with the
right PIN, offline data authentication when the card carries ODA data (:mod:`.oda`:
SDA, then DDA with INTERNAL AUTHENTICATE), then GENERATE AC asking for an ARQC — which the issuer side recomputes from
its IMK-AC (:func:`~cardspec.crypto.emv.derive_udk_option_a`, then
:func:`~cardspec.crypto.emv.pboc_session_key` and :func:`~cardspec.crypto.emv.generate_ac`)
and must match — and a second GENERATE AC asking for an AAC with ARC ``Z3`` (unable to
go online), so that no online transaction is left pending on the card.

A zero-amount purchase in CNY; the transaction costs the card one ATC and one log entry.
"""
from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from datetime import datetime
from secrets import token_bytes
from typing import NamedTuple

from apdu.dol import build_dol_data
from apdu.errors import TLVError
from apdu.tlv import find, parse_ber, parse_one
from cardspec.crypto import CryptoError
from cardspec.crypto.emv import ac_input, cvr_from_iad, generate_ac, pboc_session_key
from cardspec.pboc import PSE_NAME

from .debit import DebitPlan
from .oda import check_oda
from .session import CardSession, answer
from .ssse_steps import apdu

__all__ = ["check_transaction", "read_account", "terminal_values", "Cryptogram", "MERCHANT"]

MERCHANT = b"SSCARD PERSONALIZE"  #: 9F4E merchant name of the test transaction
_AAC, _ARQC = 0x00, 0x80


def terminal_values(now: datetime, unpredictable: bytes) -> dict[int, bytes]:
    """The terminal's data of a zero-amount CNY purchase (EMV Book 3 Annex A formats)."""
    return {0x9F02: bytes(6), 0x9F03: bytes(6), 0x9F1A: bytes.fromhex("0156"), 0x95: bytes(5),
            0x5F2A: bytes.fromhex("0156"), 0x9A: bytes.fromhex(f"{now:%y%m%d}"),
            0x9F21: bytes.fromhex(f"{now:%H%M%S}"), 0x9C: b"\x00", 0x9F37: unpredictable, 0x9F4E: MERCHANT,
            0x9F7A: b"\x00", 0x8A: b"Z3"}


def _tlv(session: CardSession, what: str, data: bytes, tag: int) -> bytes:
    try:
        return parse_one(data, tag=tag).value
    except TLVError as exc:
        raise session.fail(f"{what}: the answer is not a {tag:02X} template ({exc})") from None


def _select_adf(session: CardSession, plan: DebitPlan) -> bytes:
    """SELECT the PSE, find the debit AID in its directory, SELECT it; returns its FCI."""
    session.command(apdu(0x00, 0xA4, 0x04, 0x00, PSE_NAME, le=0), "SELECT 1PAY.SYS.DDF01")
    found = False
    for number in range(1, 255):
        response = session.exchange(apdu(0x00, 0xB2, number, 0x0C, le=0), f"READ RECORD PSE directory {number}")
        if response.sw == 0x6A83:
            break
        if response.sw != 0x9000:
            raise session.fail(f"READ RECORD PSE directory {number} answered {answer(response.sw)}", sw=response.sw)
        entry = find(_tlv(session, "PSE directory record", response.data, 0x70), 0x4F)
        found = found or (entry is not None and entry.value == plan.aid)
    if not found:
        raise session.fail(f"the PSE directory does not list the debit application {plan.aid.hex().upper()}")
    return session.command(apdu(0x00, 0xA4, 0x04, 0x00, plan.aid, le=0), "SELECT the debit application")


def read_afl_records(command: Callable[[bytes, str], bytes], afl: bytes) -> dict[tuple[int, int], bytes]:
    """READ RECORD of every record the AFL (whole 4-byte entries, checked by the caller)
    names, sent with ``command(apdu, name)``; keyed by (SFI, record number)."""
    out = {}
    for i in range(0, len(afl), 4):
        sfi, first, last = afl[i] >> 3, afl[i + 1], afl[i + 2]
        for number in range(first, last + 1):
            out[(sfi, number)] = command(apdu(0x00, 0xB2, number, sfi << 3 | 4, le=0),
                                         f"READ RECORD SFI {sfi} record {number}")
    return out


def _records(session: CardSession, afl: bytes) -> dict[tuple[int, int], bytes]:
    if not afl or len(afl) % 4:
        raise session.fail(f"AFL {afl.hex().upper()} is not a list of 4-byte entries")
    return read_afl_records(session.command, afl)


def _values(session: CardSession, records: Mapping[tuple[int, int], bytes]) -> dict[int, bytes]:
    values: dict[int, bytes] = {}
    for (sfi, number), record in records.items():
        try:
            for obj in parse_ber(_tlv(session, f"SFI {sfi} record {number}", record, 0x70)):
                values.setdefault(obj.tag, obj.value)
        except TLVError as exc:
            raise session.fail(f"SFI {sfi} record {number}: {exc}") from None
    return values


def read_account(session: CardSession, plan: DebitPlan) -> tuple[str, str]:
    """The PAN and PAN sequence number the card's debit application holds (records only:
    no GPO, so no ATC is spent)."""
    _select_adf(session, plan)
    values = _values(session, {place: session.command(apdu(0x00, 0xB2, place[1], place[0] << 3 | 4, le=0),
                                                      f"READ RECORD SFI {place[0]} record {place[1]}")
                               for place in sorted(plan.data.records)})
    if 0x5A not in values:
        raise session.fail("the debit application's records hold no PAN (5A)")
    return values[0x5A].hex().upper().rstrip("F"), values.get(0x5F34, b"\x00").hex()


class Cryptogram(NamedTuple):
    """A GENERATE AC answer: CID (9F27), ATC (9F36), AC (9F26), IAD (9F10)."""

    cid: int
    atc: bytes
    ac: bytes
    iad: bytes


def _gac(session: CardSession, p1: int, dol: bytes, values: Mapping[int, bytes], what: str) -> Cryptogram:
    """GENERATE AC with the DOL's data; format 1 (``80``) or format 2 (``77``) answers."""
    data = session.command(apdu(0x80, 0xAE, p1, 0x00, build_dol_data(dol, values), le=0), what)
    if data[:1] == b"\x80":
        body = _tlv(session, what, data, 0x80)
        if len(body) < 11:
            raise session.fail(f"{what}: a format-1 answer of {len(body)} bytes (CID, ATC, AC need 11)")
        return Cryptogram(body[0], body[1:3], body[3:11], body[11:])
    template = _tlv(session, what, data, 0x77)
    fields = {}
    for tag in (0x9F27, 0x9F36, 0x9F26, 0x9F10):
        obj = find(template, tag)
        if obj is None:
            raise session.fail(f"{what}: the answer lacks tag {tag:02X}")
        fields[tag] = obj.value
    return Cryptogram(fields[0x9F27][0], fields[0x9F36], fields[0x9F26], fields[0x9F10])


def _check_pin(session: CardSession, plan: DebitPlan) -> list[str]:
    counter = session.command(bytes.fromhex("80CA9F1700"), "GET DATA 9F17 (PIN try counter)")
    if counter != bytes.fromhex(f"9F1701{plan.pin_tries:02X}"):
        return [f"PIN try counter {counter.hex().upper()}, expected 9F1701{plan.pin_tries:02X} (full); the "
                "initial PIN was not presented"]
    verify = session.exchange(apdu(0x00, 0x20, 0x00, 0x80, plan.pin_block()), "VERIFY (offline PIN)")
    return [] if verify.sw == 0x9000 else [f"VERIFY with the initial PIN answered {answer(verify.sw)}"]


def check_transaction(session: CardSession, plan: DebitPlan, *, compare_records: bool = True,
                      check_pin: bool = True) -> None:
    """Run the transaction; raise on a difference (records, PAN, PIN counter, ARQC).
    ``compare_records``: the records must be the plan's; ``check_pin``: the PIN try
    counter must be full and the plan's PIN must verify offline."""
    fci = _select_adf(session, plan)
    pdol = find(fci, 0x9F38)
    values = terminal_values(datetime.now(), token_bytes(4))
    body = build_dol_data(pdol.value, values) if pdol is not None else b""
    gpo = session.command(apdu(0x80, 0xA8, 0x00, 0x00, b"\x83" + bytes((len(body),)) + body, le=0), "GPO")
    if gpo[:1] == b"\x80":
        aip_afl = _tlv(session, "GPO", gpo, 0x80)
        aip, afl = aip_afl[:2], aip_afl[2:]
    else:
        template = _tlv(session, "GPO", gpo, 0x77)
        aip_obj, afl_obj = find(template, 0x82), find(template, 0x94)
        if aip_obj is None or afl_obj is None:
            raise session.fail("GPO: the answer lacks the AIP (82) or the AFL (94)")
        aip, afl = aip_obj.value, afl_obj.value
    records = _records(session, afl)
    problems = []
    if compare_records:
        problems += [f"SFI {sfi} record {n} differs from what was stored" for (sfi, n), record in records.items()
                     if plan.data.records.get((sfi, n)) != record]
        problems += [f"SFI {sfi} record {n} is missing from the AFL" for (sfi, n) in plan.data.records
                     if (sfi, n) not in records]
    card = _values(session, records)
    pan = card.get(0x5A, b"").hex().upper().rstrip("F")
    if pan != plan.pan:
        problems.append(f"the card's PAN ends {pan[-4:]}, the cardholder's {plan.pan[-4:]}")
    if check_pin:
        problems += _check_pin(session, plan)
    if problems:
        raise session.fail("read back: " + "; ".join(problems))
    if plan.oda is not None:
        check_oda(session, plan.oda, records, card, aip, afl)
    cdol1, cdol2 = card.get(0x8C), card.get(0x8D)
    if cdol1 is None or cdol2 is None:
        raise session.fail("the records hold no CDOL1 (8C) or CDOL2 (8D)")
    first = _gac(session, _ARQC, cdol1, values, "GENERATE AC (ARQC)")
    if first.cid & 0xC0 != _ARQC:
        raise session.fail(f"GENERATE AC: an ARQC was asked for, the card gave CID {first.cid:02X}")
    try:
        udk = plan.keys.pboc_udks(pan, card.get(0x5F34, b"\x00").hex())[0]
        expected = generate_ac(pboc_session_key(udk, first.atc),
                               ac_input(values, aip, first.atc, cvr_from_iad(first.iad)))
    except CryptoError as exc:
        raise session.fail(f"cannot recompute the ARQC: {exc}") from None
    second = _gac(session, _AAC, cdol2, values, "GENERATE AC (AAC)")  # the card is left with no online txn pending
    if not hmac.compare_digest(expected, first.ac):
        raise session.fail(f"the ARQC (ATC {first.atc.hex().upper()}) is not the one the issuer's IMK-AC gives: the "
                           "card's UDK-AC does not come from this key file", fatal=True)
    if second.cid & 0xC0 != _AAC:
        raise session.fail(f"the second GENERATE AC asked for an AAC; the card gave CID {second.cid:02X}")
