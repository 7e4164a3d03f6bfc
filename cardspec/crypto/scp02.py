"""GlobalPlatform SCP02 (GP Card Specification 2.2, Appendix E; Appendix B.1 algorithms).

Pure functions shared by the card (security domain) and the host (personalization tool),
from Appendix E.4: session keys, card/host authentication cryptograms, C-MAC with ICV
chaining, C-DECRYPTION, DEK encryption of sensitive data; plus the KMC diversification of
the static keys (EMV CPS and VISA2 templates, as GlobalPlatformPro names them).

The ``i`` parameter (:class:`Options`) names the variant; PBOC issuance runs ``i=15`` or
``i=55``: 3 base keys, C-MAC on the *modified* APDU (CLA b3 set, Lc + 8), explicit
initiation, ICV zero for the first C-MAC, each later ICV = DES_K1(previous C-MAC) with K1
the left half of S-MAC. ``55`` adds the well-known pseudo-random card challenge, whose
generation is not implemented (no test vector found); a card with ``i=15`` may answer any
6-byte challenge, and a host verifies the challenge only through the card cryptogram.

A host opens the channel (numbers of osmocom/pysim tests/unittests/test_globalplatform.py):

>>> keys = SessionKeys.derive(bytes.fromhex("100102030405060708090A0B0C0D0E0F"),
...                           bytes.fromhex("101102030405060708090A0B0C0D0E0F"),
...                           bytes.fromhex("102102030405060708090A0B0C0D0E0F"), bytes.fromhex("0001"))
>>> iu = InitUpdateResponse.parse(bytes.fromhex("00000000000000000000700200016B4524ABEE7CF32EA3838BC148F3"))
>>> host_chal = bytes.fromhex("40A62C37FA6304F8")
>>> verify_card_cryptogram(keys.enc, host_chal, iu.sequence_counter, iu.card_challenge, iu.card_cryptogram)
True
>>> hc = host_cryptogram(keys.enc, iu.sequence_counter, iu.card_challenge, host_chal)
>>> apdu, mac = wrap_command(keys.c_mac, bytes.fromhex("8082010008") + hc, ZERO_ICV)
>>> apdu.hex().upper()
'8482010010BA6961667737C5BCEBECE14C7D6A4376'
>>> wrap_command(keys.c_mac, bytes.fromhex("80F22002"), next_icv(keys.c_mac, mac))[0].hex().upper()
'84F220020814DB34FA4341DCA8'
"""
from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass

from apdu.command import CommandAPDU
from apdu.errors import APDUError
from cardspec.crypto import CryptoError, VerificationError
from cardspec.crypto.blockcipher import (
    Algorithm,
    cbc_last_block,
    check_bytes,
    check_length,
    decrypt_cbc,
    des_encrypt,
    encrypt_cbc,
    kcv,
    mac_iso9797_1_alg3,
    pad_80,
    tdes_decrypt,
    tdes_encrypt,
    unpad_80,
)

KEY_SIZE = 16
MAC_SIZE = 8
ZERO_ICV = bytes(8)
"""ICV of the first C-MAC of a session, the one of EXTERNAL AUTHENTICATE (E.4)."""

CONST_C_MAC = bytes.fromhex("0101")
CONST_R_MAC = bytes.fromhex("0102")
CONST_S_ENC = bytes.fromhex("0182")
CONST_DEK = bytes.fromhex("0181")
"""Session-key derivation constants (E.4): C-MAC, R-MAC, S-ENC, DEK."""

CLA_SM = 0x04
"""CLA bit b3: secure messaging (GP proprietary), set on every C-MAC'd command."""


def _key(what: str, key: bytes) -> bytes:
    return check_length(what, key, (KEY_SIZE,))


