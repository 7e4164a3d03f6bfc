"""``sscard card new`` and ``sscard card show``: make and inspect virtual card images
without a reader. Keys are shown by their check value (KCV) only, never by value."""
from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from apdu.errors import SSCardError
from cardspec.ids import SSSE_DF_NAME, DfKeyId, KeyId

from .common import emit_json

_STRUCTURES = {"transparent": "transparent", "linear_variable": "linear variable", "linear_fixed": "linear fixed",
               "cyclic": "cyclic"}


@click.group("card")
def card_group() -> None:
    """Virtual card images: create one, or show what it holds."""


@card_group.command("new")
@click.option("--profile", "-p", default=None, help="Card profile (built-in name or TOML file; default ssc3-sm4).")
@click.option("--out", "-o", "out", required=True, type=click.Path(path_type=Path), help="Image file to write.")
@click.option("--sample", is_flag=True, help="A fully personalized sample card (test keys, sample holder).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def new_cmd(profile: str | None, out: Path, sample: bool, force: bool) -> None:
    """Create a card image: a BLANK card fresh from the factory (MF and the test
    transport key), or with --sample the personalized sample card."""
    from cardsim.factory import blank_card, personalized_sample_card
    from cardsim.image import save_image
    from cardspec.profile import Profile

    if out.exists() and not force:
        raise SSCardError(f"{out} already exists (use --force to replace it)")
    prof = Profile.load(profile)
    card = personalized_sample_card(prof) if sample else blank_card(prof)
    save_image(card, out)
    kind = "personalized sample card" if sample else "blank card"
    click.echo(f"{out}: {kind}, profile {prof.name}, ATR {card.atr.hex(' ').upper()}")


@card_group.command("show")
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def show_cmd(image: Path, as_json: bool) -> None:
    """Show a card image: lifecycle, keys (KCV only), PIN state, the file tree and
    the decoded records."""
    from cardsim.image import card_from_dict, read_image_data

    card = card_from_dict(read_image_data(image), label=str(image))  # read only: no store attached
    info = describe_card(card)
    if as_json:
        emit_json(info)
    else:
        for line in render(info, str(image)):
            click.echo(line)


# --- the card as data -------------------------------------------------------------------
def _value(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex().upper()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _key(key: Any, role: str) -> dict[str, Any]:
    return {"id": f"{key.kid:02X}", "role": role, "algorithm": key.algorithm.name, "version": key.version,
            "kcv": key.check_value, "tries_left": key.tries_left, "max_tries": key.max_tries,
            "blocked": key.blocked}


def _role(kid: int, *, mf: bool, blank: bool) -> str:
    if mf:
        return ("transport key" if blank else "card master key") if kid == 0 else "MF key"
    for ids in (KeyId, DfKeyId):
        try:
            return ids(kid).name
        except ValueError:
            continue
    return "unassigned"


def _udk_role(kid: int) -> str:
    """The financial zone's card keys: the three UDKs (pboc.md §2.3, DGI 8000)."""
    from cardsim.pboc import PbocKey

    try:
        return f"UDK-{PbocKey(kid).name}"
    except ValueError:
        return "unassigned"


def _dir_entry(raw: bytes) -> dict[str, Any] | None:
    """A DIR record ``61 [4F AID][50 label]`` (S3 §6.3), or None."""
    from apdu.tlv import parse_one, to_dict

    try:
        fields = to_dict(parse_one(raw, tag=0x61, allow_padding=False).children())
        return {"aid": fields[0x4F].hex().upper(), "label": fields[0x50].decode("ascii")}
    except (SSCardError, KeyError, UnicodeDecodeError):
        return None


def _emv_record(raw: bytes) -> dict[str, str] | None:
    """A financial record ``70{...}`` as tag -> value (text where the tag is text), or None."""
    from apdu.tlv import parse_one
    from cardspec.pboc import tag_name

    try:
        children = parse_one(raw, tag=0x70, allow_padding=False).children()
    except SSCardError:
        return None
    out = {}
    for obj in children:
        text = obj.value.decode("gbk", "replace") if obj.tag in (0x5F20, 0x9F0B, 0x9F61) else obj.value.hex().upper()
        out[f"{obj.tag:02X} {tag_name(obj.tag)}"] = text
    return out


def _records(ef: Any, layout_path: str | None) -> list[dict[str, Any]]:
    from cardspec.records import RecordError, decode_record, layout_for

    out = []
    for number, raw in enumerate(ef.records, 1):
        entry: dict[str, Any] = {"number": number, "hex": raw.hex().upper()}
        if raw[:1] == b"\x61" and (app := _dir_entry(raw)) is not None:
            entry.update(tag="61", name="目录", name_en="application template", value=app)
        elif raw[:1] == b"\x70" and (fields := _emv_record(raw)) is not None:
            entry["tlv"] = fields
        elif layout_path is not None and raw:
            try:
                tag, value = decode_record(raw, file=layout_path)
                lay = layout_for(tag, layout_path)
                entry.update(tag=f"{tag:02X}", name=lay.name_zh, name_en=lay.name_en, value=_value(value))
            except (RecordError, SSCardError) as exc:
                entry["undecoded"] = str(exc)
        out.append(entry)
    return out


def _node(file: Any, layout: str | None, secrets: Any) -> dict[str, Any]:
    from cardsim.fs import DF, MF, TransparentEF
    from cardsim.preperso import CardManager

    if isinstance(file, DF):
        here = "SSSE" if file.name == SSSE_DF_NAME else (f"{layout}/DF{file.fid & 0xFF:02X}" if layout else None)
        app = file.application
        node: dict[str, Any] = {"fid": f"{file.fid:04X}", "kind": "MF" if isinstance(file, MF) else "DF",
                                "name": file.name.hex().upper() if file.name else None}
        state = getattr(app, "state", None)  # the financial zone keeps its secrets in its state
        own = getattr(app, "secrets", None) or getattr(state, "secrets", None)
        if state is not None and hasattr(state, "atc"):
            node["atc"] = state.atc
        if own is not None and not isinstance(app, CardManager):
            secrets = own
            node["application"] = type(app).__name__
            node["blocked"] = own.blocked
            node["pin"] = None if own.pin is None else {"tries_left": own.pin.tries_left,
                                                        "max_tries": own.pin.max_tries, "blocked": own.pin.blocked}
            role = _udk_role if state is not None else (lambda kid: _role(kid, mf=False, blank=False))
            node["keys"] = [_key(k, role(k.kid)) for _, k in sorted(own.keys.items())]
        elif secrets is not None and file.fid in secrets.df_keys:
            node["keys"] = [_key(k, _role(k.kid, mf=False, blank=False))
                            for _, k in sorted(secrets.df_keys[file.fid].items())]
        node["children"] = [_node(child, here, secrets) for child in file.children]
        return node
    node = {"fid": f"{file.fid:04X}", "kind": _STRUCTURES.get(file.structure, file.structure),
            "sfi": file.sfi, "read": str(file.read), "write": str(file.write)}
    if isinstance(file, TransparentEF):
        node.update(size=file.size, used=len(file.content.rstrip(b"\x00")))
    else:
        node.update(max_records=file.max_records,
                    record_length=getattr(file, "record_length", None) or getattr(file, "max_record_length", None),
                    records=_records(file, f"{layout}/EF{file.fid & 0xFF:02X}" if layout else None))
    return node


def describe_card(card: Any) -> dict[str, Any]:
    """Everything ``card show`` prints, as JSON-ready data (no key values)."""
    from cardsim.persistent import Lifecycle
    from cardsim.preperso import card_manager

    manager = card_manager(card)
    blank = card.life.phase is Lifecycle.BLANK
    return {"profile": manager.profile.name, "description": manager.profile.description,
            "atr": card.atr.hex().upper(), "lifecycle": card.life.phase.value,
            "card_blocked": card.life.card_blocked,
            "mf_keys": [_key(k, _role(k.kid, mf=True, blank=blank)) for _, k in sorted(card.life.mf.keys.items())],
            "tree": _node(card.mf, None, None)}


# --- the card as text -----------------------------------------------------------------
def _key_line(k: dict[str, Any]) -> str:
    tries = "no counter" if k["max_tries"] is None else f"tries {k['tries_left']}/{k['max_tries']}"
    blocked = "  BLOCKED" if k["blocked"] else ""
    return f"key {k['id']} {k['role']:<16} {k['algorithm']:<4} v{k['version']:02X}  KCV {k['kcv']}  {tries}{blocked}"


def _show_value(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, dict):
        return " ".join(f"{k}={_show_value(v)}" for k, v in value.items())
    return str(value) if value != "" else '""'


def _render_node(node: dict[str, Any], depth: int) -> list[str]:
    pad = "  " * depth
    if node["kind"] in ("MF", "DF"):
        name = ""
        if node["name"]:
            raw = bytes.fromhex(node["name"])
            name = f"  name {node['name']}" + (f' "{raw.decode("gbk")}"' if raw == SSSE_DF_NAME else "")
        app = f"  [{node['application']}]" if "application" in node else ""
        lines = [f"{pad}{node['fid']} {node['kind']}{name}{app}"]
        if "application" in node:
            pin = node["pin"]
            pin_text = "none" if pin is None else f"{pin['tries_left']}/{pin['max_tries']} tries left" + (
                "  BLOCKED" if pin["blocked"] else "")
            atc = f"  ATC {node['atc']}" if "atc" in node else ""
            lines.append(f"{pad}  PIN {pin_text}{atc}" + ("  APPLICATION BLOCKED" if node["blocked"] else ""))
        lines += [f"{pad}  {_key_line(k)}" for k in node.get("keys", [])]
        for child in node["children"]:
            lines += _render_node(child, depth + 1)
        return lines
    sfi = f"SFI {node['sfi']:02X}" if node["sfi"] is not None else "no SFI"
    if node["kind"] == "transparent":
        shape = f"{node['size']} bytes ({node['used']} written)"
    else:
        size = f"{node['record_length']} bytes" if node["record_length"] else "variable length"
        shape = f"{len(node['records'])}/{node['max_records']} records of {size}"
    lines = [f"{pad}{node['fid']} {node['kind']}, {sfi}, {shape}; read {node['read']}, write {node['write']}"]
    for rec in node.get("records", []):
        if "value" in rec:
            lines.append(f"{pad}  {rec['number']:>2}. {rec['tag']} {rec['name']} ({rec['name_en']}): "
                         f"{_show_value(rec['value'])}")
        elif "tlv" in rec:
            lines.append(f"{pad}  {rec['number']:>2}. 70")
            lines += [f"{pad}        {tag}: {value}" for tag, value in rec["tlv"].items()]
        else:
            lines.append(f"{pad}  {rec['number']:>2}. {rec['hex']}")
    return lines


def render(info: dict[str, Any], label: str) -> list[str]:
    lines = [f"card image  {label}",
             f"profile     {info['profile']} ({info['description']})" if info["description"]
             else f"profile     {info['profile']}",
             f"ATR         {bytes.fromhex(info['atr']).hex(' ').upper()}",
             f"lifecycle   {info['lifecycle']}" + ("  CARD BLOCKED" if info["card_blocked"] else "")]
    lines += [f"MF          {_key_line(k)}" for k in info["mf_keys"]]
    return lines + [""] + _render_node(info["tree"], 0)
