"""Block ciphers of the social-security spec: the DES family and SM4 (S4 §8, S9 §7.1-7.2).

The spec splits every formula by block size: "8-byte-block algorithms" (DES/3DES) and
"16-byte-block algorithms" (SSF33/SM4). :class:`Algorithm` names the two families sscard
implements; its values are the algorithm IDs carried in FCI tag 86 inside 9F0C (SC §10.1).

Keys: card keys are 16 bytes in both families. In the DES family a 16-byte key K1‖K2 is
3DES EDE2 (S4 §8.4.1 fig. 8, S9 §7.1.1 fig. 3) and an 8-byte key is single DES (the
"single-length" session keys of S4 §8.4.1 fig. 7); single DES runs as 3DES with K‖K‖K.
SM4 keys are 16 bytes (GB/T 32907).

Known answers (GB/T 32907-2016 appendix A example 1; FIPS 81 ECB example):

>>> key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
>>> sm4_encrypt(key, key).hex().upper()
'681EDF34D206965E86B3E94F536E4246'
>>> des_encrypt(bytes.fromhex("0123456789ABCDEF"), b"Now is t").hex().upper()
'3FA40E8A984D4815'
>>> encrypt_ecb(Algorithm.TDES, bytes.fromhex("0123456789ABCDEF") * 2, b"Now is t").hex().upper()
'3FA40E8A984D4815'
"""
from __future__ import annotations

import enum
from typing import Any

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cardspec.crypto import CryptoError

CARD_KEY_SIZE = 16
"""Length of every card key in both families (K1‖K2 for 3DES, one SM4 key)."""


class Algorithm(enum.Enum):
    """Block-algorithm family; the value is the FCI algorithm ID (``86 01 xx``, SC §10.1)."""

    TDES = 0x01
    SM4 = 0x03

    @classmethod
    def from_id(cls, alg_id: int) -> Algorithm:
        """The family for an FCI algorithm ID (01 DES/3DES, 03 SM4; 02 SSF33 is unsupported).

        >>> Algorithm.from_id(3)
        <Algorithm.SM4: 3>
        >>> Algorithm.from_id(2)
        Traceback (most recent call last):
        cardspec.crypto.CryptoError: algorithm ID 02 (SSF33) is not supported; known: 01 DES/3DES, 03 SM4
        """
        try:
            return cls(alg_id)
        except ValueError:
            name = " (SSF33)" if alg_id == 0x02 else ""
            raise CryptoError(
                f"algorithm ID {alg_id:02X}{name} is not supported; known: 01 DES/3DES, 03 SM4"
            ) from None


def block_size(alg: Algorithm) -> int:
    """Block length in bytes: 8 for the DES family, 16 for SM4.

    >>> block_size(Algorithm.TDES), block_size(Algorithm.SM4)
    (8, 16)
    """
    if alg is Algorithm.TDES:
        return 8
    if alg is Algorithm.SM4:
        return 16
    raise CryptoError(f"unknown algorithm {alg!r}")


def check_bytes(what: str, value: bytes) -> bytes:
    """Return ``value`` as bytes, or raise :class:`CryptoError` naming ``what`` if it is not bytes."""
    if not isinstance(value, (bytes, bytearray)):
        raise CryptoError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


def check_length(what: str, value: bytes, sizes: tuple[int, ...]) -> bytes:
    """Return ``value`` as bytes if its length is one of ``sizes``, else raise :class:`CryptoError`.

    >>> check_length("DES key", bytes(7), (8,))
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: DES key must be 8 bytes, got 7
    """
    value = check_bytes(what, value)
    if len(value) not in sizes:
        expected = " or ".join(str(s) for s in sizes)
        raise CryptoError(f"{what} must be {expected} bytes, got {len(value)}")
    return value


def _check_blocks(what: str, data: bytes, block: int) -> None:
    if len(check_bytes(what, data)) % block:
        raise CryptoError(f"{what} must be a multiple of {block} bytes, got {len(data)}")


