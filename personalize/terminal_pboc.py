"""Card operations on the financial zone (PBOC debit, JR/T 0025) after issuance, as a
terminal and the issuer's host perform them (pboc.md §1-§4).

* Reading: SELECT 1PAY.SYS.DDF01, its directory, the debit ADF; READ RECORD of SFI
  1-10 record by record until 6A83/6A82, **without GPO** (as ``emvtool info``: no ATC is
  spent); with ``gpo=True`` GET PROCESSING OPTIONS instead and exactly the AFL's records
  (one ATC spent). GET DATA 9F36 (ATC), 9F17 (PIN try counter), 9F13 (last online ATC).
* Offline PIN: VERIFY ``0020 0080 08`` with an ISO 9564 format-2 block.
* Everything else (PIN change, unblock, application and card block) is an issuer script,
  which a card takes only inside a transaction it can MAC over (EMV Book 2 §9.2):
  :class:`IssuerTransaction` runs SELECT, GPO (PDOL data of a zero-amount CNY purchase),
  the AFL's records, GENERATE AC asking for an ARQC — which is checked against the key
  file's IMK-AC before anything else is sent — and EXTERNAL AUTHENTICATE with the ARPC
  (method 1, ARC ``00``) when the AIP announces issuer authentication. Then the script
  command, MACed with the MAC session key of UDK-MAC (the PIN block enciphered with the
  ENC session key of UDK-ENC), and the second GENERATE AC asking for an AAC, so no
  purchase is ever approved. A transaction spends one ATC and writes one log record.
"""
from __future__ import annotations

import hmac
from datetime import datetime
from secrets import token_bytes
from typing import Any, Literal

from apdu.dol import build_dol_data
from apdu.errors import TLVError
from apdu.tlv import TLV, find, parse_one
from cardspec.crypto import CryptoError
from cardspec.crypto.emv import (ac_input, arpc_method1, build_script_command, cvr_from_iad, encipher_pin_for_script,
                                 generate_ac, pboc_session_key, pin_block_iso9564_format2)
from cardspec.pboc import PBOC_DEBIT_AID, PSE_NAME, IdType

from .keys import IssuerKeys
from .terminal_link import Link, PinStatus, apdu, check_pin, send_verify
from .transaction import read_afl_records, terminal_values

__all__ = ["PBOC_PIN_LENGTHS", "PinBlockMask", "IssuerTransaction", "select_debit", "read_financial",
           "pin_status", "verify_pin"]

#: PIN lengths an ISO 9564 format-2 block carries.
PBOC_PIN_LENGTHS = range(4, 13)
#: The profile choice of :func:`~cardspec.crypto.emv.encipher_pin_for_script`: XOR the PIN block with a UDK first.
PinBlockMask = Literal["none", "udk-ac", "udk-enc"]
_UNIONPAY_RID = bytes.fromhex("A000000333")
_ISSUER_AUTH = 0x04  #: AIP byte 1 b3: issuer authentication supported
_ARC = b"00"  #: authorisation response code of the issuer's answer
_ARQC, _AAC = 0x80, 0x00


def _tlv(link: Link, what: str, data: bytes, tag: int) -> TLV:
    try:
        return parse_one(data, tag=tag)
    except TLVError as exc:
        raise link.fail(f"{what}: the answer is not a {tag:02X} template ({exc})") from None


def _directory(link: Link) -> list[bytes]:
    """The AIDs of 1PAY.SYS.DDF01's directory in priority order; none without a PSE."""
    response = link.exchange(apdu(0x00, 0xA4, 0x04, 0x00, PSE_NAME, le=0))
    if response.sw == 0x6A82:
        return []
    if response.sw != 0x9000:
        raise link.refused(apdu(0x00, 0xA4, 0x04, 0x00, PSE_NAME, le=0), "SELECT 1PAY.SYS.DDF01", response.sw)
    sfi_obj = find(_tlv(link, "SELECT 1PAY.SYS.DDF01", response.data, 0x6F).value, 0x88)
    sfi = sfi_obj.value[0] if sfi_obj is not None and len(sfi_obj.value) == 1 else 1
    entries: list[tuple[int, bytes]] = []
    for number in range(1, 255):
        command = apdu(0x00, 0xB2, number, sfi << 3 | 0b100, le=0)
        record = link.exchange(command)
        if record.sw == 0x6A83:
            break
        if record.sw != 0x9000:
            raise link.refused(command, f"READ RECORD PSE directory record {number}", record.sw)
        for entry in _tlv(link, f"PSE directory record {number}", record.data, 0x70).children():
            aid, priority = find(entry.value, 0x4F), find(entry.value, 0x87)
            if entry.tag == 0x61 and aid is not None:
                rank = priority.value[0] & 0x0F if priority is not None and priority.value else 15
                entries.append((rank, aid.value))
    return [aid for _, aid in sorted(entries, key=lambda e: e[0])]


