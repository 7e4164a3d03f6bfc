"""Shared pieces of the personalization-flow tests: the sample cardholder, issuer key files
for both algorithms, and an independent terminal that reads a card back and decodes it
(written against the spec, not with the flow's own code)."""
from __future__ import annotations

import io
import tomllib
from datetime import date
from pathlib import Path
from secrets import token_bytes

from apdu.atr import parse_atr
from apdu.trace import Tracer
from apdu.transport.base import Transport
from apdu.transport.channel import Channel, default_processors
from cardsim.runtime import CardOS
from cardspec.crypto.blockcipher import Algorithm, kcv
from cardspec.crypto.diversify import diversify
from cardspec.crypto.ssse import external_auth_cryptogram
from cardspec.ids import SSSE_DF_NAME
from cardspec.profile import Profile
from cardspec.records import decode_record
from personalize.cardholder import BatchDefaults, Cardholder
from personalize.keys import IssuerKeys
from personalize.mfkeys import MfKeys, load_test_mf_keys

__all__ = ["SAMPLE_ROW", "OTHER_ROW", "TODAY", "VECTORS", "Reader", "cardholder", "comparable", "issuer_keys",
           "key_hexes", "masters", "ssse_secrets", "traced_channel", "write_key_file"]

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
TODAY = date(2025, 1, 1)
#: The factory's sample cardholder (cardspec.records.sample, cardsim.pboc.SAMPLE_HOLDER) as an input row.
SAMPLE_ROW = {"ssn": "511302198507160027", "name": "王秀英", "name_latin": "WANG/XIUYING", "sex": "2",
              "ethnicity": "01", "birthplace": "511302", "card_number": "K80362153", "card_type": "3",
              "region": "511300", "issue_date": "2024-03-15", "expiry_date": "2034-03-15",
              "pan": "6228000100000010", "psn": "01", "card_expiry": "2030-12", "card_effective": "2020-01-01"}
#: Another holder, with a photo, a long name (over 30 GBK bytes: record 4E) and a 12-digit PIN.
OTHER_ROW = {"ssn": "11010519491231002X", "name": "欧阳娜娜娜娜娜娜娜娜娜娜娜娜娜娜娜", "sex": "2",
             "card_number": "K80362153", "region": "110100", "issue_date": "2025-01-01", "pan": "6228481234567890128",
             "photo": "sample_photo.jpg", "pin": "739251048637"}


def ssse_secrets(card: CardOS):
    """The SSSE application's keys and PIN (the card's EEPROM, for white-box checks)."""
    ssse = next(df for df in card.mf.walk() if df.name == SSSE_DF_NAME)
    return ssse.application.secrets  # type: ignore[union-attr]


def comparable(card: CardOS) -> dict:
    """A card image without what the sample card has and no input gives (DF01 data) and
    without what personalizing changed on the way (the ISD's SCP02 counter) and the test
    transaction of step 6 (ATC, log)."""
    from cardsim.image import card_to_dict

    image = card_to_dict(card)
    ssse = next(df for df in image["mf"]["children"] if df["name"] == SSSE_DF_NAME.hex().upper())
    for df01_ef in ssse["children"][5]["children"][:2]:
        df01_ef["records"] = []
    pboc, gp = image["sections"]["pboc"], image["sections"]["gp"]
    pboc["atc"], pboc["log"] = 0, []
    gp["counter"] = 0  # one SCP02 session
    return {key: image[key] for key in ("atr", "profile", "life", "mf")} | {"pboc": pboc, "gp": gp}


def cardholder(row: dict[str, str] = SAMPLE_ROW, **changes: str) -> Cardholder:
    return Cardholder.from_row({**row, **changes}, row_number=2,
                               defaults=BatchDefaults(today=TODAY, base_dir=VECTORS))


def _entry(key: bytes, alg: Algorithm) -> str:
    return f'{{ key = "{key.hex().upper()}", kcv = "{kcv(alg, key).hex().upper()}" }}'


def masters(alg: Algorithm) -> dict[str, bytes]:
    """The ``[ssse.master]`` roles of the simulator's test keys (vectors/test-keys.toml)."""
    data = tomllib.loads((VECTORS / "test-keys.toml").read_text(encoding="utf-8"))
    name = "tdes" if alg is Algorithm.TDES else "sm4"
    out = {role.lower(): bytes.fromhex(value) for role, value in data[name]["SSSE"].items()}
    for space, table in data[name].items():
        if space.startswith("DF"):
            out.update({f"{space.lower()}_{role.lower()}": bytes.fromhex(v) for role, v in table.items()})
    return out


