"""Control and diagnose pcscd with vsmartcard's vpcd driver (no systemd needed).

Used by the test command (``python -m apdu.pcscd run -- pytest``), ``sscard doctor``
and the demo. Facts this relies on (see pcsc-vpcd.md): the client socket is
``/run/pcscd/pcscd.comm``; vpcd is configured in ``/etc/reader.conf.d`` with
``DEVICENAME /dev/null:<port>`` and serves 2 slots on ``port`` and ``port + 1``;
pcscd reads that directory only at start-up.

Port checks read ``/proc/net/tcp{,6}`` and never connect: vpcd would take a connect
for a card.

>>> parse_reader_conf('FRIENDLYNAME "Virtual PCD"\\nDEVICENAME /dev/null:0x8C7B\\n'
...                   'LIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\\n', Path("vpcd"))[0].ports
(35963, 35964)
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from .errors import ServiceUnavailable
from .vpcd import reader_name

SOCKET_PATH = Path("/run/pcscd/pcscd.comm")
PID_PATH = Path("/run/pcscd/pcscd.pid")
READER_CONF_DIR = Path("/etc/reader.conf.d")
VPCD_SLOTS = 2  # Debian's libifdvpcd is built with VPCDSLOTS=2
VPCD_DEFAULT_PORT = 0x8C7B  # 35963
DEFAULT_LOG = Path(tempfile.gettempdir()) / "sscard-pcscd.log"
INSTALL_HINT = "apt-get install pcscd vsmartcard-vpcd"
_SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")
_TCP_LISTEN = "0A"


@dataclass(frozen=True)
class VpcdConfig:
    """One vpcd entry of reader.conf.d."""

    path: Path
    friendly_name: str
    device: str  # DEVICENAME as written
    ports: tuple[int, ...]  # one per slot; empty in reversed mode (vpcd dials the card)

    @property
    def server_mode(self) -> bool:
        """True for ``/dev/null:<port>`` (vpcd listens, the card dials in)."""
        return bool(self.ports)

    @property
    def reader_names(self) -> tuple[str, ...]:
        return tuple(reader_name(slot, self.friendly_name) for slot in range(len(self.ports)))


def parse_reader_conf(text: str, path: Path) -> list[VpcdConfig]:
    """The vpcd entries of one reader.conf file (entries of other drivers are skipped)."""
    entries: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.partition(" ")
        key, value = key.upper(), value.strip().strip('"')
        if key == "FRIENDLYNAME" and "FRIENDLYNAME" in current:
            entries.append(current)
            current = {}
        current[key] = value
    if current:
        entries.append(current)
    configs = []
    for entry in entries:
        if "ifdvpcd" not in Path(entry.get("LIBPATH", "")).name:
            continue
        device = entry.get("DEVICENAME", "")
        host, _, port_text = device.rpartition(":") if ":" in device else (device, "", entry.get("CHANNELID", ""))
        ports: tuple[int, ...] = ()
        if host in ("/dev/null", ""):
            base = int(port_text, 0) if port_text else VPCD_DEFAULT_PORT
            ports = tuple(base + slot for slot in range(VPCD_SLOTS))
        configs.append(VpcdConfig(path, entry.get("FRIENDLYNAME", "Virtual PCD"), device, ports))
    return configs


def read_vpcd_configs(conf_dir: Path = READER_CONF_DIR) -> tuple[VpcdConfig, ...]:
    """All vpcd entries found in ``conf_dir`` (normally exactly one)."""
    found: list[VpcdConfig] = []
    if conf_dir.is_dir():
        for path in sorted(conf_dir.iterdir()):
            if path.is_file():
                try:
                    found += parse_reader_conf(path.read_text(errors="replace"), path)
                except (OSError, ValueError):
                    continue
    return tuple(found)


def find_pcscd() -> str | None:
    """Path of the pcscd binary (also found in sbin directories missing from a user's PATH)."""
    found = shutil.which("pcscd")
    if found:
        return found
    return next((str(Path(d) / "pcscd") for d in _SBIN_DIRS if os.access(Path(d) / "pcscd", os.X_OK)), None)


def _process_alive(pid: int, name: str | None = None) -> bool:
    """True for a live (not zombie) process, optionally with the given command name."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    comm, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:][:1]
    return state not in ("Z", "X") and (name is None or comm == name)


def _pid_from_file(path: Path = PID_PATH) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def find_pcscd_pid() -> int | None:
    """PID of the running pcscd: the pid file if it names a live pcscd, else a scan of /proc."""
    recorded = _pid_from_file()
    if recorded is not None and _process_alive(recorded, "pcscd"):
        return recorded
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _process_alive(int(entry.name), "pcscd"):
            return int(entry.name)
    return None


def listening_sockets() -> dict[int, int]:
    """TCP ports in LISTEN state (IPv4 and IPv6) mapped to their socket inode, from /proc/net."""
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _TCP_LISTEN:
                found.setdefault(int(fields[1].rsplit(":", 1)[1], 16), int(fields[9]))
    return found


def socket_owner(inode: int) -> tuple[int, str] | None:
    """(pid, command name) of a process holding socket ``inode``; None if not visible to us."""
    target = f"socket:[{inode}]"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) == target:
                    return int(entry.name), (entry / "comm").read_text().strip()
        except OSError:
            continue
    return None


@dataclass(frozen=True)
class PcscdStatus:
    """What ``status()`` found; :attr:`ready` means clients and vpcd cards can both connect."""

    binary: str | None
    pid: int | None  # the running pcscd
    pid_file_pid: int | None  # what /run/pcscd/pcscd.pid says (may be stale)
    socket_present: bool
    vpcd: tuple[VpcdConfig, ...]
    listening: frozenset[int]  # the vpcd ports in LISTEN state
    port_owners: tuple[tuple[int, int, str], ...] = ()  # (port, pid, name) of listeners on vpcd ports

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def vpcd_ports(self) -> tuple[int, ...]:
        return next((c.ports for c in self.vpcd if c.server_mode), ())

    @property
    def vpcd_listening(self) -> bool:
        return bool(self.vpcd_ports) and all(p in self.listening for p in self.vpcd_ports)

    @property
    def ready(self) -> bool:
        return self.running and self.socket_present and self.vpcd_listening

    def problems(self) -> list[str]:
        """One sentence per problem, each naming the fix."""
        out: list[str] = []
        if self.binary is None:
            out.append(f"pcscd is not installed: {INSTALL_HINT}")
        if not self.vpcd:
            out.append(f"no vpcd entry in {READER_CONF_DIR}: apt-get install vsmartcard-vpcd")
        elif not self.vpcd_ports:
            out.append(f"vpcd in {self.vpcd[0].path} uses reversed mode (DEVICENAME {self.vpcd[0].device}), "
                       "which makes pcscd abort when a card is absent: use DEVICENAME /dev/null:0x8C7B")
        if len(self.vpcd) > 1:
            out.append("several vpcd entries (" + ", ".join(str(c.path) for c in self.vpcd)
                       + ") hang pcscd clients: keep one")
        foreign = [(port, pid, name) for port, pid, name in self.port_owners if pid != self.pid]
        for port, pid, name in foreign:
            out.append(f"port {port} is held by pid {pid} ({name}), so vpcd cannot listen there: stop that process")
        if not self.running:
            out.append("pcscd is not running: start it with 'pcscd --foreground &' "
                       "(or run commands through 'python -m apdu.pcscd run -- CMD')")
        else:
            if not self.socket_present:
                out.append(f"pcscd (pid {self.pid}) is running but {SOCKET_PATH} is missing")
            if self.vpcd_ports and not self.vpcd_listening and not foreign:
                out.append(f"pcscd (pid {self.pid}) is running but vpcd does not listen on "
                           f"{_ports_text(self.vpcd_ports)}: it was started before vsmartcard-vpcd was installed; "
                           f"restart it: kill {self.pid}; pcscd --foreground &")
        return out

    def lines(self) -> list[str]:
        """A human summary (``python -m apdu.pcscd status``, ``sscard doctor``)."""
        out = [f"pcscd binary: {self.binary or 'not found'}"]
        if self.running:
            out.append(f"pcscd: running (pid {self.pid})")
        else:
            stale = f" (stale pid file names {self.pid_file_pid})" if self.pid_file_pid else ""
            out.append(f"pcscd: not running{stale}")
        out.append(f"socket {SOCKET_PATH}: {'present' if self.socket_present else 'absent'}")
        for config in self.vpcd:
            mode = _ports_text(config.ports) if config.ports else f"reversed mode {config.device}"
            out.append(f"vpcd config {config.path}: {', '.join(config.reader_names) or config.friendly_name} "
                       f"on {mode}")
        for port in self.vpcd_ports:
            out.append(f"vpcd port {port}: {'listening' if port in self.listening else 'not listening'}")
        out.append(f"ready: {'yes' if self.ready else 'no'}")
        out += [f"problem: {p}" for p in self.problems()]
        return out


def _ports_text(ports: Sequence[int]) -> str:
    return ", ".join(str(p) for p in ports)


def status() -> PcscdStatus:
    """Inspect pcscd and vpcd without touching them (no client connection, no TCP connect)."""
    configs = read_vpcd_configs()
    ports = next((c.ports for c in configs if c.server_mode), ())
    sockets = listening_sockets()
    owners = []
    for port in ports:
        if port in sockets:
            owner = socket_owner(sockets[port])
            if owner is not None:
                owners.append((port, *owner))
    return PcscdStatus(binary=find_pcscd(), pid=find_pcscd_pid(), pid_file_pid=_pid_from_file(),
                       socket_present=SOCKET_PATH.is_socket(), vpcd=configs,
                       listening=frozenset(p for p in ports if p in sockets), port_owners=tuple(owners))


def log_tail(path: Path | None, lines: int = 15) -> str:
    """The last lines of a log, indented, for error messages."""
    if path is None:
        return ""
    try:
        tail = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return ("\n" + "\n".join(f"  | {line}" for line in tail)) if tail else ""


def start(log_path: Path = DEFAULT_LOG) -> subprocess.Popen[bytes]:
    """Start ``pcscd --foreground`` (default log level) with its output in ``log_path``."""
    binary = find_pcscd()
    if binary is None:
        raise ServiceUnavailable(f"pcscd not installed: {INSTALL_HINT}")
    pid = find_pcscd_pid()
    if pid is not None:
        raise ServiceUnavailable(f"pcscd is already running (pid {pid}); only one pcscd can run per machine")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log_file:
        # own session: a terminal Ctrl-C reaches the caller, which then stops pcscd in order
        return subprocess.Popen([binary, "--foreground"], stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None,
               log_path: Path | None = None) -> PcscdStatus:
    """Wait for the client socket and the vpcd ports; raises ServiceUnavailable with the log tail."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServiceUnavailable(f"pcscd exited with status {proc.returncode} during start-up"
                                     f"{log_tail(log_path)}")
        current = status()
        if current.socket_present and current.vpcd_listening:
            return current
        if time.monotonic() >= deadline:
            missing = "; ".join(current.problems()) or "not ready"
            raise ServiceUnavailable(f"pcscd not ready after {timeout:.0f} s: {missing}{log_tail(log_path)}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> int:
    """SIGTERM, wait, SIGKILL after ``timeout``; always reaps. Returns the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


@dataclass(frozen=True)
class PcscdHandle:
    """What :func:`ensure_running` provides: the status and, if it started pcscd, the process."""

    status: PcscdStatus
    proc: subprocess.Popen[bytes] | None
    log_path: Path | None

    @property
    def started(self) -> bool:
        return self.proc is not None


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt (main thread only) so cleanup code runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def ensure_running(log_path: Path = DEFAULT_LOG, timeout: float = 10.0) -> Iterator[PcscdHandle]:
    """Use a ready pcscd as it is, or start one for the duration of the block (and stop it after).

    A pcscd running without vpcd listening is an error: it must be restarted, since it
    reads reader.conf.d only at start-up.
    """
    current = status()
    if current.binary is None:
        raise ServiceUnavailable(f"pcscd not installed: {INSTALL_HINT}")
    if not current.vpcd_ports:
        raise ServiceUnavailable("; ".join(current.problems()))
    if current.running:
        if not current.ready:  # it may be starting right now
            try:
                current = wait_ready(timeout=min(timeout, 2.0))
            except ServiceUnavailable:
                raise ServiceUnavailable("; ".join(status().problems())) from None
        yield PcscdHandle(current, None, None)
        return
    foreign = [f"port {port} is held by pid {pid} ({name})" for port, pid, name in current.port_owners]
    if foreign:
        raise ServiceUnavailable(f"cannot start pcscd: {'; '.join(foreign)}, so vpcd could not listen")
    with _sigterm_as_interrupt():
        proc = start(log_path)
        try:
            ready = wait_ready(timeout, proc, log_path)
            yield PcscdHandle(ready, proc, log_path)
        finally:
            stop(proc)


def _run_command(command: Sequence[str]) -> int:
    """Run ``command`` to completion, forwarding SIGTERM/SIGHUP; returns a shell-style exit status."""
    try:
        child = subprocess.Popen(list(command))
    except OSError as exc:
        print(f"error: cannot run {command[0]!r}: {exc.strerror or exc}", file=sys.stderr)
        return 127

    def forward(signum: int, frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    # The child shares our process group, so a terminal Ctrl-C reaches it directly; ignore it here.
    handlers = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    handlers[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        rc = child.wait()
    finally:
        for sig, previous in handlers.items():
            signal.signal(sig, previous)
    return 128 - rc if rc < 0 else rc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apdu.pcscd", description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("status", help="show pcscd/vpcd status; exit 0 when ready")
    run = sub.add_parser("run", help="run CMD with pcscd ensured (started and stopped if needed)")
    run.add_argument("--log", type=Path, default=DEFAULT_LOG, help=f"pcscd log when started (default {DEFAULT_LOG})")
    run.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for pcscd to become ready")
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    args = parser.parse_args(argv)

    if args.action == "status":
        current = status()
        print("\n".join(current.lines()))
        return 0 if current.ready else 1
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("run needs a command: python -m apdu.pcscd run -- CMD ARGS...")
    try:
        with ensure_running(args.log, args.timeout) as handle:
            if handle.started:
                print(f"apdu.pcscd: started pcscd (pid {handle.proc.pid}, log {handle.log_path}); "
                      "it is stopped when the command ends", file=sys.stderr)
            else:
                print(f"apdu.pcscd: using the running pcscd (pid {handle.status.pid})", file=sys.stderr)
            return _run_command(command)
    except ServiceUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("apdu.pcscd: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
