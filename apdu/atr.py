"""Answer-to-Reset: parse, describe and build (ISO/IEC 7816-3 §8).

The social-security card answers ``3B 6x 00 00`` + 13 historical bytes: T=0 only,
TB1 = TC1 = 00, no TCK (ssse.md §6, S2 §8.2-8.4):

>>> atr = parse_atr(bytes.fromhex("3B6D0000 0081 4A4446 8660 5199 000001AC"))
>>> atr.protocols, atr.historical.hex().upper(), atr.tck, atr.tck_required
((0,), '00814A444686605199000001AC', None, False)
>>> build_atr(atr.historical) == atr.raw
True
>>> ssc_historical(atr.historical)["region"]
'5199'

vpcd's default ATR (PC/SC part 3, pcsc-vpcd.md) offers T=0 then T=1, so TCK is required:

>>> vpcd = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
>>> parse_atr(vpcd).protocols, hex(parse_atr(vpcd).tck), parse_atr(vpcd).tck_correct
((0, 1), '0x6a', True)
>>> build_atr(vpcd[4:-1], protocols=("T=0", "T=1"), tb1=None, tc1=None) == vpcd
True
>>> parse_atr(bytes.fromhex("3B6D0000 0081 4A4446 8660 5199"))
Traceback (most recent call last):
apdu.errors.ATRError: ATR truncated: T0 announces 13 historical bytes, 9 present
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import reduce
from typing import Any, Sequence

from .errors import ATRError
from .sw import describe as describe_sw

MAX_LENGTH = 33  # TS + at most 32 bytes (ISO 7816-3 §8.2.1)

# ISO/IEC 7816-3 table 7: FI -> (Fi, f(max) in MHz); table 8: DI -> Di. Missing keys are RFU.
_FI: dict[int, tuple[int, float]] = {
    0x0: (372, 4), 0x1: (372, 5), 0x2: (558, 6), 0x3: (744, 8), 0x4: (1116, 12), 0x5: (1488, 16),
    0x6: (1860, 20), 0x9: (512, 5), 0xA: (768, 7.5), 0xB: (1024, 10), 0xC: (1536, 15), 0xD: (2048, 20),
}
_DI: dict[int, int] = {0x1: 1, 0x2: 2, 0x3: 4, 0x4: 8, 0x5: 16, 0x6: 32, 0x7: 64, 0x8: 12, 0x9: 20}
_NAMES = ("TA", "TB", "TC", "TD")


@dataclass(frozen=True)
class InterfaceGroup:
    """Interface bytes TAi TBi TCi TDi of group ``index`` (None when absent).

    ``after`` is the protocol T announced by TD(i-1), the one that TAi/TBi/TCi
    belong to for i >= 3 (None for group 1).
    """

    index: int
    after: int | None
    ta: int | None = None
    tb: int | None = None
    tc: int | None = None
    td: int | None = None

    def items(self) -> list[tuple[str, int]]:
        """The present bytes in transmission order: ``[("TB", 0x00), ("TC", 0x00)]``."""
        values = (self.ta, self.tb, self.tc, self.td)
        return [(name, v) for name, v in zip(_NAMES, values) if v is not None]


@dataclass(frozen=True)
class ATR:
    """A structurally valid ATR (see :func:`parse_atr`); ``tck`` is None when absent."""

    raw: bytes
    groups: tuple[InterfaceGroup, ...]
    historical: bytes
    tck: int | None

    @property
    def ts(self) -> int:
        return self.raw[0]

    @property
    def t0(self) -> int:
        return self.raw[1]

    @property
    def convention(self) -> str:
        return "direct" if self.ts == 0x3B else "inverse"

    @property
    def indicated(self) -> tuple[int, ...]:
        """Every T announced by TD1, TD2, ... in order (T=15 included)."""
        return tuple(g.td & 0x0F for g in self.groups if g.td is not None)

    @property
    def protocols(self) -> tuple[int, ...]:
        """Offered protocols, first (the default without PPS) first; (0,) when TD1 is absent."""
        offered: list[int] = []
        for t in self.indicated:
            if t != 15 and t not in offered:
                offered.append(t)
        return tuple(offered) or (0,)

    @property
    def tck_required(self) -> bool:
        """TCK must be present unless only T=0 is indicated (ISO 7816-3 §8.2.5)."""
        return any(t != 0 for t in self.indicated)

    @property
    def tck_correct(self) -> bool | None:
        """True when T0 XOR ... XOR TCK is 0; None when TCK is absent."""
        return None if self.tck is None else _xor(self.raw[1:]) == 0

    def interface_byte(self, name: str, i: int) -> int | None:
        """``atr.interface_byte("TC", 1)``: the byte, or None when absent."""
        if name not in _NAMES:
            raise ValueError(f"interface byte name must be one of {', '.join(_NAMES)}, not {name!r}")
        if not 1 <= i <= len(self.groups):
            return None
        return getattr(self.groups[i - 1], name.lower())

    @property
    def interface(self) -> dict[str, int]:
        """All interface bytes by name in order: ``{"TB1": 0, "TC1": 0}``."""
        return {f"{name}{g.index}": v for g in self.groups for name, v in g.items()}

    @property
    def is_ssc(self) -> bool:
        """The social-security form: ``3B 6D 00 00`` + 13 historical bytes, no TCK."""
        g = self.groups[0]
        return (self.ts == 0x3B and self.t0 >> 4 == 0x6 and g.tb == 0 and g.tc == 0
                and len(self.historical) == 13 and self.tck is None)

    @property
    def problems(self) -> tuple[str, ...]:
        """Deviations from ISO 7816-3 that do not prevent parsing (wrong TCK, order, length)."""
        found = list(_structure_problems(self))
        if self.tck is not None:
            if not self.tck_correct:
                found.append(f"TCK={self.tck:02X} is wrong: it should be {_xor(self.raw[1:-1]):02X}")
            if not self.tck_required:
                found.append("TCK present although only T=0 is offered (ISO 7816-3 §8.2.5: absent)")
        return tuple(found)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (hex strings at the edge)."""
        return {
            "atr": self.raw.hex().upper(),
            "ts": f"{self.ts:02X}",
            "convention": self.convention,
            "t0": f"{self.t0:02X}",
            "interface": {k: f"{v:02X}" for k, v in self.interface.items()},
            "protocols": [f"T={t}" for t in self.protocols],
            "historical": self.historical.hex().upper(),
            "tck": None if self.tck is None else f"{self.tck:02X}",
            "tck_required": self.tck_required,
            "tck_correct": self.tck_correct,
            "problems": list(self.problems),
            "ssc": ssc_historical(self.historical) if self.is_ssc else None,
            "lines": describe_atr(self),
        }