def _cipher(alg: Algorithm, key: bytes, what: str, iv: bytes | None = None) -> Cipher[Any]:
    """ECB, or CBC from ``iv`` (OpenSSL chains the blocks)."""
    mode: modes.Mode = modes.ECB() if iv is None else modes.CBC(iv)
    if alg is Algorithm.TDES:
        k = check_length(what, key, (8, 16))
        return Cipher(TripleDES(k * 3 if len(k) == 8 else k + k[:8]), mode)
    if alg is Algorithm.SM4:
        return Cipher(algorithms.SM4(check_length(what, key, (16,))), mode)
    raise CryptoError(f"unknown algorithm {alg!r}")


def encrypt_ecb(alg: Algorithm, key: bytes, data: bytes) -> bytes:
    """Encrypt whole blocks in ECB (DES family: 8-byte key = DES, 16-byte key = 3DES EDE2).

    >>> encrypt_ecb(Algorithm.SM4, bytes(16), bytes(15))
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: encrypt_ecb data must be a multiple of 16 bytes, got 15
    """
    _check_blocks("encrypt_ecb data", data, block_size(alg))
    enc = _cipher(alg, key, f"{alg.name} key").encryptor()
    return enc.update(bytes(data)) + enc.finalize()


def decrypt_ecb(alg: Algorithm, key: bytes, data: bytes) -> bytes:
    """Decrypt whole blocks in ECB; the inverse of :func:`encrypt_ecb`.

    >>> k = bytes(range(16))
    >>> decrypt_ecb(Algorithm.TDES, k, encrypt_ecb(Algorithm.TDES, k, b"ABCDEFGH")) == b"ABCDEFGH"
    True
    """
    _check_blocks("decrypt_ecb data", data, block_size(alg))
    dec = _cipher(alg, key, f"{alg.name} key").decryptor()
    return dec.update(bytes(data)) + dec.finalize()


def des_encrypt(key8: bytes, data: bytes) -> bytes:
    """Single DES, ECB over 8-byte blocks (FIPS 46-3); ``key8`` is 8 bytes."""
    check_length("DES key", key8, (8,))
    return encrypt_ecb(Algorithm.TDES, key8, data)


def des_decrypt(key8: bytes, data: bytes) -> bytes:
    """Single DES decryption, ECB over 8-byte blocks."""
    check_length("DES key", key8, (8,))
    return decrypt_ecb(Algorithm.TDES, key8, data)


def tdes_encrypt(key16: bytes, data: bytes) -> bytes:
    """3DES EDE2 (E_K1 D_K2 E_K1, SP 800-67 keying option 2), ECB over 8-byte blocks.

    With K1 = K2 it is single DES:

    >>> k = bytes.fromhex("0123456789ABCDEF")
    >>> tdes_encrypt(k + k, b"Now is t") == des_encrypt(k, b"Now is t")
    True
    >>> tdes_encrypt(k, b"Now is t")
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: 3DES key must be 16 bytes, got 8
    """
    check_length("3DES key", key16, (16,))
    return encrypt_ecb(Algorithm.TDES, key16, data)


def tdes_decrypt(key16: bytes, data: bytes) -> bytes:
    """3DES EDE2 decryption (D_K1 E_K2 D_K1), ECB over 8-byte blocks."""
    check_length("3DES key", key16, (16,))
    return decrypt_ecb(Algorithm.TDES, key16, data)


def sm4_encrypt(key16: bytes, data: bytes) -> bytes:
    """SM4 (GB/T 32907-2016), ECB over 16-byte blocks."""
    return encrypt_ecb(Algorithm.SM4, key16, data)


def sm4_decrypt(key16: bytes, data: bytes) -> bytes:
    """SM4 decryption, ECB over 16-byte blocks.

    >>> key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> sm4_decrypt(key, bytes.fromhex("681EDF34D206965E86B3E94F536E4246")) == key
    True
    """
    return decrypt_ecb(Algorithm.SM4, key16, data)