def write_key_file(directory: Path, alg: Algorithm, *, change: dict[str, bytes] | None = None,
                   oda: bool = False) -> Path:
    """An issuer key file with the simulator's test masters (``change``: other values for some
    roles); ``oda``: with the test CA and issuer keys of vectors/oda."""
    pboc = tomllib.loads((VECTORS / "test-issuer-keys.toml").read_text(encoding="utf-8"))["pboc"]
    roles = {**masters(alg), **(change or {})}
    lines = ["[ssse]", f'algorithm = "{"3des" if alg is Algorithm.TDES else "sm4"}"', "[ssse.master]"]
    lines += [f"{role} = {_entry(key, alg)}" for role, key in roles.items()]
    lines += ["[pboc]"] + [f'{role} = {{ key = "{v["key"]}", kcv = "{v["kcv"]}" }}' for role, v in pboc.items()]
    if oda:
        lines += ["[oda]", f'ca_key = "{VECTORS / "oda" / "TEST-ca-F1-1408.pem"}"',
                  f'issuer_key = "{VECTORS / "oda" / "TEST-issuer-1152.pem"}"']
    path = directory / f"issuer-{alg.name.lower()}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def issuer_keys(directory: Path, profile: Profile, *, change: dict[str, bytes] | None = None,
                oda: bool = False) -> tuple[IssuerKeys, MfKeys]:
    """The issuer keys of :func:`write_key_file` (the ODA PEMs are 0644 in git: ``insecure``)
    and the simulator's MF test keys."""
    alg = Algorithm.from_id(int(profile.card.algorithm_id))
    keys = IssuerKeys.load(write_key_file(directory, alg, change=change, oda=oda), insecure=oda)
    return keys, load_test_mf_keys(alg)


def traced_channel(transport: Transport) -> tuple[Channel, io.StringIO]:
    """A channel like the CLI's (GET RESPONSE, Le correction) with a text trace kept in memory."""
    text = io.StringIO()
    return Channel(transport, default_processors(), Tracer(text)), text


class Reader:
    """A terminal of the test's own: reads the SSSE and decodes its records."""

    def __init__(self, channel: Channel, profile: Profile) -> None:
        self.channel, self.profile = channel, profile
        self.alg = Algorithm.from_id(int(profile.card.algorithm_id))

    def ok(self, hex_or_bytes: str | bytes) -> bytes:
        raw = bytes.fromhex(hex_or_bytes) if isinstance(hex_or_bytes, str) else hex_or_bytes
        r = self.channel.send(raw)
        assert r.sw == 0x9000, f"{raw.hex().upper()} -> {r.sw:04X}"
        return r.data

    def sw(self, raw: bytes) -> int:
        return self.channel.send(raw).sw

    def select_ssse(self) -> bytes:
        return self.ok(bytes.fromhex("00A404000F") + SSSE_DF_NAME)

    def authenticate(self, kid: int, role: str, region: str) -> None:
        """EXTERNAL AUTHENTICATE with the card key diversified from the test master of ``role``."""
        hist = parse_atr(self.channel.atr).historical
        key = diversify(self.alg, masters(self.alg)[role], region, hist, 3)
        challenge = self.ok("0084000008")
        original = token_bytes(8)
        self.ok(bytes((0x00, 0x82, 0x00, kid, 0x10)) + external_auth_cryptogram(self.alg, key, challenge, original)
                + original)

    def fields(self, sfi: int, tags: list[int], file: str) -> dict[int, object]:
        """READ RECORD by tag (P2 = SFI << 3), each record decoded through its layout."""
        out = {}
        for tag in tags:
            got_tag, value = decode_record(self.ok(bytes((0x00, 0xB2, tag, sfi << 3, 0x00))), file=file)
            assert got_tag == tag
            out[tag] = value
        return out

    def binary(self, sfi: int, length: int) -> bytes:
        data = self.ok(bytes((0x00, 0xB0, 0x80 | sfi, 0x00, 0xF0)))
        while len(data) < length:
            n = min(0xF0, length - len(data))
            data += self.ok(bytes((0x00, 0xB0, len(data) >> 8, len(data) & 0xFF, n)))
        return data[:length]


def key_hexes(keys: IssuerKeys, mf: MfKeys, region: str, historical: bytes) -> set[str]:
    """Every key's hex a trace must not show: masters, card keys, MF keys, UDKs."""
    alg = keys.ssse_algorithm
    out = {k.reveal().hex().upper() for k in (*keys.ssse_master.values(), *keys.pboc.values(), mf.transport, mf.cmk)}
    out |= {diversify(alg, k.reveal(), region, historical, 3).hex().upper() for k in keys.ssse_master.values()}
    out.add(mf.card_master_key(region, historical).reveal().hex().upper())
    return out