@dataclass(frozen=True)
class Options:
    """The SCP02 ``i`` parameter (GP 2.2 Appendix E.1, "SCP02 options"), one bit each.

    >>> Options.from_i(0x55).pseudo_random_challenge, Options.from_i(0x15).icv_encryption
    (True, True)
    >>> Options.from_i(0x1D)
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: SCP02 i=1D: ICV = MAC over the AID (b4) is not supported
    """

    i: int

    @classmethod
    def from_i(cls, i: int) -> Options:
        """Decode ``i``; raise :class:`CryptoError` for variants this module does not implement."""
        if not 0 <= i <= 0x7F:
            raise CryptoError(f"SCP02 i={i:#x} is not a 7-bit option byte")
        if not i & 0x04:
            raise CryptoError(f"SCP02 i={i:02X}: implicit initiation (b3=0) is not supported")
        if i & 0x08:
            raise CryptoError(f"SCP02 i={i:02X}: ICV = MAC over the AID (b4) is not supported")
        return cls(i)

    @property
    def three_keys(self) -> bool:
        """b1: three base keys (ENC, MAC, DEK); else one base key for all session keys."""
        return bool(self.i & 0x01)

    @property
    def mac_on_unmodified(self) -> bool:
        """b2: C-MAC over the APDU as it was before CLA b3 and Lc + 8 were applied."""
        return bool(self.i & 0x02)

    @property
    def icv_encryption(self) -> bool:
        """b5: each ICV after the first is the previous C-MAC enciphered with DES under S-MAC K1."""
        return bool(self.i & 0x10)

    @property
    def r_mac(self) -> bool:
        """b6: R-MAC supported (this module derives the R-MAC key but computes no R-MAC)."""
        return bool(self.i & 0x20)

    @property
    def pseudo_random_challenge(self) -> bool:
        """b7: the card challenge follows the well-known pseudo-random algorithm."""
        return bool(self.i & 0x40)


I15 = Options.from_i(0x15)
I55 = Options.from_i(0x55)


# --- keys --------------------------------------------------------------------------------

def derive_session_key(static_key: bytes, sequence_counter: bytes, constant: bytes) -> bytes:
    """Session key (E.4 "DES session keys"): 3DES-CBC_key(constant ‖ counter ‖ ``00``×12), IV zero.

    GlobalPlatformPro TestPlaintextKeys: key 404142…4F, counter 0000 → S-ENC check value F2DCDD.

    >>> k = bytes.fromhex("404142434445464748494A4B4C4D4E4F")
    >>> kcv(Algorithm.TDES, derive_session_key(k, bytes(2), CONST_S_ENC)).hex().upper()
    'F2DCDD'
    """
    if check_bytes("derivation constant", constant) not in (CONST_C_MAC, CONST_R_MAC, CONST_S_ENC, CONST_DEK):
        raise CryptoError(f"derivation constant {constant.hex().upper()} is not 0101, 0102, 0181 or 0182")
    data = constant + check_length("sequence counter", sequence_counter, (2,)) + bytes(12)
    return encrypt_cbc(Algorithm.TDES, _key("SCP02 static key", static_key), data)


@dataclass(frozen=True, repr=False)
class SessionKeys:
    """The four session keys of one channel; ``repr`` shows check values only."""

    enc: bytes
    c_mac: bytes
    r_mac: bytes
    dek: bytes

    @classmethod
    def derive(cls, enc: bytes, mac: bytes, dek: bytes, sequence_counter: bytes) -> SessionKeys:
        """From the static keys (ENC, MAC, DEK); for a one-key variant (``i`` b1=0) pass it thrice."""
        return cls(derive_session_key(enc, sequence_counter, CONST_S_ENC),
                   derive_session_key(mac, sequence_counter, CONST_C_MAC),
                   derive_session_key(mac, sequence_counter, CONST_R_MAC),
                   derive_session_key(dek, sequence_counter, CONST_DEK))

    def __repr__(self) -> str:
        kcvs = ", ".join(f"{n}=KCV {kcv(Algorithm.TDES, getattr(self, n)).hex().upper()}"
                         for n in ("enc", "c_mac", "r_mac", "dek"))
        return f"SessionKeys({kcvs})"


class KeyType(enum.IntEnum):
    """Key-type byte of the diversification data (EMV CPS): ENC 01, MAC 02, DEK 03."""

    ENC = 1
    MAC = 2
    DEK = 3


def _diversify(kmc: bytes, six: bytes, key_type: KeyType) -> bytes:
    kt = KeyType(key_type)
    return tdes_encrypt(_key("KMC", kmc), six + bytes((0xF0, kt)) + six + bytes((0x0F, kt)))