def select_debit(link: Link) -> tuple[bytes, bytes, bool]:
    """SELECT the UnionPay application the PSE lists first (the debit AID without a PSE):
    its AID, its FCI and whether it is blocked (SELECT answered 6283)."""
    listed = [aid for aid in _directory(link) if aid.startswith(_UNIONPAY_RID)] or [PBOC_DEBIT_AID]
    for aid in listed:
        command = apdu(0x00, 0xA4, 0x04, 0x00, aid, le=0)
        response = link.exchange(command)
        if response.sw in (0x9000, 0x6283):
            _tlv(link, f"SELECT {aid.hex().upper()}", response.data, 0x6F)
            return aid, response.data, response.sw == 0x6283
        if response.sw != 0x6A82:
            raise link.refused(command, f"SELECT {aid.hex().upper()}", response.sw)
    raise link.fail(f"no UnionPay application on the card (tried {', '.join(a.hex().upper() for a in listed)})")


def _record(link: Link, sfi: int, number: int) -> tuple[bytes, int]:
    command = apdu(0x00, 0xB2, number, sfi << 3 | 0b100, le=0)
    response = link.exchange(command)
    if response.sw not in (0x9000, 0x6A82, 0x6A83):
        hint = "; this card reads records only in a transaction: read with GPO (spends one ATC)" \
            if response.sw in (0x6985, 0x6982) else ""
        raise link.refused(command, f"READ RECORD SFI {sfi} record {number}", response.sw, hint)
    return response.data, response.sw


def _values(link: Link, records: dict[tuple[int, int], bytes]) -> dict[int, bytes]:
    """The primitive data objects of the records' 70 templates (the first of each tag)."""
    values: dict[int, bytes] = {}
    for (sfi, number), raw in records.items():
        for obj in _tlv(link, f"SFI {sfi} record {number}", raw, 0x70).children():
            values.setdefault(obj.tag, obj.value)
    return values


def _gpo(link: Link, fci: bytes, values: dict[int, bytes]) -> tuple[bytes, bytes]:
    """GET PROCESSING OPTIONS with the PDOL's data: (AIP, AFL). Spends one ATC."""
    pdol = find(fci, 0x9F38)
    body = build_dol_data(pdol.value, values) if pdol is not None else b""
    data = link.command(apdu(0x80, 0xA8, 0x00, 0x00, b"\x83" + bytes((len(body),)) + body, le=0), "GPO")
    if data[:1] == b"\x80":
        value = _tlv(link, "GPO", data, 0x80).value
        aip, afl = value[:2], value[2:]
    else:
        template = _tlv(link, "GPO", data, 0x77).value
        aip_obj, afl_obj = find(template, 0x82), find(template, 0x94)
        if aip_obj is None or afl_obj is None:
            raise link.fail("GPO: the answer lacks the AIP (82) or the AFL (94)")
        aip, afl = aip_obj.value, afl_obj.value
    if len(aip) != 2 or not afl or len(afl) % 4:
        raise link.fail(f"GPO: AIP {aip.hex().upper()} / AFL {afl.hex().upper()} are malformed")
    return aip, afl


def _swept_records(link: Link) -> dict[tuple[int, int], bytes]:
    """SFI 1-10 (EMV's application elementary files), each until 6A83 or 6A82."""
    records = {}
    for sfi in range(1, 11):
        for number in range(1, 255):
            raw, sw = _record(link, sfi, number)
            if sw != 0x9000:
                break
            records[(sfi, number)] = raw
    return records


def _get_data(link: Link, tag: int) -> int | None:
    command = apdu(0x80, 0xCA, tag >> 8, tag & 0xFF, le=0)
    response = link.exchange(command)
    if response.sw == 0x6A88:
        return None
    if response.sw != 0x9000:
        raise link.refused(command, f"GET DATA {tag:04X}", response.sw)
    return int.from_bytes(_tlv(link, f"GET DATA {tag:04X}", response.data, tag).value, "big")


# --- reading ---------------------------------------------------------------------------------
def _yymmdd(value: bytes | None) -> str | None:
    digits = value.hex() if value else ""
    return f"20{digits[:2]}-{digits[2:4]}-{digits[4:6]}" if len(digits) == 6 and digits.isdigit() else None


def _text(value: bytes | None) -> str | None:
    return value.decode("gbk", "replace").rstrip(" \x00") if value else None


def _holder_name(values: dict[int, bytes]) -> str | None:
    """5F20 (or 9F0B, the longer form); None for the " /" that means no name (EMV Book 3
    Annex A), which sscard writes when a holder has no Latin name."""
    name = _text(values.get(0x5F20)) or _text(values.get(0x9F0B))
    return None if name is None or name.strip() == "/" else name


