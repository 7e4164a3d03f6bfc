"""personalize.mfkeys: the transport key and the card-master-key master ([mf])."""
from __future__ import annotations

from pathlib import Path

import pytest

from cardsim.factory import blank_card, personalized_sample_card
from cardspec.crypto.blockcipher import Algorithm, kcv
from cardspec.profile import Profile
from personalize.keys import IssuerKeys, KeyFileError
from personalize.mfkeys import MfKeys, load_mf_keys, load_test_mf_keys

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
TRANSPORT = "737363617264207472616E73706F7274"
CMK = "B9ED06A0301F9E56FA8B4D1CEFE61F08"


def entry(key: str, check: str | None = None) -> str:
    return f'{{ key = "{key}", kcv = "{check or kcv(Algorithm.SM4, bytes.fromhex(key)).hex().upper()}" }}'


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "mf.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_the_key_files_mf_section_gives_the_sample_cards_keys() -> None:
    profile = Profile.load("ssc3-sm4")
    mf = MfKeys.of(IssuerKeys.load(VECTORS / "test-issuer-keys.toml", insecure=True))
    assert mf == load_test_mf_keys(Algorithm.SM4)
    assert mf.transport.reveal() == blank_card(profile).life.mf.keys[0].value
    master = mf.card_master_key("511300", profile.atr.historical())
    assert master.reveal() == personalized_sample_card(profile).life.mf.keys[0].value


def test_load_mf_keys_reads_only_its_section(tmp_path: Path) -> None:
    path = write(tmp_path, f'[other]\nx = 1\n[mf]\ntransport = {entry(TRANSPORT)}\ncmk = {entry(CMK)}\n')
    mf = load_mf_keys(path, Algorithm.SM4, levels=2)
    assert (mf.transport.reveal().hex().upper(), mf.cmk.reveal().hex().upper(), mf.levels) == (TRANSPORT, CMK, 2)
    assert CMK not in repr(mf) and TRANSPORT not in repr(mf)


@pytest.mark.parametrize("text, message", [
    ("[ssse]\n", "no [mf] section"),
    (f"[mf]\ntransport = {entry(TRANSPORT)}\n", "[mf] cmk is missing"),
    (f"[mf]\ntransport = {entry(TRANSPORT)}\ncmk = {entry(CMK)}\nbk = {entry(CMK)}\n", "[mf] bk: unknown entry"),
    (f"[mf]\ntransport = {entry(TRANSPORT, '000000')}\ncmk = {entry(CMK)}\n", "KCV mismatch"),
])
def test_bad_mf_sections_are_named_without_key_bytes(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(KeyFileError) as info:
        load_mf_keys(write(tmp_path, text), Algorithm.SM4)
    assert message in str(info.value) and TRANSPORT not in str(info.value) and CMK not in str(info.value)


def test_a_readable_key_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, f"[mf]\ntransport = {entry(TRANSPORT)}\ncmk = {entry(CMK)}\n", mode=0o644)
    with pytest.raises(KeyFileError, match="has mode 0644"):
        load_mf_keys(path, Algorithm.SM4)
    assert load_mf_keys(path, Algorithm.SM4, insecure=True).cmk.reveal().hex().upper() == CMK


def test_keys_of_two_algorithms_do_not_mix() -> None:
    sm4 = load_test_mf_keys(Algorithm.SM4)
    tdes = load_test_mf_keys(Algorithm.TDES)
    with pytest.raises(KeyFileError, match="transport is SM4 but cmk is TDES"):
        MfKeys(sm4.transport, tdes.cmk)
