"""Response APDUs: data plus SW1 SW2.

>>> r = ResponseAPDU.parse(bytes.fromhex("6F10840E9000"))
>>> r.sw, r.data.hex()
(36864, '6f10840e')
>>> str(ResponseAPDU.parse(b"\\x63\\xC5"))
'63C5 (verification failed, 5 tries left)'
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import APDUError
from .sw import describe


@dataclass(frozen=True)
class ResponseAPDU:
    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        return (self.sw1 << 8) | self.sw2

    @classmethod
    def parse(cls, raw: bytes) -> "ResponseAPDU":
        if len(raw) < 2:
            raise APDUError(f"response too short: {len(raw)} bytes, SW1 SW2 need 2")
        return cls(bytes(raw[:-2]), raw[-2], raw[-1])

    @classmethod
    def of(cls, sw: int, data: bytes = b"") -> "ResponseAPDU":
        return cls(data, sw >> 8, sw & 0xFF)

    def to_bytes(self) -> bytes:
        return self.data + bytes((self.sw1, self.sw2))

    __bytes__ = to_bytes

    def __str__(self) -> str:
        head = f"{self.data.hex(' ').upper()} " if self.data else ""
        return f"{head}{self.sw:04X} ({describe(self.sw)})"
