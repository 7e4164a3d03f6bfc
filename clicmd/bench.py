"""``sscard bench``: run the benchmarks of ``bench/`` (each prints a table and writes JSON)."""
from __future__ import annotations

import importlib

import click

_BENCHMARKS = {
    "wire": "APDU round trips: in-process, pcscd+vpcd to sscard, to a minimal floor, and to vsmartcard's vicc",
    "card": "the simulator in-process on a reader-like mix, next to vicc's Iso7816OS",
    "perso": "cards per second for personalization + verification, and data preparation with peak memory",
}


@click.group("bench")
def bench_group() -> None:
    """Benchmarks: tables on stdout, JSON under bench/results/, ratios against peers."""


def _make(name: str, help_text: str) -> click.Command:
    @click.command(name, help=f"{help_text[0].upper()}{help_text[1:]}.",
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    @click.option("--short", is_flag=True, help="CI mode: a few seconds.")
    @click.pass_context
    def command(ctx: click.Context, short: bool) -> None:
        module = importlib.import_module(f"bench.{name}")
        rc = module.main((["--short"] if short else []) + list(ctx.args))
        if rc:
            raise click.exceptions.Exit(rc)

    return command


for _name, _help in _BENCHMARKS.items():
    bench_group.add_command(_make(_name, _help))
