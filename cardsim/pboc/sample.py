"""The sample debit application: cardspec's builder, test issuer keys, personalized DGI by DGI.

>>> from cardspec.profile import Profile
>>> app = pboc_sample(Profile.load("ssc3-sm4"), **load_test_imks())
>>> [df.name for df in app.zone], app.state.atc, app.state.pin
([b'1PAY.SYS.DDF01'], 0, Pin(max_tries=3, tries_left=3))
>>> app.state.secrets.keys[1].check_value  # UDK-AC of PAN 6228000100000010 / PSN 01
'58DE4B'
"""
from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

from cardspec.crypto.emv import derive_udk_option_a
from cardspec.records.sample import SAMPLE
from cardspec.pboc import (PPSE_NAME, PSE_NAME, Dgi, PbocDataError, PbocHolder, PbocProduct, build_pboc_data,
                           key_dgis, pin_block_dgi, pin_tries_dgi)
from cardspec.profile import PbocPolicy, Profile

from .app import PbocApplication
from .state import DirectoryState, PbocState

__all__ = ["SAMPLE_HOLDER", "TEST_KEYS_FILE", "load_test_imks", "product_of", "pboc_sample"]

#: The sample cardholder: a 16-digit Luhn-valid PAN (python-emv 1.0.14 cannot show an odd one).
SAMPLE_HOLDER = PbocHolder(pan="6228000100000010", expiry="301231", name="WANG/XIUYING",
                           id_number=str(SAMPLE[("SSSE/EF06", 0x08)]), psn="01", effective="200101")
#: pboc.md §4.3 vector B's issuer master keys, marked TEST KEYS.
TEST_KEYS_FILE = Path(__file__).resolve().parents[2] / "vectors" / "test-keys-pboc.toml"


def load_test_imks(path: Path = TEST_KEYS_FILE) -> dict[str, bytes]:
    """``{"imk_ac", "imk_mac", "imk_enc"}`` from the test-key file, ready for :func:`pboc_sample`."""
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))["imk"]
        keys = {f"imk_{name}": bytes.fromhex(table[name]) for name in ("ac", "mac", "enc")}
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise PbocDataError(f"{path}: cannot read the [imk] ac/mac/enc test keys ({exc})") from None
    for name, key in keys.items():
        if len(key) != 16:
            raise PbocDataError(f"{path}: [imk] {name[4:]} is {len(key)} bytes, must be 16")
    return keys


def product_of(policy: PbocPolicy) -> PbocProduct:
    """The builder's product choices from a profile's ``[pboc]`` section."""
    return PbocProduct(aip=policy.aip, version=policy.version, ec=policy.ec, ppse=policy.ppse)


def pboc_sample(profile: Profile, imk_ac: bytes, imk_mac: bytes, imk_enc: bytes, *,
                holder: PbocHolder | None = None) -> PbocApplication:
    """A personalized debit application: the data of :func:`~cardspec.pboc.build_pboc_data`,
    UDKs derived from the IMKs (option A, PAN ‖ PSN), the profile's PIN and try limit.
    Add ``app.zone`` under the MF."""
    policy = profile.pboc
    holder = holder if holder is not None else replace(SAMPLE_HOLDER, service_code=policy.service_code)
    data = build_pboc_data(holder, product_of(policy))
    state = PbocState(aid=data.aid, pse=DirectoryState(PSE_NAME),
                      ppse=DirectoryState(PPSE_NAME) if data.ppse_fci is not None else None)
    app = PbocApplication(state, policy)
    udks = [derive_udk_option_a(imk, holder.pan, holder.psn) for imk in (imk_ac, imk_mac, imk_enc)]
    dgis = {**data.dgis(), **key_dgis(*udks), Dgi.PIN: pin_block_dgi(policy.default_pin),
            Dgi.PIN_TRIES: pin_tries_dgi(policy.pin_try_limit)}
    for dgi, value in dgis.items():
        app.store_dgi(dgi, value)
    for directory, directory_dgis in ((app.pse, data.pse_dgis()), (app.ppse, data.ppse_dgis())):
        if directory is not None:
            for dgi, value in directory_dgis.items():
                directory.store_dgi(dgi, value)
    return app
