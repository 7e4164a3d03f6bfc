"""ODA under a CA other than sscard's test CA: the key file names its index (``[oda] ca_index``,
tag 8F); without it the first card is refused before anything is written."""
from __future__ import annotations

from pathlib import Path

import pytest

from apdu.transport.channel import Channel, default_processors
from apdu.transport.virtual import VirtualTransport
from cardsim.factory import blank_card
from cardspec.crypto.oda import generate_key, save_private_key
from cardspec.profile import Profile
from personalize.flow import STEP_STATE, PersoError, personalize_card
from personalize.keys import IssuerKeys
from personalize.terminal import read_financial
from sscard_pytest.cards import TEST_ISSUER_KEYS, sample_cardholder


def _key_file(tmp_path: Path, ca_index: str | None) -> IssuerKeys:
    ca = tmp_path / "own-ca.pem"
    if not ca.exists():
        save_private_key(ca, generate_key(1408, 3))
    text = TEST_ISSUER_KEYS.read_text(encoding="utf-8").replace('ca_key = "oda/TEST-ca-F1-1408.pem"',
                                                                f'ca_key = "{ca}"')
    text = text.replace('issuer_key = "oda/', f'issuer_key = "{TEST_ISSUER_KEYS.parent}/oda/')
    if ca_index is not None:
        text = text.replace("[oda]\n", f'[oda]\nca_index = "{ca_index}"\n')
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return IssuerKeys.load(path, insecure=True)  # the published issuer key file is 0644 in a clone


def test_a_card_under_another_ca_carries_its_index_and_passes_dda(tmp_path: Path) -> None:
    profile = Profile.load("ssc3-sm4")
    keys = _key_file(tmp_path, "E3")
    with Channel(VirtualTransport(blank_card(profile)), default_processors()) as channel:
        result = personalize_card(channel, sample_cardholder(), keys, profile)  # verify: SDA and DDA under the CA
        assert result.verified
        financial = read_financial(channel)
    assert (financial["oda_ca_index"], financial["dda"]) == ("E3", True)


def test_without_the_index_the_card_is_refused_untouched(tmp_path: Path) -> None:
    profile = Profile.load("ssc3-sm4")
    keys = _key_file(tmp_path, None)
    card = blank_card(profile)
    with Channel(VirtualTransport(card), default_processors()) as channel, pytest.raises(PersoError) as info:
        personalize_card(channel, sample_cardholder(), keys, profile)
    assert info.value.step == STEP_STATE and info.value.fatal
    assert "[oda] ca_index" in str(info.value) and "not sscard's test CA" in str(info.value)
