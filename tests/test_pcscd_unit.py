"""apdu.pcscd without touching the real pcscd: config parsing, /proc inspection, diagnostics,
process stop and the ``run`` wrapper's exit status."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from apdu import pcscd
from apdu.errors import ServiceUnavailable
from apdu.pcscd import PcscdStatus, VpcdConfig, parse_reader_conf

DEBIAN_VPCD = """FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    0x8C7B
"""
CONFIG = VpcdConfig(Path("/etc/reader.conf.d/vpcd"), "Virtual PCD", "/dev/null:0x8C7B", (35963, 35964))


def test_debian_vpcd_entry():
    (config,) = parse_reader_conf(DEBIAN_VPCD, Path("vpcd"))
    assert config.ports == (35963, 35964)
    assert config.reader_names == ("Virtual PCD 00 00", "Virtual PCD 00 01")
    assert config.server_mode


@pytest.mark.parametrize("device, ports", [
    ("/dev/null:36000", (36000, 36001)),
    ("/dev/null", (35963, 35964)),
    ("127.0.0.1:0x9000", ()),  # reversed mode: vpcd dials the card
])
def test_device_forms(device, ports):
    text = f'FRIENDLYNAME "V"\nDEVICENAME {device}\nLIBPATH /x/libifdvpcd.so.0.8\n'
    assert parse_reader_conf(text, Path("f"))[0].ports == ports


def test_other_drivers_and_comments_are_skipped():
    text = ("# serial reader\n#DEVICENAME /dev/ttyS0\nFRIENDLYNAME \"GemPC\"\nDEVICENAME /dev/ttyS0\n"
            "LIBPATH /usr/lib/pcsc/drivers/serial/libccidtwin.so\n\n" + DEBIAN_VPCD)
    assert [c.friendly_name for c in parse_reader_conf(text, Path("f"))] == ["Virtual PCD"]
    assert parse_reader_conf("# nothing here\n", Path("f")) == []


def test_listening_sockets_and_owner_come_from_proc():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        sockets = pcscd.listening_sockets()
        assert port in sockets
        assert pcscd.socket_owner(sockets[port]) == (os.getpid(), Path("/proc/self/comm").read_text().strip())
    assert port not in pcscd.listening_sockets()


def _status(**changes) -> PcscdStatus:
    values = dict(binary="/usr/sbin/pcscd", pid=100, pid_file_pid=100, socket_present=True, vpcd=(CONFIG,),
                  listening=frozenset({35963, 35964}), port_owners=((35963, 100, "pcscd"), (35964, 100, "pcscd")))
    values.update(changes)
    return PcscdStatus(**values)


def test_ready_status_has_no_problems():
    status = _status()
    assert status.ready and status.problems() == []
    assert "ready: yes" in status.lines()


def test_problems_name_the_fix():
    assert _status(binary=None, pid=None).problems()[0] == "pcscd is not installed: " + pcscd.INSTALL_HINT
    stale = _status(listening=frozenset(), port_owners=())
    assert not stale.ready
    assert stale.problems() == [
        "pcscd (pid 100) is running but vpcd does not listen on 35963, 35964: it was started before "
        "vsmartcard-vpcd was installed; restart it: kill 100; pcscd --foreground &"]
    squatted = _status(pid=None, listening=frozenset({35963}), port_owners=((35963, 42, "python3"),))
    assert "port 35963 is held by pid 42 (python3), so vpcd cannot listen there: stop that process" \
        in squatted.problems()
    assert any("no vpcd entry" in p for p in _status(vpcd=()).problems())


def test_ensure_running_refuses_a_pcscd_without_vpcd(monkeypatch):
    monkeypatch.setattr(pcscd, "status", lambda: _status(listening=frozenset(), port_owners=()))
    with pytest.raises(ServiceUnavailable, match="restart it: kill 100"):
        with pcscd.ensure_running(timeout=0.1):
            pytest.fail("must not get here")


def test_ensure_running_and_start_need_pcscd(monkeypatch):
    monkeypatch.setattr(pcscd, "find_pcscd", lambda: None)
    with pytest.raises(ServiceUnavailable, match="pcscd not installed: apt-get install pcscd vsmartcard-vpcd"):
        pcscd.start(Path("/nonexistent/log"))
    with pytest.raises(ServiceUnavailable, match="pcscd not installed"):
        with pcscd.ensure_running():
            pytest.fail("must not get here")


def test_stop_escalates_to_sigkill():
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, sys, time; "
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
                                 "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout.readline() == "ready\n"
    assert pcscd.stop(stubborn, timeout=0.2) == -9
    stubborn.stdout.close()
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert pcscd.stop(polite) == -15
    assert pcscd.stop(polite) == -15  # already reaped: idempotent


def test_run_command_exit_status():
    assert pcscd._run_command([sys.executable, "-c", "import sys; sys.exit(5)"]) == 5
    assert pcscd._run_command([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"]) \
        == 128 + 15
    assert pcscd._run_command(["/nonexistent/sscard-command"]) == 127


def test_run_needs_a_command(capsys):
    with pytest.raises(SystemExit):
        pcscd.main(["run", "--"])
    assert "run needs a command" in capsys.readouterr().err
