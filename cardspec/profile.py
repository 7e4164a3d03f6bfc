"""Card profiles: declarative TOML files describing one kind of card (ATR, generation,
algorithm, APDU behaviour, PIN and key policy, tree overrides).

Built-in profiles live in ``cardspec/profiles/*.toml``; ``ssc3-sm4`` is the default.
Every field is validated and errors name the file, the key and the problem.

>>> p = Profile.load("ssc3-sm4")
>>> p.atr_bytes().hex().upper(), p.card.algorithm_id.name, p.pin.try_limit
('3B6D000000814A444686605199000001AC', 'SM4', 6)
>>> list_profiles()
['ssc2-3des', 'ssc3-sm4']
>>> str(Profile.load("ssc2-3des").tree().find("SSSE/EF06").read)
'free'
>>> p.pboc.gpo_format, p.pboc.pin_try_limit, p.pboc.aip.hex().upper()
(1, 3, '7D00')
>>> p.gp.isd_aid.hex().upper(), p.gp.key_version, p.gp.reissue
('A000000003000000', 1, False)
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from apdu.errors import HexError, SSCardError

from .access import AccessRule, AccessRuleError
from .ids import DIR_SFI, AlgorithmId, KeyId
from .records import FieldValueError
from .records.ssse import SPEC_VERSION
from .tree import DFSpec, TreeError, ssse_fci, ssse_tree

__all__ = ["Profile", "AtrSpec", "CardOptions", "PinPolicy", "KeyPolicy", "PbocPolicy", "GpPolicy", "ProfileError",
           "list_profiles", "load_profile", "DEFAULT_PROFILE"]

DEFAULT_PROFILE = "ssc3-sm4"
_PACKAGE = "cardspec.profiles"
_ALGORITHMS = {"3des": AlgorithmId.DES, "sm4": AlgorithmId.SM4}


class ProfileError(SSCardError, ValueError):
    """A missing or invalid profile; the message names file, key and problem."""


@dataclass(frozen=True)
class AtrSpec:
    """ATR = ``3B 6D 00 00`` + 13 historical bytes (S2 §8.2-8.4), or the T=0+T=1 form."""

    chip_provider: bytes  #: T1-T2
    chip_cos: bytes  #: T3-T5
    card_manufacturer: bytes  #: T6-T7
    region: str  #: T8-T9: first 4 digits of the region code, BCD
    serial: bytes  #: TA-TD
    protocol: Literal["t0", "t0t1"] = "t0"

    def historical(self) -> bytes:
        return self.chip_provider + self.chip_cos + self.card_manufacturer + bytes.fromhex(self.region) + self.serial

    def build(self) -> bytes:
        from apdu.atr import build_atr

        protocols = ("T=0",) if self.protocol == "t0" else ("T=0", "T=1")
        return build_atr(self.historical(), protocols=protocols)

    @property
    def diversification_factor(self) -> bytes:
        """Level-3 (card) key factor: historical bytes 6-13 (S9 §7.3). Taken from the
        historical bytes, not "the last 8 ATR bytes", which is wrong once a TCK follows."""
        return self.historical()[5:13]


@dataclass(frozen=True)
class CardOptions:
    generation: int  #: 2 or 3
    algorithm: Literal["3des", "sm4"]
    t0_get_response: bool  #: answer 61xx to case-4 commands and serve GET RESPONSE
    le_mode: Literal["full", "strict6c"]  #: Le 00: whole record ("full") or 6Cxx ("strict6c")
    dir_sfi: int
    spec_version: str  #: EF05 tag 03
    name_ext_padding: int  #: 0x00 or 0xFF: pass as ``an_pad`` when encoding EF06 tag 4E (only)

    @property
    def algorithm_id(self) -> AlgorithmId:
        return _ALGORITHMS[self.algorithm]


@dataclass(frozen=True)
class PinPolicy:
    try_limit: int
    min_bytes: int  #: VERIFY Lc minimum (PIN bytes, packed BCD)
    max_bytes: int
    default: str  #: initial PIN digits


@dataclass(frozen=True)
class KeyPolicy:
    ext_auth_tries: int
    present: tuple[KeyId, ...]


@dataclass(frozen=True)
class PbocPolicy:
    """``[pboc]``: the financial zone (pboc.md). Every key is optional."""

    gpo_format: Literal[1, 2] = 1  #: GPO response: 1 = ``80 AIP AFL``, 2 = ``77{82, 94}``
    accept_bare_8300: bool = True  #: GPO ``8300`` against a PDOL (python-emv sends it): accept, or 6700
    ppse: bool = False  #: a 2PAY.SYS.DDF01 instance answers over contact
    ec: bool = False  #: electronic-cash data (GET DATA 9F79, 9F77, 9F78, 9F6D)
    pin_try_limit: int = 3  #: DGI 9010
    default_pin: str = "123456"  #: the sample card's financial PIN (4-12 digits)
    aip: bytes = bytes.fromhex("7D00")  #: D/C AIP (pboc.md §2.2)
    service_code: str = "220"  #: 5F30 and track 2 (pboc.md §7)
    version: Literal["2.0", "3.0"] = "2.0"  #: 9F08 0020 / 0030
    #: PIN CHANGE/UNBLOCK data: XOR bytes 5-8 of the PIN block with this UDK first (pboc.md §3.3)
    pin_block_mask: Literal["none", "udk-ac", "udk-enc"] = "none"


@dataclass(frozen=True)
class GpPolicy:
    """``[gp]``: the GlobalPlatform issuer security domain bureaus personalize through
    (:mod:`cardsim.gp`). Every key is optional."""

    #: the ISD's AID: the GlobalPlatform default, as most JavaCard/PBOC cards ship
    isd_aid: bytes = bytes.fromhex("A000000003000000")
    key_version: int = 0x01  #: KVN of the KMC-diversified SCP02 key set (INITIALIZE UPDATE P1)
    reissue: bool = False  #: INSTALL [for personalization] of an already personalized application: allow, or 6985


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    source: str  #: file the profile was read from
    atr: AtrSpec
    card: CardOptions
    pin: PinPolicy
    keys: KeyPolicy
    ef06_read: AccessRule | None  #: ``[tree] ef06_read``; None = by generation
    pboc: PbocPolicy = PbocPolicy()  #: ``[pboc]``
    gp: GpPolicy = GpPolicy()  #: ``[gp]``

    @classmethod
    def load(cls, name_or_path: str | Path | None = None) -> "Profile":
        """Load a built-in profile by name, or a TOML file by path (default: ``ssc3-sm4``)."""
        label, text = _read(name_or_path or DEFAULT_PROFILE)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ProfileError(f"{label}: TOML syntax: {e}") from None
        return _parse(label, Path(label).stem, data)

    def atr_bytes(self) -> bytes:
        return self.atr.build()

    def tree(self) -> DFSpec:
        return ssse_tree(self.card.generation, ef06_read=self.ef06_read, dir_sfi=self.card.dir_sfi)

    def ssse_fci(self) -> bytes:
        """FCI of the SSSE: 3rd-generation cards announce the algorithm in 9F0C, 2nd do not."""
        return ssse_fci(self.card.dir_sfi, self.card.algorithm_id if self.card.generation >= 3 else None)


def load_profile(name_or_path: str | Path | None = None) -> Profile:
    return Profile.load(name_or_path)


def list_profiles() -> list[str]:
    """Names of the built-in profiles."""
    return sorted(p.name[:-5] for p in resources.files(_PACKAGE).iterdir() if p.name.endswith(".toml"))


def _read(name_or_path: str | Path) -> tuple[str, str]:
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or text.endswith(".toml"):
        path = Path(name_or_path)
        try:
            return text, path.read_text(encoding="utf-8")
        except OSError as e:
            raise ProfileError(f"{text}: cannot read profile ({e.strerror})") from None
    resource = resources.files(_PACKAGE) / f"{text}.toml"
    if not resource.is_file():
        raise ProfileError(f"no profile named {text!r} (built-in: {', '.join(list_profiles())})")
    return f"{text}.toml", resource.read_text(encoding="utf-8")


_MISSING = object()


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


class _Table:
    """One TOML table being read: typed access, precise errors, unknown keys reported."""

    def __init__(self, label: str, section: str, data: dict[str, Any]) -> None:
        self.label, self.section, self.data, self.used = label, section, data, set()

    def error(self, key: str, problem: str) -> ProfileError:
        where = f"[{self.section}] " if self.section else ""
        if key in self.data:
            return ProfileError(f"{self.label}: {where}{key} = {_show(self.data[key])}: {problem}")
        return ProfileError(f"{self.label}: {where}{key}: {problem}")

    def get(self, key: str, kind: type, default: Any = _MISSING) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is _MISSING:
                raise self.error(key, "missing")
            return default
        value = self.data[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise self.error(key, f"must be {_KIND_NAMES[kind]}")
        return value

    def int_in(self, key: str, lo: int, hi: int, default: Any = _MISSING) -> int:
        value = self.get(key, int, default)
        if not lo <= value <= hi:
            raise self.error(key, f"must be {lo}..{hi}")
        return int(value)

    def choice(self, key: str, options: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.get(key, str, default)
        if value not in options:
            raise self.error(key, f"must be one of {', '.join(_show(o) for o in options)}")
        return str(value)

    def hex_bytes(self, key: str, length: int) -> bytes:
        from apdu.hexinput import parse_hex

        try:
            raw = parse_hex(self.get(key, str))
        except HexError as e:
            raise self.error(key, str(e)) from None
        if len(raw) != length:
            raise self.error(key, f"must be {length} bytes, got {len(raw)}")
        return raw

    def finish(self) -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            raise self.error(extra[0], "unknown key")


_KIND_NAMES = {int: "an integer", str: "a string", bool: "true or false", list: "a list", dict: "a table"}
_SECTIONS = ("atr", "card", "pin", "keys", "tree", "pboc", "gp")


def _parse(label: str, name: str, data: dict[str, Any]) -> Profile:
    top = _Table(label, "", data)
    description = top.get("description", str, "")
    for key, value in data.items():
        if key not in _SECTIONS and key != "description":
            raise ProfileError(f"{label}: unknown {'section [' + key + ']' if isinstance(value, dict) else 'key ' + key}")
    tables: dict[str, _Table] = {}
    for section in _SECTIONS:
        if section not in data and section in ("atr", "card"):
            raise ProfileError(f"{label}: [{section}]: missing section")
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ProfileError(f"{label}: {section} = {_show(table)}: must be a table [{section}]")
        tables[section] = _Table(label, section, table)
    t = tables["atr"]
    region = t.get("region", str)
    if len(region) != 4 or not (region.isascii() and region.isdigit()):
        raise t.error("region", "must be the first 4 digits of the region code")
    atr = AtrSpec(t.hex_bytes("chip_provider", 2), t.hex_bytes("chip_cos", 3), t.hex_bytes("card_manufacturer", 2),
                  region, t.hex_bytes("serial", 4), t.choice("protocol", ("t0", "t0t1"), "t0"))  # type: ignore[arg-type]
    card = _card(tables["card"])
    pin = _pin(tables["pin"])
    t = tables["keys"]
    tries = t.int_in("ext_auth_tries", 1, 15, 3)
    names = t.get("present", list, [k.name for k in KeyId])
    unknown = [n for n in names if not isinstance(n, str) or n not in KeyId.__members__]
    if unknown:
        raise t.error("present", f"{_show(unknown[0])} is not a key (known: {', '.join(KeyId.__members__)})")
    if len(set(names)) != len(names):
        raise t.error("present", "lists a key twice")
    keys = KeyPolicy(tries, tuple(KeyId[n] for n in names))
    t = tables["tree"]
    ef06_read = None
    if "ef06_read" in t.data:
        try:
            ef06_read = AccessRule.parse(t.get("ef06_read", str))
        except AccessRuleError as e:
            raise t.error("ef06_read", str(e)) from None
    pboc = _pboc(tables["pboc"])
    gp = _gp(tables["gp"])
    for table in tables.values():
        table.finish()
    profile = Profile(name, description, label, atr, card, pin, keys, ef06_read, pboc, gp)
    _check_tree(profile, tables)
    return profile


def _card(t: _Table) -> CardOptions:
    generation = t.int_in("generation", 2, 3)
    version = t.get("spec_version", str, "3.00" if generation == 3 else "2.0")
    try:
        SPEC_VERSION.encode_value(version)
    except FieldValueError as e:
        raise t.error("spec_version", str(e).split(": ", 1)[-1]) from None
    if not version.startswith(f"{generation}."):
        raise t.error("spec_version", f'does not match generation = {generation} (expected "{generation}.x")')
    pad = t.choice("name_ext_padding", ("00", "FF"), "00")
    return CardOptions(generation, t.choice("algorithm", tuple(_ALGORITHMS)),  # type: ignore[arg-type]
                       t.get("t0_get_response", bool, True),
                       t.choice("le_mode", ("full", "strict6c"), "full"),  # type: ignore[arg-type]
                       t.int_in("dir_sfi", 1, 30, DIR_SFI), version, int(pad, 16))


def _pin(t: _Table) -> PinPolicy:
    limit = t.int_in("try_limit", 1, 15, 6)
    lo = t.int_in("min_bytes", 2, 8, 2)
    hi = t.int_in("max_bytes", 2, 8, 8)
    if hi < lo:
        raise t.error("max_bytes", f"must not be below min_bytes = {lo}")
    default = t.get("default", str, "123456")
    if not (default.isascii() and default.isdigit()):
        raise t.error("default", "must be decimal digits")
    if not lo <= (len(default) + 1) // 2 <= hi:
        raise t.error("default", f"is {(len(default) + 1) // 2} bytes in BCD; the PIN must be {lo}..{hi} bytes")
    return PinPolicy(limit, lo, hi, default)


def _pboc(t: _Table) -> PbocPolicy:
    d = PbocPolicy()
    pin = t.get("default_pin", str, d.default_pin)
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise t.error("default_pin", "must be 4-12 decimal digits (ISO 9564 format 2)")
    code = t.get("service_code", str, d.service_code)
    if not (code.isascii() and code.isdigit() and len(code) == 3):
        raise t.error("service_code", "must be 3 decimal digits")
    aip = t.hex_bytes("aip", 2) if "aip" in t.data else d.aip
    mask = t.choice("pin_block_mask", ("none", "udk-ac", "udk-enc"), d.pin_block_mask)
    return PbocPolicy(t.int_in("gpo_format", 1, 2, d.gpo_format),  # type: ignore[arg-type]
                      t.get("accept_bare_8300", bool, d.accept_bare_8300), t.get("ppse", bool, d.ppse),
                      t.get("ec", bool, d.ec), t.int_in("pin_try_limit", 1, 15, d.pin_try_limit), pin, aip, code,
                      t.choice("version", ("2.0", "3.0"), d.version), mask)  # type: ignore[arg-type]


def _gp(t: _Table) -> GpPolicy:
    d = GpPolicy()
    aid = d.isd_aid
    if "isd_aid" in t.data:
        from apdu.hexinput import parse_hex

        try:
            aid = parse_hex(t.get("isd_aid", str))
        except HexError as e:
            raise t.error("isd_aid", str(e)) from None
        if not 5 <= len(aid) <= 16:
            raise t.error("isd_aid", f"an AID is 5-16 bytes, got {len(aid)}")
    return GpPolicy(aid, t.int_in("key_version", 1, 0x7F, d.key_version), t.get("reissue", bool, d.reissue))


def _check_tree(profile: Profile, tables: dict[str, _Table]) -> None:
    try:
        tree = profile.tree()
    except TreeError as e:
        raise tables["card"].error("dir_sfi", str(e)) from None
    needed = sorted(KeyId(k) for k in tree.key_ids())  # the SSSE's own EFs name SSSE-level keys only
    missing = [k for k in needed if k not in profile.keys.present]
    if missing:
        k = missing[0]
        raise tables["keys"].error("present", f"lacks {k.name} ({k:02X}), which the SSSE access rules name")
