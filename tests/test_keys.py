"""personalize.keys: the issuer key file (permissions, KCVs, structure), secrecy of every
message and repr, and the per-card derivations."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cardspec.crypto.blockcipher import Algorithm, kcv
from cardspec.crypto.diversify import diversify
from cardspec.crypto.scp02 import KeyType, diversify_emv
from cardspec.ids import AppDF, DfKeyId, KeyId
from cardspec.profile import Profile
from personalize.keys import IssuerKeys, KeyFileError, SecretKey, role_key

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
TEST_FILE = VECTORS / "test-issuer-keys.toml"
KEY = "0123456789ABCDEFFEDCBA9876543210"
KEY2 = "F0C34A8124CEE0A91A0B034AA97D6EAC"


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def entry(key: str, alg: Algorithm = Algorithm.SM4) -> str:
    return f'{{ key = "{key}", kcv = "{kcv(alg, bytes.fromhex(key)).hex().upper()}" }}'


def minimal(**extra: str) -> str:
    return f'[ssse]\nalgorithm = "sm4"\n[ssse.master]\nuk = {entry(KEY)}\n' + "".join(extra.values())


def load_error(tmp_path: Path, text: str, mode: int = 0o600) -> str:
    with pytest.raises(KeyFileError) as info:
        IssuerKeys.load(write(tmp_path, text, mode))
    message = str(info.value)
    assert "\n" not in message
    for secret in (KEY, KEY2, KEY.lower()):
        for i in range(0, len(secret) - 7):  # no 4-byte run of any key
            assert secret[i:i + 8] not in message.upper(), message
    return message


def test_the_test_file_loads_and_matches_the_sample_card_masters() -> None:
    from cardsim.factory import load_test_keys

    keys = IssuerKeys.load(TEST_FILE, insecure=True)
    assert TEST_FILE.read_text(encoding="utf-8").startswith("# TEST KEYS — never use on real cards")
    card = load_test_keys(Algorithm.SM4)
    shared = {(role.upper() if df is None else df.name, DfKeyId(kid).name if df else KeyId(kid).name)
              for role in keys.ssse_master for df, kid in [role_key(role)]}
    assert len(shared) == len(keys.ssse_master) == sum(len(t) for s, t in card.spaces.items() if s != "MF")
    for role, key in keys.ssse_master.items():
        df, kid = role_key(role)
        space, name = ("SSSE", KeyId(kid).name) if df is None else (df.name, DfKeyId(kid).name)
        assert key.reveal() == card.spaces[space][name], role
    assert keys.mf["transport"].reveal() == card.transport and keys.mf["cmk"].reveal() == card.spaces["MF"]["CMK"]
    assert keys.oda is not None and keys.oda.ca_key == (VECTORS / "oda" / "TEST-ca-F1-1408.pem").resolve()


def test_card_keys_equal_those_of_the_simulators_sample_card() -> None:
    from cardsim.factory import load_test_keys, sample_secrets

    profile = Profile.load("ssc3-sm4")
    _, secrets = sample_secrets(profile, load_test_keys(Algorithm.SM4), "511300")
    mine = IssuerKeys.load(TEST_FILE, insecure=True).ssse_card_keys("511300", profile.atr.historical())
    assert {KeyId[r.upper()]: mine[r] for r in ("irk", "stk", "uk", "bk", "puk", "rk")} == \
        {kid: k.value for kid, k in secrets.keys.items()}
    assert mine["df04_rk1"] == secrets.df_keys[AppDF.DF04][DfKeyId.RK1].value


def test_derivations(tmp_path: Path) -> None:
    kmc = "404142434445464748494A4B4C4D4E4F"
    text = (f'[ssse]\nalgorithm = "3des"\nlevels = 2\n[ssse.master]\nrk = {entry(KEY, Algorithm.TDES)}\n'
            f"[pboc]\nimk_ac = {entry(KEY2, Algorithm.TDES)}\nimk_smi = {entry(KEY, Algorithm.TDES)}\n"
            f"imk_smc = {entry(KEY, Algorithm.TDES)}\nkmc = {entry(kmc, Algorithm.TDES)}\n")
    keys = IssuerKeys.load(write(tmp_path, text))
    hist = bytes.fromhex("00814A444686605199000001AC")
    assert keys.ssse_card_keys("650100", hist) == {
        "rk": diversify(Algorithm.TDES, bytes.fromhex(KEY), "650100", hist, levels=2)}
    udk_ac, udk_mac, udk_enc = keys.pboc_udks("6228000100001", "01")
    assert udk_ac.hex().upper() == "014C986ECD8F49157CC8B59E3BCDFD98"  # pboc.md §4.3 vector B
    assert udk_mac == udk_enc != udk_ac
    enc, mac, dek = keys.scp02_card_keys(bytes(range(10)))
    assert kcv(Algorithm.TDES, enc).hex().upper() == "C33013"  # GlobalPlatformPro, template emv
    assert (mac, dek) == tuple(diversify_emv(bytes.fromhex(kmc), bytes(range(10)), t)
                               for t in (KeyType.MAC, KeyType.DEK))


def test_missing_pboc_keys_are_named(tmp_path: Path) -> None:
    keys = IssuerKeys.load(write(tmp_path, minimal()))
    with pytest.raises(KeyFileError, match=r"keys.toml: \[pboc\] imk_ac is missing$"):
        keys.pboc_udks("6228480400001234568")
    with pytest.raises(KeyFileError, match=r"\[pboc\] kmc is missing$"):
        keys.scp02_card_keys(bytes(10))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_file_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    message = load_error(tmp_path, minimal(), mode)
    path = tmp_path / "keys.toml"
    assert message == (f"{path}: the issuer key file has mode {mode:04o}, open to group or others; "
                       f"run 'chmod 600 {path}' (or pass --insecure-keys for test keys)")
    assert IssuerKeys.load(path, insecure=True).ssse_master["uk"].reveal() == bytes.fromhex(KEY)


def test_oda_key_files_are_relative_and_permission_checked(tmp_path: Path) -> None:
    shutil.copy(VECTORS / "oda" / "TEST-issuer-1152.pem", tmp_path / "issuer.pem")
    (tmp_path / "issuer.pem").chmod(0o600)
    shutil.copy(VECTORS / "oda" / "TEST-ca-F1-1408.pem", tmp_path / "ca.pem")
    (tmp_path / "ca.pem").chmod(0o600)
    oda = '[oda]\nissuer_key = "issuer.pem"\nca_key = "ca.pem"\n'
    keys = IssuerKeys.load(write(tmp_path, minimal(oda=oda)))
    assert keys.oda is not None and keys.oda.issuer_key == (tmp_path / "issuer.pem").resolve()
    assert keys.oda.certificate is None and keys.oda.ca_index is None
    (tmp_path / "issuer.pem").chmod(0o644)
    assert "[oda] issuer_key file named in" in load_error(tmp_path, minimal(oda=oda))
    assert "cannot read" in load_error(tmp_path, minimal(oda='[oda]\nissuer_key = "none.pem"\nca_key = "ca.pem"\n'))
    assert load_error(tmp_path, minimal(oda='[oda]\nca_key = "ca.pem"\n')).endswith(
        "[oda] needs issuer_key (the issuer's RSA private key, PEM)")


def test_kcv_mismatch_names_the_role_and_both_kcvs_only(tmp_path: Path) -> None:
    good = kcv(Algorithm.SM4, bytes.fromhex(KEY)).hex().upper()
    text = f'[ssse]\nalgorithm = "sm4"\n[ssse.master]\npuk = {{ key = "{KEY}", kcv = "000000" }}\n'
    assert load_error(tmp_path, text) == \
        f"{tmp_path / 'keys.toml'}: [ssse.master] puk: KCV mismatch: the file says 000000, the key gives {good}"
    # the same key declared as SM4 but checked as 3DES would give another KCV: the algorithm counts
    text = f'[ssse]\nalgorithm = "3des"\n[ssse.master]\nuk = {entry(KEY, Algorithm.SM4)}\n'
    assert "[ssse.master] uk: KCV mismatch" in load_error(tmp_path, text)
    text = minimal(pboc=f'[pboc]\nimk_ac = {{ key = "{KEY2}", kcv = "9F851E" }}\n')
    assert load_error(tmp_path, text).endswith("[pboc] imk_ac: KCV mismatch: the file says 9F851E, "
                                               "the key gives 9F851F")


@pytest.mark.parametrize("text, message", [
    ('[ssse]\nalgorithm = "sm4"\n[ssse.master]\nuk = { key = "' + KEY[:-1] + 'G", kcv = "000000" }\n',
     "[ssse.master] uk: key is not hexadecimal (digit 32)"),
    ('[ssse]\nalgorithm = "sm4"\n[ssse.master]\nuk = { key = "' + KEY[:-2] + '", kcv = "000000" }\n',
     "[ssse.master] uk: key is 15 bytes, not 16"),
    ('[ssse]\nalgorithm = "sm4"\n[ssse.master]\nuk = "' + KEY + '"\n',
     '[ssse.master] uk: must be { key = "hex", kcv = "hex" }'),
    ('[ssse]\nalgorithm = "sm4"\n[ssse.master]\nuk = { key = "' + KEY + '" }\n',
     '[ssse.master] uk: must be { key = "hex", kcv = "hex" }'),
    ('[ssse]\nalgorithm = "sm4"\n[ssse.master]\nxk = { key = "' + KEY + '", kcv = "000000" }\n',
     "[ssse.master] unknown SSSE key role 'xk'"),
    ('[ssse]\nalgorithm = "sm4"\n[ssse.master]\ndf05_uk1 = { key = "' + KEY + '", kcv = "000000" }\n',
     "[ssse.master] unknown SSSE key role 'df05_uk1'"),
    ('[ssse]\nalgorithm = "des"\n', '[ssse] algorithm must be "sm4" or "3des"'),
    ('[ssse]\nalgorithm = "sm4"\nlevels = 4\n[ssse.master]\n', "[ssse] levels must be an integer 0-3"),
    ('[ssse]\nalgorithm = "sm4"\n', "[ssse.master] must list at least one key"),
    ('[pboc]\n', "missing section [ssse]"),
    (minimal() + '[hsm]\nslot = 1\n', "unknown section [hsm] (known: [ssse], [mf], [pboc], [oda])"),
    (minimal() + '[mf]\nkmc = { key = "' + KEY + '", kcv = "000000" }\n', "[mf] kmc: unknown entry"),
    (minimal() + '[mf]\ncmk = { key = "' + KEY + '", kcv = "000000" }\n', "[mf] cmk: KCV mismatch"),
    (minimal() + '[pboc]\nimk_dac = { key = "' + KEY + '", kcv = "000000" }\n', "[pboc] imk_dac: unknown entry"),
    ('[ssse]\nalgorithm = "sm4"\n[ssse.master]\nuk = { key = "' + KEY + '", kcv = "00',
     "not a TOML file"),
])
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    assert message in load_error(tmp_path, text)


def test_nothing_secret_in_repr_or_str() -> None:
    keys = IssuerKeys.load(TEST_FILE, insecure=True)
    raw = [k.reveal().hex().upper() for k in [*keys.ssse_master.values(), *keys.pboc.values()]]
    shown = " ".join((repr(keys), str(keys), *(f"{k} {k!r} {k!s}" for k in keys.ssse_master.values()))).upper()
    assert raw and not any(h[:8] in shown or h[-8:] in shown for h in raw)
    assert re.search(r"SecretKey\(SM4, KCV [0-9A-F]{6}\)", shown, re.I)
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(keys.ssse_master["uk"])


def test_secret_key_equality_and_role_keys() -> None:
    a = SecretKey(bytes.fromhex(KEY), Algorithm.SM4)
    assert a == SecretKey(bytes.fromhex(KEY), Algorithm.SM4)
    assert a != SecretKey(bytes.fromhex(KEY), Algorithm.TDES) and a != SecretKey(bytes(16), Algorithm.SM4)
    with pytest.raises(TypeError):
        hash(a)
    assert role_key("uk") == (None, KeyId.UK) and role_key("df07_rk1") == (AppDF.DF07, DfKeyId.RK1)
    assert role_key("df01_ukb") == (AppDF.DF01, DfKeyId.UKB)



@pytest.mark.parametrize("value, shown", [('"E3"', None), ('"e3"', None), ("227", "227"), ('"E"', "'E'"),
                                          ('"0xE3"', "'0xE3'")])
def test_the_ca_index_is_two_hex_digits(tmp_path: Path, value: str, shown: str | None) -> None:
    shutil.copy(VECTORS / "oda" / "TEST-issuer-1152.pem", tmp_path / "issuer.pem")
    (tmp_path / "issuer.pem").chmod(0o600)
    text = minimal(oda=f'[oda]\nca_index = {value}\nissuer_key = "issuer.pem"\nca_key = "issuer.pem"\n')
    if shown is None:
        keys = IssuerKeys.load(write(tmp_path, text))
        assert keys.oda is not None and keys.oda.ca_index == 0xE3
    else:
        assert load_error(tmp_path, text).endswith(f'[oda] ca_index must be two hex digits such as "E3", got {shown}')


@pytest.mark.parametrize("levels, zhejiang", [(0, False), (1, False), (2, False), (3, False), (3, True)])
def test_card_keys_from_the_kept_region_levels_are_the_spec_derivation(levels: int, zhejiang: bool) -> None:
    """ssse_card_keys keeps each region's province/city levels; every card key is still
    diversify()'s, for each level count, across regions and cards, and past the kept limit."""
    import dataclasses

    import personalize.keys as keys_module

    keys = dataclasses.replace(IssuerKeys.load(TEST_FILE, insecure=True), ssse_levels=levels, zhejiang_rule=zhejiang)
    masters = {role: key.reveal() for role, key in keys.ssse_master.items()}
    cards = [bytes.fromhex("00814A444686605199000001AC"), bytes.fromhex("00814A4446866051990000FF01")]
    for region in ("330102", "650100", "330102"):
        for hist in cards:
            assert keys.ssse_card_keys(region, hist) == {
                role: diversify(keys.ssse_algorithm, master, region, hist, levels, zhejiang_rule=zhejiang)
                for role, master in masters.items()}
    for n in range(keys_module.REGIONS_KEPT + 5):
        keys.ssse_card_keys(f"11{n:04d}", cards[0])
    assert len(keys._region_keys) == keys_module.REGIONS_KEPT
