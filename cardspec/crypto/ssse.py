"""Social-security (SSSE) formulas: session keys, authentication, MAC, data encryption.

Sources: S4 §8.2 (MAC), §8.3 (data encryption), §8.4 (session keys), §9.3 (auth data);
S5 §6.4/§6.7/§6.8 (EXTERNAL/INTERNAL AUTHENTICATE, PIN CHANGE/UNBLOCK); S7 §5.4, §6.5-6.6,
§13 (flows); S9 §7.1.5/§7.2.5 (session key from the card's current random).

Which random is which, read from the TR1 trace (SM4 card, card-side view):

* INTERNAL AUTHENTICATE ``0088 0000 10 ‖ procFactor(8) ‖ original(8)``: both come from the
  terminal (S7 §5.4: "random 1 makes the session key, random 2 the auth data"). TR1 took
  them from two GET CHALLENGEs, 1st = original ``DBF7A936D0D18C9E``, 2nd = procFactor
  ``32D9E876ADB31BBF``, sent ``0088000010 32D9…1BBF DBF7…8C9E`` and got ``F4A0CF965BDCEA30``
  = :func:`internal_auth_response` (IRK, procFactor, original).
* EXTERNAL AUTHENTICATE ``0082 00 KID 10 ‖ authData(8) ‖ original(8)``: the process factor
  is *not* in the command. The card uses its current random, i.e. the answer to the
  **last** GET CHALLENGE (S9 §7.1.5, S7 §6.6). TR1: 1st challenge ``E603E2CAADAF02B6``
  ("original", echoed in the command), 2nd ``98B4D293D091C331`` ("process factor", the
  card's current random), then ``0082000A10 774A08EDF447A1DE E603E2CAADAF02B6`` → 9000,
  i.e. ``774A…A1DE`` = :func:`external_auth_cryptogram` (RKSSSE, 98B4…C331, E603…02B6).
  "original" is any 8 terminal bytes (S7 §6.5); the card must not require it to equal
  an earlier challenge.
* Maintenance commands (8424, 841E, 8416, 04DC/04D6), S7 §13: GET CHALLENGE, then the
  MAC (and any encrypted data) under the session key derived from that challenge. TR1
  8424: challenge ``2AFD6A015D2D9BAC``, one HSM key address (0173 = STKSSSE) for the
  command ``8424000114`` and PIN 123456 → ``2BC1…F79F`` (16 bytes, PIN block) ‖
  ``FD937AA7`` (MAC). **sscard dialect:** :func:`wrap_command_data` therefore encrypts and
  MACs with the *same* session key SK = :func:`session_key` (STK, challenge), IV zero.

DES family: card keys are 16 bytes; session keys are single-length (8 bytes, S4 §8.4.1
figs. 7-8), so auth data, MAC and data encryption under a session key are single DES
(S4 §8.2.4.1 fig. 1 "single-length MAC key", §9.3.1 fig. 10). SM4: 16-byte keys throughout.

A full 8424 PIN reset on an SM4 card (Lc 14 = 16-byte PIN block + 4-byte MAC, S5 §6.8.3):

>>> stk, rnd = bytes(range(16)), bytes.fromhex("2AFD6A015D2D9BAC")
>>> data = wrap_command_data(Algorithm.SM4, stk, rnd, 0x84, 0x24, 0x00, 0x01, bytes.fromhex("123456"))
>>> len(data)
20
>>> unwrap_command_data(Algorithm.SM4, stk, rnd, 0x84, 0x24, 0x00, 0x01, data).hex()
'123456'
"""
from __future__ import annotations

import hmac

from cardspec.crypto import CryptoError, VerificationError
from cardspec.crypto.blockcipher import (
    CARD_KEY_SIZE,
    Algorithm,
    block_size,
    cbc_last_block,
    check_bytes,
    check_length,
    decrypt_ecb,
    encrypt_ecb,
    pad_80,
)

MAC_SIZE = 4
"""Length of every SSSE MAC (S4 §8.2.2)."""
AUTH_SIZE = 8
"""Length of authentication data and of the "original" input (S4 §9.1)."""


def _session_key_size(alg: Algorithm) -> int:
    return 8 if alg is Algorithm.TDES else 16


