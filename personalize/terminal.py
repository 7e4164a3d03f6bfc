"""Card operations after issuance, host side: what a terminal or the issuer's service
desk does with an issued card, in either zone. Pure functions of a connected
:class:`~apdu.transport.channel.Channel`; nothing is printed.

* read — SSSE :func:`read_social`: EF05, EF06 (RK 0A authentication on 3.0 cards, with
  the keys), the PIN state; PBOC :func:`read_financial`: PSE, ADF, records without GPO
  (or with ``gpo=True``), ATC, PIN try counter.
* verify PIN — SSSE ``0020 0000`` packed BCD; PBOC ``0020 0080`` ISO 9564 format-2 block.
* change PIN — SSSE ``805E 0100 old ‖ FF ‖ new``; PBOC the old PIN verified offline, then
  the issuer script ``8424 0002`` (needs the keys).
* unblock / reset PIN — SSSE PUK (06) authentication, then ``8424 0000`` / ``8424 0001``;
  PBOC issuer script ``8424 0000`` / ``8424 0002``.
* block the application — SSSE ``841E 0001`` + MAC (STK); PBOC issuer script ``841E 0000``.
* block the card — SSSE BK (05) authentication, then ``8416 0000`` + MAC (STK); PBOC issuer
  script ``8416 0000``.

Details: :mod:`.terminal_ssse` and :mod:`.terminal_pboc` (issuer scripts run inside a
transaction that spends one ATC). Failures raise
:class:`~personalize.terminal_link.CardOperationError` naming the operation, the command
(secret data redacted as in traces) and the status word; a refused PIN raises
:class:`~personalize.terminal_link.WrongPinError` with the tries left. No
authentication is ever retried. PIN digits are checked before anything is sent.

>>> pin_lengths("ssse"), pin_lengths("pboc")
(range(4, 17), range(4, 13))
"""
from __future__ import annotations

from typing import Any, Literal

from apdu.transport.channel import Channel

from . import terminal_pboc as pboc
from . import terminal_ssse as ssse
from .keys import IssuerKeys
from .terminal_link import (ZONES, CardOperationError, Link, PinInputError, PinStatus, WrongPinError, Zone,
                            check_pin)
from .terminal_pboc import PBOC_PIN_LENGTHS, PinBlockMask
from .terminal_ssse import SSSE_PIN_LENGTHS

__all__ = ["read_social", "read_financial", "pin_status", "verify_pin", "change_pin", "unblock_pin", "reset_pin",
           "block", "Zone", "ZONES", "BlockTarget", "PinBlockMask", "PinStatus", "CardOperationError",
           "WrongPinError", "PinInputError", "pin_lengths"]

BlockTarget = Literal["application", "card"]


def pin_lengths(zone: Zone) -> range:
    """PIN lengths a zone takes: 4-16 digits in the SSSE (SC), 4-12 in the financial zone (format 2)."""
    return SSSE_PIN_LENGTHS if zone == "ssse" else PBOC_PIN_LENGTHS


def _zone(zone: str) -> Zone:
    if zone not in ZONES:
        raise ValueError(f"zone must be one of {', '.join(ZONES)}, not {zone!r}")
    return zone  # type: ignore[return-value]


def read_social(channel: Channel, *, keys: IssuerKeys | None = None) -> dict[str, Any]:
    """The social-security application as a terminal reads it (JSON-ready): ``status``,
    ``algorithm``, ``ef05`` and ``ef06`` (lists of records with ``number``, ``tag``,
    ``name``, ``name_en``, ``value`` and ``hex``; ``ef06`` is the text ``"protected (needs
    --keys)"`` on a 3rd-generation card read without ``keys``), ``pin`` (VERIFY without
    data: ``verified``, ``tries_left``, ``blocked``)."""
    with Link(channel, "read social-security zone") as link:
        return ssse.read_social(link, keys)


def read_financial(channel: Channel, *, gpo: bool = False) -> dict[str, Any]:
    """The debit application as a terminal reads it (JSON-ready): ``status``, ``aid``,
    ``label``, ``pan``, ``psn``, ``expiry``, ``effective``, ``name``, ``id_number``,
    ``id_type``, ``service_code``, ``currency``, ``country``, ``atc``, ``pin_tries_left``,
    ``last_online_atc``, ``records`` (SFI, number, hex). ``gpo=True`` reads the AFL's
    records after GET PROCESSING OPTIONS, which increments the ATC."""
    with Link(channel, "read financial zone") as link:
        return pboc.read_financial(link, gpo=gpo)


