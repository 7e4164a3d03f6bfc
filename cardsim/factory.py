"""Ready-made cards: the factory-fresh BLANK card and the fully personalized sample card.

>>> card = personalized_sample_card("ssc3-sm4")
>>> card.power_on().hex().upper()
'3B6D000000814A444686605199000001AC'
>>> card.transmit(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")).hex().upper()
'611E'
>>> card.transmit(bytes.fromhex("00B2072C00")).hex().upper()  # card number, SFI 5, record 7
'07094B38303336323135339000'
>>> blank_card("ssc3-sm4").life.phase.value
'blank'

Keys come from the published TEST master keys in ``vectors/test-keys.toml`` (never use
them on real cards), diversified per card over three levels (S9 §7.3) with the region
code of the card's 卡识别码 and the ATR historical bytes. A blank card holds the
default transport key of that file as MF key 00.
"""
from __future__ import annotations

import importlib.util
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from apdu.errors import SSCardError
from apdu.filecache import per_file_version
from cardspec.crypto.blockcipher import CARD_KEY_SIZE, Algorithm
from cardspec.crypto.diversify import diversify
from cardspec.ids import DfKeyId, KeyId, SsseTag
from cardspec.pboc import PBOC_DEBIT_AID, PPSE_NAME, PSE_NAME
from cardspec.profile import Profile
from cardspec.records import layout_for
from cardspec.records.sample import SAMPLE
from cardspec.records.ssse import CardIdCode
from cardspec.tree import DFSpec, EFSpec

from .fs import DF, EF, MF, CyclicEF, LinearFixedEF, LinearVariableEF, TransparentEF
from .persistent import AppSecrets, CardLife, Key, Lifecycle, Pin
from .preperso import MASTER_KID, MASTER_TRIES, assemble
from .runtime import CardOS, RuntimeSettings

__all__ = ["MasterKeys", "KeyFileError", "load_test_keys", "runtime_settings", "blank_card", "sample_records",
           "sample_secrets", "personalized_sample_card", "load_or_sample", "TEST_KEYS_FILE"]

TEST_KEYS_FILE = "test-keys.toml"
_ALG_NAMES = {Algorithm.TDES: "tdes", Algorithm.SM4: "sm4"}


class KeyFileError(SSCardError, ValueError):
    """A test-key file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class MasterKeys:
    """Master keys of one algorithm: the transport key and, by key space ("MF", "SSSE",
    "DF01", ...), role name -> 16-byte master key."""

    algorithm: Algorithm
    transport: bytes
    spaces: Mapping[str, Mapping[str, bytes]]

    def __repr__(self) -> str:  # never show key bytes
        return f"MasterKeys({self.algorithm.name}, spaces={sorted(self.spaces)})"


def _vectors_path(name: str) -> Path:
    spec = importlib.util.find_spec("vectors")
    for base in (spec.submodule_search_locations or []) if spec is not None else []:
        if (Path(base) / name).is_file():
            return Path(base) / name
    return Path(__file__).resolve().parent.parent / "vectors" / name


def load_test_keys(algorithm: Algorithm, path: Path | None = None) -> MasterKeys:
    """The ``[transport]`` key and the ``[<alg>.<space>]`` master keys of ``path``
    (default: ``vectors/test-keys.toml``). The file is parsed again only when it changed:
    every blank card needs its transport key, and parsing costs ~0.4 ms."""
    return _parse_test_keys(path or _vectors_path(TEST_KEYS_FILE), algorithm)


@per_file_version
def _parse_test_keys(path: Path, algorithm: Algorithm) -> MasterKeys:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read test keys ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise KeyFileError(f"{path}: TOML syntax: {exc}") from None
    alg = _ALG_NAMES[algorithm]

    def key(table: Any, name: str, where: str) -> bytes:
        text = table.get(name) if isinstance(table, dict) else None
        try:
            value = bytes.fromhex(text) if isinstance(text, str) else b""
        except ValueError:
            value = b""
        if len(value) != CARD_KEY_SIZE:
            raise KeyFileError(f"{path}: [{where}] {name}: needs {CARD_KEY_SIZE} bytes of hex")
        return value

    spaces = data.get(alg)
    if not isinstance(spaces, dict):
        raise KeyFileError(f"{path}: no [{alg}.*] tables")
    masters = {space: MappingProxyType({role: key(table, role, f"{alg}.{space}") for role in table})
               for space, table in spaces.items() if isinstance(table, dict)}
    return MasterKeys(algorithm, key(data.get("transport"), alg, "transport"), MappingProxyType(masters))


def runtime_settings(profile: Profile) -> RuntimeSettings:
    """The profile's APDU behaviour: ``t0_get_response`` and ``le_mode``."""
    return RuntimeSettings(t0_get_response=profile.card.t0_get_response, le_mode=profile.card.le_mode)


