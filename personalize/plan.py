"""What one card will receive, computed before the first command that changes it: the
SSSE records, the photo, every per-card key with its try counter, the PIN, the MF keys.

A pure function of the cardholder, the keys, the profile and the card's ATR, so that a
key file that lacks a key or a cardholder the card cannot hold is refused before
anything is written. Keys stay :class:`~personalize.keys.SecretKey` (their ``repr``
shows a check value) and the PIN an :class:`~personalize.pin.InitialPin`.

Per-card keys (S9 §7.3): every ``[ssse.master]`` role the card needs, diversified with
the region of the cardholder's 卡识别码 (province and city factors) and the ATR
historical bytes 6-13 (card factor). Which keys: the profile's ``[keys] present`` at
the SSSE level, and in each DF of the tree every ``dfNN_*`` role the key file has, of
which the keys that the DF's access rules name are required.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from apdu.errors import SSCardError
from cardspec.crypto.blockcipher import Algorithm
from cardspec.ids import AppDF, DfKeyId, KeyId
from cardspec.pin import encode_pin
from cardspec.profile import Profile
from cardspec.records import CardIdCode, InitOrgCode
from cardspec.tree import DFSpec, EFSpec

from .cardholder import Cardholder
from .keys import IssuerKeys, SecretKey, role_key
from .mfkeys import MfKeys
from .pin import InitialPin

__all__ = ["PlanError", "KeyLoad", "SssePlan", "plan_ssse", "key_tries", "MASTER_TRIES", "AUTH_CODE_UNKNOWN",
           "EF05", "EF06", "EF08", "DIR"]

EF05, EF06, EF08, DIR = "SSSE/EF05", "SSSE/EF06", "SSSE/EF08", "SSSE/DIR"
#: try counter of MF key 00 (the card master key), as sscard cards keep it (docs/prepersonalization.md §1)
MASTER_TRIES = 15
#: 卡识别码 auth code when the issuer has none: "some cards hold FFFFFFFF" (V2 §8.1.1.1)
AUTH_CODE_UNKNOWN = b"\xff" * 4
_NO_COUNTER = (KeyId.IRK, KeyId.STK, KeyId.BK, DfKeyId.STK)


class PlanError(SSCardError, ValueError):
    """Inputs that cannot make this card: a key the card needs is missing, the key file
    is for another algorithm, the PIN or photo does not fit. ``fatal`` is True when
    every other card would fail the same way (the key file)."""

    def __init__(self, message: str, *, fatal: bool) -> None:
        super().__init__(message)
        self.fatal = fatal


def key_tries(kid: int, profile: Profile) -> int:
    """Try limit a key is loaded with (WRITE KEY ``tries``; 0 = no counter): the
    external-authentication keys count failures, except BK, whose failures must never
    stop a lost card from being blocked (S7 §13.1-13.2); IRK and STK (internal
    authentication, MACs) have no counter. The same rule as the simulator's
    ``cardsim.auth.has_try_counter``.

    >>> p = Profile.load("ssc3-sm4")
    >>> [key_tries(k, p) for k in (KeyId.UK, KeyId.RK, KeyId.BK, KeyId.STK, DfKeyId.RK1, DfKeyId.STK)]
    [3, 3, 0, 0, 3, 0]
    """
    return 0 if kid in _NO_COUNTER else profile.keys.ext_auth_tries


@dataclass(frozen=True)
class KeyLoad:
    """One key to load: its key space (``"MF"``, ``"SSSE"``, ``"DF01"``…), id and try limit."""

    space: str
    kid: int
    key: SecretKey
    tries: int
    version: int = 0

    def record(self) -> bytes:
        """The WRITE KEY record: algorithm ‖ version ‖ tries ‖ key (secret)."""
        return bytes((self.key.algorithm.value, self.version, self.tries)) + self.key.reveal()

    @property
    def label(self) -> str:
        return f"{self.space} key {self.kid:02X}"


@dataclass(frozen=True)
class SssePlan:
    """Everything the social-security side of one card receives."""

    region: str
    historical: bytes
    card_id: CardIdCode
    card_number: str
    records: Mapping[str, tuple[bytes, ...]]  #: EF05, EF06, DIR: whole records in record order
    photo: bytes | None = field(repr=False)
    keys: tuple[KeyLoad, ...]  #: SSSE keys, then each DF's, in load order
    pin: InitialPin
    pin_tries: int
    transport: SecretKey
    card_master: KeyLoad

    def key(self, space: str, kid: int) -> SecretKey:
        """The card key ``kid`` of ``space`` (``"SSSE"``, ``"DF01"``…)."""
        for load in self.keys:
            if load.space == space and load.kid == kid:
                return load.key
        raise PlanError(f"no {space} key {kid:02X} is loaded on this card", fatal=True)

    def pin_bcd(self) -> bytes:
        """The PIN as SET PIN and VERIFY carry it (secret)."""
        return encode_pin(self.pin.reveal())

    @property
    def algorithm(self) -> Algorithm:
        return self.transport.algorithm

    @property
    def card_id_hex(self) -> str:
        """The 卡识别码 as it is written (EF05 record 1's value), hex."""
        return self.records[EF05][0][2:].hex().upper()


def _card_keys(keys: IssuerKeys, profile: Profile, region: str, historical: bytes) -> tuple[KeyLoad, ...]:
    card = keys.ssse_card_keys(region, historical)
    alg = keys.ssse_algorithm
    by_place: dict[tuple[AppDF | None, int], SecretKey] = {}
    for role, value in card.items():
        by_place[role_key(role)] = SecretKey(value, alg)
    loads: list[KeyLoad] = []
    for kid in sorted(profile.keys.present):
        key = by_place.get((None, kid))
        if key is None:
            raise PlanError(f"{keys.path}: [ssse.master] {KeyId(kid).name.lower()} is missing: the profile "
                            f"{profile.name} loads {KeyId(kid).name} ({kid:02X}) on every card", fatal=True)
        loads.append(KeyLoad("SSSE", kid, key, key_tries(kid, profile)))
    for df in profile.tree().children:
        if not isinstance(df, DFSpec):
            continue
        place = AppDF(df.fid)
        have = {kid: key for (where, kid), key in by_place.items() if where is place}
        missing = sorted(k for k in df.key_ids() if k not in have)
        if missing:
            role = f"{df.name.lower()}_{DfKeyId(missing[0]).name.lower()}"
            raise PlanError(f"{keys.path}: [ssse.master] {role} is missing: the access rules of {df.name} "
                            f"name key {missing[0]:02X}", fatal=True)
        loads += [KeyLoad(df.name, kid, key, key_tries(kid, profile)) for kid, key in sorted(have.items())]
    return tuple(loads)


def plan_ssse(cardholder: Cardholder, keys: IssuerKeys, mf_keys: MfKeys, profile: Profile, historical: bytes, *,
              init_org_seq: int = 1) -> SssePlan:
    """The social-security side of one card; ``historical`` are the card's ATR historical
    bytes (13), ``init_org_seq`` the sequence byte of the 初始化机构编号 (EF05 tag 04)."""
    alg = Algorithm.from_id(int(profile.card.algorithm_id))
    for what, have in (("[ssse] algorithm", keys.ssse_algorithm), ("[mf] keys", mf_keys.algorithm)):
        if have is not alg:
            raise PlanError(f"the key file's {what} is {have.name}; profile {profile.name} cards use {alg.name}",
                            fatal=True)
    if len(historical) != 13:
        raise PlanError(f"the card's ATR has {len(historical)} historical bytes; a social-security card has 13 "
                        "(S2 §8.3): is this the right card?", fatal=False)
    social = cardholder.social
    tree = profile.tree()
    card_id = CardIdCode(social.region, historical[9:13], AUTH_CODE_UNKNOWN)
    records = cardholder.to_records(card_id=card_id, init_org=InitOrgCode(social.region, social.region, init_org_seq),
                                    spec_version=profile.card.spec_version,
                                    name_ext_pad=profile.card.name_ext_padding)
    dir_ef = tree.find(DIR)
    assert isinstance(dir_ef, EFSpec)
    ef08 = tree.find(EF08)
    assert isinstance(ef08, EFSpec) and ef08.size is not None
    if social.photo is not None and len(social.photo) > ef08.size:
        raise PlanError(f"the photo is {len(social.photo)} bytes; EF08 holds {ef08.size}", fatal=False)
    pin = cardholder.pin
    size = len(encode_pin(pin.reveal()))
    if not profile.pin.min_bytes <= size <= profile.pin.max_bytes:
        raise PlanError(f"the initial PIN has {pin.length} digits ({size} bytes packed); profile {profile.name} "
                        f"cards take {profile.pin.min_bytes}-{profile.pin.max_bytes} bytes", fatal=False)
    master = mf_keys.card_master_key(social.region, historical)
    return SssePlan(
        region=social.region, historical=bytes(historical), card_id=card_id, card_number=social.card_number,
        records={EF05: tuple(records[EF05]), EF06: tuple(records[EF06]), DIR: tuple(dir_ef.initial_records)},
        photo=social.photo, keys=_card_keys(keys, profile, social.region, historical), pin=pin,
        pin_tries=profile.pin.try_limit, transport=mf_keys.transport,
        card_master=KeyLoad("MF", 0x00, master, MASTER_TRIES))
