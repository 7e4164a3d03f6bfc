"""Host side of an SCP02 secure channel with the card's issuer security domain, and the
CPS personalization commands sent through it (GP Card Spec 2.2 Appendix E, ``i`` = 15;
EMV CPS; pboc.md §2.3).

The caller SELECTs the ISD first; ``transmit`` sends one C-APDU and returns data ‖ SW
(``Channel.transmit`` of a channel with the default processors, so 61xx is followed):

1. :meth:`Scp02Session.open`: INITIALIZE UPDATE ``8050 kv 00 08 host-challenge 00``, then
   the card cryptogram is checked *before* anything else goes out: a mismatch raises
   ``card cryptogram mismatch: wrong KMC or key version?`` and sends no EXTERNAL
   AUTHENTICATE, so the card's sequence counter is not spent and nothing is retried.
   Then EXTERNAL AUTHENTICATE ``8482 SL 00 10 host-cryptogram C-MAC``.
2. :meth:`Scp02Session.send`: any command, C-MAC'd (CLA | 04, ICV chained), its data
   enciphered with S-ENC at security level 03.
3. :meth:`Scp02Session.install_for_personalization` names the target application;
   :meth:`Scp02Session.store_data` sends its DGIs: plaintext and DEK-encrypted DGIs in
   separate commands (P1 60 for the latter), at most :data:`~cardspec.cps.MAX_BLOCK`
   data bytes a command, P2 counting from 00, P1 b8 on the last one. A plaintext DGI
   longer than a block continues in the next one; an encrypted one must fit one block.

The static keys are given as ``(enc, mac, dek)``, or as a function of the KDD the card
answers (e.g. ``IssuerKeys.scp02_card_keys``: the KMC diversified by EMV CPS). Key
bytes never appear in messages.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from secrets import token_bytes
from typing import Union

from apdu.command import CommandAPDU
from apdu.errors import APDUError, SSCardError
from apdu.response import ResponseAPDU
from apdu.sw import describe
from cardspec.cps import MAX_BLOCK, P1_ENCRYPTED, P1_LAST, DgiStreamError, encode_dgi, install_for_personalization_data
from cardspec.crypto import CryptoError
from cardspec.crypto.scp02 import (I15, ZERO_ICV, InitUpdateResponse, SessionKeys, encrypt_dek, host_cryptogram,
                                   next_icv, verify_card_cryptogram, wrap_command)
from cardspec.pboc import is_encrypted

__all__ = ["Scp02Error", "Scp02Session", "StaticKeys", "KeySource", "Transmit", "SECURITY_LEVELS", "encrypt_dek_dgi",
           "store_data_blocks"]

StaticKeys = tuple[bytes, bytes, bytes]  #: the card's static ENC, MAC, DEK
KeySource = Union[StaticKeys, Callable[[bytes], StaticKeys]]  #: the keys, or KDD -> the keys
Transmit = Callable[[bytes], bytes]
SECURITY_LEVELS = {0x01: "C-MAC", 0x03: "C-DECRYPTION and C-MAC"}


class Scp02Error(SSCardError):
    """The secure channel or a command through it failed. ``sw`` is the card's status word
    (None when the host refused); ``keys_rejected`` marks a failure every card would
    repeat with these keys (wrong KMC or key version)."""

    def __init__(self, message: str, *, sw: int | None = None, keys_rejected: bool = False) -> None:
        super().__init__(message)
        self.sw = sw
        self.keys_rejected = keys_rejected


def _answered(what: str, sw: int) -> str:
    return f"{what} answered {sw:04X} ({describe(sw)})"


class Scp02Session:
    """One secure channel to the ISD (see the module notes)."""

    def __init__(self, transmit: Transmit, keys: KeySource, security_level: int = 0x01, *,
                 key_version: int = 0x00, random: Callable[[int], bytes] = token_bytes) -> None:
        if security_level not in SECURITY_LEVELS:
            raise Scp02Error(f"security level {security_level:#04x}: use 01 (C-MAC) or 03 (C-DECRYPTION and C-MAC)")
        if not 0 <= key_version <= 0xFF:
            raise Scp02Error(f"key version {key_version!r} is not a byte")
        self._transmit, self._keys_from = transmit, keys
        self.security_level, self.key_version, self._random = security_level, key_version, random
        self._session: SessionKeys | None = None
        self._icv = ZERO_ICV
        self._block: int | None = None  #: next STORE DATA P2; None before INSTALL [for personalization]
        self.card: InitUpdateResponse | None = None  #: the last INITIALIZE UPDATE answer (KDD, KVN, counter)

    def __repr__(self) -> str:
        return f"Scp02Session(level {self.security_level:02X}, {'open' if self.is_open else 'closed'})"

    @property
    def is_open(self) -> bool:
        return self._session is not None

    def close(self) -> None:
        """Forget the session keys (the card ends its side at the next SELECT or reset)."""
        self._session, self._icv, self._block = None, ZERO_ICV, None

    # --- opening ---------------------------------------------------------------------------
    def _exchange(self, apdu: bytes, what: str) -> ResponseAPDU:
        try:
            return ResponseAPDU.parse(self._transmit(apdu))
        except APDUError as exc:
            raise Scp02Error(f"{what}: {exc}") from None

    def _static_keys(self, kdd: bytes) -> StaticKeys:
        keys = self._keys_from(kdd) if callable(self._keys_from) else self._keys_from
        if len(keys) != 3 or any(not isinstance(k, bytes) or len(k) != 16 for k in keys):
            raise Scp02Error("SCP02 static keys must be three 16-byte keys (ENC, MAC, DEK)")
        return keys

    def open(self, host_challenge: bytes | None = None) -> InitUpdateResponse:
        """INITIALIZE UPDATE, card cryptogram check, EXTERNAL AUTHENTICATE; the card's answer."""
        self.close()
        challenge = self._random(8) if host_challenge is None else bytes(host_challenge)
        if len(challenge) != 8:
            raise Scp02Error(f"host challenge must be 8 bytes, got {len(challenge)}")
        iu = self._exchange(CommandAPDU(0x80, 0x50, self.key_version, 0x00, challenge, le=0).to_bytes(),
                            "INITIALIZE UPDATE")
        if iu.sw != 0x9000:
            raise Scp02Error(_answered("INITIALIZE UPDATE", iu.sw), sw=iu.sw, keys_rejected=iu.sw == 0x6A88)
        try:
            card = InitUpdateResponse.parse(iu.data)
        except CryptoError as exc:
            raise Scp02Error(str(exc)) from None
        self.card = card
        where = (f"KDD {card.kdd.hex().upper()}, key version {card.kvn:02X}, "
                 f"sequence counter {card.sequence_counter.hex().upper()}")
        if self.key_version and card.kvn != self.key_version:
            raise Scp02Error(f"the card answered key version {card.kvn:02X}, {self.key_version:02X} was asked"
                             f" ({where})", keys_rejected=True)
        enc, mac, dek = self._static_keys(card.kdd)
        keys = SessionKeys.derive(enc, mac, dek, card.sequence_counter)
        if not verify_card_cryptogram(keys.enc, challenge, card.sequence_counter, card.card_challenge,
                                      card.card_cryptogram):
            raise Scp02Error(f"card cryptogram mismatch: wrong KMC or key version? ({where}); "
                             "EXTERNAL AUTHENTICATE not sent", keys_rejected=True)
        cryptogram = host_cryptogram(keys.enc, card.sequence_counter, card.card_challenge, challenge)
        apdu, c_mac = wrap_command(keys.c_mac, bytes((0x80, 0x82, self.security_level, 0x00, 8)) + cryptogram,
                                   ZERO_ICV, I15)
        ea = self._exchange(apdu, "EXTERNAL AUTHENTICATE")
        if ea.sw != 0x9000:
            raise Scp02Error(_answered("EXTERNAL AUTHENTICATE", ea.sw) + f" ({where})", sw=ea.sw)
        self._session, self._icv = keys, next_icv(keys.c_mac, c_mac, I15)
        return card

    # --- commands in the session -------------------------------------------------------------
    def send(self, apdu: bytes) -> ResponseAPDU:
        """``apdu`` (plain, CLA without b3) C-MAC'd and, at level 03, its data enciphered."""
        keys = self._session
        if keys is None:
            raise Scp02Error("no SCP02 session: call open() first")
        try:
            wrapped, c_mac = wrap_command(keys.c_mac, bytes(apdu), self._icv, I15,
                                          keys.enc if self.security_level == 0x03 else None)
        except CryptoError as exc:
            raise Scp02Error(str(exc)) from None
        self._icv = next_icv(keys.c_mac, c_mac, I15)
        response = self._exchange(wrapped, f"{bytes(apdu[:4]).hex().upper()}")
        if response.sw == 0x6982:  # the card closed the session
            self.close()
        return response

    def _command(self, apdu: bytes, what: str) -> bytes:
        response = self.send(apdu)
        if response.sw != 0x9000:
            raise Scp02Error(_answered(what, response.sw), sw=response.sw)
        return response.data

    def install_for_personalization(self, aid: bytes) -> None:
        """INSTALL [for personalization] ``80E6 2000``: the next STORE DATA go to ``aid``."""
        try:
            data = install_for_personalization_data(bytes(aid))
        except DgiStreamError as exc:
            raise Scp02Error(str(exc)) from None
        self._command(CommandAPDU(0x80, 0xE6, 0x20, 0x00, data, le=0).to_bytes(),
                      f"INSTALL [for personalization] {bytes(aid).hex().upper()}")
        self._block = 0

    def store_data(self, dgis: Sequence[tuple[int, bytes]], encrypted: Collection[int] | None = None, *,
                   last: bool = True) -> int:
        """STORE DATA ``dgis`` (plaintext values) to the target; returns the commands sent.

        ``encrypted``: the DGIs to DEK-encrypt (default: those in 8000-8FFF, which must
        be among them); each must be a multiple of 8 bytes. ``last``: flag the final
        command as the application's last block.
        """
        keys = self._session
        if keys is None:
            raise Scp02Error("no SCP02 session: call open() first")
        if self._block is None:
            raise Scp02Error("STORE DATA needs a target: call install_for_personalization() first")
        secret = {d for d, _ in dgis if is_encrypted(d)} if encrypted is None else set(encrypted)
        plain_keys = sorted({d for d, _ in dgis if is_encrypted(d)} - secret)
        if plain_keys:
            raise Scp02Error(f"DGI {plain_keys[0]:04X} (8000-8FFF) must be DEK-encrypted")
        blocks = store_data_blocks([(d, encrypt_dek_dgi(keys.dek, d, v) if d in secret else bytes(v), d in secret)
                          for d, v in dgis])
        for i, (is_secret, data, names) in enumerate(blocks):
            if self._block > 0xFF:
                raise Scp02Error("STORE DATA: more than 256 blocks for one application")
            p1 = (P1_ENCRYPTED if is_secret else 0x00) | (P1_LAST if last and i == len(blocks) - 1 else 0x00)
            self._command(CommandAPDU(0x80, 0xE2, p1, self._block, data).to_bytes(),
                          f"STORE DATA block {self._block:02X} (DGIs {names})")
            self._block += 1
        if last:
            self._block = None
        return len(blocks)