def cbc_last_block(alg: Algorithm, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """Last block of CBC encryption (the raw CBC-MAC); ``data`` is already padded, IV zero.

    >>> k = bytes.fromhex("0123456789ABCDEF")
    >>> cbc_last_block(Algorithm.TDES, k, b"Now is t") == des_encrypt(k, b"Now is t")
    True
    """
    block = block_size(alg)
    _check_blocks("CBC data", data, block)
    if not data:
        raise CryptoError("CBC data is empty")
    return encrypt_cbc(alg, key, data, iv)[-block:]


def encrypt_cbc(alg: Algorithm, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """CBC encryption of whole blocks (ISO/IEC 10116), IV zero unless given; no padding.

    >>> k = bytes.fromhex("0123456789ABCDEF") * 2
    >>> c = encrypt_cbc(Algorithm.TDES, k, b"Now is the time ")
    >>> c[:8] == encrypt_ecb(Algorithm.TDES, k, b"Now is t")
    True
    >>> c[8:] == cbc_last_block(Algorithm.TDES, k, b"Now is the time ")
    True
    """
    block = block_size(alg)
    _check_blocks("CBC data", data, block)
    chain = check_length("CBC IV", bytes(block) if iv is None else iv, (block,))
    enc = _cipher(alg, key, f"{alg.name} key", bytes(chain)).encryptor()
    return enc.update(bytes(data)) + enc.finalize()


def decrypt_cbc(alg: Algorithm, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """CBC decryption of whole blocks; the inverse of :func:`encrypt_cbc`.

    >>> k = bytes(range(16))
    >>> decrypt_cbc(Algorithm.SM4, k, encrypt_cbc(Algorithm.SM4, k, bytes(32))) == bytes(32)
    True
    """
    block = block_size(alg)
    _check_blocks("CBC data", data, block)
    chain = check_length("CBC IV", bytes(block) if iv is None else iv, (block,))
    dec = _cipher(alg, key, f"{alg.name} key", bytes(chain)).decryptor()
    return dec.update(bytes(data)) + dec.finalize()


def pad_80(data: bytes, block: int) -> bytes:
    """ISO/IEC 9797-1 padding method 2: append ``80``, then ``00`` up to a block multiple.

    A full block of padding is added when ``data`` is already aligned (S4 §8.2.4 step 4).

    >>> pad_80(bytes.fromhex("0102"), 8).hex().upper()
    '0102800000000000'
    >>> len(pad_80(bytes(8), 8))
    16
    """
    if block not in (8, 16):
        raise CryptoError(f"padding block must be 8 or 16 bytes, got {block}")
    padded = check_bytes("data to pad", data) + b"\x80"
    return padded + bytes(-len(padded) % block)


def unpad_80(data: bytes, block: int) -> bytes:
    """Remove ISO/IEC 9797-1 method-2 padding; raise :class:`CryptoError` if it is malformed.

    >>> unpad_80(bytes.fromhex("0102800000000000"), 8).hex()
    '0102'
    >>> unpad_80(bytes.fromhex("0102000000000000"), 8)
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: padding: no 80 marker in the last 8 bytes
    """
    if block not in (8, 16):
        raise CryptoError(f"padding block must be 8 or 16 bytes, got {block}")
    data = check_bytes("padded data", data)
    if not data or len(data) % block:
        raise CryptoError(f"padding: length {len(data)} is not a positive multiple of {block}")
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= block:
        raise CryptoError(f"padding: no 80 marker in the last {block} bytes")
    return stripped[:-1]


def kcv(alg: Algorithm, key: bytes) -> bytes:
    """Key check value: the first 3 bytes of E_K(zero block), safe to show instead of a key.

    >>> kcv(Algorithm.TDES, bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")).hex().upper()
    '08D7B4'
    """
    return encrypt_ecb(alg, key, bytes(block_size(alg)))[:3]


def mac_iso9797_1_alg3(key16: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC"), padding method 2, IV zero by default.

    Single-DES CBC with K1 over every block, then D_K2 and E_K1 on the last output. This
    is the PBOC/EMV application cryptogram; pboc.md vector A (UDK-derived SK, ATC 000E):

    >>> sk = bytes.fromhex("C3D3F062E9992B4E923D338D66193526")
    >>> data = bytes.fromhex("0000000012340000000000340156D86004A80001561205160101010101"
    ...                      "7C00" "000E" "03A4B904")
    >>> mac_iso9797_1_alg3(sk, data).hex().upper()
    'F294D7022FA9B058'
    """
    key = check_length("retail-MAC key", key16, (16,))
    k1, k2 = key[:8], key[8:]
    chained = cbc_last_block(Algorithm.TDES, k1, pad_80(data, 8), iv)
    return des_encrypt(k1, des_decrypt(k2, chained))
