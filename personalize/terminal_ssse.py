"""Card operations on the social-security application (SSSE) after issuance, as a
terminal or an issuer's service desk performs them (ssse.md §3-§5, §7).

* Reading: SELECT SSSE by name, READ RECORD of EF05 and EF06 by SFI and record number
  until 6A83. EF06 answers 6982 on 3rd-generation cards until EXTERNAL AUTHENTICATE with
  RKSSSE (0A, SC §10.2); with the issuer keys the read key is derived for this card
  and authenticated once, without them EF06 is reported as protected. The PIN state
  comes from VERIFY without data, which spends no try (S7 §5.6).
* PIN: VERIFY ``0020 0000`` (packed BCD), CHANGE PIN ``805E 0100 old ‖ FF ‖ new``, PIN
  UNBLOCK/RESET ``8424 0000`` / ``8424 0001`` after EXTERNAL AUTHENTICATE with PUK (06).
* Blocking: APPLICATION BLOCK ``841E 0001``, CARD BLOCK ``8416 0000`` after EXTERNAL
  AUTHENTICATE with BK (05). Both are final (the SSC specification has no unblock).

Maintenance commands carry a MAC (and an enciphered PIN for the reset) under the
card's STK (02) with the answer to a fresh GET CHALLENGE (S4 §8.2-8.3, S7 §13).
Card keys are the issuer's masters diversified for this card (S9 §7.3): the region
code of EF05's 卡识别码, the ATR's historical bytes. Every EXTERNAL AUTHENTICATE is
tried once: a key that does not fit would spend another of the card's tries.
"""
from __future__ import annotations

import dataclasses
from datetime import date
from secrets import token_bytes
from typing import Any

from apdu.atr import parse_atr
from apdu.errors import TLVError
from apdu.tlv import find, parse_ber, parse_one
from cardspec.crypto.blockcipher import Algorithm
from cardspec.crypto.ssse import external_auth_cryptogram, wrap_command_data
from cardspec.ids import SSSE_DF_NAME, KeyId, SsseEF, SsseTag
from cardspec.pin import encode_pin
from cardspec.records import CardIdCode, RecordError, decode_record, layout_for

from .keys import IssuerKeys
from .terminal_link import Link, PinStatus, apdu, check_pin, send_verify

__all__ = ["SSSE_PIN_LENGTHS", "EF05", "EF06", "jsonable", "record_entry", "read_social", "select_ssse",
           "pin_status", "verify_pin", "change_pin", "unblock_pin", "block_application", "block_card"]

#: PIN lengths of the SSSE (SC: 4-16 digits; VERIFY Lc 2-8 bytes of packed BCD).
SSSE_PIN_LENGTHS = range(4, 17)
EF05, EF06 = "SSSE/EF05", "SSSE/EF06"
_CHALLENGE = apdu(0x00, 0x84, 0x00, 0x00, le=8)
_SELECT = apdu(0x00, 0xA4, 0x04, 0x00, SSSE_DF_NAME)
_PROTECTED = "protected (needs --keys)"
_KEY_ROLES = {KeyId.RK: "rk", KeyId.PUK: "puk", KeyId.BK: "bk", KeyId.STK: "stk"}


