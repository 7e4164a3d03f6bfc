"""Options and helpers shared by the card-facing commands."""
from __future__ import annotations

import contextlib
import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import click

from apdu.errors import SSCardError
from apdu.trace import Tracer
from apdu.transport.base import Transport
from apdu.transport.channel import Channel, Processor


@dataclass
class Target:
    """Where the card is: a PC/SC reader or a virtual card image."""

    reader: str | None
    card: Path | None
    protocol: str
    exclusive: bool
    trace: Path | None
    trace_format: str
    show_secrets: bool


def card_options(func: Callable) -> Callable:
    """``--reader``, ``--card``, ``--protocol``, ``--exclusive``, ``--trace`` and friends."""
    options = [
        click.option("--reader", "-r", metavar="NAME", help="PC/SC reader: index, name fragment or regex (re:...)."),
        click.option("--card", "-c", "card", metavar="PATH", type=click.Path(path_type=Path),
                     help="Virtual card image (in-process, no pcscd)."),
        click.option("--protocol", type=click.Choice(["auto", "T=0", "T=1"]), default="auto", show_default=True,
                     help="PC/SC protocol."),
        click.option("--exclusive/--shared", default=False, help="PC/SC share mode."),
        click.option("--trace", metavar="FILE", type=click.Path(path_type=Path),
                     help="Write an APDU trace ('-' for stderr)."),
        click.option("--trace-format", type=click.Choice(["text", "jsonl"]), default="text", show_default=True),
        click.option("--show-secrets", is_flag=True, help="Do not redact PINs and keys in the trace."),
    ]
    for option in reversed(options):
        func = option(func)

    @functools.wraps(func)
    def wrapper(*args: Any, reader, card, protocol, exclusive, trace, trace_format, show_secrets, **kwargs: Any):
        if reader is not None and card is not None:
            raise click.UsageError("give either --reader or --card, not both")
        target = Target(reader, card, protocol, exclusive, trace, trace_format, show_secrets)
        return func(*args, target=target, **kwargs)

    return wrapper


def open_transport(target: Target) -> Transport:
    """A transport for the target; a virtual card image when --card is given."""
    if target.card is not None:
        from cardsim.image import open_image_card  # only the simulator path needs cardsim
        from apdu.transport.virtual import VirtualTransport

        card = open_image_card(target.card)
        return VirtualTransport(card, name=f"virtual card {target.card}")
    from apdu.transport.pcsc import PcscTransport

    return PcscTransport(target.reader, protocol=target.protocol, exclusive=target.exclusive)


@contextlib.contextmanager
def open_channel(target: Target, processors: list[Processor] | None = None) -> Iterator[Channel]:
    """Connected channel with tracing as the options ask; disconnects on exit."""
    with _trace_stream(target.trace) as stream:
        tracer = Tracer(stream, fmt=target.trace_format, show_secrets=target.show_secrets) if stream else None
        channel = Channel(open_transport(target), processors or [], tracer)
        channel.connect()
        try:
            yield channel
        finally:
            channel.disconnect()


@contextlib.contextmanager
def _trace_stream(path: Path | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
    elif str(path) == "-":
        yield sys.stderr
    else:
        try:
            stream = open(path, "a", encoding="utf-8")
        except OSError as exc:
            raise SSCardError(f"cannot write trace file {path}: {exc.strerror}") from None
        with stream:
            yield stream


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))
