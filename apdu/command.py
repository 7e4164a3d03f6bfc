"""Command APDUs (ISO 7816-4 §5.1): cases 1-4, short and extended length, and CLA.

>>> c = CommandAPDU.parse(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF"))
>>> c.case, c.lc, c.le
(3, 15, None)
>>> CommandAPDU(0x00, 0xB2, 0x07, 0x04, le=0).to_bytes().hex().upper()
'00B2070400'
>>> CommandAPDU.parse(bytes.fromhex("00A40400050102"))
Traceback (most recent call last):
apdu.errors.APDUError: Lc=05 but 2 data bytes follow
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import APDUError

SHORT_MAX = 256
EXTENDED_MAX = 65536


@dataclass(frozen=True)
class ClassByte:
    """Decoded CLA byte (ISO 7816-4 §5.4.1).

    >>> ClassByte.decode(0x0C)
    ClassByte(raw=12, proprietary=False, chaining=False, secure_messaging=3, channel=0)
    >>> ClassByte.decode(0x84).proprietary, ClassByte.decode(0x84).secure_messaging
    (True, 1)
    >>> ClassByte.decode(0x45).channel
    9
    """

    raw: int
    proprietary: bool
    chaining: bool
    secure_messaging: int  # 0 none, 1 proprietary, 2 ISO header not authenticated, 3 ISO header authenticated
    channel: int

    @classmethod
    def decode(cls, cla: int) -> "ClassByte":
        if cla == 0xFF:
            raise APDUError("CLA=FF is invalid (reserved for PPS)")
        proprietary = bool(cla & 0x80)
        if cla & 0x40:  # further interindustry class: channels 4-19
            return cls(cla, proprietary, bool(cla & 0x10), 3 if cla & 0x20 else 0, 4 + (cla & 0x0F))
        return cls(cla, proprietary, bool(cla & 0x10), (cla >> 2) & 0x03, cla & 0x03)

    def describe(self) -> str:
        parts = ["proprietary" if self.proprietary else "interindustry", f"channel {self.channel}"]
        if self.chaining:
            parts.append("chained (not last)")
        sm = {0: "", 1: "proprietary SM", 2: "ISO SM", 3: "ISO SM, header authenticated"}[self.secure_messaging]
        if sm:
            parts.append(sm)
        return ", ".join(parts)


@dataclass(frozen=True)
class CommandAPDU:
    """One command APDU. ``le`` is None when absent; ``le=0`` means 'up to 256' (or 65536 extended)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    extended: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if not (0 <= self.cla <= 0xFF and 0 <= self.ins <= 0xFF and 0 <= self.p1 <= 0xFF and 0 <= self.p2 <= 0xFF):
            for name in ("cla", "ins", "p1", "p2"):
                value = getattr(self, name)
                if not 0 <= value <= 0xFF:
                    raise APDUError(f"{name.upper()}={value} is not a byte")
        if len(self.data) > EXTENDED_MAX - 1:
            raise APDUError(f"{len(self.data)} data bytes exceed the extended maximum of 65535")
        if self.le is not None and not 0 <= self.le <= 0xFFFF:
            raise APDUError(f"Le={self.le} out of range")

    # --- properties -------------------------------------------------------
    @property
    def lc(self) -> int:
        return len(self.data)

    @property
    def case(self) -> int:
        """ISO case: 1 no data no Le, 2 Le only, 3 data only, 4 data and Le."""
        return (3 if self.data else 1) + (1 if self.le is not None else 0)

    @property
    def ne(self) -> int | None:
        """Expected response length in bytes (Le=0 decoded to 256 or 65536)."""
        if self.le is None:
            return None
        if self.le == 0:
            return EXTENDED_MAX if self.is_extended else SHORT_MAX
        return self.le

    @property
    def is_extended(self) -> bool:
        return self.extended or len(self.data) > 255 or (self.le is not None and self.le > 256)

    @property
    def header(self) -> bytes:
        return bytes((self.cla, self.ins, self.p1, self.p2))

    @property
    def cla_info(self) -> ClassByte:
        return ClassByte.decode(self.cla)

    def replace(self, **changes) -> "CommandAPDU":
        values = dict(cla=self.cla, ins=self.ins, p1=self.p1, p2=self.p2, data=self.data, le=self.le,
                      extended=self.extended)
        values.update(changes)
        return CommandAPDU(**values)

    # --- codec -------------------------------------------------------------
    def to_bytes(self) -> bytes:
        out = bytearray(self.header)
        if not self.is_extended:
            if self.data:
                out.append(len(self.data))
                out += self.data
            if self.le is not None:
                out.append(self.le & 0xFF if self.le != 256 else 0)
            return bytes(out)
        if self.data:
            out += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
            if self.le is not None:
                out += (self.le & 0xFFFF).to_bytes(2, "big")
        elif self.le is not None:
            out += b"\x00" + (self.le & 0xFFFF).to_bytes(2, "big")
        return bytes(out)

    __bytes__ = to_bytes

    @classmethod
    def _parsed(cls, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None,
                extended: bool = False) -> "CommandAPDU":
        """An instance without ``__post_init__``'s range checks, for :meth:`parse` only: its
        fields come from bytes and length fields, so they are in range by construction
        (a frozen dataclass's ``__init__`` costs more than the whole parse; cards parse
        every command)."""
        cmd = object.__new__(cls)
        fields = cmd.__dict__
        fields["cla"], fields["ins"], fields["p1"], fields["p2"] = cla, ins, p1, p2
        fields["data"], fields["le"], fields["extended"] = data, le, extended
        return cmd

    @classmethod
    def parse(cls, raw: bytes) -> "CommandAPDU":
        """Strict parse; the error says exactly what is inconsistent."""
        n = len(raw)
        if n < 4:
            raise APDUError(f"APDU too short: {n} bytes, a header needs 4")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        if cla == 0xFF:
            raise APDUError("CLA=FF is invalid (reserved for PPS)")
        make = cls._parsed
        if n == 4:
            return make(cla, ins, p1, p2)
        if n == 5:
            return make(cla, ins, p1, p2, le=raw[4])
        lc = raw[4]
        if lc != 0:
            if n == 5 + lc:
                return make(cla, ins, p1, p2, data=bytes(raw[5:]))
            if n == 6 + lc:
                return make(cla, ins, p1, p2, data=bytes(raw[5:5 + lc]), le=raw[5 + lc])
            raise APDUError(f"Lc={lc:02X} but {n - 5} data bytes follow")
        # Lc byte 00 and more bytes: extended length
        body = raw[4:]
        if len(body) == 3:
            return make(cla, ins, p1, p2, le=int.from_bytes(body[1:3], "big"), extended=True)
        if len(body) < 3:
            raise APDUError(f"extended length needs 3 bytes after the header, got {len(body)}")
        lc = int.from_bytes(body[1:3], "big")
        if lc == 0:
            raise APDUError("extended Lc=0000 is invalid")
        rest = body[3:]
        if len(rest) == lc:
            return make(cla, ins, p1, p2, data=bytes(rest), extended=True)
        if len(rest) == lc + 2:
            return make(cla, ins, p1, p2, data=bytes(rest[:lc]), le=int.from_bytes(rest[lc:], "big"), extended=True)
        raise APDUError(f"extended Lc={lc:04X} but {len(rest)} data bytes follow")

    def __str__(self) -> str:
        return self.to_bytes().hex(" ").upper()