def _profile(profile: Profile | str | None) -> Profile:
    return profile if isinstance(profile, Profile) else Profile.load(profile)


def _algorithm(profile: Profile) -> Algorithm:
    return Algorithm.from_id(int(profile.card.algorithm_id))


def blank_card(profile: Profile | str | None = None, *, keys: MasterKeys | None = None,
               serial: bytes | None = None) -> CardOS:
    """The factory state, as a personalization bureau receives the card: the MF with the
    transport key as MF key 00 (phase BLANK, no social-security structure yet), the debit
    application's instances installed but empty, and the issuer security domain with
    SCP02 keys diversified from the test KMC. ``serial`` (4 bytes) replaces the profile's
    ATR serial (historical bytes TA-TD): every real card has its own, and the card keys
    are diversified from it."""
    from .gp import TEST_KMC, add_isd
    from .pboc import DirectoryState, PbocApplication, PbocState

    profile = _profile(profile)
    if serial is not None:
        if len(serial) != 4:
            raise SSCardError(f"an ATR serial has 4 bytes, not {len(serial)}")
        profile = replace(profile, atr=replace(profile.atr, serial=bytes(serial)))
    alg = _algorithm(profile)
    transport = (keys or load_test_keys(alg)).transport
    life = CardLife(Lifecycle.BLANK, mf=AppSecrets(
        keys={MASTER_KID: Key(MASTER_KID, alg, transport, 0, MASTER_TRIES, MASTER_TRIES)}))
    state = PbocState(aid=PBOC_DEBIT_AID, pse=DirectoryState(PSE_NAME),
                      ppse=DirectoryState(PPSE_NAME) if profile.pboc.ppse else None)
    financial = PbocApplication(state, profile.pboc)
    card = assemble(MF(children=financial.zone), profile=profile, atr=profile.atr_bytes(),
                    settings=runtime_settings(profile), life=life)
    add_isd(card, profile, TEST_KMC)
    return card


def sample_records(profile: Profile) -> dict[str, list[bytes]]:
    """The sample cardholder (:mod:`cardspec.records.sample`) as records for ``profile``:
    its specification version, its ATR serial in the 卡识别码 (3.0 cards carry the same
    serial in both) and its name-extension padding."""
    out: dict[str, list[bytes]] = {}
    for (file, tag), value in SAMPLE.items():
        pad = profile.card.name_ext_padding if tag == SsseTag.NAME_EXT else 0x00
        if tag == SsseTag.CARD_ID and isinstance(value, CardIdCode):
            value = replace(value, serial=profile.atr.serial)
        elif tag == SsseTag.SPEC_VERSION:
            value = profile.card.spec_version
        out.setdefault(file, []).append(layout_for(tag, file).encode(value, an_pad=pad))
    return out


def _region(records: Mapping[str, list[bytes]]) -> str:
    card_id = next(r for r in records["SSSE/EF05"] if r[0] == SsseTag.CARD_ID)
    region = layout_for(SsseTag.CARD_ID, "SSSE/EF05").decode_value(card_id[2:]).region
    if region is None:
        raise KeyFileError("the sample 卡识别码 has no region code to diversify keys with")
    return str(region)


