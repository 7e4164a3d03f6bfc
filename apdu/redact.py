"""Which command data is secret, so traces and logs can hide it.

Redacted by default: VERIFY (PINs), CHANGE REFERENCE DATA / CHANGE PIN, RESET RETRY
COUNTER, the social-security PIN reset ``8424``, key loading in sscard's
pre-personalization dialect, and CPS STORE DATA blocks that carry encrypted DGIs.

>>> is_secret(bytes.fromhex("0020000003123456"))
True
>>> command_hex(bytes.fromhex("0020000003123456"), sep=" ")
'00 20 00 00 03 ****** (3 secret bytes)'
>>> is_secret(bytes.fromhex("00B2070400"))
False
"""
from __future__ import annotations

from typing import Callable

# (CLA mask, CLA value, INS): commands whose data field is always secret.
_SECRET_INS: set[int] = {
    0x20,  # VERIFY
    0x24,  # CHANGE REFERENCE DATA (and PBOC PIN CHANGE/UNBLOCK 8424)
    0x2C,  # RESET RETRY COUNTER
    0x5E,  # social-security CHANGE PIN 805E
}
_RULES: list[Callable[[bytes], bool]] = []


def register_secret_rule(rule: Callable[[bytes], bool]) -> None:
    """Higher layers add rules (e.g. key loading, STORE DATA with encrypted DGIs)."""
    _RULES.append(rule)


def is_secret(apdu: bytes) -> bool:
    if len(apdu) <= 5:
        return False
    if apdu[1] in _SECRET_INS:
        return True
    return any(rule(apdu) for rule in _RULES)


def _store_data_encrypted(apdu: bytes) -> bool:
    # GlobalPlatform STORE DATA: P1 b6-b5 = 11 marks encrypted data (CPS DGIs 8000-8FFF)
    return apdu[1] == 0xE2 and apdu[0] & 0x80 == 0x80 and apdu[2] & 0x60 == 0x60


def _key_load(apdu: bytes) -> bool:
    # sscard pre-personalization dialect: WRITE KEY 80D4 / 84D4 and GP PUT KEY 80D8
    return apdu[0] & 0xF0 == 0x80 and apdu[1] in (0xD4, 0xD8)


register_secret_rule(_store_data_encrypted)
register_secret_rule(_key_load)


def command_hex(apdu: bytes, *, sep: str = "", show_secrets: bool = False) -> str:
    """Hex of a C-APDU for traces and logs, with secret data replaced by ``*``.

    The header and Lc stay visible, so a reader of the trace still knows what was sent.
    """
    if show_secrets or not is_secret(apdu):
        return apdu.hex(sep).upper() if sep else apdu.hex().upper()
    head = apdu[:5].hex(sep).upper() if sep else apdu[:5].hex().upper()
    return f"{head}{sep}{'*' * 6} ({len(apdu) - 5} secret bytes)"
