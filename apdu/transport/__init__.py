"""Transports: one small protocol (connect, ATR, reset, transmit, disconnect).

- :mod:`.virtual` wraps any in-process card object;
- :mod:`.pcsc` talks to a reader through pyscard and pcscd;
- :mod:`.channel` layers processors (GET RESPONSE, Le correction, chaining) and tracing on top.
"""
from .base import Card, Transport

__all__ = ["Card", "Transport"]