def sample_secrets(profile: Profile, keys: MasterKeys, region: str) -> tuple[Key, AppSecrets]:
    """The per-card keys of the sample card: the MF master key, and the SSSE secrets
    (``profile.keys.present``, DF01-DF07 keys, the profile's default PIN)."""
    from .ssse_app import ssse_key

    alg, hist = keys.algorithm, profile.atr.historical()

    def card_key(space: str, role: str) -> bytes:
        master = keys.spaces.get(space, {}).get(role)
        if master is None:
            raise KeyFileError(f"test keys: no {_ALG_NAMES[alg]}.{space} {role} master key")
        return diversify(alg, master, region, hist, levels=3)

    master = Key(MASTER_KID, alg, card_key("MF", "CMK"), 0, MASTER_TRIES, MASTER_TRIES)
    secrets = AppSecrets(keys={k: ssse_key(profile, k, card_key("SSSE", k.name)) for k in profile.keys.present})
    for df in profile.tree().children:
        if isinstance(df, DFSpec):
            roles = keys.spaces.get(df.name, {})
            unknown = sorted(set(roles) - set(DfKeyId.__members__))
            if unknown:
                raise KeyFileError(f"test keys: {_ALG_NAMES[alg]}.{df.name} {unknown[0]} is not a DF key "
                                   f"(known: {', '.join(DfKeyId.__members__)})")
            secrets.df_keys[df.fid] = {DfKeyId[r]: ssse_key(profile, DfKeyId[r], card_key(df.name, r)) for r in roles}
    secrets.pin = Pin.from_digits(profile.pin.default, profile.pin.try_limit)
    return master, secrets


def _ef(spec: EFSpec, records: list[bytes]) -> EF:
    common: dict[str, Any] = {"sfi": spec.sfi, "read": spec.read, "write": spec.write}
    if spec.type.value == "transparent":
        return TransparentEF(spec.fid, size=spec.size or 0, **common)
    records = list(spec.initial_records) + records
    if spec.type.value == "linear_variable":
        return LinearVariableEF(spec.fid, max_records=spec.max_records or 0,
                                max_record_length=spec.record_length or 0, records=records, **common)
    cls = CyclicEF if spec.type.value == "cyclic" else LinearFixedEF
    return cls(spec.fid, record_length=spec.record_length or 0, max_records=spec.max_records or 0,
               records=records, **common)


def _df(spec: DFSpec, path: str, records: Mapping[str, list[bytes]]) -> DF:
    df = DF(spec.fid, name=spec.df_name)
    for child in spec.children:
        where = f"{path}/{child.name}"
        df.add(_df(child, where, records) if isinstance(child, DFSpec) else _ef(child, list(records.get(where, []))))
    return df


def personalized_sample_card(profile: Profile | str | None = None, keys: MasterKeys | None = None) -> CardOS:
    """A fully built card: the SSSE tree of ``profile`` with the sample cardholder's
    records, test keys diversified for this card, the default PIN, and the financial zone
    (PSE and the PBOC debit ADF with UDKs from the test IMKs); phase PERSONALIZED."""
    from .gp import TEST_KMC, add_isd
    from .pboc import load_test_imks, pboc_sample
    from .ssse_app import SsseApplication

    profile = _profile(profile)
    keys = keys or load_test_keys(_algorithm(profile))
    records = sample_records(profile)
    tree = profile.tree()
    master, secrets = sample_secrets(profile, keys, _region(records))
    ssse = _df(tree, tree.name, records)
    ssse.application = SsseApplication(profile, secrets)
    life = CardLife(Lifecycle.PERSONALIZED, mf=AppSecrets(keys={MASTER_KID: master}))
    financial = pboc_sample(profile, **load_test_imks())
    card = assemble(MF(children=[ssse, *financial.zone]), profile=profile, atr=profile.atr_bytes(),
                    settings=runtime_settings(profile), life=life)
    personalized = [PSE_NAME, financial.state.aid] + ([PPSE_NAME] if financial.ppse is not None else [])
    add_isd(card, profile, TEST_KMC, personalized=personalized)
    return card


def load_or_sample(path: Path | None, profile: str | None) -> tuple[CardOS, str]:
    """The card of ``sscard sim serve``: the image at ``path`` (``profile`` is then
    ignored: the image names its own), or an in-memory sample card of ``profile``."""
    if path is None:
        prof = Profile.load(profile)
        return personalized_sample_card(prof), f"sample card, profile {prof.name}, in memory"
    from .image import load_image
    from .preperso import card_manager

    card = load_image(path)
    return card, f"{path} (profile {card_manager(card).profile.name}, {card.life.phase.value})"
