"""The wire layer: bytes, APDU codecs, TLV, status words, scripts and transports.

Nothing here knows about social-security cards; higher layers build on it.
"""
