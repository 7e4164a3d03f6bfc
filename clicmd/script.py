"""``sscard script run FILE``: APDU scripts in scriptor's format, with expectations."""
from __future__ import annotations

from pathlib import Path

import click

from apdu.script import StepResult, load_script, run_script
from apdu.transport.channel import default_processors

from .common import Target, card_options, emit_json, open_channel


@click.group("script")
def script_group() -> None:
    """Run APDU scripts (pcsc-tools' scriptor format plus '= SW' expectations)."""


@script_group.command("run")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@card_options
@click.option("--keep-going", is_flag=True, help="Do not stop at the first mismatch.")
@click.option("--auto", is_flag=True, help="Fetch 61xx with GET RESPONSE and resend on 6Cxx (traced).")
@click.option("--json", "as_json", is_flag=True, help="JSON report.")
@click.option("--quiet", "-q", is_flag=True, help="Only the summary line.")
def run_cmd(files: tuple[Path, ...], target: Target, keep_going: bool, auto: bool, as_json: bool, quiet: bool) -> None:
    """Run one or more script files against a reader or a virtual card.

    Exit status: 0 all steps matched, 3 a mismatch, 1 an error.
    """
    scripts = [(path, load_script(path)) for path in files]

    def show(result: StepResult) -> None:
        if not (quiet or as_json):
            for line in result.format_lines():
                click.echo(line)

    reports = []
    with open_channel(target, default_processors() if auto else []) as channel:
        for path, steps in scripts:
            if not (quiet or as_json):
                click.echo(f"# {path}")
            report = run_script(steps, channel.transmit, channel.reset, keep_going=keep_going, on_step=show)
            reports.append((path, report))
            if not report.ok and not keep_going:
                break
    passed = sum(r.passed for _, r in reports)
    failed = sum(r.failed for _, r in reports)
    if as_json:
        emit_json([{"file": str(p), **r.to_dict()} for p, r in reports])
    else:
        click.echo(f"{passed} passed, {failed} failed")
    if failed:
        raise click.exceptions.Exit(3)
