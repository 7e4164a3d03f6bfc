"""Fresh personalized virtual cards for tests, without pytest: the plugin's fixtures use
these, and so can a test that needs several cards or a card per hypothesis example.

:func:`personalized_card` takes a factory-fresh blank card (:func:`cardsim.factory.blank_card`)
through the real personalization flow (:func:`personalize.flow.personalize_card`, all six
steps, verification included) with the published TEST keys of ``vectors/``:

>>> card, result = personalized_card("ssc3-sm4")
>>> result.card_number, result.verified, card.life.phase.value
('K80362153', True, 'personalized')
>>> card.power_on() == Profile.load("ssc3-sm4").atr_bytes()
True
>>> card.transmit(bytes.fromhex("00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF")).hex().upper()
'9000'
>>> card.transmit(bytes.fromhex("00B2072C00")).hex().upper()  # card number: EF05 (SFI 5), record 7
'07094B38303336323135339000'

TEST KEYS: every card made here is protected by published keys; never use them on real cards.
"""
from __future__ import annotations

import dataclasses
import functools
import tomllib
from collections.abc import Mapping
from pathlib import Path

from apdu.transport.channel import Channel, default_processors
from apdu.transport.virtual import VirtualTransport
from cardsim.factory import blank_card
from cardsim.runtime import CardOS
from cardspec.crypto.blockcipher import Algorithm
from cardspec.profile import Profile
from personalize.cardholder import BatchDefaults, Cardholder
from personalize.flow import PersoResult, personalize_card
from personalize.keys import IssuerKeys, SecretKey
from personalize.mfkeys import MfKeys, load_test_mf_keys

__all__ = ["SAMPLE_ROW", "TEST_ISSUER_KEYS", "TEST_KEYS", "sample_cardholder", "cardholder_from_row", "issuer_keys_for",
           "personalized_card"]

_VECTORS = Path(__file__).resolve().parent.parent / "vectors"
#: the SM4 issuer key file of sscard's tests ([ssse], [mf], [pboc], [oda]; TEST keys)
TEST_ISSUER_KEYS = _VECTORS / "test-issuer-keys.toml"
#: the simulator's master keys of both algorithms (TEST keys), source of the 3DES masters
TEST_KEYS = _VECTORS / "test-keys.toml"
#: The factory's sample cardholder (cardspec.records.sample and cardsim.pboc.SAMPLE_HOLDER) as an
#: input row: a card personalized for it holds the sample card's SSSE records and debit account.
SAMPLE_ROW: Mapping[str, str] = {
    "ssn": "511302198507160027", "name": "王秀英", "name_latin": "WANG/XIUYING", "sex": "2", "ethnicity": "01",
    "birthplace": "511302", "card_number": "K80362153", "card_type": "3", "region": "511300",
    "issue_date": "2024-03-15", "expiry_date": "2034-03-15", "pan": "6228000100000010", "psn": "01",
    "card_expiry": "2030-12", "card_effective": "2020-01-01"}


def cardholder_from_row(row: Mapping[str, str]) -> Cardholder:
    """A cardholder from one input row (the columns of :data:`personalize.cardholder.COLUMNS`),
    checked as a batch would check it (today's date, PIN policy ``fixed:123456``);
    raises :class:`~personalize.cardholder.RowError` listing every problem."""
    return Cardholder.from_row(dict(row), row_number=2, defaults=BatchDefaults(base_dir=_VECTORS))


def sample_cardholder() -> Cardholder:
    """王秀英, card number K80362153, PAN 6228000100000010, PIN 123456 (:data:`SAMPLE_ROW`)."""
    return cardholder_from_row(SAMPLE_ROW)


@functools.cache
def _sm4_keys() -> IssuerKeys:
    return IssuerKeys.load(TEST_ISSUER_KEYS, insecure=True)  # git keeps no file modes: published test keys


@functools.cache
def _tdes_keys() -> IssuerKeys:
    """The SM4 file's [pboc] and [oda] keys with the 3DES masters of ``test-keys.toml``."""
    data = tomllib.loads(TEST_KEYS.read_text(encoding="utf-8"))["tdes"]
    masters = {role.lower(): value for role, value in data["SSSE"].items()}
    for space, table in data.items():
        if space.startswith("DF"):
            masters.update({f"{space.lower()}_{role.lower()}": value for role, value in table.items()})
    mf = load_test_mf_keys(Algorithm.TDES)
    return dataclasses.replace(
        _sm4_keys(), path=TEST_KEYS, ssse_algorithm=Algorithm.TDES,
        ssse_master={role: SecretKey(bytes.fromhex(value), Algorithm.TDES) for role, value in masters.items()},
        mf={"transport": mf.transport, "cmk": mf.cmk})


def issuer_keys_for(profile: Profile | str | None = None) -> tuple[IssuerKeys, MfKeys]:
    """The published TEST issuer keys for ``profile``'s algorithm and their ``[mf]`` keys
    (the transport key of every blank simulator card).

    >>> keys, mf = issuer_keys_for("ssc2-3des")
    >>> keys.ssse_algorithm.name, mf.transport.algorithm.name, sorted(keys.pboc)
    ('TDES', 'TDES', ['imk_ac', 'imk_smc', 'imk_smi', 'kmc'])
    """
    prof = profile if isinstance(profile, Profile) else Profile.load(profile)
    alg = Algorithm.from_id(int(prof.card.algorithm_id))
    keys = _sm4_keys() if alg is Algorithm.SM4 else _tdes_keys()
    return keys, MfKeys.of(keys)



def personalized_card(profile: Profile | str | None = None,
                      cardholder: Cardholder | None = None) -> tuple[CardOS, PersoResult]:
    """A blank card of ``profile`` personalized and verified for ``cardholder`` (default:
    :func:`sample_cardholder`) with :func:`issuer_keys_for`; the card is left powered off.
    Raises :class:`~personalize.flow.PersoError` if the flow fails."""
    prof = profile if isinstance(profile, Profile) else Profile.load(profile)
    keys, mf = issuer_keys_for(prof)
    card = blank_card(prof)
    channel = Channel(VirtualTransport(card, f"blank {prof.name} card"), default_processors())
    with channel:
        result = personalize_card(channel, cardholder or sample_cardholder(), keys, prof, mf_keys=mf)
    return card, result
