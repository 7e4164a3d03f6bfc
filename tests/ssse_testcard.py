"""A social-security card for the SSSE security tests, and the terminal that talks to it.

The card is built from a profile's file tree (``cardspec.tree``) with the sample
cardholder of ``cardspec.records.sample``; every key is derived from its id and DF so
that the host side (:class:`Host`) knows it and computes cryptograms with the same
``cardspec.crypto.ssse`` functions the card uses.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Union

from cardsim.fs import DF, EF, MF, CyclicEF, LinearFixedEF, LinearVariableEF, TransparentEF
from cardsim.persistent import AppSecrets, CardLife, encode_pin
from cardsim.runtime import CardOS, RuntimeSettings
from cardsim.ssse_app import SsseApplication, ssse_secrets
from cardsim.store import NullStore, Store
from cardspec.crypto.blockcipher import Algorithm
from cardspec.crypto.ssse import external_auth_cryptogram, wrap_command_data
from cardspec.ids import SSSE_DF_NAME, SSSE_FID, AppDF, DfKeyId
from cardspec.profile import Profile
from cardspec.records import encode_record
from cardspec.records.sample import sample_records
from cardspec.tree import DFSpec, EFSpec, EFType

PROFILES = ("ssc3-sm4", "ssc2-3des")
SELECT_SSSE = "00A404000F" + SSSE_DF_NAME.hex().upper()
SELECT_DF04 = "00A4040006" + AppDF.DF04.aid.hex().upper()
SELECT_DF01 = "00A4040006" + AppDF.DF01.aid.hex().upper()
Content = Union[tuple[bytes, ...], bytes]  # the records of a record EF, or a transparent EF's bytes


def key_value(kid: int, df_fid: int = SSSE_FID) -> bytes:
    """The test card's key ``kid`` of the DF ``df_fid`` (16 bytes, distinct per key and DF)."""
    return hashlib.sha256(b"sscard test key %04X/%02X" % (df_fid, kid)).digest()[:16]


def new_secrets(profile: Profile, pin: str | None = "123456") -> AppSecrets:
    """Every SSSE key the profile lists and every DF key of DF01-DF07, the PIN ``pin``."""
    return ssse_secrets(profile, {int(k): key_value(k) for k in profile.keys.present}, pin=pin,
                        df_keys={df: {int(k): key_value(k, df) for k in DfKeyId} for df in AppDF})


def default_contents(profile: Profile) -> dict[str, Content]:
    """Initial file contents by tree path: the sample cardholder, DIR, two DF04 records,
    a fingerprint and a photo pattern."""
    contents: dict[str, Content] = {path: tuple(recs) for path, recs in
                                    sample_records(profile.card.name_ext_padding).items()}
    contents["SSSE/DF04/EF05"] = (encode_record(0x81, "12345678", file="SSSE/DF04/EF05"),)
    contents["SSSE/DF04/EF06"] = (encode_record(0x90, "1", file="SSSE/DF04/EF06"),)
    contents["SSSE/EF07"] = bytes(range(256)) * 3
    contents["SSSE/EF08"] = b"\xAA" * 0x1000
    return contents


def _ef(spec: EFSpec, content: Content | None) -> EF:
    sfi, read, write = spec.sfi, spec.read, spec.write
    if spec.type is EFType.TRANSPARENT:
        assert spec.size is not None
        data = content if isinstance(content, bytes) else b""
        return TransparentEF(spec.fid, size=spec.size, data=data, sfi=sfi, read=read, write=write)
    records = content if isinstance(content, tuple) else spec.initial_records
    assert spec.max_records is not None and spec.record_length is not None
    if spec.type is EFType.LINEAR_VARIABLE:
        return LinearVariableEF(spec.fid, max_records=spec.max_records, max_record_length=spec.record_length,
                                sfi=sfi, read=read, write=write, records=records)
    cls = CyclicEF if spec.type is EFType.CYCLIC else LinearFixedEF
    return cls(spec.fid, record_length=spec.record_length, max_records=spec.max_records, sfi=sfi, read=read,
               write=write, records=records)


@dataclass
class TestCard:
    """A built card: the runtime, the SSSE application, and every EF by tree path."""

    __test__ = False  # not a pytest test class
    profile: Profile
    card: CardOS
    app: SsseApplication
    files: dict[str, EF] = field(default_factory=dict)

    @property
    def secrets(self) -> AppSecrets:
        return self.app.secrets

    def contents(self) -> dict[str, Content]:
        """Every EF's content by tree path (what a card image keeps)."""
        return {path: ef.content if isinstance(ef, TransparentEF) else ef.records  # type: ignore[attr-defined]
                for path, ef in self.files.items()}