def pin_status(channel: Channel, zone: Zone) -> PinStatus:
    """The PIN's tries left, spending none (SSSE: VERIFY without data; PBOC: GET DATA 9F17)."""
    with Link(channel, f"pin status ({_zone(zone)})") as link:
        return ssse.pin_status(link) if zone == "ssse" else pboc.pin_status(link)


def verify_pin(channel: Channel, zone: Zone, pin: str) -> PinStatus:
    """VERIFY the cardholder's PIN: ``verified``, or the tries left (``blocked`` at 0).
    A wrong PIN is a result here, not an error."""
    with Link(channel, f"pin verify ({_zone(zone)})") as link:
        return ssse.verify_pin(link, pin) if zone == "ssse" else pboc.verify_pin(link, pin)


def change_pin(channel: Channel, zone: Zone, old: str, new: str, *, keys: IssuerKeys | None = None,
               pin_block_mask: PinBlockMask = "none") -> None:
    """The cardholder changes the PIN. SSSE: CHANGE PIN. PBOC: the old PIN verified
    offline, then the issuer script PIN CHANGE, which needs ``keys``. A wrong old PIN
    raises :class:`WrongPinError`."""
    with Link(channel, f"pin change ({_zone(zone)})") as link:
        check_pin(old, "current PIN", pin_lengths(zone))
        check_pin(new, "new PIN", pin_lengths(zone))
        if zone == "ssse":
            ssse.change_pin(link, old, new)
            return
        if keys is None:
            raise link.fail("the financial zone changes a PIN only through an issuer script: give the issuer keys")
        _script(link, keys, bytes.fromhex("84240002"), "PIN CHANGE", old_pin=old, new_pin=new, mask=pin_block_mask)


def unblock_pin(channel: Channel, zone: Zone, keys: IssuerKeys, new_pin: str | None = None, *,
                pin_block_mask: PinBlockMask = "none") -> None:
    """The issuer restores the try counter; with ``new_pin`` it also sets a new PIN
    (:func:`reset_pin`). SSSE: ``8424 0000`` / ``8424 0001`` after PUK authentication;
    PBOC: issuer script ``8424 0000`` / ``8424 0002``."""
    operation = "pin unblock" if new_pin is None else "pin reset"
    with Link(channel, f"{operation} ({_zone(zone)})") as link:
        if new_pin is not None:
            check_pin(new_pin, "new PIN", pin_lengths(zone))
        if zone == "ssse":
            ssse.unblock_pin(link, keys, new_pin)
        elif new_pin is None:
            _script(link, keys, bytes.fromhex("84240000"), "PIN UNBLOCK")
        else:
            _script(link, keys, bytes.fromhex("84240002"), "PIN CHANGE", new_pin=new_pin, mask=pin_block_mask)


def reset_pin(channel: Channel, zone: Zone, keys: IssuerKeys, new_pin: str, *,
              pin_block_mask: PinBlockMask = "none") -> None:
    """The issuer sets a new PIN (the holder forgot it) with a full try counter."""
    unblock_pin(channel, zone, keys, new_pin, pin_block_mask=pin_block_mask)


def block(channel: Channel, what: BlockTarget, zone: Zone, keys: IssuerKeys) -> None:
    """Block for good. ``"application"``: the zone's application (SSSE APPLICATION BLOCK,
    9303 afterwards; PBOC script 841E, SELECT answers 6283 and no transaction starts).
    ``"card"``: the whole card, through either zone's CARD BLOCK; every later command of
    the card answers 6A81."""
    if what not in ("application", "card"):
        raise ValueError(f"block what must be 'application' or 'card', not {what!r}")
    with Link(channel, f"block {what} ({_zone(zone)})") as link:
        if zone == "ssse":
            (ssse.block_application if what == "application" else ssse.block_card)(link, keys)
        elif what == "application":
            _script(link, keys, bytes.fromhex("841E0000"), "APPLICATION BLOCK")
        else:
            _script(link, keys, bytes.fromhex("84160000"), "CARD BLOCK", close=False)


def _script(link: Link, keys: IssuerKeys, header: bytes, what: str, *, old_pin: str | None = None,
            new_pin: str | None = None, mask: PinBlockMask = "none", close: bool = True) -> None:
    """One issuer script in its transaction (:class:`~personalize.terminal_pboc.IssuerTransaction`);
    after CARD BLOCK (``close=False``) the card answers nothing more, not even GENERATE AC."""
    txn = pboc.IssuerTransaction(link, keys)
    txn.start()
    if old_pin is not None:
        txn.verify_pin(old_pin)
    txn.authorize()
    txn.script(header, what, new_pin=new_pin, mask=mask)
    if close:
        txn.close()
