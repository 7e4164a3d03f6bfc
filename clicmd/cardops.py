"""Card operations after issuance: ``sscard card read``, ``sscard card block`` and the
``sscard pin`` group (verify, status, change, unblock, reset) over a reader or a card
image (:mod:`personalize.terminal`).

PINs never come from the command line, where shell history and ``ps`` would keep them:
they are prompted with hidden input, or read from standard input (``--pin-stdin``,
one PIN per line: the current PIN first, then the new one) or from environment
variables (``--pin-env VAR``, ``--new-pin-env VAR``).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from apdu.transport.channel import default_processors
from personalize import terminal
from personalize.keys import IssuerKeys
from personalize.terminal import BlockTarget, PinBlockMask, Zone

from .card import card_group
from .common import Target, card_options, emit_json, open_channel

__all__ = ["pin_group", "read_cmd", "block_cmd"]

_ZONE_NAMES = {"ssse": "social-security (SSSE)", "pboc": "financial (PBOC debit)"}


def _keys_options(required: bool) -> Callable[[Callable], Callable]:
    def decorate(func: Callable) -> Callable:
        func = click.option("--insecure-keys", is_flag=True,
                            help="Accept a key file that group or others may read (test keys only).")(func)
        return click.option("--keys", "keys_path", metavar="FILE", required=required,
                            type=click.Path(path_type=Path, dir_okay=False),
                            help="Issuer key file (TOML, see personalize/keys.py).")(func)
    return decorate


def _load_keys(path: Path | None, insecure: bool) -> IssuerKeys | None:
    return None if path is None else IssuerKeys.load(path, insecure=insecure)


# --- card read ------------------------------------------------------------------------------
@card_group.command("read")
@card_options
@_keys_options(required=False)
@click.option("--gpo", is_flag=True,
              help="Read the financial records the AFL lists after GET PROCESSING OPTIONS (increments the ATC).")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def read_cmd(target: Target, keys_path: Path | None, insecure_keys: bool, gpo: bool, as_json: bool) -> None:
    """Read both zones as a terminal does: the social-security records (EF06 of a
    3rd-generation card needs --keys) and the financial application, with the PIN
    try counters. Nothing is written; without --gpo no counter changes."""
    keys = _load_keys(keys_path, insecure_keys)
    with open_channel(target, default_processors()) as channel:
        info = {"atr": channel.atr.hex().upper(), "ssse": terminal.read_social(channel, keys=keys),
                "pboc": terminal.read_financial(channel, gpo=gpo)}
    if as_json:
        emit_json(info)
        return
    for line in render_read(info):
        click.echo(line)


def _pin_text(pin: dict[str, Any]) -> str:
    if pin["blocked"]:
        return "BLOCKED"
    return "verified" if pin["verified"] else f"{pin['tries_left']} tries left"


def _records_lines(title: str, records: Any) -> list[str]:
    if isinstance(records, str):
        return [f"  {title}: {records}"]
    lines = [f"  {title}"]
    for rec in records:
        if "value" not in rec:
            lines.append(f"    {rec['number']:>2}. {rec['hex']}  ({rec['undecoded']})")
            continue
        value = rec["value"]
        shown = " ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value) or "(empty)"
        lines.append(f"    {rec['number']:>2}. {rec['tag']} {rec['name']} ({rec['name_en']}): {shown}")
    return lines


def render_read(info: dict[str, Any]) -> list[str]:
    """``card read`` as text."""
    social, fin = info["ssse"], info["pboc"]
    algorithm = f", {social['algorithm']}" if "algorithm" in social else ""
    lines = [f"ATR  {bytes.fromhex(info['atr']).hex(' ').upper()}", "",
             f"{_ZONE_NAMES['ssse']}: {social['status']}{algorithm}"]
    if "ef05" in social:
        lines += _records_lines("EF05 发卡机构数据 (issuer data)", social["ef05"])
        lines += _records_lines("EF06 持卡人基本信息 (cardholder)", social["ef06"])
        lines.append(f"  PIN: {_pin_text(social['pin'])}")
    label = f' "{fin["label"]}"' if fin["label"] else ""
    lines += ["", f"{_ZONE_NAMES['pboc']}: {fin['status']}, {fin['aid']}{label}"]
    id_type = f" ({fin['id_type']['name']})" if fin["id_type"] else ""
    rows = [("PAN", f"{fin['pan']}  (PSN {fin['psn']})" if fin["psn"] else fin["pan"]),
            ("cardholder", fin["name"]), ("ID number", f"{fin['id_number']}{id_type}" if fin["id_number"] else None),
            ("expiry", fin["expiry"]), ("effective", fin["effective"]), ("service code", fin["service_code"]),
            ("currency", fin["currency"]), ("country", fin["country"]),
            ("ODA", f"{'SDA and DDA' if fin['dda'] else 'SDA'} under CA index {fin['oda_ca_index']}"
             if fin["oda_ca_index"] else None),
            ("ATC", f"{fin['atc']}  (last online {fin['last_online_atc']}{'; GPO spent one' if fin['gpo'] else ''})"),
            ("PIN", "BLOCKED" if fin["pin_tries_left"] == 0 else f"{fin['pin_tries_left']} tries left")]
    lines += [f"  {name:<13} {value}" for name, value in rows if value is not None]
    return lines


# --- card block -------------------------------------------------------------------------------
_BLOCK_WARNINGS = {
    ("application", "ssse"): "This permanently blocks the social-security application: it answers 9303 to "
                             "every command from then on, and no command unblocks it.",
    ("application", "pboc"): "This blocks the financial application: it starts no transaction until the issuer "
                             "sends APPLICATION UNBLOCK.",
    ("card", "ssse"): "This permanently blocks the whole card: it answers 6A81 to every command from then on.",
    ("card", "pboc"): "This permanently blocks the whole card: it answers 6A81 to every command from then on.",
}


@card_group.command("block")
@card_options
@click.option("--application", "what", flag_value="application", help="Block the zone's application.")
@click.option("--whole-card", "what", flag_value="card",
              help="Block the whole card (CARD BLOCK; --card names the card image).")
@click.option("--zone", type=click.Choice(terminal.ZONES), default="ssse", show_default=True,
              help="The zone whose commands block.")
@_keys_options(required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def block_cmd(target: Target, what: BlockTarget | None, zone: Zone, keys_path: Path, insecure_keys: bool,
              yes: bool) -> None:
    """Block the social-security or financial application, or the whole card, with the
    issuer's keys (SSSE: APPLICATION BLOCK / CARD BLOCK after BK authentication; PBOC:
    issuer scripts 841E / 8416 in a transaction)."""
    if what is None:
        raise click.UsageError("say what to block: --application or --whole-card")
    keys = IssuerKeys.load(keys_path, insecure=insecure_keys)
    if not yes:
        click.confirm(f"{_BLOCK_WARNINGS[(what, zone)]} Continue?", abort=True)
    with open_channel(target, default_processors()) as channel:
        terminal.block(channel, what, zone, keys)
    done = "whole card blocked" if what == "card" else f"{_ZONE_NAMES[zone]} application blocked"
    click.echo(done)


# --- pin --------------------------------------------------------------------------------------
class PinInput:
    """Where the PINs of one command come from: hidden prompts, stdin lines or environment variables."""

    def __init__(self, stdin: bool, env: str | None, new_env: str | None) -> None:
        if stdin and (env or new_env):
            raise click.UsageError("--pin-stdin excludes --pin-env and --new-pin-env")
        self.stdin, self.env, self.new_env = stdin, env, new_env

    def _from_env(self, name: str) -> str:
        value = os.environ.get(name)
        if value is None:
            raise click.UsageError(f"environment variable {name} is not set")
        return value

    def _from_stdin(self, what: str) -> str:
        line = sys.stdin.readline().strip()
        if not line:
            raise click.UsageError(f"--pin-stdin: no {what} on standard input")
        return line

    def current(self, what: str = "PIN") -> str:
        if self.env:
            return self._from_env(self.env)
        if self.stdin:
            return self._from_stdin(what)
        return click.prompt(what[0].upper() + what[1:], hide_input=True)

    def new(self) -> str:
        if self.new_env:
            return self._from_env(self.new_env)
        if self.stdin:
            return self._from_stdin("new PIN")
        return click.prompt("New PIN", hide_input=True, confirmation_prompt=True)


def _zone_option(func: Callable) -> Callable:
    return click.option("--zone", type=click.Choice(terminal.ZONES), required=True,
                        help="ssse: the social-security PIN; pboc: the financial PIN.")(func)


def _pin_options(current: bool, new: bool) -> Callable[[Callable], Callable]:
    def decorate(func: Callable) -> Callable:
        func = click.option("--pin-stdin", is_flag=True,
                            help="Read PINs from standard input, one a line (current first, then new).")(func)
        if new:
            func = click.option("--new-pin-env", metavar="VAR",
                                help="Take the new PIN from environment variable VAR.")(func)
        if current:
            func = click.option("--pin-env", metavar="VAR", help="Take the PIN from environment variable VAR.")(func)
        return func
    return decorate


_MASK_OPTION = click.option("--pin-block-mask", type=click.Choice(["none", "udk-ac", "udk-enc"]), default="none",
                            show_default=True, help="PBOC PIN CHANGE script: XOR the PIN block with a UDK first "
                            "(the issuer's profile choice).")


@click.group("pin")
def pin_group() -> None:
    """The cardholder's PIN in either zone: verify, status, change, unblock, reset."""


