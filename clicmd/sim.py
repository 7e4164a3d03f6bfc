"""``sscard sim serve``: present virtual cards to pcscd through vsmartcard's vpcd."""
from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

import click

from apdu import pcscd
from apdu.errors import ServiceUnavailable
from apdu.vpcd import VpcdServer, port_for_slot

log = logging.getLogger(__name__)


@click.group("sim")
def sim_group() -> None:
    """The virtual card: serve it to PC/SC programs."""


@sim_group.command("serve")
@click.option("--card", "-c", "cards", multiple=True, type=click.Path(path_type=Path),
              help="Card image to serve (repeat for several slots). Default: a sample card in memory.")
@click.option("--profile", default=None, help="Profile of the in-memory sample card (default: the default profile).")
@click.option("--slot", default=0, show_default=True, type=click.IntRange(0, 15),
              help="vpcd slot of the first card (slot N listens on port 35963+N).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where vpcd listens.")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: until Ctrl-C).")
def serve_cmd(cards: tuple[Path, ...], profile: str | None, slot: int, host: str, duration: float | None) -> None:
    """Serve virtual cards in the foreground until Ctrl-C (or SIGTERM).

    Unmodified PC/SC programs then see the card in 'Virtual PCD 00 0N':

    \b
      sscard sim serve --card alice.card &
      opensc-tool -c default -r 0 -s 00A404000F7378312E73682EC9E7BBE1B1A3D5CF
    """
    from cardsim.factory import load_or_sample  # the simulator runtime is only needed here

    status = pcscd.status()
    if host in ("127.0.0.1", "localhost") and not status.vpcd_listening:
        problems = status.problems()
        raise ServiceUnavailable(problems[-1] if problems else "vpcd is not listening (see 'sscard doctor')")
    targets = list(cards) or [None]
    servers: list[VpcdServer] = []
    for index, path in enumerate(targets):
        card, label = load_or_sample(path, profile)
        server = VpcdServer(card, slot + index, host=host)
        servers.append(server)
        click.echo(f"slot {slot + index} (port {port_for_slot(slot + index)}): {label}")
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    for server in servers:
        server.start()
    try:
        for server in servers:
            if not server.wait_inserted(5.0):
                click.echo(f"warning: vpcd on {server.address} has not asked for the card yet "
                           "(another card process may hold that slot)", err=True)
        click.echo("serving; Ctrl-C stops")
        deadline = None if duration is None else time.monotonic() + duration
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()
        signal.signal(signal.SIGTERM, previous)
        for server in servers:
            s = server.stats
            click.echo(f"slot {server.slot}: {s.apdus} APDUs, {s.insertions} insertions, {s.card_errors} card errors")
