"""Card removal, re-insertion and swapping, observed through pyscard."""
from __future__ import annotations

import time

import pytest

from apdu.pcsc_status import reader_states, wait_for_state
from minicard import AID, ATR_T0, ATR_T0_T1, FCI, DualProtocolMiniCard

pytestmark = pytest.mark.pcsc

STATE_TIMEOUT = 5.0  # pcscd polls every ~400 ms

SELECT = bytes.fromhex("00A404000F") + AID


def exchange(connection, apdu: bytes) -> bytes:
    data, sw1, sw2 = connection.transmit(list(apdu))
    return bytes(data) + bytes((sw1, sw2))


def wait_for_atr(reader: str, atr: bytes, timeout: float = STATE_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(s.name == reader and s.present and s.atr == atr for s in reader_states()):
            return True
        time.sleep(0.05)
    return False


def test_removal_and_reinsertion(vpcd_card, pyscard_connect):
    from smartcard.Exceptions import CardConnectionException, NoCardException

    connection = pyscard_connect(vpcd_card.reader)
    assert exchange(connection, SELECT) == FCI + b"\x90\x00"

    vpcd_card.server.remove()
    assert wait_for_state(vpcd_card.reader, present=False, timeout=STATE_TIMEOUT)
    with pytest.raises(CardConnectionException):
        exchange(connection, SELECT)  # stale handle: "Card was removed"
    with pytest.raises(NoCardException):
        pyscard_connect(vpcd_card.reader)

    vpcd_card.server.insert()
    assert vpcd_card.server.wait_inserted(STATE_TIMEOUT)
    assert wait_for_state(vpcd_card.reader, present=True, timeout=STATE_TIMEOUT)
    fresh = pyscard_connect(vpcd_card.reader)
    assert exchange(fresh, SELECT) == FCI + b"\x90\x00"
    stats = vpcd_card.server.stats
    assert stats.insertions == 2 and stats.disconnects == 1


def test_swap_card_changes_the_atr(vpcd_card, pyscard_connect):
    from smartcard.Exceptions import CardConnectionException

    connection = pyscard_connect(vpcd_card.reader)
    assert bytes(connection.getATR()) == ATR_T0
    new_card = DualProtocolMiniCard()
    vpcd_card.server.swap_card(new_card)
    assert wait_for_atr(vpcd_card.reader, ATR_T0_T1)
    with pytest.raises(CardConnectionException):
        exchange(connection, SELECT)  # the handle belonged to the card that left
    fresh = pyscard_connect(vpcd_card.reader)
    assert bytes(fresh.getATR()) == ATR_T0_T1
    assert exchange(fresh, SELECT) == FCI + b"\x90\x00"
    assert new_card.received == [SELECT]