def jsonable(value: Any) -> Any:
    """A decoded record value as JSON data: dates in ISO form, bytes in hex, dataclasses as dicts."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex().upper()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def record_entry(raw: bytes, path: str, number: int) -> dict[str, Any]:
    """One record as the reader shows it: number, tag, names and decoded value (or why not), hex."""
    entry: dict[str, Any] = {"number": number, "hex": raw.hex().upper()}
    try:
        tag, value = decode_record(raw, file=path)
    except RecordError as exc:
        entry.update(tag=raw[:1].hex().upper(), undecoded=str(exc))
        return entry
    lay = layout_for(tag, path)
    entry.update(tag=f"{tag:02X}", name=lay.name_zh, name_en=lay.name_en, value=jsonable(value))
    return entry


# --- selection, records, keys -------------------------------------------------------------
def _card_algorithm(link: Link, fci: bytes) -> Algorithm:
    """The algorithm the FCI announces in ``9F0C [86 01 xx]``; DES/3DES without 9F0C (SC §10.1)."""
    try:
        proprietary = find(parse_one(fci, tag=0x6F).value, 0xA5)
        issuer = find(proprietary.value, 0x9F0C) if proprietary is not None else None
        alg = find(parse_ber(issuer.value), 0x86) if issuer is not None else None
    except TLVError as exc:
        raise link.fail(f"SELECT SSSE: the FCI {fci.hex().upper()} is not BER-TLV ({exc})") from None
    if alg is None:
        return Algorithm.TDES
    if len(alg.value) != 1:
        raise link.fail(f"SELECT SSSE: FCI algorithm 86 {alg.value.hex().upper()} is not one byte")
    return Algorithm.from_id(alg.value[0])


def select_ssse(link: Link) -> Algorithm:
    """SELECT the SSSE by name; the algorithm its FCI announces."""
    return _card_algorithm(link, link.command(_SELECT, "SELECT SSSE"))


def _records(link: Link, path: str, sfi: int) -> tuple[list[bytes], int]:
    """READ RECORD 1, 2, … by SFI until the card stops: the records and the final status
    word (6A83 after the last record, 6982 when the file needs an authentication)."""
    found: list[bytes] = []
    for number in range(1, 255):
        command = apdu(0x00, 0xB2, number, sfi << 3 | 0b100, le=0)
        response = link.exchange(command)
        if response.sw == 0x9000:
            found.append(response.data)
            continue
        if response.sw == 0x6A83 or (response.sw == 0x6982 and number == 1):
            return found, response.sw
        raise link.refused(command, f"READ RECORD {path} record {number}", response.sw)
    return found, 0x9000


def _region(link: Link) -> str:
    """The region code of EF05's 卡识别码 (READ RECORD by tag 01, SFI 5)."""
    command = apdu(0x00, 0xB2, SsseTag.CARD_ID, SsseEF.EF05.sfi << 3, le=0)
    raw = link.command(command, "READ RECORD EF05 tag 01 (卡识别码)")
    try:
        tag, value = decode_record(raw, file=EF05)
    except RecordError as exc:
        raise link.fail(f"EF05 tag 01 (卡识别码) does not decode: {exc}") from None
    if tag != SsseTag.CARD_ID or not isinstance(value, CardIdCode) or value.region is None:
        raise link.fail("EF05 tag 01 (卡识别码) holds no region code: the card keys cannot be derived")
    return value.region


def _card_keys(link: Link, keys: IssuerKeys, alg: Algorithm, *kids: KeyId) -> list[bytes]:
    """This card's keys ``kids`` from the issuer's masters (region from EF05, card factor from the ATR)."""
    if keys.ssse_algorithm is not alg:
        raise link.fail(f"the key file {keys.path} holds {keys.ssse_algorithm.name} keys ([ssse] algorithm); "
                        f"this card's SSSE uses {alg.name} (its FCI: 9F0C [86 01 xx], DES/3DES without 9F0C)")
    missing = [_KEY_ROLES[k] for k in kids if _KEY_ROLES[k] not in keys.ssse_master]
    if missing:
        raise link.fail(f"the key file {keys.path} has no [ssse.master] {', '.join(missing)}")
    card = keys.ssse_card_keys(_region(link), parse_atr(link.channel.atr).historical)
    return [card[_KEY_ROLES[k]] for k in kids]


def _authenticate(link: Link, alg: Algorithm, kid: KeyId, key: bytes) -> None:
    """GET CHALLENGE, then EXTERNAL AUTHENTICATE ``0082 00 KID 10 authData ‖ original``, once."""
    challenge = link.command(_CHALLENGE, "GET CHALLENGE")
    if len(challenge) != 8:
        raise link.fail(f"GET CHALLENGE answered {len(challenge)} bytes, 8 were asked for", command=_CHALLENGE)
    original = token_bytes(8)
    command = apdu(0x00, 0x82, 0x00, kid, external_auth_cryptogram(alg, key, challenge, original) + original)
    response = link.exchange(command)
    if response.sw == 0x9000:
        return
    hint = ""
    if response.sw & 0xFFF0 == 0x63C0 or response.sw == 0x6300:
        hint = "; the key file's key does not fit this card (not retried: each try spends one of the card's)"
    elif response.sw == 0x6983:
        hint = f"; {kid.name} is blocked on this card"
    raise link.refused(command, f"EXTERNAL AUTHENTICATE with {kid.name} ({kid:02X})", response.sw, hint)


def _maintenance(link: Link, alg: Algorithm, stk: bytes, header: bytes, what: str,
                 plaintext: bytes | None = None) -> None:
    """GET CHALLENGE, then ``header ‖ Lc ‖ [enciphered plaintext] ‖ MAC`` under the STK (S7 §13)."""
    challenge = link.command(_CHALLENGE, "GET CHALLENGE")
    cla, ins, p1, p2 = header
    command = apdu(cla, ins, p1, p2, wrap_command_data(alg, stk, challenge, cla, ins, p1, p2, plaintext))
    response = link.exchange(command)
    if response.sw != 0x9000:
        hint = "; the key file's STK does not fit this card" if response.sw == 0x9302 else ""
        raise link.refused(command, what, response.sw, hint)


