"""Card sources of ``sscard perso run`` (:class:`personalize.batch.CardSource`):

* :class:`VirtualCardDir` (``--cards DIR``): a new blank virtual card image per holder,
  ``DIR/card-00001.json``, ``card-00002.json``, ... (numbering continues after the
  highest number found, whatever its suffix), driven in-process. A card that failed is
  kept, renamed ``*.json.failed``; a card of a run that died is renamed
  ``*.json.interrupted`` by the next run.
* :class:`ReaderSource` (``--reader NAME``): the operator inserts one blank card after the
  other. A card is taken only after the previous one was removed, so a card left in the
  reader (by a failure or a run that died) is never personalized on.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from apdu.errors import NoCard, SSCardError
from apdu.trace import Tracer
from apdu.transport.channel import Channel, default_processors
from cardspec.profile import Profile
from personalize.journal import pid_alive

__all__ = ["VirtualCardDir", "ReaderSource", "LockedStream"]

_NUMBERED = re.compile(r"card-(\d+)\.json")


class LockedStream:
    """A text stream several worker threads write traces to, one whole write at a time."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return self.stream.write(text)

    def flush(self) -> None:
        with self._lock:
            self.stream.flush()


class VirtualCardDir:
    """Blank virtual cards, one image file each, in ``directory``."""

    def __init__(self, directory: Path, profile: Profile, *, tracer: Tracer | None = None) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SSCardError(f"{directory}: cannot create the card directory ({exc.strerror})") from None
        self.directory = directory
        self.profile = profile
        self.tracer = tracer
        self.name = f"virtual cards in {directory}"
        for stale in directory.glob(".card-new-*.json"):  # a blank image a killed batch never numbered
            pid = stale.name[len(".card-new-"):-len(".json")]
            if pid.isdigit() and not pid_alive(int(pid)):
                stale.unlink(missing_ok=True)
        numbers = [int(m[1]) for p in directory.iterdir() if (m := _NUMBERED.match(p.name))]
        self._next = max(numbers, default=0) + 1
        self._paths: dict[int, Path] = {}

    def next_card(self) -> Channel:
        from apdu.transport.virtual import VirtualTransport
        from cardsim.image import load_image

        path = self._new_image()
        channel = Channel(VirtualTransport(load_image(path), name=f"virtual card {path}"), default_processors(),
                          self.tracer)
        channel.connect()
        self._paths[id(channel)] = path
        return channel

    def _new_image(self) -> Path:
        """A blank card image under the next free number. It is written under a temporary
        name and then hard-linked, which fails when the name exists: a numbered file is
        always a whole image, and never another batch's card even if two share the folder."""
        from cardsim.factory import blank_card
        from cardsim.image import save_image

        tmp = self.directory / f".card-new-{os.getpid()}.json"
        try:
            while True:
                number = self._next
                path = self.directory / f"card-{number:05d}.json"
                self._next += 1
                if any(self.directory.glob(f"{path.name}*")):  # a set-aside card keeps its number
                    continue
                # each card has its own ATR serial (the number), as real cards do: the card
                # keys are diversified from it
                save_image(blank_card(self.profile, serial=number.to_bytes(4, "big")), tmp)
                try:
                    os.link(tmp, path)
                    return path
                except FileExistsError:
                    continue
                except OSError as exc:
                    raise SSCardError(f"{path}: cannot create a card image ({exc.strerror})") from None
        finally:
            tmp.unlink(missing_ok=True)

    def card_label(self, channel: Channel) -> str:
        return str(self._paths[id(channel)])

    def release(self, channel: Channel, ok: bool) -> str | None:
        path = self._paths.pop(id(channel))
        channel.disconnect()
        return None if ok else str(self._rename(path, ".failed"))

    def set_aside(self, label: str) -> str | None:
        path = Path(label)
        if path.parent.resolve() != self.directory.resolve() or not _NUMBERED.match(path.name):
            return None
        return str(self._rename(path, ".interrupted")) if path.exists() else label

    @staticmethod
    def _rename(path: Path, suffix: str) -> Path:
        target = path.with_name(path.name + suffix)
        try:
            path.replace(target)
        except OSError as exc:
            raise SSCardError(f"{path}: cannot set the card aside as {target.name} ({exc.strerror})") from None
        return target


class ReaderSource:
    """One PC/SC reader fed by an operator (or a card feeder)."""

    def __init__(self, spec: str, *, timeout: float = 120.0, protocol: str = "auto", tracer: Tracer | None = None,
                 say: Callable[[str], None] = print) -> None:
        from apdu.transport.pcsc import list_readers, select_reader

        self.reader = select_reader(spec, list_readers())
        self.name = f"reader {self.reader!r}"
        self.timeout = timeout
        self.protocol = protocol
        self.tracer = tracer
        self.say = say
        self._must_remove = False
        self._count = 0
        self._labels: dict[int, str] = {}

    def _present(self) -> bool:
        from apdu.pcsc_status import reader_states

        return any(s.name == self.reader and s.present for s in reader_states())

    def _wait(self, present: bool, prompt: str, failure: str) -> None:
        from apdu.pcsc_status import wait_for_state

        if self._present() == present:
            return
        self.say(prompt)
        if not wait_for_state(self.reader, present, self.timeout):
            raise NoCard(f"{failure} within {self.timeout:g} s")

    def next_card(self) -> Channel:
        from apdu.transport.pcsc import PcscTransport

        if self._must_remove:
            self._wait(False, f"remove the card from {self.reader!r}",
                       f"the card was not removed from {self.reader!r}")
        self._wait(True, f"insert a blank card into {self.reader!r}", f"no card inserted into {self.reader!r}")
        channel = Channel(PcscTransport(self.reader, protocol=self.protocol), default_processors(), self.tracer)
        channel.connect()
        self._must_remove = True
        self._count += 1
        self._labels[id(channel)] = f"{self.name} card {self._count} (ATR {channel.atr.hex().upper()})"
        return channel

    def card_label(self, channel: Channel) -> str:
        return self._labels[id(channel)]

    def release(self, channel: Channel, ok: bool) -> str | None:
        label = self._labels.pop(id(channel))
        channel.disconnect()
        if ok:
            return None
        self.say(f"set the card in {self.reader!r} aside: it failed")
        return f"{label}, set aside"

    def set_aside(self, label: str) -> str | None:
        if not label.startswith(self.name + " "):
            return None
        self._must_remove = True
        self.say(f"a card of an interrupted run may still be in {self.reader!r}: take it out and set it aside")
        return f"{label}, set aside"
