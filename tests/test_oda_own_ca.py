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


# --- the production way: the CA's certificate, no CA private key ------------------------------
def _from_ca(tmp_path: Path, *, issuer_id: str = "622800", certified=None, **overrides: str) -> Path:
    """A key file with [oda] as a CA answers an issuer: certificate 90/92/9F32 in hex, the CA
    public key and its index; sscard never sees the CA's private key."""
    from cardspec.crypto.oda import load_test_keys, make_issuer_certificate

    test = load_test_keys()
    ca = generate_key(1408, 3)
    issuer_pem = TEST_ISSUER_KEYS.parent / "oda" / "TEST-issuer-1152.pem"
    subject = (certified or test.issuer).public_key()
    cert = make_issuer_certificate(ca, subject, issuer_id, bytes.fromhex("1249"), bytes.fromhex("000007"))
    numbers = ca.public_key().public_numbers()
    entries = {"issuer_key": f'"{issuer_pem}"', "issuer_certificate": f'"{cert.certificate.hex().upper()}"',
               "issuer_remainder": f'"{cert.remainder.hex().upper()}"', "issuer_exponent": '"03"',
               "ca_modulus": f'"{numbers.n.to_bytes(176, "big").hex().upper()}"', "ca_exponent": '"03"',
               "ca_index": '"E3"', **overrides}
    oda = "[oda]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items() if v)
    text = TEST_ISSUER_KEYS.read_text(encoding="utf-8")
    text = text[:text.index("\n[oda]\n") + 1] + oda
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_the_cas_certificate_personalizes_a_card_that_passes_sda_and_dda(tmp_path: Path) -> None:
    profile = Profile.load("ssc3-sm4")
    keys = IssuerKeys.load(_from_ca(tmp_path), insecure=True)
    assert keys.oda is not None and keys.oda.ca_key is None and keys.oda.certificate is not None
    with Channel(VirtualTransport(blank_card(profile)), default_processors()) as channel:
        result = personalize_card(channel, sample_cardholder(), keys, profile)  # verify recovers the chain
        financial = read_financial(channel)
    assert result.verified and (financial["oda_ca_index"], financial["dda"]) == ("E3", True)


@pytest.mark.parametrize("change, fatal, message", [
    ({"issuer_id": "622848"}, False, "[oda] issuer_certificate does not serve PAN 622800…"),
    ({"certified": "another"}, True, "[oda] issuer_certificate certifies another key than issuer_key"),
])
def test_a_certificate_that_does_not_fit_refuses_the_card_untouched(tmp_path: Path, change, fatal, message) -> None:
    if change.get("certified") == "another":
        change = {"certified": generate_key(1152, 3)}
    profile = Profile.load("ssc3-sm4")
    keys = IssuerKeys.load(_from_ca(tmp_path, **change), insecure=True)
    with Channel(VirtualTransport(blank_card(profile)), default_processors()) as channel, \
            pytest.raises(PersoError) as info:
        personalize_card(channel, sample_cardholder(), keys, profile)
    assert info.value.step == STEP_STATE and info.value.fatal is fatal and message in str(info.value)


@pytest.mark.parametrize("overrides, message", [
    ({"ca_key": '"x.pem"'}, "give either ca_key (sign the issuer certificate here) or the CA's issuer_certificate"),
    ({"ca_index": ""}, "with issuer_certificate needs ca_index"),
    ({"ca_modulus": ""}, "with issuer_certificate needs ca_modulus"),
    ({"issuer_certificate": '"9F32"'}, "issuer_certificate is 2 bytes, the CA modulus 176"),
    ({"issuer_exponent": '"05"'}, "issuer_exponent must be 03 or 010001"),
    ({"ca_modulus": '"12G4"'}, "ca_modulus must be hex digits in pairs"),
])
def test_the_cas_entries_are_checked_on_load(tmp_path: Path, overrides, message) -> None:
    from personalize.keys import KeyFileError

    with pytest.raises(KeyFileError) as info:
        IssuerKeys.load(_from_ca(tmp_path, **overrides), insecure=True)
    assert message in str(info.value) and "\n" not in str(info.value)
