"""``sscard doctor``: the questions users of virtual readers ask most, answered at once."""
from __future__ import annotations

import platform
import shutil
import sys

import click

from apdu import pcscd
from apdu.errors import SSCardError

from .common import emit_json

_TOOLS = ("opensc-tool", "scriptor", "pcsc_scan")


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def doctor_cmd(as_json: bool) -> None:
    """Check pcscd, the vpcd driver, readers and cards; say how to fix what is wrong.

    Exit status 0 when PC/SC is ready for virtual cards, 1 otherwise.
    """
    st = pcscd.status()
    checks: list[tuple[str, bool, str]] = []
    checks.append(("python", sys.version_info >= (3, 11), platform.python_version()))
    try:
        import smartcard  # noqa: F401

        checks.append(("pyscard", True, "importable"))
    except ImportError as exc:
        checks.append(("pyscard", False, f"not importable: {exc}"))
    checks.append(("pcscd installed", st.binary is not None, st.binary or pcscd.INSTALL_HINT))
    checks.append(("pcscd running", st.running, f"pid {st.pid}" if st.running else "not running"))
    checks.append(("pcscd socket", st.socket_present, str(pcscd.SOCKET_PATH)))
    vpcd_text = ", ".join(f"{c.path} ({', '.join(c.reader_names)})" for c in st.vpcd) or "no vpcd entry"
    checks.append(("vpcd configured", bool(st.vpcd_ports), vpcd_text))
    ports = ", ".join(f"{p} {'listening' if p in st.listening else 'closed'}" for p in st.vpcd_ports) or "-"
    checks.append(("vpcd listening", st.vpcd_listening, ports))
    for tool in _TOOLS:
        path = shutil.which(tool)
        checks.append((tool, path is not None, path or "not installed (apt-get install pcsc-tools opensc)"))

    readers: list[dict] = []
    reader_error = ""
    if st.running:
        from apdu.pcsc_status import reader_states

        try:
            readers = [{"name": s.name, "card": s.present, "atr": s.atr.hex().upper() if s.atr else None}
                       for s in reader_states()]
        except SSCardError as exc:
            reader_error = str(exc)
    problems = st.problems() + ([reader_error] if reader_error else [])
    ok = st.ready and not reader_error

    if as_json:
        emit_json({"ok": ok, "checks": [{"check": n, "ok": good, "detail": d} for n, good, d in checks],
                   "readers": readers, "problems": problems})
    else:
        for name, good, detail in checks:
            click.echo(f"{'ok ' if good else 'NO '} {name:16} {detail}")
        if st.running:
            if readers:
                click.echo("readers:")
                for i, r in enumerate(readers):
                    card = f"card, ATR {r['atr']}" if r["card"] else "no card (serve one: sscard sim serve)"
                    click.echo(f"    {i}: {r['name']}: {card}")
            elif not reader_error:
                click.echo("readers: none")
        for problem in problems:
            click.echo(f"fix: {problem}")
        click.echo("PC/SC is ready for virtual cards" if ok else "PC/SC is not ready")
    if not ok:
        raise click.exceptions.Exit(1)