def diversify_emv(kmc: bytes, kdd: bytes, key_type: KeyType) -> bytes:
    """EMV CPS card key: 3DES_KMC(KDD[4:10] ‖ F0 ‖ type) ‖ 3DES_KMC(KDD[4:10] ‖ 0F ‖ type).

    ``kdd`` is the 10-byte key diversification data, INITIALIZE UPDATE response bytes 1-10.
    No parity adjustment (a check value does not see parity). GlobalPlatformPro
    TestPlaintextKeys, template "emv", KMC 404142…4F, KDD 00010203040506070809:

    >>> kmc, kdd = bytes.fromhex("404142434445464748494A4B4C4D4E4F"), bytes(range(10))
    >>> kcv(Algorithm.TDES, diversify_emv(kmc, kdd, KeyType.ENC)).hex().upper()
    'C33013'
    """
    return _diversify(kmc, check_length("KDD", kdd, (10,))[4:10], key_type)


def diversify_visa2(kmc: bytes, kdd: bytes, key_type: KeyType) -> bytes:
    """VISA2 card key: the :func:`diversify_emv` pattern on KDD[0:2] ‖ KDD[4:8].

    >>> kmc, kdd = bytes.fromhex("404142434445464748494A4B4C4D4E4F"), bytes(range(10))
    >>> kcv(Algorithm.TDES, diversify_visa2(kmc, kdd, KeyType.ENC)).hex().upper()
    '2BE598'
    """
    kdd = check_length("KDD", kdd, (10,))
    return _diversify(kmc, kdd[0:2] + kdd[4:8], key_type)


# --- INITIALIZE UPDATE and the cryptograms ---------------------------------------------------

@dataclass(frozen=True)
class InitUpdateResponse:
    """INITIALIZE UPDATE response data (E.5): KDD(10) KVN SCP-ID(02) counter(2) challenge(6) cryptogram(8)."""

    kdd: bytes
    kvn: int
    sequence_counter: bytes
    card_challenge: bytes
    card_cryptogram: bytes

    @classmethod
    def parse(cls, data: bytes) -> InitUpdateResponse:
        """Parse the 28 data bytes (without SW).

        >>> InitUpdateResponse.parse(bytes(27))
        Traceback (most recent call last):
        cardspec.crypto.CryptoError: INITIALIZE UPDATE response must be 28 bytes, got 27
        """
        data = check_length("INITIALIZE UPDATE response", data, (28,))
        if data[11] != 0x02:
            raise CryptoError(f"INITIALIZE UPDATE response: SCP identifier {data[11]:02X} at byte 12,"
                              " expected 02")
        return cls(data[0:10], data[10], data[12:14], data[14:20], data[20:28])

    def to_bytes(self) -> bytes:
        """The 28 data bytes the card sends."""
        return (check_length("KDD", self.kdd, (10,)) + bytes((self.kvn, 0x02))
                + check_length("sequence counter", self.sequence_counter, (2,))
                + check_length("card challenge", self.card_challenge, (6,))
                + check_length("card cryptogram", self.card_cryptogram, (8,)))


def _full_mac(s_enc: bytes, data: bytes) -> bytes:
    return cbc_last_block(Algorithm.TDES, _key("S-ENC", s_enc), pad_80(data, 8))


def card_cryptogram(s_enc: bytes, host_challenge: bytes, sequence_counter: bytes,
                    card_challenge: bytes) -> bytes:
    """Card authentication cryptogram (E.4): full 3DES MAC (B.1.2.1) with S-ENC over host challenge ‖
    counter ‖ card challenge, padding method 2, ICV zero."""
    return _full_mac(s_enc, check_length("host challenge", host_challenge, (8,))
                     + check_length("sequence counter", sequence_counter, (2,))
                     + check_length("card challenge", card_challenge, (6,)))


def host_cryptogram(s_enc: bytes, sequence_counter: bytes, card_challenge: bytes,
                    host_challenge: bytes) -> bytes:
    """Host authentication cryptogram (E.4): as :func:`card_cryptogram`, over counter ‖ card
    challenge ‖ host challenge."""
    return _full_mac(s_enc, check_length("sequence counter", sequence_counter, (2,))
                     + check_length("card challenge", card_challenge, (6,))
                     + check_length("host challenge", host_challenge, (8,)))