def _account(values: dict[int, bytes]) -> dict[str, Any]:
    """PAN, dates, holder and codes from the records (track 2 where 5A/5F24/5F30 are missing)."""
    track2 = values.get(0x57, b"").hex().upper()
    pan2, _, rest = track2.partition("D")
    pan = values[0x5A].hex().upper().rstrip("F") if 0x5A in values else (pan2 or None)
    expiry = _yymmdd(values.get(0x5F24)) or (f"20{rest[:2]}-{rest[2:4]}" if len(rest) >= 4 else None)
    service = values[0x5F30].hex()[-3:] if 0x5F30 in values else (rest[4:7] if len(rest) >= 7 else None)
    id_type: dict[str, str] | None = None
    if values.get(0x9F62):
        code = values[0x9F62][0]
        try:
            name = IdType(code).name.replace("_", " ").lower()
        except ValueError:
            name = "unknown"
        id_type = {"code": f"{code:02X}", "name": name}
    return {"pan": pan, "psn": values[0x5F34].hex() if 0x5F34 in values else None, "expiry": expiry,
            "effective": _yymmdd(values.get(0x5F25)), "name": _holder_name(values),
            "id_number": _text(values.get(0x9F61)), "id_type": id_type, "service_code": service,
            "currency": values[0x9F42].hex() if 0x9F42 in values else None,
            "country": values[0x5F28].hex() if 0x5F28 in values else None,
            "oda_ca_index": values[0x8F].hex().upper() if 0x8F in values else None,
            "dda": 0x9F46 in values}


def read_financial(link: Link, *, gpo: bool = False) -> dict[str, Any]:
    """The debit application as a terminal reads it; see the module notes (``gpo``)."""
    aid, fci, blocked = select_debit(link)
    label, preferred = find(fci, 0x50), find(fci, 0x9F12)
    used_gpo = gpo and not blocked
    if used_gpo:
        _, afl = _gpo(link, fci, terminal_values(datetime.now(), token_bytes(4)))
        records = read_afl_records(link.command, afl)
    else:
        records = _swept_records(link)
    return {
        "zone": "pboc", "status": "application blocked (6283)" if blocked else "active", "aid": aid.hex().upper(),
        "label": _text(label.value) if label is not None else None,
        "preferred_name": _text(preferred.value) if preferred is not None else None,
        **_account(_values(link, records)),
        "atc": _get_data(link, 0x9F36), "pin_tries_left": _get_data(link, 0x9F17),
        "last_online_atc": _get_data(link, 0x9F13), "gpo": used_gpo,
        "records": [{"sfi": sfi, "number": n, "hex": raw.hex().upper()} for (sfi, n), raw in sorted(records.items())],
    }


def pin_status(link: Link) -> PinStatus:
    """GET DATA 9F17 (PIN try counter); nothing is spent."""
    select_debit(link)
    tries = _get_data(link, 0x9F17)
    if tries is None:
        raise link.fail("GET DATA 9F17: the card keeps no PIN try counter (6A88)")
    return PinStatus("pboc", None, tries, tries == 0)


def verify_pin(link: Link, pin: str) -> PinStatus:
    """Offline plaintext VERIFY ``0020 0080 08 <format-2 block>`` (EMV Book 3 §6.5.12)."""
    command = apdu(0x00, 0x20, 0x00, 0x80, pin_block_iso9564_format2(check_pin(pin, "PIN", PBOC_PIN_LENGTHS)))
    select_debit(link)
    return send_verify(link, "pboc", command, "VERIFY (offline PIN)")