# --- public operations ---------------------------------------------------------------------
def read_social(link: Link, keys: IssuerKeys | None = None) -> dict[str, Any]:
    """EF05 and EF06 decoded, the PIN state; see the module notes for EF06 on 3rd-generation cards."""
    response = link.exchange(_SELECT)
    if response.sw == 0x9303:
        return {"zone": "ssse", "status": "application blocked (9303)"}
    if response.sw != 0x9000:
        raise link.refused(_SELECT, "SELECT SSSE", response.sw)
    alg = _card_algorithm(link, response.data)
    ef05, _ = _records(link, EF05, SsseEF.EF05.sfi)
    out: dict[str, Any] = {"zone": "ssse", "status": "active", "algorithm": alg.name,
                           "ef05": [record_entry(raw, EF05, n) for n, raw in enumerate(ef05, 1)]}
    ef06, sw = _records(link, EF06, SsseEF.EF06.sfi)
    if sw == 0x6982 and keys is not None:
        _authenticate(link, alg, KeyId.RK, *_card_keys(link, keys, alg, KeyId.RK))
        out["ef06_read_key"] = "RK (0A) authenticated"
        ef06, sw = _records(link, EF06, SsseEF.EF06.sfi)
    if sw == 0x6982:
        out["ef06"] = _PROTECTED
    else:
        out["ef06"] = [record_entry(raw, EF06, n) for n, raw in enumerate(ef06, 1)]
    out["pin"] = _status_dict(pin_status(link, selected=True))
    return out


def _status_dict(status: PinStatus) -> dict[str, Any]:
    return {"verified": status.verified, "tries_left": status.tries_left, "blocked": status.blocked}


def pin_status(link: Link, *, selected: bool = False) -> PinStatus:
    """VERIFY without data (S7 §5.6): no try is spent."""
    if not selected:
        select_ssse(link)
    return send_verify(link, "ssse", apdu(0x00, 0x20, 0x00, 0x00), "VERIFY without data (PIN state)")


def verify_pin(link: Link, pin: str) -> PinStatus:
    """VERIFY ``0020 0000 Lc PIN`` (packed BCD, S5 §6.14): verified, or the tries left."""
    command = apdu(0x00, 0x20, 0x00, 0x00, encode_pin(check_pin(pin, "PIN", SSSE_PIN_LENGTHS)))
    select_ssse(link)
    return send_verify(link, "ssse", command, "VERIFY")


def change_pin(link: Link, old: str, new: str) -> None:
    """CHANGE PIN ``805E 0100 Lc old ‖ FF ‖ new`` (S5 §6.3); a wrong old PIN raises
    :class:`~personalize.terminal_link.WrongPinError` (a try is spent)."""
    data = (encode_pin(check_pin(old, "current PIN", SSSE_PIN_LENGTHS)) + b"\xff"
            + encode_pin(check_pin(new, "new PIN", SSSE_PIN_LENGTHS)))
    select_ssse(link)
    link.pin_command(apdu(0x80, 0x5E, 0x01, 0x00, data), "CHANGE PIN")


def unblock_pin(link: Link, keys: IssuerKeys, new_pin: str | None = None) -> None:
    """PIN UNBLOCK (``8424 0000``, MAC only) or, with ``new_pin``, PIN RESET (``8424 0001``,
    the new PIN enciphered, S5 §6.8), after EXTERNAL AUTHENTICATE with PUK: the try
    counter is back at its limit."""
    plaintext = None if new_pin is None else encode_pin(check_pin(new_pin, "new PIN", SSSE_PIN_LENGTHS))
    alg = select_ssse(link)
    puk, stk = _card_keys(link, keys, alg, KeyId.PUK, KeyId.STK)
    _authenticate(link, alg, KeyId.PUK, puk)
    p2 = 0x00 if plaintext is None else 0x01
    what = "PIN UNBLOCK" if plaintext is None else "PIN RESET"
    _maintenance(link, alg, stk, bytes((0x84, 0x24, 0x00, p2)), what, plaintext)


def block_application(link: Link, keys: IssuerKeys) -> None:
    """APPLICATION BLOCK ``841E 0001 04 MAC`` (S5 §6.1): the SSSE answers 9303 from then on."""
    alg = select_ssse(link)
    (stk,) = _card_keys(link, keys, alg, KeyId.STK)
    _maintenance(link, alg, stk, bytes((0x84, 0x1E, 0x00, 0x01)), "APPLICATION BLOCK")


def block_card(link: Link, keys: IssuerKeys) -> None:
    """CARD BLOCK ``8416 0000 04 MAC`` after EXTERNAL AUTHENTICATE with BK (S5 §6.2, S7 §13.1):
    every later command of the card answers 6A81."""
    alg = select_ssse(link)
    bk, stk = _card_keys(link, keys, alg, KeyId.BK, KeyId.STK)
    _authenticate(link, alg, KeyId.BK, bk)
    _maintenance(link, alg, stk, bytes((0x84, 0x16, 0x00, 0x00)), "CARD BLOCK")