def session_key(alg: Algorithm, key: bytes, random: bytes) -> bytes:
    """Session (process) key from a card key and a random, S4 §8.4 / S9 §7.1.5, §7.2.5.

    DES family: SK = 3DES_K(rnd8), 8 bytes, used as a single-DES key; a 4-byte random is
    right-padded with ``00`` to 8. SM4: SK = SM4_K(rnd ‖ ``00``… to 16); the random is 4,
    8 or 16 bytes.

    >>> k = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> session_key(Algorithm.TDES, k, bytes.fromhex("11223344")) == \\
    ...     session_key(Algorithm.TDES, k, bytes.fromhex("1122334400000000"))
    True
    >>> session_key(Algorithm.TDES, k, bytes(16))
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: TDES session-key random must be 4 or 8 bytes, got 16
    """
    check_length(f"{alg.name} card key", key, (CARD_KEY_SIZE,))
    size = block_size(alg)
    sizes = (4, 8) if alg is Algorithm.TDES else (4, 8, 16)
    rnd = check_length(f"{alg.name} session-key random", random, sizes)
    return encrypt_ecb(alg, key, rnd + bytes(size - len(rnd)))


def auth_data(alg: Algorithm, session_key: bytes, original: bytes) -> bytes:
    """Authentication data (8 bytes) from a session key and the original data, S4 §9.3.

    DES family: DES_SK(original). SM4: R = SM4_SK(original ‖ 00×8), result R[:8] ⊕ R[8:].
    """
    sk = check_length(f"{alg.name} session key", session_key, (_session_key_size(alg),))
    orig = check_length("original data", original, (AUTH_SIZE,))
    if alg is Algorithm.TDES:
        return encrypt_ecb(alg, sk, orig)
    r = encrypt_ecb(alg, sk, orig + bytes(8))
    return bytes(a ^ b for a, b in zip(r[:8], r[8:]))


def internal_auth_response(alg: Algorithm, key: bytes, proc_factor: bytes, original: bytes) -> bytes:
    """Response to INTERNAL AUTHENTICATE ``0088 0000 10 ‖ procFactor ‖ original`` (S5 §6.7).

    = auth_data(session_key(K, procFactor), original); K is the IRK (key 00).
    """
    return auth_data(alg, session_key(alg, key, check_length("process factor", proc_factor, (8,))), original)


def external_auth_cryptogram(alg: Algorithm, key: bytes, challenge: bytes, original: bytes) -> bytes:
    """authData of EXTERNAL AUTHENTICATE ``0082 00 KID 10 ‖ authData ‖ original`` (S5 §6.4).

    ``challenge`` is the card's current random (its answer to the last GET CHALLENGE, 4, 8
    or 16 bytes); ``original`` is the 8 bytes sent after authData. Host and card alike call
    this; the card compares with :func:`verify_external_auth`.

    >>> k = bytes(range(16))
    >>> c = external_auth_cryptogram(Algorithm.TDES, k, bytes.fromhex("98B4D293D091C331"), bytes(8))
    >>> verify_external_auth(Algorithm.TDES, k, bytes.fromhex("98B4D293D091C331"), c, bytes(8))
    True
    """
    return auth_data(alg, session_key(alg, key, challenge), original)


def verify_external_auth(
    alg: Algorithm, key: bytes, challenge: bytes, cryptogram: bytes, original: bytes
) -> bool:
    """Card side of EXTERNAL AUTHENTICATE: does ``cryptogram`` match (constant-time)?"""
    expected = external_auth_cryptogram(alg, key, challenge, original)
    return hmac.compare_digest(expected, check_length("authentication data", cryptogram, (AUTH_SIZE,)))


def mac_input(cla: int, ins: int, p1: int, p2: int, data_without_mac: bytes = b"") -> bytes:
    """MAC input ``CLA INS P1 P2 Lc ‖ data``; Lc counts the 4 MAC bytes (S4 §8.2.4 note 1).

    >>> mac_input(0x84, 0x1E, 0x00, 0x01).hex().upper()
    '841E000104'
    >>> mac_input(0x84, 0x24, 0x00, 0x01, bytes(16)).hex().upper()[:10]
    '8424000114'
    """
    for name, value in (("CLA", cla), ("INS", ins), ("P1", p1), ("P2", p2)):
        if not 0 <= value <= 0xFF:
            raise CryptoError(f"mac_input: {name} {value} is not a byte")
    data = check_bytes("MAC input data", data_without_mac)
    lc = len(data) + MAC_SIZE
    if lc > 0xFF:
        raise CryptoError(f"mac_input: data of {len(data)} bytes + MAC exceeds Lc FF")
    return bytes((cla, ins, p1, p2, lc)) + data


