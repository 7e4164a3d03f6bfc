"""Shared pieces of the GlobalPlatform/personalization tests: a bureau-ready card behind a
channel, the host's SCP02 session on it, and the debit data set of the sample holder
with its ODA data and keys."""
from __future__ import annotations

from dataclasses import dataclass

from apdu.response import ResponseAPDU
from apdu.transport.channel import Channel, default_processors
from apdu.transport.virtual import VirtualTransport
from cardsim import CardOS, RecordingStore
from cardsim.gp import TEST_KMC, SecurityDomain, financial_card, find_isd
from cardsim.pboc import PbocApplication, find_pboc, load_test_imks
from cardspec.crypto.emv import derive_udk_option_a
from cardspec.crypto.oda import load_test_keys, make_issuer_certificate
from cardspec.crypto.scp02 import KeyType, diversify_emv
from cardspec.pboc import (Dgi, PbocData, PbocHolder, PbocProduct, key_dgis, pin_block_dgi, pin_tries_dgi)
from cardspec.pboc.oda_data import OdaInputs, build_pboc_data_with_oda, icc_key_dgis
from personalize.scp02_host import Scp02Session

ISD_AID = bytes.fromhex("A000000003000000")
IMKS = load_test_imks()
ODA_KEYS = load_test_keys()
HOLDER = PbocHolder(pan="6228000100000010", expiry="301231", name="WANG/XIUYING", id_number="110101199003071234",
                    psn="01", effective="200101")
PIN = "123456"


def kmc_keys(kmc: bytes = TEST_KMC):
    """KDD -> the ISD's static keys, as the personalization tool derives them."""
    return lambda kdd: tuple(diversify_emv(kmc, kdd, t) for t in (KeyType.ENC, KeyType.MAC, KeyType.DEK))


@dataclass
class Bureau:
    """A bureau-ready card, the channel to it, and what the tests look at."""

    card: CardOS
    channel: Channel
    store: RecordingStore
    sent: list[bytes]  #: every C-APDU that reached the card

    @property
    def isd(self) -> SecurityDomain:
        isd = find_isd(self.card)
        assert isd is not None
        return isd

    @property
    def app(self) -> PbocApplication:
        app = find_pboc(self.card)
        assert app is not None
        return app

    def transmit(self, apdu: bytes | str) -> ResponseAPDU:
        return self.channel.send(bytes.fromhex(apdu) if isinstance(apdu, str) else apdu)

    def select_isd(self) -> None:
        assert self.transmit(b"\x00\xA4\x04\x00\x08" + ISD_AID + b"\x00").sw == 0x9000

    def session(self, level: int = 1, kmc: bytes = TEST_KMC, **kwargs: object) -> Scp02Session:
        """The ISD selected and an SCP02 session opened on it."""
        self.select_isd()
        session = Scp02Session(self.channel.transmit, kmc_keys(kmc), level, **kwargs)  # type: ignore[arg-type]
        session.open()
        return session


def bureau(profile: str = "ssc2-3des") -> Bureau:
    store = RecordingStore()
    card = financial_card(profile, store=store)
    sent: list[bytes] = []

    class Recording:  # the card, noting every command it receives
        def power_on(self) -> bytes:
            return card.power_on()

        def power_off(self) -> None:
            card.power_off()

        def reset(self) -> bytes:
            return card.reset()

        def transmit(self, apdu: bytes) -> bytes:
            sent.append(bytes(apdu))
            return card.transmit(apdu)

    channel = Channel(VirtualTransport(Recording()), default_processors())
    channel.connect()
    return Bureau(card, channel, store, sent)


def debit_data(holder: PbocHolder = HOLDER) -> PbocData:
    """The builder's data set with the ODA records of the test CA/issuer/ICC keys."""
    cert = make_issuer_certificate(ODA_KEYS.ca, ODA_KEYS.issuer.public_key(), holder.pan[:6], b"\x12\x49",
                                   b"\x00\x00\x01")
    inputs = OdaInputs(cert, ODA_KEYS.ca_index, ODA_KEYS.issuer, ODA_KEYS.icc)
    return build_pboc_data_with_oda(holder, inputs, PbocProduct())


def adf_dgis(data: PbocData, holder: PbocHolder = HOLDER, *, icc_key: bool = True) -> list[tuple[int, bytes]]:
    """The ADF instance's DGIs in STORE DATA order: data, UDKs and KCVs, PIN, ICC key."""
    udks = [derive_udk_option_a(IMKS[f"imk_{k}"], holder.pan, holder.psn) for k in ("ac", "mac", "enc")]
    dgis = {**data.dgis(), **key_dgis(*udks), Dgi.PIN: pin_block_dgi(PIN), Dgi.PIN_TRIES: pin_tries_dgi(3)}
    if icc_key:
        dgis.update(icc_key_dgis(ODA_KEYS.icc))
    return list(dgis.items())


def personalize(b: Bureau, data: PbocData, level: int = 1, *, icc_key: bool = True) -> Scp02Session:
    """PSE then ADF, entirely through SCP02 and STORE DATA."""
    session = b.session(level)
    session.install_for_personalization(b"1PAY.SYS.DDF01")
    session.store_data(list(data.pse_dgis().items()))
    session.install_for_personalization(data.aid)
    session.store_data(adf_dgis(data, icc_key=icc_key))
    return session
