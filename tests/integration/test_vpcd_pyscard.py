"""pyscard -> pcscd -> vpcd -> VpcdServer -> MiniCard: readers, protocols, APDUs, sizes, faults, slots."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from apdu import pcscd as pcscd_control
from minicard import AID, ATR_T0, ATR_T0_T1, FCI, RECORD_7, DualProtocolMiniCard, MiniCard

pytestmark = pytest.mark.pcsc

SELECT = bytes.fromhex("00A404000F") + AID
READ_RECORD_7 = bytes.fromhex("00B2070400")


def exchange(connection, apdu: bytes) -> bytes:
    data, sw1, sw2 = connection.transmit(list(apdu))
    return bytes(data) + bytes((sw1, sw2))


def test_readers_listed(vpcd_card):
    from smartcard.System import readers

    names = [str(r) for r in readers()]
    assert "Virtual PCD 00 00" in names and "Virtual PCD 00 01" in names


def test_pcscd_status_is_ready(pcscd):
    current = pcscd_control.status()
    assert current.ready, current.lines()
    assert current.vpcd_ports == (35963, 35964)
    assert current.listening == frozenset({35963, 35964})
    assert current.problems() == []


def test_t0_only_atr(vpcd_card, pyscard_connect):
    from smartcard.CardConnection import CardConnection
    from smartcard.Exceptions import CardConnectionException

    connection = pyscard_connect(vpcd_card.reader)
    assert bytes(connection.getATR()) == ATR_T0
    assert connection.getProtocol() == CardConnection.T0_protocol
    with pytest.raises(CardConnectionException, match="(?i)protocol"):
        pyscard_connect(vpcd_card.reader, CardConnection.T1_protocol)


@pytest.mark.parametrize("protocol", ["T0", "T1", None])
def test_dual_protocol_atr(serve_card, pyscard_connect, protocol):
    from smartcard.CardConnection import CardConnection

    served = serve_card(DualProtocolMiniCard())
    wanted = {"T0": CardConnection.T0_protocol, "T1": CardConnection.T1_protocol, None: None}[protocol]
    connection = pyscard_connect(served.reader, wanted)
    assert bytes(connection.getATR()) == ATR_T0_T1
    # pcsc-lite prefers T=1 when the ATR offers both
    assert connection.getProtocol() == (wanted or CardConnection.T1_protocol)
    assert exchange(connection, SELECT) == FCI + b"\x90\x00"


def test_select_read_record_unknown_ins(vpcd_card, pyscard_connect):
    connection = pyscard_connect(vpcd_card.reader)
    assert exchange(connection, SELECT) == FCI + b"\x90\x00"
    assert exchange(connection, READ_RECORD_7) == RECORD_7 + b"\x90\x00"
    assert exchange(connection, bytes.fromhex("00B2070000")) == RECORD_7 + b"\x90\x00"
    assert exchange(connection, bytes.fromhex("00B2080400")) == b"\x6A\x83"
    assert exchange(connection, bytes.fromhex("00DA000000")) == b"\x6D\x00"
    assert vpcd_card.card.received[-5:] == [SELECT, READ_RECORD_7, bytes.fromhex("00B2070000"),
                                            bytes.fromhex("00B2080400"), bytes.fromhex("00DA000000")]
    assert vpcd_card.server.stats.apdus == 5


def test_card_fault_answers_6f00(vpcd_card, pyscard_connect):
    connection = pyscard_connect(vpcd_card.reader)
    assert exchange(connection, bytes.fromhex("00EE000000")) == b"\x6F\x00"
    assert exchange(connection, SELECT) == FCI + b"\x90\x00"
    assert vpcd_card.server.stats.card_errors == 1


@pytest.mark.parametrize("card_cls", [MiniCard, DualProtocolMiniCard], ids=["T0", "T1"])
def test_extended_le_4000_bytes(serve_card, pyscard_connect, card_cls):
    served = serve_card(card_cls())
    connection = pyscard_connect(served.reader)
    response = exchange(connection, bytes.fromhex("00CA0000000FA0"))
    assert len(response) == 4000 + 2
    assert response == bytes(i & 0xFF for i in range(4000)) + b"\x90\x00"
    assert exchange(connection, bytes.fromhex("00CA000000")) == bytes(range(256)) + b"\x90\x00"


def test_two_slots_at_once(serve_card, pyscard_connect):
    slot0 = serve_card(MiniCard(), 0)
    slot1 = serve_card(DualProtocolMiniCard(), 1)
    connections = [pyscard_connect(slot0.reader), pyscard_connect(slot1.reader)]
    assert bytes(connections[0].getATR()) == ATR_T0
    assert bytes(connections[1].getATR()) == ATR_T0_T1
    results: list[list[bytes]] = [[], []]

    def work(index: int) -> None:
        for _ in range(100):
            results[index].append(exchange(connections[index], SELECT))
            results[index].append(exchange(connections[index], READ_RECORD_7))

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results[0] == results[1] == [FCI + b"\x90\x00", RECORD_7 + b"\x90\x00"] * 100
    assert len(slot0.card.received) == len(slot1.card.received) == 200


def test_pcscd_run_passes_the_exit_status_through(pcscd):
    # pcscd is running (the fixture saw to it), so `run` uses it and leaves it running
    done = subprocess.run([sys.executable, "-m", "apdu.pcscd", "run", "--", sys.executable, "-c",
                           "import sys; sys.exit(7)"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 7, done.stderr
    assert "using the running pcscd" in done.stderr
    assert pcscd_control.status().ready
