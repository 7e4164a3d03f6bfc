"""The floor: the least work a card behind vpcd can do (stdlib only, no sscard imports).

It dials vpcd, sets ``TCP_NODELAY``, re-arms ``TCP_QUICKACK`` after every ``recv``,
reads whatever bytes are there into one buffer, and answers each complete frame from a
dict of pre-framed replies: GET_ATR with the ATR, other control codes with nothing,
C-APDUs with their fixed R-APDU (``6D00`` for an APDU not in the dict). No parsing,
no checks, no logging. Run it in its own process::

    python -m bench.floor --slot 1 --atr 3B00 --answer 00A4000C023F00=9000 ...

>>> frames, rest = split_frames(bytearray.fromhex("0001040005") + b"abc")
>>> [bytes(f) for f in frames], bytes(rest)
([b'\\x04'], b'\\x00\\x05abc')
"""
from __future__ import annotations

import argparse
import socket
import sys
import time
from typing import Sequence

BASE_PORT = 35963  # vpcd slot 0
GET_ATR = 0x04
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def framed(payload: bytes) -> bytes:
    return len(payload).to_bytes(2, "big") + payload


def split_frames(buffer: bytearray) -> tuple[list[bytes], bytearray]:
    """The complete frames' payloads in ``buffer`` and the incomplete rest."""
    frames: list[bytes] = []
    start = 0
    while len(buffer) - start >= 2:
        end = start + 2 + (buffer[start] << 8 | buffer[start + 1])
        if end > len(buffer):
            break
        frames.append(bytes(buffer[start + 2:end]))
        start = end
    return frames, buffer[start:]


def dial(host: str, port: int, timeout: float) -> socket.socket:
    """Connect to vpcd, retrying every 50 ms until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((host, port), timeout=timeout)
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def serve(sock: socket.socket, atr: bytes, answers: dict[bytes, bytes]) -> None:
    """Answer vpcd's frames until it closes the connection."""
    atr_frame = framed(atr)
    replies = {apdu: framed(rapdu) for apdu, rapdu in answers.items()}
    unknown = framed(b"\x6D\x00")
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()
    while True:
        chunk = sock.recv(65538)
        if _QUICKACK is not None:
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        if not chunk:
            return
        buffer += chunk
        frames, buffer = split_frames(buffer)
        for payload in frames:
            if len(payload) == 1:
                if payload[0] == GET_ATR:
                    sock.sendall(atr_frame)
            else:
                sock.sendall(replies.get(payload, unknown))


def _answer(text: str) -> tuple[bytes, bytes]:
    apdu, _, rapdu = text.partition("=")
    try:
        pair = bytes.fromhex(apdu), bytes.fromhex(rapdu)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not CAPDU=RAPDU in hex") from None
    if len(pair[0]) < 4 or len(pair[1]) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: the C-APDU needs 4+ bytes, the R-APDU 2+")
    return pair


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--slot", type=int, default=0, help="vpcd slot (port 35963 + SLOT)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--atr", type=bytes.fromhex, required=True, help="ATR in hex")
    parser.add_argument("--answer", type=_answer, action="append", default=[], metavar="CAPDU=RAPDU")
    parser.add_argument("--connect-timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    if not 2 <= len(args.atr) <= 33:
        parser.error(f"--atr has {len(args.atr)} bytes; an ATR has 2 to 33")
    try:
        sock = dial(args.host, BASE_PORT + args.slot, args.connect_timeout)
    except OSError as exc:
        print(f"error: cannot reach vpcd at {args.host}:{BASE_PORT + args.slot}: {exc}", file=sys.stderr)
        return 1
    try:
        serve(sock, args.atr, dict(args.answer))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
