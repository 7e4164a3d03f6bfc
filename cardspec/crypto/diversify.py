"""Key diversification: one key per card, three levels (S9 §7.1.1, §7.2.1, §7.3).

national root --province factor--> provincial --city factor--> city --card factor--> card key

Factors (8 bytes each), from the region code (the first 3 BCD bytes of 卡识别码, EF05 tag
01, as 6 decimal digits) and the ATR historical bytes:

>>> province_factor("650100").hex().upper()
'3635303030307368'
>>> city_factor("650100").hex().upper()
'3635303130307378'
>>> card_factor(bytes.fromhex("00814A444686605199000001AC")).hex().upper()  # TR1 ATR
'86605199000001AC'

Child keys carry no parity adjustment: DES ignores parity bits, and the spec adjusts none.
"""
from __future__ import annotations

from cardspec.crypto import CryptoError
from cardspec.crypto.blockcipher import CARD_KEY_SIZE, Algorithm, check_bytes, check_length, encrypt_ecb

FACTOR_SIZE = 8
HISTORICAL_BYTES = 13
"""ATR historical bytes of a social-security card (S2 §8.3: T1…TD)."""


def _region(region_code: str) -> bytes:
    if not isinstance(region_code, str) or len(region_code) != 6 or not region_code.isascii() \
            or not region_code.isdigit():
        raise CryptoError(f"region code must be 6 decimal digits (e.g. '650100'), got {region_code!r}")
    return region_code.encode("ascii")


def province_factor(region_code: str) -> bytes:
    """Level-1 factor: the first 2 ASCII characters of the region code ‖ ``303030307368``."""
    return _region(region_code)[:2] + bytes.fromhex("303030307368")


def city_factor(region_code: str, *, zhejiang_rule: bool = False) -> bytes:
    """Level-2 factor: the 6 ASCII characters of the region code ‖ ``7378`` ("sx"), S9 §7.3.2.

    ``zhejiang_rule`` applies SC §10.3: for region codes starting "33" the factor is the
    first 2 bytes of the card ID as 4 ASCII characters ‖ ``30307378``, i.e. the district
    digits become "00". Other regions keep the S9 rule.

    >>> city_factor("330102").hex().upper(), city_factor("330102", zhejiang_rule=True).hex().upper()
    ('3333303130327378', '3333303130307378')
    >>> city_factor("650102", zhejiang_rule=True) == city_factor("650102")
    True
    """
    region = _region(region_code)
    if zhejiang_rule and region.startswith(b"33"):
        return region[:4] + bytes.fromhex("30307378")
    return region + bytes.fromhex("7378")


def card_factor(atr_historical: bytes) -> bytes:
    """Level-3 factor: ATR historical bytes 6-13 (T6-TD: manufacturer, region, serial).

    >>> card_factor(bytes.fromhex("3B6D000000814A444686605199000001AC"))
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: ATR historical bytes must be 13 bytes (T1-TD), got 17 (not the whole ATR)
    """
    hist = check_bytes("ATR historical bytes", atr_historical)
    if len(hist) != HISTORICAL_BYTES:
        raise CryptoError(
            f"ATR historical bytes must be {HISTORICAL_BYTES} bytes (T1-TD), got {len(hist)} (not the whole ATR)"
        )
    return hist[5:13]


def diversify_once(alg: Algorithm, parent_key: bytes, factor: bytes) -> bytes:
    """One diversification step: 16-byte child of a 16-byte parent.

    DES family (S9 §7.1.1 fig. 3): 3DES_K(f) ‖ 3DES_K(~f). SM4 (as SSF33, S9 §7.2.1
    fig. 8): SM4_K(f ‖ ~f).

    >>> k = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> diversify_once(Algorithm.TDES, k, city_factor("650100")).hex().upper()
    'EEB34CF179834826035EF2B0F042A0FF'
    >>> diversify_once(Algorithm.SM4, k, city_factor("650100")).hex().upper()
    'F68D95A283B78C1A31CC7CFDCE50809E'
    """
    parent = check_length(f"{alg.name} parent key", parent_key, (CARD_KEY_SIZE,))
    f = check_length("diversification factor", factor, (FACTOR_SIZE,))
    return encrypt_ecb(alg, parent, f + bytes(b ^ 0xFF for b in f))


def factors(region_code: str, atr_historical: bytes, *, zhejiang_rule: bool = False) -> list[bytes]:
    """The three factors, root to leaf: province, city, card."""
    return [
        province_factor(region_code),
        city_factor(region_code, zhejiang_rule=zhejiang_rule),
        card_factor(atr_historical),
    ]


def diversify(
    alg: Algorithm,
    master_key: bytes,
    region_code: str,
    atr_historical: bytes,
    levels: int = 3,
    *,
    zhejiang_rule: bool = False,
) -> bytes:
    """Card key from a root key: apply the last ``levels`` factors of province → city → card.

    ``levels`` is the PSAM's diversification count N (S9 §9.7.3, usage byte b8-b6): 3 from
    the national root, 2 from a provincial key, 1 from a city key, 0 returns the key.

    >>> city_key, hist = bytes(range(16)), bytes.fromhex("00814A444686605199000001AC")
    >>> (diversify(Algorithm.SM4, city_key, "519900", hist, levels=1)
    ...  == diversify_once(Algorithm.SM4, city_key, card_factor(hist)))
    True
    >>> diversify(Algorithm.SM4, city_key, "519900", hist, levels=4)
    Traceback (most recent call last):
    cardspec.crypto.CryptoError: diversification levels must be 0-3, got 4
    """
    key = diversify_to_region(alg, master_key, region_code, levels, zhejiang_rule=zhejiang_rule)
    return diversify_once(alg, key, card_factor(atr_historical)) if levels else key


def diversify_to_region(alg: Algorithm, master_key: bytes, region_code: str, levels: int = 3, *,
                        zhejiang_rule: bool = False) -> bytes:
    """The levels of :func:`diversify` above the card: the key every card of ``region_code``
    shares, from which one step with the card factor gives each card's key. A batch
    computes it once per region instead of once per card.

    >>> master, hist = bytes(range(16)), bytes.fromhex("00814A444686605199000001AC")
    >>> region_key = diversify_to_region(Algorithm.SM4, master, "650100")
    >>> diversify_once(Algorithm.SM4, region_key, card_factor(hist)) == diversify(Algorithm.SM4, master, "650100", hist)
    True
    """
    if not isinstance(levels, int) or not 0 <= levels <= 3:
        raise CryptoError(f"diversification levels must be 0-3, got {levels!r}")
    key = check_length(f"{alg.name} master key", master_key, (CARD_KEY_SIZE,))
    region_factors = (province_factor(region_code), city_factor(region_code, zhejiang_rule=zhejiang_rule))
    for factor in region_factors[3 - levels:]:
        key = diversify_once(alg, key, factor)
    return key