def verify_card_cryptogram(s_enc: bytes, host_challenge: bytes, sequence_counter: bytes,
                           card_challenge: bytes, received: bytes) -> bool:
    """Host side: constant-time check of the card cryptogram of INITIALIZE UPDATE."""
    return hmac.compare_digest(card_cryptogram(s_enc, host_challenge, sequence_counter, card_challenge),
                               check_length("card cryptogram", received, (8,)))


def verify_host_cryptogram(s_enc: bytes, sequence_counter: bytes, card_challenge: bytes,
                           host_challenge: bytes, received: bytes) -> bool:
    """Card side: constant-time check of the host cryptogram of EXTERNAL AUTHENTICATE."""
    return hmac.compare_digest(host_cryptogram(s_enc, sequence_counter, card_challenge, host_challenge),
                               check_length("host cryptogram", received, (8,)))


# --- C-MAC, C-DECRYPTION, DEK ------------------------------------------------------------------

def c_mac(s_mac: bytes, mac_input: bytes, icv: bytes) -> bytes:
    """C-MAC (E.4): single DES plus final 3DES (B.1.2.2, ISO 9797-1 alg. 3), padding 2.

    ``mac_input`` comes from :func:`c_mac_input`; ``icv`` is :data:`ZERO_ICV` for the first
    command, then :func:`next_icv` of the previous C-MAC.
    """
    return mac_iso9797_1_alg3(_key("S-MAC", s_mac), check_bytes("C-MAC input", mac_input),
                              check_length("ICV", icv, (8,)))


def next_icv(s_mac: bytes, previous_mac: bytes, options: Options = I15) -> bytes:
    """ICV for the next C-MAC: the previous C-MAC, DES-enciphered under S-MAC K1 when ``i`` b5 is set."""
    previous_mac = check_length("previous C-MAC", previous_mac, (MAC_SIZE,))
    if options.icv_encryption:
        return des_encrypt(_key("S-MAC", s_mac)[:8], previous_mac)
    return previous_mac


def _short(command: bytes) -> CommandAPDU:
    try:
        cmd = CommandAPDU.parse(check_bytes("command APDU", command))
    except APDUError as exc:
        raise CryptoError(f"SCP02: {exc}") from None
    if cmd.is_extended:
        raise CryptoError("SCP02 wraps short APDUs only; this one is extended")
    return cmd


def c_mac_input(cla: int, ins: int, p1: int, p2: int, data: bytes, options: Options = I15) -> bytes:
    """Header ‖ Lc ‖ plaintext data the C-MAC covers (Lc present even when 00).

    Modified APDU (``i`` b2=0): CLA with b3 set and Lc + 8; unmodified: CLA and Lc as sent
    by the application before wrapping (CLA b3 clear).

    >>> c_mac_input(0x80, 0xF2, 0x20, 0x02, b"").hex().upper()
    '84F2200208'
    """
    data = check_bytes("command data", data)
    if len(data) + MAC_SIZE > 255:
        raise CryptoError(f"SCP02: {len(data)} data bytes do not fit a short APDU once wrapped")
    if options.mac_on_unmodified:
        return bytes((cla & ~CLA_SM, ins, p1, p2, len(data))) + data
    return bytes((cla | CLA_SM, ins, p1, p2, len(data) + MAC_SIZE)) + data


def wrap_command(s_mac: bytes, command: bytes, icv: bytes, options: Options = I15,
                 s_enc: bytes | None = None) -> tuple[bytes, bytes]:
    """Host side: the C-MAC'd APDU and its C-MAC (keep it for :func:`next_icv`).

    The MAC covers the plaintext. With ``s_enc`` (security level 03) a non-empty data field
    is then padded (method 2, always) and 3DES-CBC enciphered with S-ENC, IV zero (E.4,
    C-DECRYPTION).
    Le, when present, stays last.

    >>> s_mac = bytes(range(16))
    >>> apdu, mac = wrap_command(s_mac, bytes.fromhex("80CA006600"), ZERO_ICV)
    >>> apdu[:5].hex().upper(), apdu[5:13] == mac, apdu[13:].hex()
    ('84CA006608', True, '00')
    """
    cmd = _short(command)
    if cmd.cla & CLA_SM:
        raise CryptoError(f"SCP02: CLA {cmd.cla:02X} already has the secure-messaging bit b3")
    data = cmd.data
    if s_enc is not None and data:
        data = pad_80(data, 8)
    if len(data) + MAC_SIZE > 255:
        raise CryptoError(f"SCP02: {len(cmd.data)} data bytes do not fit a short APDU once wrapped")
    mac = c_mac(s_mac, c_mac_input(cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data, options), icv)
    if s_enc is not None and data:
        data = encrypt_cbc(Algorithm.TDES, _key("S-ENC", s_enc), data)
    wrapped = CommandAPDU(cmd.cla | CLA_SM, cmd.ins, cmd.p1, cmd.p2, data + mac, cmd.le)
    return wrapped.to_bytes(), mac


