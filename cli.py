"""The ``sscard`` command: social-security card toolkit.

Every error a user can cause is printed as one line (``error: ...``) with a non-zero
exit code; tracebacks are for bugs only.
"""
from __future__ import annotations

import logging
import sys

import click

from apdu.errors import SSCardError
from clicmd.basic import apdu_cmd, atr_cmd, readers_cmd
from clicmd.bench import bench_group
from clicmd.card import card_group
from clicmd.cardops import pin_group  # also adds 'card read' and 'card block' to card_group
from clicmd.doctor import doctor_cmd
from clicmd.perso import perso_group
from clicmd.script import script_group
from clicmd.sim import sim_group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="sscard")
def sscard(verbose: int) -> None:
    """sscard: China social-security card (社会保障卡) toolkit.

    Talk to real readers (PC/SC) or to sscard's virtual card, personalize cards,
    run APDU scripts and benchmarks.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


for command in (readers_cmd, atr_cmd, apdu_cmd, script_group, sim_group, card_group, pin_group, perso_group,
                bench_group, doctor_cmd):
    sscard.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the group and turn sscard errors into one-line messages."""
    try:
        rc = sscard.main(args=argv, prog_name="sscard", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except SSCardError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    return rc if isinstance(rc, int) else 0  # click returns Exit codes instead of raising


if __name__ == "__main__":
    sys.exit(main())