def _xor(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def parse_atr(atr: bytes) -> ATR:
    """Parse an ATR; :class:`ATRError` names a bad TS, a missing byte or extra bytes.

    >>> parse_atr(bytes.fromhex("3B E0 00"))
    Traceback (most recent call last):
    apdu.errors.ATRError: ATR truncated: T0=E0 announces TC(1), the ATR ends after 3 bytes
    >>> parse_atr(bytes.fromhex("3B 80 01"))
    Traceback (most recent call last):
    apdu.errors.ATRError: ATR truncated: TCK missing (required because T=1 is indicated)
    """
    raw = bytes(atr)
    if not raw:
        raise ATRError("ATR empty")
    if raw[0] not in (0x3B, 0x3F):
        raise ATRError(f"bad TS={raw[0]:02X}: expected 3B (direct convention) or 3F (inverse convention)")
    if len(raw) < 2:
        raise ATRError("ATR truncated: T0 missing after TS")
    pos, y, announcer = 2, raw[1] >> 4, f"T0={raw[1]:02X}"
    groups: list[InterfaceGroup] = []
    after: int | None = None
    while True:
        i = len(groups) + 1
        values: dict[str, int] = {}
        for bit, name in enumerate(_NAMES):
            if y & (1 << bit):
                if pos >= len(raw):
                    raise ATRError(f"ATR truncated: {announcer} announces {name}({i}), "
                                   f"the ATR ends after {len(raw)} bytes")
                values[name.lower()] = raw[pos]
                pos += 1
        group = InterfaceGroup(i, after, **values)
        groups.append(group)
        if group.td is None:
            break
        after, y, announcer = group.td & 0x0F, group.td >> 4, f"TD({i})={group.td:02X}"
    k = raw[1] & 0x0F
    if len(raw) - pos < k:
        raise ATRError(f"ATR truncated: T0 announces {k} historical bytes, {len(raw) - pos} present")
    historical, rest = raw[pos:pos + k], raw[pos + k:]
    if len(rest) > 1:
        raise ATRError(f"{len(rest)} bytes follow the {k} historical bytes; only TCK (1 byte) may")
    result = ATR(raw, tuple(groups), historical, rest[0] if rest else None)
    if not rest and result.tck_required:
        other = next(t for t in result.indicated if t != 0)
        raise ATRError(f"ATR truncated: TCK missing (required because T={other} is indicated)")
    return result


def protocols_of(atr: bytes | ATR) -> set[int]:
    """The protocols an ATR offers: ``{0}``, ``{1}`` or ``{0, 1}``.

    >>> sorted(protocols_of(bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")))
    [0, 1]
    """
    parsed = atr if isinstance(atr, ATR) else parse_atr(atr)
    return set(parsed.protocols)


def _structure_problems(atr: ATR) -> list[str]:
    found = []
    if len(atr.raw) > MAX_LENGTH:
        found.append(f"ATR is {len(atr.raw)} bytes long; ISO 7816-3 allows at most {MAX_LENGTH}")
    if atr.indicated[:1] == (15,):
        found.append("TD(1) indicates T=15, which ISO 7816-3 does not allow in TD(1)")
    if list(atr.indicated) != sorted(atr.indicated):
        order = ", ".join(f"T={t}" for t in atr.indicated)
        found.append(f"protocols not in ascending order: {order}")
    return found


# --- describe ---------------------------------------------------------------

def describe_atr(atr: bytes | ATR) -> list[str]:
    """A human breakdown in the style of pcsc_scan, one string per line.

    >>> for line in describe_atr(bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")):
    ...     print(line)
    TS = 3B  direct convention
    T0 = 8F  Y(1)=1000 K=15 (historical bytes)
      TD(1) = 80  Y(2)=1000 T=0
      TD(2) = 01  Y(3)=0000 T=1
    protocols: T=0, T=1 (T=0 applies without PPS)
    historical bytes: 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00
      category 80: PC/SC part 3 storage card
        RID A0 00 00 03 06, standard 03 (ISO 14443 A part 3), card name 00 01 (MIFARE Classic 1K)
    TCK = 6A  correct checksum
    """
    a = atr if isinstance(atr, ATR) else parse_atr(atr)
    lines = [f"TS = {a.ts:02X}  {a.convention} convention",
             f"T0 = {a.t0:02X}  Y(1)={a.t0 >> 4:04b} K={a.t0 & 0x0F} (historical bytes)"]
    seen: set[tuple[int | None, str]] = set()
    for g in a.groups:
        for name, value in g.items():
            first = (g.after, name) not in seen
            if g.index >= 3:
                seen.add((g.after, name))
            lines.append(f"  {name}({g.index}) = {value:02X}  {_byte_meaning(g, name, value, first)}")
    protocols = ", ".join(f"T={t}" for t in a.protocols)
    lines.append(f"protocols: {protocols}" + (f" (T={a.protocols[0]} applies without PPS)"
                                              if len(a.protocols) > 1 else ""))
    if a.historical:
        lines.append(f"historical bytes: {a.historical.hex(' ').upper()}")
        lines += ["  " + line for line in (_ssc_lines(a.historical) if a.is_ssc
                                           else _historical_lines(a.historical))]
    else:
        lines.append("historical bytes: none")
    if a.tck is None:
        lines.append("TCK: absent (correct: only T=0 offered)")
    else:
        status = "correct checksum" if a.tck_correct else f"WRONG checksum, should be {_xor(a.raw[1:-1]):02X}"
        extra = "" if a.tck_required else "; not expected: only T=0 offered"
        lines.append(f"TCK = {a.tck:02X}  {status}{extra}")
    lines += [f"warning: {p}" for p in _structure_problems(a)]
    return lines


def _byte_meaning(g: InterfaceGroup, name: str, value: int, first: bool) -> str:
    if name == "TD":
        return _td(g.index, value)
    if g.index == 1:
        return {"TA": _ta1, "TB": _tb1, "TC": _tc1}[name](value)
    if g.index == 2:
        return {"TA": _ta2, "TB": lambda v: f"PI2={v} (VPP, deprecated)", "TC": _tc2}[name](value)
    if g.after == 1 and first:
        return {"TA": _t1_ifsc, "TB": _t1_bwi_cwi, "TC": _t1_edc}[name](value)
    if g.after == 15 and first and name != "TC":
        return _t15_ta(value) if name == "TA" else _t15_tb(value)
    return f"T={g.after} specific"


def _td(i: int, value: int) -> str:
    t = value & 0x0F
    note = {0: "", 1: "", 14: " (not standardized by ISO)", 15: " (global interface bytes follow)"}.get(t, " (RFU)")
    return f"Y({i + 1})={value >> 4:04b} T={t}{note}"


def _ta1(value: int) -> str:
    fi, di = _FI.get(value >> 4), _DI.get(value & 0x0F)
    if fi is None or di is None:
        bad = [f"FI={value >> 4:X}"] if fi is None else []
        bad += [f"DI={value & 0x0F:X}"] if di is None else []
        return f"{' and '.join(bad)} RFU (ISO 7816-3 tables 7 and 8)"
    f_i, fmax = fi
    cycles = Fraction(f_i, di)
    etu = f"{cycles.numerator}" if cycles.denominator == 1 else f"{float(cycles):.6g}"
    return (f"Fi={f_i} Di={di} fmax={fmax:g} MHz: {etu} cycles/ETU "
            f"({round(4_000_000 / cycles)} bit/s at 4 MHz, {round(fmax * 1_000_000 / cycles)} bit/s at fmax)")


def _tb1(value: int) -> str:
    if value == 0:
        return "VPP not connected (deprecated)"
    return f"PI1={value & 0x1F} II={(value >> 5) & 0x03} (VPP programming, deprecated)"


def _tc1(value: int) -> str:
    if value == 0xFF:
        return "N=255: minimum guard time (12 ETU for T=0, 11 ETU for T=1)"
    return f"extra guard time {value}" + (" ETU" if value else "")


def _ta2(value: int) -> str:
    change = "cannot change mode" if value & 0x80 else "can change to negotiable mode"
    params = "implicit Fi/Di" if value & 0x10 else "Fi/Di from TA(1)"
    return f"specific mode T={value & 0x0F}, {change}, {params}"


def _tc2(value: int) -> str:
    if value == 0:
        return "T=0 WI=0 (RFU)"
    return f"T=0 WI={value}: work waiting time {960 * value} x Fi/f"


def _t1_ifsc(value: int) -> str:
    return f"T=1 IFSC={value}" + (" (RFU)" if value in (0x00, 0xFF) else "")


def _t1_bwi_cwi(value: int) -> str:
    bwi, cwi = value >> 4, value & 0x0F
    return f"T=1 BWI={bwi}{' (RFU)' if bwi > 9 else ''} CWI={cwi} (CWT = {11 + (1 << cwi)} ETU)"


def _t1_edc(value: int) -> str:
    rfu = " (RFU bits set)" if value & 0xFE else ""
    return f"T=1 error detection: {'CRC' if value & 0x01 else 'LRC'}{rfu}"


def _t15_ta(value: int) -> str:
    clock = ("clock stop not supported", "clock stop in state L", "clock stop in state H",
             "clock stop, no preference")[value >> 6]
    classes = [c for bit, c in enumerate(("A (5 V)", "B (3 V)", "C (1.8 V)")) if value & (1 << bit)]
    rfu = " + RFU classes" if value & 0x38 else ""
    return f"{clock}; classes {', '.join(classes) or 'none'}{rfu}"


def _t15_tb(value: int) -> str:
    if value == 0:
        return "SPU not used"
    return f"SPU {'proprietary' if value & 0x80 else 'standard'} use"


# --- historical bytes ---------------------------------------------------------

_CTLV_TAGS = {
    0x1: "country code", 0x2: "issuer identification number", 0x3: "card service data",
    0x4: "initial access data", 0x5: "card issuer's data", 0x6: "pre-issuing data", 0x7: "card capabilities",
    0x8: "status indicator", 0xF: "application identifier",
}
_PCSC3_STANDARDS = {
    0x01: "ISO 14443 A part 1", 0x02: "ISO 14443 A part 2", 0x03: "ISO 14443 A part 3",
    0x05: "ISO 14443 B part 1", 0x06: "ISO 14443 B part 2", 0x07: "ISO 14443 B part 3",
    0x09: "ISO 15693 part 1", 0x0A: "ISO 15693 part 2", 0x0B: "ISO 15693 part 3", 0x0C: "ISO 15693 part 4",
}
_PCSC3_NAMES = {0x0001: "MIFARE Classic 1K", 0x0002: "MIFARE Classic 4K", 0x0003: "MIFARE Ultralight",
                0x0026: "MIFARE Mini"}
_PCSC3_PREFIX = bytes.fromhex("804F0CA000000306")


def compact_tlv(data: bytes) -> list[tuple[int, bytes]]:
    """Split compact-TLV (ISO 7816-4 §8.1.1: tag nibble, length nibble, value).

    >>> compact_tlv(bytes.fromhex("31 80 73 C0 01 40"))
    [(3, b'\\x80'), (7, b'\\xc0\\x01@')]
    """
    objects, i = [], 0
    while i < len(data):
        tag, length = data[i] >> 4, data[i] & 0x0F
        if i + 1 + length > len(data):
            raise ATRError(f"compact-TLV object {data[i]:02X} at offset {i} announces {length} bytes, "
                           f"{len(data) - i - 1} follow")
        objects.append((tag, data[i + 1:i + 1 + length]))
        i += 1 + length
    return objects


def _lcs(value: int) -> str:
    if value == 0x00:
        return "no information"
    if value == 0x01:
        return "creation"
    if value == 0x03:
        return "initialisation"
    if value & 0xFD == 0x05:
        return "operational, activated"
    if value & 0xFD == 0x04:
        return "operational, deactivated"
    if value & 0xFC == 0x0C:
        return "termination"
    return "proprietary" if value >= 0x10 else "RFU"


def _status_indicator(value: bytes) -> str:
    parts = []
    if len(value) in (1, 3):
        parts.append(f"LCS={value[0]:02X} ({_lcs(value[0])})")
    if len(value) in (2, 3):
        sw = int.from_bytes(value[-2:], "big")
        parts.append(f"SW={sw:04X} ({describe_sw(sw)})")
    return ", ".join(parts) or f"{len(value)} bytes (expected 1 to 3)"


def _object_line(tag: int, value: bytes) -> str:
    name = _CTLV_TAGS.get(tag, "RFU tag")
    shown = _status_indicator(value) if tag == 0x8 else (value.hex(" ").upper() or "(empty)")
    return f"{tag:X}{len(value):X} {name}: {shown}"


def _historical_lines(hist: bytes) -> list[str]:
    category, body = hist[0], hist[1:]
    if category == 0x80 and hist.startswith(_PCSC3_PREFIX) and len(hist) == 15:
        standard, name = hist[8], int.from_bytes(hist[9:11], "big")
        return ["category 80: PC/SC part 3 storage card",
                f"  RID {hist[3:8].hex(' ').upper()}, standard {standard:02X} "
                f"({_PCSC3_STANDARDS.get(standard, 'unknown')}), card name {hist[9:11].hex(' ').upper()} "
                f"({_PCSC3_NAMES.get(name, 'unknown')})"]
    if category in (0x00, 0x80):
        head = ("category 00: compact-TLV objects, then a 3-byte status indicator" if category == 0x00
                else "category 80: compact-TLV objects")
        objects_part, status = (body[:-3], body[-3:]) if category == 0x00 else (body, b"")
        if category == 0x00 and len(body) < 3:
            return [head, f"  malformed: {len(body)} bytes follow the category byte, the status indicator needs 3"]
        try:
            lines = [head] + ["  " + _object_line(tag, value) for tag, value in compact_tlv(objects_part)]
        except ATRError as exc:
            return [head, f"  malformed: {exc}"]
        if status:
            lines.append(f"  status indicator: {_status_indicator(status)}")
        return lines
    if category == 0x10:
        ref = f"DIR data reference {body[:1].hex().upper()}" if body else "DIR data reference missing"
        return [f"category 10: {ref}"]
    if 0x81 <= category <= 0x8F:
        return [f"category {category:02X}: RFU (ISO 7816-4)"]
    return [f"category {category:02X}: proprietary format"]


# --- social-security card -------------------------------------------------------

_SSC_FIELDS = (  # (key, label, slice of the 13 historical bytes) -- ssse.md §6, S2 §8.4
    ("chip_provider", "T1-T2 chip provider", slice(0, 2)),
    ("chip_cos", "T3-T5 chip/COS", slice(2, 5)),
    ("card_manufacturer", "T6-T7 card manufacturer", slice(5, 7)),
    ("region", "T8-T9 region code", slice(7, 9)),
    ("serial", "TA-TD serial", slice(9, 13)),
)


def ssc_historical(hist: bytes) -> dict[str, str]:
    """Name the 13 historical bytes of a social-security card (ssse.md §6), as hex.

    ``region`` holds the first 4 digits of the region code (BCD, so the hex is the digits).

    >>> ssc_historical(bytes.fromhex("00814E43238697159900BF7C7A"))
    {'chip_provider': '0081', 'chip_cos': '4E4323', 'card_manufacturer': '8697', 'region': '1599', 'serial': '00BF7C7A'}
    """
    if len(hist) != 13:
        raise ATRError(f"social-security historical bytes are 13 bytes, got {len(hist)}")
    return {key: hist[part].hex().upper() for key, _, part in _SSC_FIELDS}


def _ssc_lines(hist: bytes) -> list[str]:
    fields = ssc_historical(hist)
    lines = ["social-security card layout (S2 §8.4):"]
    for key, label, part in _SSC_FIELDS:
        shown = hist[part].hex(" ").upper()
        if key == "region":
            bcd = all(c.isdigit() for c in fields["region"])
            shown = f"{fields['region']} (first 4 digits{'' if bcd else ', NOT valid BCD'})"
        lines.append(f"  {label + ':':<25}{shown}")
    return lines


# --- build ----------------------------------------------------------------------

def _protocol_number(p: str | int) -> int:
    text = str(p).strip().upper().replace(" ", "")
    text = text[2:] if text.startswith("T=") else text
    if not text.isdigit() or not 0 <= int(text) <= 14:
        raise ATRError(f"protocol {p!r} is not T=0 ... T=14")
    return int(text)


def build_atr(historical: bytes, *, protocols: Sequence[str | int] = ("T=0",), ta1: int | None = None,
              tb1: int | None = 0x00, tc1: int | None = 0x00, ifsc: int | None = None,
              bwi_cwi: int | None = None, crc: bool = False) -> bytes:
    """Build a direct-convention ATR with a correct TCK when one is required.

    The defaults give the social-security form ``3B 6D 00 00`` + 13 historical bytes.
    ``protocols`` are listed in ascending order (the first is the default);
    ``ifsc``, ``bwi_cwi`` and ``crc`` (TA/TB/TC for T=1) need T=1 among them.

    >>> hist = bytes.fromhex("00814A444686605199000001AC")
    >>> build_atr(hist).hex().upper()
    '3B6D000000814A444686605199000001AC'
    >>> build_atr(hist, protocols=("T=0", "T=1")).hex().upper()
    '3BED0000800100814A444686605199000001AC26'
    >>> build_atr(b"", protocols=("T=1",), tb1=None, tc1=None, ifsc=0xFE, bwi_cwi=0x45).hex().upper()
    '3B808131FE458B'
    """
    if len(historical) > 15:
        raise ATRError(f"{len(historical)} historical bytes: at most 15 fit in T0")
    for name, value in (("TA1", ta1), ("TB1", tb1), ("TC1", tc1), ("IFSC", ifsc), ("BWI/CWI", bwi_cwi)):
        if value is not None and not 0 <= value <= 0xFF:
            raise ATRError(f"{name}={value} is not a byte")
    offered = [_protocol_number(p) for p in protocols]
    if not offered:
        raise ATRError("no protocol given: offer at least T=0 or T=1")
    if offered != sorted(set(offered)):
        raise ATRError(f"protocols must be distinct and ascending (ISO 7816-3 §8.2.3), got {list(protocols)}")
    t1_bytes = {k: v for k, v in (("ta", ifsc), ("tb", bwi_cwi), ("tc", 0x01 if crc else None)) if v is not None}
    if t1_bytes and 1 not in offered:
        raise ATRError("IFSC, BWI/CWI and CRC are T=1 parameters: offer T=1")
    tds = [] if offered == [0] else list(offered)
    if t1_bytes and tds[0] == 1:
        tds.insert(1, 1)  # T=1 bytes live in a group i >= 3: repeat T=1 in TD(2)
    groups: list[dict[str, int]] = [{k: v for k, v in (("ta", ta1), ("tb", tb1), ("tc", tc1)) if v is not None}]
    for i, t in enumerate(tds, start=2):
        groups.append(dict(t1_bytes) if t == 1 and i >= 3 and t1_bytes else {})
        if t == 1 and i >= 3:
            t1_bytes = {}
    out = bytearray([0x3B, 0])
    for i, group in enumerate(groups):
        if i < len(tds):
            group["td"] = tds[i]
    for i, group in enumerate(groups):
        mask = sum(1 << bit for bit, key in enumerate(("ta", "tb", "tc", "td")) if key in group)
        if i == 0:
            out[1] = mask << 4 | len(historical)
        else:
            out[-1] |= mask << 4  # the Y nibble of the TD that announced this group
        out += bytes(group[key] for key in ("ta", "tb", "tc", "td") if key in group)
    out += historical
    if any(t != 0 for t in tds):
        out.append(_xor(out[1:]))
    if len(out) > MAX_LENGTH:
        raise ATRError(f"the ATR would be {len(out)} bytes; ISO 7816-3 allows at most {MAX_LENGTH}")
    return bytes(out)