@pin_group.command("verify")
@card_options
@_zone_option
@_pin_options(current=True, new=False)
@click.pass_context
def verify_cmd(ctx: click.Context, target: Target, zone: Zone, pin_stdin: bool, pin_env: str | None) -> None:
    """Present the PIN (VERIFY). Exit status 1 when the card refuses it."""
    pin = PinInput(pin_stdin, pin_env, None).current()
    with open_channel(target, default_processors()) as channel:
        status = terminal.verify_pin(channel, zone, pin)
    click.echo(f"{zone.upper()} PIN: {status}")
    if not status.verified:
        ctx.exit(1)


@pin_group.command("status")
@card_options
@_zone_option
def status_cmd(target: Target, zone: Zone) -> None:
    """The PIN's tries left, spending none."""
    with open_channel(target, default_processors()) as channel:
        status = terminal.pin_status(channel, zone)
    click.echo(f"{zone.upper()} PIN: {status}")


@pin_group.command("change")
@card_options
@_zone_option
@_pin_options(current=True, new=True)
@_keys_options(required=False)
@_MASK_OPTION
def change_cmd(target: Target, zone: Zone, pin_stdin: bool, pin_env: str | None, new_pin_env: str | None,
               keys_path: Path | None, insecure_keys: bool, pin_block_mask: PinBlockMask) -> None:
    """The cardholder changes the PIN (the financial zone needs --keys: issuer script)."""
    if zone == "pboc" and keys_path is None:
        raise click.UsageError("--zone pboc changes the PIN through an issuer script: give --keys")
    keys = _load_keys(keys_path, insecure_keys)
    source = PinInput(pin_stdin, pin_env, new_pin_env)
    old, new = source.current("current PIN"), source.new()
    with open_channel(target, default_processors()) as channel:
        terminal.change_pin(channel, zone, old, new, keys=keys, pin_block_mask=pin_block_mask)
    click.echo(f"{zone.upper()} PIN changed")