# --- issuer scripts --------------------------------------------------------------------------
class IssuerTransaction:
    """One transaction that carries issuer scripts (see the module notes). Call
    :meth:`start`, optionally :meth:`verify_pin`, then :meth:`authorize`, :meth:`script`
    and :meth:`close`."""

    def __init__(self, link: Link, keys: IssuerKeys) -> None:
        self.link, self.keys = link, keys
        self.terminal = {**terminal_values(datetime.now(), token_bytes(4)), 0x8A: _ARC}
        self.values: dict[int, bytes] = {}
        self.aip = b""
        self.atc = b""
        self.arqc = b""
        self._udks: tuple[bytes, bytes, bytes] = (b"", b"", b"")

    def start(self) -> None:
        """SELECT (a blocked application refuses), GPO, the AFL's records, the card's UDKs."""
        aid, fci, blocked = select_debit(self.link)
        if blocked:
            raise self.link.fail(f"the application {aid.hex().upper()} is blocked (SELECT answered 6283): "
                                 "it starts no transaction, so it takes no issuer script")
        self.aip, afl = _gpo(self.link, fci, self.terminal)
        self.values = _values(self.link, read_afl_records(self.link.command, afl))
        if 0x5A not in self.values or 0x8C not in self.values or 0x8D not in self.values:
            raise self.link.fail("the records lack the PAN (5A), CDOL1 (8C) or CDOL2 (8D)")
        pan, psn = self.values[0x5A].hex().upper().rstrip("F"), self.values.get(0x5F34, b"\x00").hex()
        try:
            self._udks = self.keys.pboc_udks(pan, psn)
        except CryptoError as exc:
            raise self.link.fail(f"cannot derive the card's keys: {exc}") from None

    def verify_pin(self, pin: str) -> None:
        """Offline VERIFY inside the transaction; a wrong PIN raises :class:`WrongPinError`."""
        block = pin_block_iso9564_format2(check_pin(pin, "current PIN", PBOC_PIN_LENGTHS))
        self.link.pin_command(apdu(0x00, 0x20, 0x00, 0x80, block), "VERIFY (offline PIN)")

    def _gac(self, p1: int, dol_tag: int, what: str) -> tuple[int, bytes, bytes, bytes]:
        data = self.link.command(apdu(0x80, 0xAE, p1, 0x00, build_dol_data(self.values[dol_tag], self.terminal),
                                      le=0), what)
        if data[:1] == b"\x80":
            body = _tlv(self.link, what, data, 0x80).value
            if len(body) < 11:
                raise self.link.fail(f"{what}: the answer holds {len(body)} bytes, not CID ATC AC IAD")
            return body[0], body[1:3], body[3:11], body[11:]
        template = _tlv(self.link, what, data, 0x77).value
        found = [find(template, tag) for tag in (0x9F27, 0x9F36, 0x9F26, 0x9F10)]
        if any(obj is None for obj in found):
            raise self.link.fail(f"{what}: the answer lacks 9F27, 9F36, 9F26 or 9F10")
        cid, atc, ac, iad = (obj.value for obj in found if obj is not None)
        return cid[0], atc, ac, iad

    def authorize(self) -> None:
        """GENERATE AC (ARQC), checked against the key file, then the issuer's ARPC."""
        cid, self.atc, self.arqc, iad = self._gac(_ARQC, 0x8C, "GENERATE AC (ARQC)")
        if cid & 0xC0 != _ARQC:
            raise self.link.fail(f"GENERATE AC: an ARQC was asked for, the card gave CID {cid:02X}")
        sk_ac = pboc_session_key(self._udks[0], self.atc)
        try:
            expected = generate_ac(sk_ac, ac_input(self.terminal, self.aip, self.atc, cvr_from_iad(iad)))
        except CryptoError as exc:
            raise self.link.fail(f"cannot check the ARQC: {exc}") from None
        if not hmac.compare_digest(expected, self.arqc):
            raise self.link.fail(f"the ARQC (ATC {self.atc.hex().upper()}) is not the one the key file's IMK-AC "
                                 "gives: the key file does not fit this card; no script was sent")
        if self.aip[0] & _ISSUER_AUTH:
            arpc = arpc_method1(sk_ac, self.arqc, _ARC)
            self.link.command(apdu(0x00, 0x82, 0x00, 0x00, arpc + _ARC), "EXTERNAL AUTHENTICATE (ARPC)")

    def script(self, header: bytes, what: str, *, new_pin: str | None = None,
               mask: PinBlockMask = "none") -> None:
        """One issuer script command ``header ‖ Lc ‖ [enciphered PIN block] ‖ MAC``."""
        data = b""
        if new_pin is not None:
            block = pin_block_iso9564_format2(check_pin(new_pin, "new PIN", PBOC_PIN_LENGTHS))
            xor_key = {"none": None, "udk-ac": self._udks[0], "udk-enc": self._udks[2]}[mask]
            data = encipher_pin_for_script(pboc_session_key(self._udks[2], self.atc), block, xor_key)
        command = build_script_command(pboc_session_key(self._udks[1], self.atc), header, self.atc, self.arqc, data)
        response = self.link.exchange(command)
        if response.sw != 0x9000:
            hint = "; the key file's IMK-SMI does not fit this card" if response.sw == 0x6988 else ""
            raise self.link.refused(command, f"issuer script {what}", response.sw, hint)

    def close(self) -> None:
        """The second GENERATE AC, asking for an AAC: the zero-amount purchase is declined."""
        cid, _, _, _ = self._gac(_AAC, 0x8D, "GENERATE AC (AAC)")
        if cid & 0xC0 != _AAC:
            raise self.link.fail(f"the second GENERATE AC asked for an AAC; the card gave CID {cid:02X}")
