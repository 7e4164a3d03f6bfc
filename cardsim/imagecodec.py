"""The card-image format, version 1: a card's whole persistent state as JSON data
(:func:`card_to_dict`, :func:`card_from_dict`); :mod:`cardsim.image` puts it in files.

The image *is* the card's EEPROM: profile, ATR, runtime settings, the file tree (every
DF and EF with identifiers, names, structure, sizes, access rules and contents), the
secrets of every application (keys in hex, PIN, block state), the card-level lifecycle
with the MF keys, and ``sections`` that other zones add (:func:`register_section`)::

    {"format": "sscard-card-image", "version": 1, "profile": "ssc3-sm4",
     "atr": "3B6D…", "settings": {"t0_get_response": true, "le_mode": "full"},
     "life": {"phase": "personalized", "card_blocked": false, "mf": {<secrets>}},
     "mf": {<DF node>}, "sections": {}}

* DF node: ``{"type": "df", "fid": "DDF1", "name": hex|null, "proprietary": hex|null,
  "fci": hex|null, "application": {"kind": "ssse", "secrets": {…}}|null, "children": […]}``
  (the MF's card manager is implied and not stored; its secrets are ``life.mf``).
* EF node: ``{"type": <structure>, "fid": "EF05", "sfi": 5|null, "read": "free",
  "write": "key:04", …}`` with ``size`` and ``data`` (hex, trailing 00 bytes left out)
  for ``transparent``; ``max_records``, ``max_record_length`` and ``records`` for
  ``linear_variable``; ``record_length``, ``max_records`` and ``records`` for
  ``linear_fixed`` and ``cyclic``.
* ``<secrets>``: :meth:`~cardsim.persistent.AppSecrets.to_dict` (keys, PIN, blocked, df_keys).
* ``profile``: a built-in profile name, or the absolute path of a profile file.

Applications are stored by kind (:data:`APP_KINDS`: an application class built as
``cls(profile, secrets)`` that exposes ``.secrets``). A newer version, an unknown
application kind or an unknown section is refused rather than silently dropped.

>>> from cardsim.factory import blank_card
>>> data = card_to_dict(blank_card("ssc2-3des"))
>>> data["version"], data["life"]["phase"], data["mf"]["children"]
(1, 'blank', [])
>>> card_from_dict({**data, "version": 7}, label="card.json")
Traceback (most recent call last):
cardsim.imagecodec.ImageError: card.json: version 7 is newer than this sscard (1)
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from apdu.errors import SSCardError
from cardspec.access import AccessRule
from cardspec.crypto.blockcipher import CARD_KEY_SIZE, Algorithm
from cardspec.profile import Profile, list_profiles

from .application import Application
from .fs import DF, EF, MF, CyclicEF, FileSystemError, LinearFixedEF, LinearVariableEF, RecordEF, TransparentEF
from .persistent import AppSecrets, CardLife
from .runtime import CardOS, RuntimeSettings

FORMAT = "sscard-card-image"
VERSION = 1


class ImageError(SSCardError):
    """A card image that cannot be read or written; the message names the file and the problem."""


# --- extension points ---------------------------------------------------------------
@dataclass(frozen=True)
class AppKind:
    """An application class that images can hold: built as ``cls(profile, secrets)``,
    exposing its :class:`AppSecrets` as ``.secrets``. Imported only when needed."""

    name: str
    module: str
    class_name: str

    def cls(self) -> type:
        return getattr(importlib.import_module(self.module), self.class_name)


@dataclass(frozen=True)
class Section:
    """Extra card state kept under ``sections[name]`` (e.g. the financial zone):
    ``dump(card)`` returns JSON data or None (nothing to keep); ``load(card, data)``
    restores it onto a card whose tree (without the section's DFs) and applications
    are already built. ``owns(df)`` marks the DFs the section stores and rebuilds
    itself: the tree leaves them (and what is below them) out."""

    name: str
    dump: Callable[[CardOS], Any]
    load: Callable[[CardOS, Any], None]
    owns: Callable[[DF], bool] = lambda df: False


APP_KINDS: dict[str, AppKind] = {"ssse": AppKind("ssse", "cardsim.ssse_app", "SsseApplication")}
SECTIONS: dict[str, Section] = {}
#: section name -> module that registers it when imported (imported when an image names the section)
SECTION_MODULES: dict[str, str] = {"pboc": "cardsim.pboc.section", "gp": "cardsim.gp.section"}


def register_app_kind(kind: AppKind) -> None:
    APP_KINDS[kind.name] = kind


def register_section(section: Section) -> None:
    SECTIONS[section.name] = section


def _import_sections() -> None:
    """Import the modules that register the known sections (a card may hold any of them)."""
    for name, module in SECTION_MODULES.items():
        if name not in SECTIONS:
            importlib.import_module(module)


# --- card -> JSON ---------------------------------------------------------------------
def _hex(data: bytes | None) -> str | None:
    return None if data is None else data.hex().upper()


def _profile_ref(profile: Profile) -> str:
    """A built-in profile by name, any other by the absolute path it was read from."""
    if profile.source == f"{profile.name}.toml" and profile.name in list_profiles():
        return profile.name
    return str(Path(profile.source).resolve())


def _app_node(app: Application, where: str) -> dict[str, Any]:
    for kind in APP_KINDS.values():
        try:
            cls = kind.cls()
        except ImportError:
            continue
        if isinstance(app, cls):
            secrets: AppSecrets = app.secrets  # type: ignore[attr-defined]
            return {"kind": kind.name, "secrets": secrets.to_dict()}
    raise ImageError(f"{where}: application {type(app).__name__} cannot be stored in a card image")


def _ef_node(ef: EF) -> dict[str, Any]:
    node: dict[str, Any] = {"type": ef.structure, "fid": f"{ef.fid:04X}", "sfi": ef.sfi,
                            "read": str(ef.read), "write": str(ef.write)}
    if isinstance(ef, TransparentEF):
        node.update(size=ef.size, data=ef.content.rstrip(b"\x00").hex().upper())
    elif isinstance(ef, LinearVariableEF):
        node.update(max_records=ef.max_records, max_record_length=ef.max_record_length)
    elif isinstance(ef, LinearFixedEF):  # and CyclicEF
        node.update(record_length=ef.record_length, max_records=ef.max_records)
    else:
        raise ImageError(f"{ef.label}: EF class {type(ef).__name__} cannot be stored in a card image")
    if isinstance(ef, RecordEF):
        node["records"] = [r.hex().upper() for r in ef.records]
    return node


def _owned(df: DF) -> bool:
    return any(section.owns(df) for section in SECTIONS.values())


def _df_node(df: DF) -> dict[str, Any]:
    from .preperso import CardManager

    app = df.application
    children: list[dict[str, Any]] = []
    for child in df.children:
        if isinstance(child, EF):
            children.append(_ef_node(child))
        elif isinstance(child, DF) and not _owned(child):
            children.append(_df_node(child))
    return {"type": "df", "fid": f"{df.fid:04X}", "name": _hex(df.name), "proprietary": _hex(df.proprietary),
            "fci": _hex(df.static_fci),
            "application": None if app is None or isinstance(app, CardManager) else _app_node(app, df.label),
            "children": children}


def card_to_dict(card: CardOS) -> dict[str, Any]:
    """The image of ``card`` as JSON-ready data (keys in hex: never log it)."""
    from .preperso import card_manager

    try:
        manager = card_manager(card)
    except SSCardError as exc:
        raise ImageError(f"cannot store this card as an image: {exc}") from None
    _import_sections()
    sections = {}
    for section in SECTIONS.values():
        value = section.dump(card)
        if value is not None:
            sections[section.name] = value
    return {"format": FORMAT, "version": VERSION, "profile": _profile_ref(manager.profile),
            "atr": card.atr.hex().upper(),
            "settings": {"t0_get_response": card.settings.t0_get_response, "le_mode": card.settings.le_mode},
            "life": card.life.to_dict(), "mf": _df_node(card.mf), "sections": sections}


# --- JSON -> card ---------------------------------------------------------------------
class _Reader:
    """Typed access to image data; every problem names the file and the place in it."""

    def __init__(self, label: str) -> None:
        self.label = label

    def error(self, where: str, problem: str) -> ImageError:
        return ImageError(f"{self.label}: {where}: {problem}" if where else f"{self.label}: {problem}")

    def get(self, obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str,
            *, optional: bool = False) -> Any:
        if key not in obj:
            if optional:
                return None
            raise self.error(where, f"{key} missing")
        value = obj[key]
        if value is None and optional:
            return None
        if isinstance(value, bool) and kind is int or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(where, f"{key} must be {names}, not {type(value).__name__}")
        return value

    def hex(self, obj: dict[str, Any], key: str, where: str, *, optional: bool = False) -> bytes | None:
        text = self.get(obj, key, str, where, optional=optional)
        if text is None:
            return None
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise self.error(where, f"{key} is not hexadecimal") from None

    def fid(self, obj: dict[str, Any], where: str) -> int:
        text = self.get(obj, "fid", str, where)
        if len(text) != 4:
            raise self.error(where, f"fid {text!r} is not 4 hex digits")
        try:
            return int(text, 16)
        except ValueError:
            raise self.error(where, f"fid {text!r} is not 4 hex digits") from None

    def rule(self, obj: dict[str, Any], key: str, where: str) -> AccessRule:
        try:
            return AccessRule.parse(self.get(obj, key, str, where))
        except SSCardError as exc:
            raise self.error(where, f"{key}: {exc}") from None

    def records(self, obj: dict[str, Any], where: str) -> list[bytes]:
        out = []
        for i, text in enumerate(self.get(obj, "records", list, where), 1):
            if not isinstance(text, str):
                raise self.error(where, f"record {i} must be a hex string")
            try:
                out.append(bytes.fromhex(text))
            except ValueError:
                raise self.error(where, f"record {i} is not hexadecimal") from None
        return out

    def secrets(self, obj: Any, where: str) -> AppSecrets:
        try:
            return AppSecrets.from_dict(obj)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise self.error(where, f"secrets unreadable ({type(exc).__name__}: {exc})") from None


def _ef_from(r: _Reader, node: dict[str, Any], where: str) -> EF:
    fid, kind = r.fid(node, where), r.get(node, "type", str, where)
    where = f"{where.rsplit('/#', 1)[0]}/{fid:04X}"
    try:
        return _build_ef(r, node, where, fid, kind)
    except FileSystemError as exc:
        raise r.error(where, str(exc)) from None


def _build_ef(r: _Reader, node: dict[str, Any], where: str, fid: int, kind: str) -> EF:
    common: dict[str, Any] = {"sfi": r.get(node, "sfi", int, where, optional=True),
                              "read": r.rule(node, "read", where), "write": r.rule(node, "write", where)}
    if kind == "transparent":
        return TransparentEF(fid, size=r.get(node, "size", int, where), data=r.hex(node, "data", where) or b"",
                             **common)
    if kind == "linear_variable":
        return LinearVariableEF(fid, max_records=r.get(node, "max_records", int, where),
                                max_record_length=r.get(node, "max_record_length", int, where),
                                records=r.records(node, where), **common)
    if kind in ("linear_fixed", "cyclic"):
        cls = LinearFixedEF if kind == "linear_fixed" else CyclicEF
        return cls(fid, record_length=r.get(node, "record_length", int, where),
                   max_records=r.get(node, "max_records", int, where), records=r.records(node, where), **common)
    raise r.error(where, f"unknown file type {kind!r}")


def _df_from(r: _Reader, node: dict[str, Any], where: str, profile: Profile, *, root: bool = False) -> DF:
    fid = r.fid(node, where or "mf")
    parent = where.rsplit("/#", 1)[0]
    where = f"{parent}/{fid:04X}" if parent else f"{fid:04X}"
    if r.get(node, "type", str, where) != "df":
        raise r.error(where, "expected a DF node (type df)")
    application = None
    app = r.get(node, "application", dict, where, optional=True)
    if app is not None:
        kind = APP_KINDS.get(r.get(app, "kind", str, where))
        if kind is None:
            raise r.error(where, f"application kind {app['kind']!r} is not known to this sscard "
                                 f"(known: {', '.join(APP_KINDS)})")
        try:
            application = kind.cls()(profile, r.secrets(r.get(app, "secrets", dict, where), where))
        except SSCardError as exc:
            raise r.error(where, str(exc)) from None
    kwargs: dict[str, Any] = {"name": r.hex(node, "name", where, optional=True),
                              "proprietary": r.hex(node, "proprietary", where, optional=True),
                              "fci": r.hex(node, "fci", where, optional=True), "application": application}
    if root and fid != 0x3F00:
        raise r.error(where, "the root of the tree must be the MF 3F00")
    try:
        df: DF = MF(**kwargs) if root else DF(fid, **kwargs)
        for i, child in enumerate(r.get(node, "children", list, where), 1):
            if not isinstance(child, dict):
                raise r.error(f"{where}/#{i}", "not an object")
            here = f"{where}/#{i}"
            df.add(_df_from(r, child, here, profile) if child.get("type") == "df" else _ef_from(r, child, here))
    except FileSystemError as exc:
        raise r.error(where, str(exc)) from None
    return df


def _check_mf_keys(r: _Reader, life: CardLife, profile: Profile) -> None:
    """MF keys must be 16-byte keys of the card's algorithm with a sane counter."""
    alg = Algorithm.from_id(int(profile.card.algorithm_id))
    spaces = [("", life.mf.keys), *((f" (DF {fid:04X})", keys) for fid, keys in life.mf.df_keys.items())]
    for space, keys in spaces:
        for kid, key in keys.items():
            counter_ok = (key.max_tries is None and key.tries_left is None) or (
                key.max_tries is not None and key.tries_left is not None and 0 <= key.tries_left <= key.max_tries <= 15)
            if key.kid != kid or len(key.value) != CARD_KEY_SIZE or key.algorithm is not alg or not counter_ok:
                raise r.error("life.mf", f"key {kid:02X}{space} is not a {CARD_KEY_SIZE}-byte {alg.name} key "
                                         "with a try counter of at most 15")


def card_from_dict(data: Any, *, label: str = "card image") -> CardOS:
    """Rebuild a card (without a store) from :func:`card_to_dict` data; ``label`` names
    the source in errors."""
    from .preperso import assemble

    r = _Reader(label)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        shown = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise r.error("", f"not an sscard card image (format {shown!r}, expected {FORMAT!r})")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise r.error("", f"version {version!r} is not a card-image version (1..{VERSION})")
    if version > VERSION:
        raise r.error("", f"version {version} is newer than this sscard ({VERSION})")
    try:
        profile = Profile.load(r.get(data, "profile", str, ""))
        atr = r.hex(data, "atr", "") or b""
        s = r.get(data, "settings", dict, "")
        settings = RuntimeSettings(t0_get_response=r.get(s, "t0_get_response", bool, "settings"),
                                   le_mode=r.get(s, "le_mode", str, "settings"))
        life_data = r.get(data, "life", dict, "")
        try:
            life = CardLife.from_dict(life_data)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise r.error("life", f"unreadable ({type(exc).__name__}: {exc})") from None
        _check_mf_keys(r, life, profile)
        mf = _df_from(r, r.get(data, "mf", dict, ""), "", profile, root=True)
        assert isinstance(mf, MF)
        card = assemble(mf, profile=profile, atr=atr, settings=settings, life=life)
        sections = r.get(data, "sections", dict, "")
        _import_sections()
        for name, value in sections.items():
            section = SECTIONS.get(name)
            if section is None:
                raise r.error("sections", f"section {name!r} is not known to this sscard")
            section.load(card, value)
    except ImageError:
        raise
    except SSCardError as exc:  # profile, file-system, ATR and settings problems
        raise r.error("", str(exc)) from None
    return card
