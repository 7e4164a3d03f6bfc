"""Processors, tracing and redaction over the in-process transport."""
import io
import json

import pytest

from apdu.errors import TransportError
from apdu.trace import Tracer
from apdu.transport.channel import Channel, CommandChaining, GetResponse, LeCorrection
from apdu.transport.virtual import VirtualTransport


class ScriptedCard:
    """Answers from a table and records what it received."""

    def __init__(self, table):
        self.table = {bytes.fromhex(k): bytes.fromhex(v) for k, v in table.items()}
        self.received = []
        self.powered = False

    def power_on(self):
        self.powered = True
        return bytes.fromhex("3B00")

    def power_off(self):
        self.powered = False

    def reset(self):
        return self.power_on()

    def transmit(self, apdu):
        self.received.append(apdu)
        return self.table.get(apdu, bytes.fromhex("6D00"))


def channel(table, processors=(), **trace):
    card = ScriptedCard(table)
    stream = io.StringIO()
    ch = Channel(VirtualTransport(card), list(processors), Tracer(stream, **trace))
    ch.connect()
    return ch, card, stream


def test_get_response_joins_data_and_is_traced():
    ch, card, stream = channel({"00A404000F7378312E73682EC9E7BBE1B1A3D5CF": "611E",
                                "00C000001E": "6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103" + "9000"},
                               [GetResponse()])
    r = ch.send(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF"))
    assert r.sw == 0x9000 and r.data.startswith(b"\x6F\x1C") and len(r.data) == 30
    assert "[auto GET RESPONSE]" in stream.getvalue()


def test_le_correction_only_without_data():
    ch, card, stream = channel({"00B2010010": "6C12", "00B2010012": "0812" + "31" * 18 + "9000",
                                "00A40400020102": "6C05"}, [LeCorrection()])
    assert ch.send(bytes.fromhex("00B2010010")).sw == 0x9000
    assert "[Le correction]" in stream.getvalue()
    assert ch.send(bytes.fromhex("00A40400020102")).sw == 0x6C05  # carries data: never resent
    assert card.received[-1] == bytes.fromhex("00A40400020102")


def test_raw_channel_sends_exactly_what_was_typed():
    ch, card, _ = channel({"00B2010010": "6C12"})
    assert ch.transmit(bytes.fromhex("00B2010010")) == bytes.fromhex("6C12")
    assert card.received == [bytes.fromhex("00B2010010")]


def test_command_chaining_splits_and_marks_cla():
    table = {}
    ch, card, stream = channel(table, [CommandChaining(block=4)])
    card.table = {}
    card.transmit = lambda apdu: (card.received.append(apdu), bytes.fromhex("9000"))[1]
    ch.send(bytes.fromhex("00DA000009" + "11" * 9))
    assert [a[0] for a in card.received] == [0x10, 0x10, 0x00]
    assert [a[5:] for a in card.received] == [b"\x11" * 4, b"\x11" * 4, b"\x11"]
    assert "command chaining 1/3" in stream.getvalue()


def test_secrets_redacted_by_default_and_shown_on_request():
    verify = "0020000003123456"
    ch, _, stream = channel({verify: "9000"})
    ch.send(bytes.fromhex(verify))
    assert "12 34 56" not in stream.getvalue() and "******" in stream.getvalue()
    ch, _, stream = channel({verify: "9000"}, show_secrets=True)
    ch.send(bytes.fromhex(verify))
    assert "00 20 00 00 03 12 34 56" in stream.getvalue()


def test_jsonl_trace_has_timing():
    ch, _, stream = channel({"00B2070400": "07094841313034363932349000"}, fmt="jsonl")
    ch.send(bytes.fromhex("00B2070400"))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    exchange = [line for line in lines if "c" in line][0]
    assert exchange["c"] == "00B2070400" and exchange["sw"] == "9000" and exchange["ms"] >= 0
    assert lines[0]["note"].startswith("connected")


def test_virtual_transport_refuses_empty_replies():
    ch, card, _ = channel({})
    card.transmit = lambda apdu: b""
    with pytest.raises(TransportError, match="SW1 SW2 need 2"):
        ch.send(bytes.fromhex("00A40000"))


def test_unknown_trace_format():
    with pytest.raises(ValueError):
        Tracer(io.StringIO(), fmt="xml")


def test_pyscard_compatible_connection_drives_a_card_without_pcscd():
    from smartcard.CardConnection import CardConnection
    from smartcard.CardConnectionObserver import CardConnectionObserver
    from smartcard.Exceptions import CardConnectionException

    from apdu.transport.pyscard_compat import VirtualCardConnection

    class Recorder(CardConnectionObserver):
        def __init__(self):
            self.events = []

        def update(self, connection, event):
            self.events.append(event.type)

    card = ScriptedCard({"00A4040000": "6F008400 9000".replace(" ", "")})
    card.power_on = lambda: bytes.fromhex("3B6D000000814A444686605199000001AC")
    conn = VirtualCardConnection(card)
    with pytest.raises(CardConnectionException, match="protocol mismatch"):
        conn.connect(CardConnection.T1_protocol)  # the ATR offers T=0 only
    conn.connect()
    observer = Recorder()
    conn.addObserver(observer)
    data, sw1, sw2 = conn.transmit([0x00, 0xA4, 0x04, 0x00, 0x00])
    assert (bytes(data), sw1, sw2) == (bytes.fromhex("6F008400"), 0x90, 0x00)
    assert observer.events == ["command", "response"]
    assert conn.getProtocol() == CardConnection.T0_protocol
    conn.disconnect()
    with pytest.raises(CardConnectionException):
        conn.transmit([0x00, 0xA4, 0x04, 0x00])
