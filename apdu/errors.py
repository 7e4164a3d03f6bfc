"""Exception types of the wire layer.

Every error a user can provoke derives from :class:`SSCardError`, so the CLI can
print it as one line and exit non-zero without a traceback.
"""


class SSCardError(Exception):
    """Base of every user-facing sscard error (printed as one line by the CLI)."""


class HexError(SSCardError, ValueError):
    """Malformed hexadecimal input; the message names the position."""


class APDUError(SSCardError, ValueError):
    """A command or response APDU that does not follow ISO 7816-4."""


class TLVError(SSCardError, ValueError):
    """Malformed BER-TLV, simple TLV or DOL data."""


class ScriptError(SSCardError):
    """A malformed APDU script line (the message names file and line)."""


class TransportError(SSCardError):
    """A transport could not deliver an APDU or reach the card."""


class ServiceUnavailable(TransportError):
    """The PC/SC service (pcscd) is not running."""


class NoSuchReader(TransportError):
    """The requested reader does not exist."""


class NoCard(TransportError):
    """The reader holds no card."""


class CardRemoved(TransportError):
    """The card was removed during the session."""


class ATRError(SSCardError, ValueError):
    """A malformed Answer-to-Reset (ISO 7816-3 §8); the message names the byte."""
