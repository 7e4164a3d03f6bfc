"""EMV CPS / GlobalPlatform personalization commands: formats shared by card and host.

* ``80E6 2000 Lc 00 00 L AID 00 00 00`` INSTALL [for personalization] (GP 2.2
  §11.5.2.3: no load file, no module, the application AID, no privileges, parameters or
  token): :func:`install_for_personalization_data`, :func:`parse_install_for_personalization`.
* ``80E2 P1 P2 Lc DGIs`` STORE DATA (GP 2.2 §11.11): P1 b8 last block (:data:`P1_LAST`),
  b7-b6 = 11 encrypted data (mask :data:`P1_ENCRYPTED` = 60), b5-b4 = 01 DGI format
  (:data:`P1_DGI`, optional: CPS bureaus often leave it 00), b3-b1 RFU; P2 the block number
  from 00. The data field's DGIs are below.

The data field of CPS STORE DATA: DGIs, one after the other, possibly continued.

Each DGI is ``DGI(2) ‖ length ‖ data`` with the length in one byte (00-FE) or ``FF``
followed by two bytes (EMV CPS). A command holds one or more DGIs; a plaintext DGI too
long for one command continues at the start of the next one's data (its header stays
whole in the first). :class:`DgiReader` collects them across the commands of one
application's personalization.

>>> install_for_personalization_data(bytes.fromhex("A000000333010101")).hex().upper()
'000008A000000333010101000000'
>>> r = DgiReader()
>>> r.feed(bytes.fromhex("9102 03 A50188" "0101 05 7003"))
[(37122, b'\\xa5\\x01\\x88')]
>>> r.pending
'DGI 0101 (2 of 5 bytes)'
>>> [(f"{d:04X}", v.hex().upper()) for d, v in r.feed(bytes.fromhex("5A0112"))]
[('0101', '70035A0112')]
>>> DgiReader().feed(bytes.fromhex("0101 FF 00"))
Traceback (most recent call last):
cardspec.cps.DgiStreamError: DGI 0101 at offset 0: the header is cut off
"""
from __future__ import annotations

from apdu.errors import SSCardError

__all__ = ["DgiStreamError", "DgiReader", "encode_dgi", "install_for_personalization_data",
           "parse_install_for_personalization", "P1_LAST", "P1_ENCRYPTED", "P1_DGI", "MAX_BLOCK"]

P1_LAST = 0x80  #: STORE DATA P1 b8: last block of this application's personalization
P1_ENCRYPTED = 0x60  #: STORE DATA P1 b7-b6 = 11: the DGIs' data are DEK-encrypted
P1_DGI = 0x08  #: STORE DATA P1 b5-b4 = 01: DGI format
#: Largest STORE DATA data field before wrapping: 239 plaintext bytes pad to 240, and with
#: the C-MAC that is 248 ≤ 255 even under C-DECRYPTION (SCP02 security level 03)
MAX_BLOCK = 239


class DgiStreamError(SSCardError, ValueError):
    """A STORE DATA or INSTALL data field that does not follow its format (the card answers 6A80)."""


def install_for_personalization_data(aid: bytes) -> bytes:
    """The data field of INSTALL [for personalization] naming application ``aid``."""
    if not 5 <= len(aid) <= 16:
        raise DgiStreamError(f"INSTALL [for personalization]: an AID is 5-16 bytes, got {len(aid)}")
    return b"\x00\x00" + bytes((len(aid),)) + bytes(aid) + b"\x00\x00\x00"