def unwrap_command(s_mac: bytes, wrapped: bytes, icv: bytes, options: Options = I15,
                   s_enc: bytes | None = None) -> tuple[bytes, bytes]:
    """Card side of :func:`wrap_command`: the plain APDU (CLA b3 cleared) and the checked C-MAC.

    Raises :class:`VerificationError` on a wrong C-MAC (the card answers 6982) and
    :class:`CryptoError` on a malformed APDU.

    >>> s_mac = bytes(range(16))
    >>> apdu, mac = wrap_command(s_mac, bytes.fromhex("80E2800003010203"), ZERO_ICV)
    >>> unwrap_command(s_mac, apdu, ZERO_ICV)[0].hex().upper()
    '80E2800003010203'
    >>> unwrap_command(s_mac, apdu, next_icv(s_mac, mac))
    Traceback (most recent call last):
    cardspec.crypto.VerificationError: C-MAC of 84E28000 does not verify
    """
    cmd = _short(wrapped)
    if not cmd.cla & CLA_SM or len(cmd.data) < MAC_SIZE:
        raise CryptoError(f"SCP02: {cmd.header.hex().upper()} carries no C-MAC "
                          f"(CLA b3 {'set' if cmd.cla & CLA_SM else 'clear'}, {len(cmd.data)} data bytes)")
    data, mac = cmd.data[:-MAC_SIZE], cmd.data[-MAC_SIZE:]
    if s_enc is not None and data:
        data = unpad_80(decrypt_cbc(Algorithm.TDES, _key("S-ENC", s_enc), data), 8)
    expected = c_mac(s_mac, c_mac_input(cmd.cla, cmd.ins, cmd.p1, cmd.p2, data, options), icv)
    if not hmac.compare_digest(expected, mac):
        raise VerificationError(f"C-MAC of {cmd.header.hex().upper()} does not verify")
    return CommandAPDU(cmd.cla & ~CLA_SM, cmd.ins, cmd.p1, cmd.p2, data, cmd.le).to_bytes(), mac


def encrypt_dek(dek: bytes, data: bytes) -> bytes:
    """Sensitive data (keys of STORE DATA DGI 8000/8010, PUT KEY): 3DES-ECB (E.4, B.1.1).

    Under SCP02 the key is the DEK *session* key (``SessionKeys.dek``). GlobalPlatformPro
    TestPlaintextKeys: key 404142…4F under the session DEK of 404142…4F, counter 0000:

    >>> k = bytes.fromhex("404142434445464748494A4B4C4D4E4F")
    >>> encrypt_dek(derive_session_key(k, bytes(2), CONST_DEK), k).hex().upper()
    'EFBEE6C6D99D7B70BDE9D7E927F020AF'
    """
    data = check_bytes("DEK-encrypted data", data)
    if not data or len(data) % 8:
        raise CryptoError(f"DEK-encrypted data must be a positive multiple of 8 bytes, got {len(data)}")
    return tdes_encrypt(_key("DEK", dek), data)


def decrypt_dek(dek: bytes, data: bytes) -> bytes:
    """Card side of :func:`encrypt_dek`."""
    data = check_bytes("DEK-encrypted data", data)
    if not data or len(data) % 8:
        raise CryptoError(f"DEK-encrypted data must be a positive multiple of 8 bytes, got {len(data)}")
    return tdes_decrypt(_key("DEK", dek), data)