def encrypt_dek_dgi(dek: bytes, dgi: int, value: bytes) -> bytes:
    """DGI ``dgi``'s data 3DES-ECB enciphered with the session DEK (no padding is added:
    CPS data such as the ICC key components come padded already)."""
    try:
        return encrypt_dek(dek, bytes(value))
    except CryptoError as exc:
        raise Scp02Error(f"DGI {dgi:04X}: {exc}") from None


def store_data_blocks(items: Sequence[tuple[int, bytes, bool]]) -> list[tuple[bool, bytes, str]]:
    """STORE DATA data fields for ``(DGI, data as sent, encrypted)`` items, in order, as
    ``(encrypted, data field, DGI names)``: at most :data:`~cardspec.cps.MAX_BLOCK` bytes,
    runs of one kind share blocks, a plaintext DGI longer than a block is continued.

    >>> [(enc, len(data), names) for enc, data, names in store_data_blocks(
    ...     [(0x0101, bytes(200), False), (0x0102, bytes(100), False), (0x8000, bytes(48), True)])]
    [(False, 203, '0101'), (False, 103, '0102'), (True, 51, '8000')]
    """
    blocks: list[tuple[bool, bytearray, list[str]]] = []
    for dgi, value, secret in items:
        try:
            encoded = encode_dgi(dgi, value)
        except DgiStreamError as exc:
            raise Scp02Error(str(exc)) from None
        name = f"{dgi:04X}"
        current = blocks[-1] if blocks and blocks[-1][0] == secret else None
        if current is not None and len(current[1]) + len(encoded) <= MAX_BLOCK:
            current[1].extend(encoded)
            current[2].append(name)
            continue
        if secret and len(encoded) > MAX_BLOCK:
            raise Scp02Error(f"DGI {name}: {len(encoded)} encrypted bytes do not fit one STORE DATA"
                             f" ({MAX_BLOCK} at most)")
        if len(encoded) <= MAX_BLOCK or current is None or MAX_BLOCK - len(current[1]) < len(encoded) - len(value):
            current = (secret, bytearray(), [])
            blocks.append(current)
        while encoded:  # a long plaintext DGI: fill this block, continue in the next ones
            room = MAX_BLOCK - len(current[1])
            current[1].extend(encoded[:room])
            current[2].append(name)
            encoded = encoded[room:]
            if encoded:
                current = (secret, bytearray(), [])
                blocks.append(current)
    return [(secret, bytes(data), " ".join(names)) for secret, data, names in blocks]