def build_card(profile: Profile, *, secrets: AppSecrets | None = None, life: CardLife | None = None,
               contents: dict[str, Content] | None = None, store: Store | None = None) -> TestCard:
    """MF → SSSE DDF (the application, the profile's FCI) → EF05-EF08, DIR, DF01-DF07,
    powered on. ``contents`` overrides :func:`default_contents` per path."""
    app = SsseApplication(profile, secrets if secrets is not None else new_secrets(profile))
    files: dict[str, EF] = {}
    chosen = {**default_contents(profile), **(contents or {})}

    def build_df(spec: DFSpec, path: str) -> DF:
        df = DF(spec.fid, name=spec.df_name, application=app if spec.fid == SSSE_FID else None)
        for child in spec.children:
            child_path = f"{path}/{child.name}"
            if isinstance(child, DFSpec):
                df.add(build_df(child, child_path))
            else:
                files[child_path] = df.add(_ef(child, chosen.get(child_path)))
        return df

    tree = profile.tree()
    mf = MF(children=[build_df(tree, tree.name)])
    settings = RuntimeSettings(t0_get_response=profile.card.t0_get_response, le_mode=profile.card.le_mode)
    card = CardOS(mf, atr=profile.atr_bytes(), settings=settings, store=store or NullStore(),
                  life=life if life is not None else CardLife())
    card.power_on()
    return TestCard(profile, card, app, files)


class Host:
    """The terminal: hex APDUs in and out (61xx answered with GET RESPONSE), and the
    cryptograms of EXTERNAL AUTHENTICATE and of maintenance commands."""

    def __init__(self, test_card: TestCard) -> None:
        self.tc = test_card
        self.alg = Algorithm.from_id(int(test_card.profile.card.algorithm_id))

    @property
    def card(self) -> CardOS:
        return self.tc.card

    def tx(self, apdu: str) -> str:
        """Data ‖ SW in hex; 61xx is followed by GET RESPONSE like a T=0 reader does."""
        out = self.card.transmit(bytes.fromhex(apdu.replace(" ", "")))
        data = b""
        while out[-2] == 0x61:
            data += out[:-2]
            out = self.card.transmit(bytes((0x00, 0xC0, 0x00, 0x00, out[-1])))
        return (data + out).hex().upper()

    def sw(self, apdu: str) -> str:
        return self.tx(apdu)[-4:]

    def power_cycle(self) -> None:
        self.card.power_off()
        self.card.power_on()

    def verify(self, digits: str) -> str:
        pin = encode_pin(digits)
        return self.sw(f"00200000{len(pin):02X}{pin.hex()}")

    def challenge(self, size: int = 8) -> bytes:
        response = bytes.fromhex(self.tx(f"00840000{size:02X}"))
        assert response[-2:] == b"\x90\x00" and len(response) == size + 2, response.hex()
        return response[:-2]

    def ext_auth(self, kid: int, df_fid: int = SSSE_FID, *, good: bool = True, original: bytes = bytes(8)) -> str:
        """GET CHALLENGE, then EXTERNAL AUTHENTICATE with key ``kid`` (of ``df_fid``);
        ``good=False`` sends a cryptogram under a wrong key."""
        key = key_value(kid, df_fid) if good else bytes(16)
        cryptogram = external_auth_cryptogram(self.alg, key, self.challenge(), original)
        return self.sw(f"008200{kid:02X}10{(cryptogram + original).hex()}")

    def protected(self, cla: int, ins: int, p1: int, p2: int, plaintext: bytes | None = None, *,
                  key: bytes | None = None, good: bool = True) -> str:
        """GET CHALLENGE, then a maintenance command whose data field is
        ``wrap_command_data`` under ``key`` (default: the SSSE's STK 02); ``good=False``
        flips a MAC bit."""
        stk = key if key is not None else key_value(0x02)
        data = bytearray(wrap_command_data(self.alg, stk, self.challenge(), cla, ins, p1, p2, plaintext))
        if not good:
            data[-1] ^= 0x01
        return self.sw(bytes((cla, ins, p1, p2, len(data))).hex() + data.hex())