def mac(alg: Algorithm, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """4-byte MAC, S4 §8.2.4: pad ``80 00…`` (method 2), CBC from IV (zero by default).

    DES family: ``key`` is the 8-byte session key, single-DES CBC (fig. 1); keep the
    first 4 bytes. SM4: 16-byte key, 16-byte CBC, the result XORed in 4-byte pieces
    (fig. 2). ``data`` is the whole MAC input, usually :func:`mac_input`.

    >>> mac(Algorithm.TDES, bytes(16), b"")
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: TDES MAC key must be 8 bytes, got 16
    """
    sk = check_length(f"{alg.name} MAC key", key, (_session_key_size(alg),))
    out = cbc_last_block(alg, sk, pad_80(data, block_size(alg)), iv)
    if alg is Algorithm.TDES:
        return out[:MAC_SIZE]
    folded = bytearray(MAC_SIZE)
    for i in range(0, len(out), MAC_SIZE):
        for j in range(MAC_SIZE):
            folded[j] ^= out[i + j]
    return bytes(folded)


def verify_mac(alg: Algorithm, key: bytes, data: bytes, expected: bytes, iv: bytes | None = None) -> bool:
    """Constant-time check of a received 4-byte MAC against :func:`mac`."""
    return hmac.compare_digest(mac(alg, key, data, iv), check_length("MAC", expected, (MAC_SIZE,)))


def command_mac(alg: Algorithm, key: bytes, challenge: bytes, header_and_data: bytes) -> bytes:
    """MAC of a maintenance command (S7 §13): SK = session_key(key, challenge), IV zero.

    ``key`` is the card key (STK for 841E/8416/8424, S9 appendix B), ``challenge`` the
    card's last GET CHALLENGE answer, ``header_and_data`` = :func:`mac_input` (…).

    >>> stk = bytes(range(16))
    >>> m = command_mac(Algorithm.TDES, stk, bytes(8), mac_input(0x84, 0x1E, 0x00, 0x01))
    >>> m == mac(Algorithm.TDES, session_key(Algorithm.TDES, stk, bytes(8)), bytes.fromhex("841E000104"))
    True
    """
    return mac(alg, session_key(alg, key, challenge), header_and_data)


def verify_command_mac(
    alg: Algorithm, key: bytes, challenge: bytes, header_and_data: bytes, expected: bytes
) -> bool:
    """Card side of :func:`command_mac` (constant-time)."""
    return verify_mac(alg, session_key(alg, key, challenge), header_and_data, expected)


def encrypt_data(alg: Algorithm, key: bytes, plaintext: bytes) -> bytes:
    """Encrypt ``LD ‖ plaintext ‖ 80 00…`` in ECB, S4 §8.3.2-8.3.3 (S9 §7.1.2 likewise).

    The ``80 00…`` padding is added only when ``LD ‖ plaintext`` is not block-aligned
    (S4 §8.3.3 step 3); LD is one byte, so plaintext is at most 255 bytes. SM4 needs
    LD ≥ 1 (§8.3.3.2); the DES family allows LD 0 (S5 §6.8.3: empty PIN). Key: DES
    family 8 bytes (session key, single DES) or 16 (3DES); SM4 16.

    >>> k = bytes(8)
    >>> len(encrypt_data(Algorithm.TDES, k, bytes.fromhex("123456"))), \\
    ...     len(encrypt_data(Algorithm.TDES, k, bytes(7)))
    (8, 8)
    >>> decrypt_ecb(Algorithm.TDES, k, encrypt_data(Algorithm.TDES, k, bytes.fromhex("123456"))).hex().upper()
    '0312345680000000'
    """
    plaintext = check_bytes("plaintext", plaintext)
    if len(plaintext) > 0xFF:
        raise CryptoError(f"plaintext of {len(plaintext)} bytes does not fit the 1-byte LD")
    if alg is Algorithm.SM4 and not plaintext:
        raise CryptoError("SM4 data encryption needs LD >= 1 (S4 §8.3.3.2)")
    block = bytes((len(plaintext),)) + plaintext
    if len(block) % block_size(alg):
        block = pad_80(block, block_size(alg))
    return encrypt_ecb(alg, key, block)


def decrypt_data(alg: Algorithm, key: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`encrypt_data`: decrypt, check LD and padding, return the plaintext.

    Raises :class:`CryptoError` when the length, LD or padding is not what
    :func:`encrypt_data` produces (the card answers 6A80 or 6988).

    >>> k = bytes(16)
    >>> decrypt_data(Algorithm.SM4, k, encrypt_data(Algorithm.SM4, k, b"PIN")).hex()
    '50494e'
    >>> decrypt_data(Algorithm.SM4, k, encrypt_ecb(Algorithm.SM4, k, bytes.fromhex("10") + bytes(15)))
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: decrypted LD 16 exceeds the 15 bytes that follow it
    """
    size = block_size(alg)
    ciphertext = check_bytes("encrypted data", ciphertext)
    if not ciphertext or len(ciphertext) % size:
        raise CryptoError(
            f"encrypted data must be a positive multiple of {size} bytes, got {len(ciphertext)}"
        )
    block = decrypt_ecb(alg, key, ciphertext)
    ld = block[0]
    if ld > len(block) - 1:
        raise CryptoError(f"decrypted LD {ld} exceeds the {len(block) - 1} bytes that follow it")
    if alg is Algorithm.SM4 and ld == 0:
        raise CryptoError("decrypted LD is 0; SM4 data encryption needs LD >= 1 (S4 §8.3.3.2)")
    used = 1 + ld
    tail = block[used:]
    expected_tail = b"" if used % size == 0 else b"\x80" + bytes(-(used + 1) % size)
    if tail != expected_tail:
        raise CryptoError(
            f"decrypted data of {len(block)} bytes does not end LD {ld} ‖ data with "
            f"{'no padding' if not expected_tail else f'80 and {len(expected_tail) - 1} zero bytes'}"
        )
    return block[1:used]


def wrap_command_data(
    alg: Algorithm,
    key: bytes,
    challenge: bytes,
    cla: int,
    ins: int,
    p1: int,
    p2: int,
    plaintext: bytes | None = None,
) -> bytes:
    """Data field of a protected maintenance command: [encrypt_data] ‖ MAC (sscard dialect).

    SK = session_key(key, challenge) encrypts ``plaintext`` (if given) and MACs
    ``CLA INS P1 P2 Lc ‖ ciphertext`` with IV zero; see the module docstring for why one
    key serves both. ``plaintext=None`` gives the MAC alone (841E, 8416, 8424 P2=00).
    """
    sk = session_key(alg, key, challenge)
    body = b"" if plaintext is None else encrypt_data(alg, sk, plaintext)
    return body + mac(alg, sk, mac_input(cla, ins, p1, p2, body))


def unwrap_command_data(
    alg: Algorithm,
    key: bytes,
    challenge: bytes,
    cla: int,
    ins: int,
    p1: int,
    p2: int,
    data: bytes,
) -> bytes | None:
    """Card side of :func:`wrap_command_data`: check the MAC, then decrypt the rest.

    Returns the plaintext, or ``None`` when the field is the MAC alone. Raises
    :class:`VerificationError` on a wrong MAC (checked first, before decryption) and
    :class:`CryptoError` on a malformed field or encrypted block.

    >>> k, rnd = bytes(range(16)), bytes(4)
    >>> field = wrap_command_data(Algorithm.TDES, k, rnd, 0x84, 0x1E, 0x00, 0x01)
    >>> unwrap_command_data(Algorithm.TDES, k, rnd, 0x84, 0x1E, 0x00, 0x01, field) is None
    True
    >>> unwrap_command_data(Algorithm.TDES, k, rnd, 0x84, 0x1E, 0x00, 0x00, field)
    Traceback (most recent call last):
    cardspec.crypto.VerificationError: MAC of 841E0000 does not verify
    """
    data = check_bytes("protected data field", data)
    if len(data) < MAC_SIZE:
        raise CryptoError(f"protected data field must hold at least the 4-byte MAC, got {len(data)} bytes")
    body, received = data[:-MAC_SIZE], data[-MAC_SIZE:]
    sk = session_key(alg, key, challenge)
    if not verify_mac(alg, sk, mac_input(cla, ins, p1, p2, body), received):
        raise VerificationError(f"MAC of {bytes((cla, ins, p1, p2)).hex().upper()} does not verify")
    return decrypt_data(alg, sk, body) if body else None
