"""``sscard readers``, ``sscard atr`` and ``sscard apdu``."""
from __future__ import annotations

import click

from apdu.atr import describe_atr, parse_atr
from apdu.errors import APDUError
from apdu.command import CommandAPDU
from apdu.hexinput import parse_hex_args
from apdu.sw import describe
from apdu.transport.channel import default_processors

from .common import Target, card_options, emit_json, open_channel


@click.command("readers")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def readers_cmd(as_json: bool) -> None:
    """List PC/SC readers and whether they hold a card."""
    from apdu.pcsc_status import reader_states

    states = reader_states()
    if as_json:
        emit_json([{"index": i, "name": s.name, "card": s.present, "atr": s.atr.hex().upper() if s.atr else None}
                   for i, s in enumerate(states)])
        return
    if not states:
        click.echo("no readers")
        return
    for i, s in enumerate(states):
        card = f"card  {s.atr.hex(' ').upper()}" if s.present and s.atr else ("card" if s.present else "empty")
        click.echo(f"{i}: {s.name}  [{card}]")


@click.command("atr")
@click.argument("hex_atr", nargs=-1)
@card_options
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def atr_cmd(hex_atr: tuple[str, ...], target: Target, as_json: bool) -> None:
    """Break down an ATR: given as hex, or read from --reader / --card.

    \b
    sscard atr 3B 6D 00 00 00 81 4A 44 46 86 60 51 99 00 00 01 AC
    sscard atr --reader 0
    """
    if hex_atr:
        atr = parse_hex_args(hex_atr, what="ATR")
    else:
        with open_channel(target) as channel:
            atr = channel.atr
    parsed = parse_atr(atr)
    if as_json:
        emit_json(parsed.to_dict())
        return
    click.echo(f"ATR: {atr.hex(' ').upper()}")
    for line in describe_atr(atr):
        click.echo(line)


@click.command("apdu")
@click.argument("hex_words", nargs=-1, required=True)
@card_options
@click.option("--auto", is_flag=True,
              help="Let sscard fetch 61xx with GET RESPONSE and resend on 6Cxx (shown in the trace).")
@click.option("--expect", metavar="SW", help="Exit with status 3 unless the final SW matches (e.g. 9000, 61??).")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def apdu_cmd(hex_words: tuple[str, ...], target: Target, auto: bool, expect: str | None, as_json: bool) -> None:
    """Send one APDU exactly as typed and show the response.

    \b
    sscard apdu --reader 0 00A4 0400 0F 7378312E73682EC9E7BBE1B1A3D5CF
    sscard apdu --card card.json 00:B2:07:04:00
    """
    raw = parse_hex_args(hex_words, what="APDU")
    if len(raw) < 4:
        raise APDUError(f"APDU too short: {len(raw)} bytes, a header needs 4")
    pattern = _sw_pattern(expect) if expect else None
    try:
        CommandAPDU.parse(raw)
    except APDUError as exc:  # sent anyway: raw means raw, but say what is odd about it
        click.echo(f"warning: {exc} (sent as typed)", err=True)
    with open_channel(target, default_processors() if auto else []) as channel:
        response = channel.transmit(raw)
    data, sw = response[:-2], int.from_bytes(response[-2:], "big")
    if as_json:
        emit_json({"command": raw.hex().upper(), "response": data.hex().upper(), "sw": f"{sw:04X}",
                   "meaning": describe(sw)})
    else:
        click.echo(f">> {raw.hex(' ').upper()}")
        if data:
            for i in range(0, len(data), 16):
                click.echo(f"<< {data[i:i + 16].hex(' ').upper()}")
        click.echo(f"SW {sw:04X}: {describe(sw)}")
    if pattern is not None and not pattern(sw):
        raise click.exceptions.Exit(3)


def _sw_pattern(text: str):
    t = text.replace(" ", "").upper()
    if len(t) != 4 or any(c not in "0123456789ABCDEF?" for c in t):
        raise click.BadParameter(f"{text!r} is not a status-word pattern like 9000 or 61??", param_hint="--expect")
    return lambda sw: all(p in ("?", c) for p, c in zip(t, f"{sw:04X}"))