def parse_install_for_personalization(data: bytes) -> bytes:
    """The application AID of an INSTALL [for personalization] data field.

    >>> parse_install_for_personalization(bytes.fromhex("000005A0000003330000"))
    Traceback (most recent call last):
    cardspec.cps.DgiStreamError: INSTALL [for personalization]: 10 bytes, expected 11 (00 00 05 AID 00 00 00)
    """
    if len(data) < 3 or data[0] or data[1]:
        raise DgiStreamError(f"INSTALL [for personalization]: {data[:3].hex().upper()} must start with 00 00"
                             " (no load file, no module) and an AID length")
    size = data[2]
    if len(data) != size + 6:
        raise DgiStreamError(f"INSTALL [for personalization]: {len(data)} bytes, expected {size + 6}"
                             f" (00 00 {size:02X} AID 00 00 00)")
    if not 5 <= size <= 16 or data[3 + size:] != bytes(3):
        raise DgiStreamError(f"INSTALL [for personalization]: AID of {size} bytes (5-16), then"
                             f" {data[3 + size:].hex().upper()} (must be 000000: no privileges, parameters, token)")
    return bytes(data[3:3 + size])


def encode_dgi(dgi: int, data: bytes) -> bytes:
    """``DGI ‖ length ‖ data`` (the length as ``FF xxxx`` from 255 bytes on).

    >>> encode_dgi(0x9010, bytes.fromhex("0303")).hex().upper(), encode_dgi(0x0101, bytes(300))[:5].hex().upper()
    ('9010020303', '0101FF012C')
    """
    if not 0 <= dgi <= 0xFFFF or len(data) > 0xFFFF:
        raise DgiStreamError(f"DGI {dgi:#x} with {len(data)} bytes cannot be encoded")
    size = bytes((len(data),)) if len(data) < 0xFF else b"\xFF" + len(data).to_bytes(2, "big")
    return dgi.to_bytes(2, "big") + size + bytes(data)


class DgiReader:
    """Splits the data fields of successive STORE DATA commands into complete DGIs."""

    def __init__(self) -> None:
        self._dgi: int | None = None
        self._need = 0
        self._got = bytearray()

    @property
    def pending(self) -> str | None:
        """The DGI waiting for its continuation, for messages; None when none is."""
        if self._dgi is None:
            return None
        return f"DGI {self._dgi:04X} ({len(self._got)} of {self._need} bytes)"

    def feed(self, data: bytes, *, whole: bool = False) -> list[tuple[int, bytes]]:
        """The DGIs ``data`` completes, in order. ``whole``: every DGI must end inside
        ``data`` (encrypted commands, the last block). On an error the reader is unchanged."""
        dgi, need, got = self._dgi, self._need, bytearray(self._got)
        out: list[tuple[int, bytes]] = []
        pos = 0
        if dgi is not None:
            take = min(need - len(got), len(data))
            got += data[:take]
            pos = take
            if len(got) == need:
                out.append((dgi, bytes(got)))
                dgi = None
        while pos < len(data):
            if len(data) - pos < 3:
                raise DgiStreamError(f"offset {pos}: {len(data) - pos} bytes left, a DGI header needs 3")
            dgi = int.from_bytes(data[pos:pos + 2], "big")
            size, head = data[pos + 2], 3
            if size == 0xFF:
                if len(data) - pos < 5:
                    raise DgiStreamError(f"DGI {dgi:04X} at offset {pos}: the header is cut off")
                size, head = int.from_bytes(data[pos + 3:pos + 5], "big"), 5
            start = pos + head
            got = bytearray(data[start:start + size])
            need, pos = size, min(start + size, len(data))
            if len(got) == need:
                out.append((dgi, bytes(got)))
                dgi = None
        if dgi is not None and whole:
            raise DgiStreamError(f"DGI {dgi:04X}: {len(got)} of {need} bytes, and no continuation may follow")
        self._dgi, self._need, self._got = dgi, need, got
        return out

    def copy(self) -> DgiReader:
        """An independent reader in the same state (to feed without committing)."""
        other = DgiReader()
        other._dgi, other._need, other._got = self._dgi, self._need, bytearray(self._got)
        return other

    def reset(self) -> None:
        """Forget a DGI waiting for its continuation (a new INSTALL [for personalization])."""
        self.__init__()  # type: ignore[misc]