@pin_group.command("unblock")
@card_options
@_zone_option
@_keys_options(required=True)
def unblock_cmd(target: Target, zone: Zone, keys_path: Path, insecure_keys: bool) -> None:
    """The issuer restores the try counter; the PIN stays the same."""
    keys = IssuerKeys.load(keys_path, insecure=insecure_keys)
    with open_channel(target, default_processors()) as channel:
        terminal.unblock_pin(channel, zone, keys)
    click.echo(f"{zone.upper()} PIN unblocked: try counter restored")


@pin_group.command("reset")
@card_options
@_zone_option
@_pin_options(current=False, new=True)
@_keys_options(required=True)
@_MASK_OPTION
def reset_cmd(target: Target, zone: Zone, pin_stdin: bool, new_pin_env: str | None, keys_path: Path,
              insecure_keys: bool, pin_block_mask: PinBlockMask) -> None:
    """The issuer sets a new PIN (forgotten PIN), with a full try counter."""
    keys = IssuerKeys.load(keys_path, insecure=insecure_keys)
    new = PinInput(pin_stdin, None, new_pin_env).new()
    with open_channel(target, default_processors()) as channel:
        terminal.reset_pin(channel, zone, keys, new, pin_block_mask=pin_block_mask)
    click.echo(f"{zone.upper()} PIN reset: new PIN set, try counter restored")
