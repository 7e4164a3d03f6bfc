"""personalize_card through the real PC/SC stack: a blank simulator card in a vpcd slot,
personalized through pcscd, then read back through pcscd by the test's own terminal; a
card pulled from the reader in the middle of the flow."""
from __future__ import annotations

from pathlib import Path

import pytest

from apdu.pcsc_status import wait_for_state
from apdu.transport.pcsc import PcscTransport
from cardsim.factory import blank_card, personalized_sample_card
from cardsim.persistent import Lifecycle
from cardspec.ids import KeyId
from cardspec.profile import Profile
from personalize.flow import (STEP_DATA, STEP_DEBIT, STEP_END, STEP_PREPERSO, STEP_VERIFY, STEPS, PersoError,
                              personalize_card)
from tests.perso_support import Reader, cardholder, comparable, issuer_keys, traced_channel

pytestmark = pytest.mark.pcsc
STATE_TIMEOUT = 5.0


@pytest.mark.parametrize("name", ["ssc3-sm4", "ssc2-3des"])
def test_a_blank_card_personalized_through_pcscd(serve_card, tmp_path: Path, name: str) -> None:
    profile = Profile.load(name)
    keys, mf = issuer_keys(tmp_path, profile)
    card = blank_card(profile)
    served = serve_card(card, 0)
    channel, trace = traced_channel(PcscTransport(served.reader))
    channel.connect()
    try:
        steps: list[str] = []
        result = personalize_card(channel, cardholder(), keys, profile, mf_keys=mf, on_step=steps.append)
        assert steps == list(STEPS) and result.verified and card.life.phase is Lifecycle.PERSONALIZED
        assert "(write EF05/EF06/EF08)" in trace.getvalue()  # the trace names the steps

        channel.reset()
        reader = Reader(channel, profile)
        assert reader.select_ssse() == profile.ssse_fci()
        assert reader.fields(5, [7], "SSSE/EF05") == {7: "K80362153"}
        reader.authenticate(KeyId.RK, "rk", "511300")
        assert reader.fields(6, [0x09], "SSSE/EF06") == {0x09: "王秀英"}
    finally:
        channel.disconnect()
    assert comparable(card) == comparable(personalized_sample_card(profile))


@pytest.mark.parametrize("step", [STEP_PREPERSO, STEP_DATA, STEP_DEBIT, STEP_END, STEP_VERIFY])
def test_a_card_pulled_mid_flow_names_the_step(serve_card, tmp_path: Path, step: str) -> None:
    profile = Profile.load("ssc3-sm4")
    keys, mf = issuer_keys(tmp_path, profile)
    served = serve_card(blank_card(profile), 0)
    channel, _ = traced_channel(PcscTransport(served.reader))
    channel.connect()

    def pull(name: str) -> None:
        if name == step:
            served.server.remove()
            assert wait_for_state(served.reader, present=False, timeout=STATE_TIMEOUT)

    try:
        with pytest.raises(PersoError) as info:
            personalize_card(channel, cardholder(), keys, profile, mf_keys=mf, on_step=pull)
    finally:
        channel.disconnect()
    error = info.value
    assert error.step == step and error.card_removed and not error.fatal and error.sw is None
    assert str(error).startswith(f"step '{step}': ") and "card removed" in str(error)
    served.server.insert()  # the fixture's teardown waits for the slot to empty again
