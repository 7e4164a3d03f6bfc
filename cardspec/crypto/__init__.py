"""Card cryptography: pure bytes-in/bytes-out functions shared by card and host.

``blockcipher`` holds the raw algorithms, ``ssse`` the social-security formulas of S4
(session keys, authentication data, MAC, data encryption) and ``diversify`` the
three-level key diversification of S9 §7.3. Nothing here logs or prints key bytes.
"""
from apdu.errors import SSCardError


class CryptoError(SSCardError, ValueError):
    """Unusable crypto input: wrong key, block or random length, bad padding or LD.

    Messages name the function, the argument and the lengths, never key bytes.
    """


class VerificationError(CryptoError):
    """A MAC or cryptogram did not match (the card answers 63Cx, 9302 or 6988)."""
