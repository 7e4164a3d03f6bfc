"""The debit application (step 4): its data set from the cardholder and the issuer keys,
and its personalization over SCP02 with STORE DATA (pboc.md §2.3).

The data set is :func:`cardspec.pboc.build_pboc_data`'s, the same builder the simulator's
sample card uses, so that a card personalized here for the sample cardholder holds what
the factory builds. Per instance, in STORE DATA order:

* ``1PAY.SYS.DDF01``: DGI 9102 (FCI) and its directory records;
* the debit ADF: the records (SFI 1-3; SFI 2 holds the ODA data when the key file names
  ``[oda]`` keys, :mod:`.oda`), 9102, 9104 (AIP, AFL), 9200 (IAD), 0D01/0E01, then 8000
  (UDK-AC ‖ UDK-MAC ‖ UDK-ENC from the key file's IMKs, EMV option A over PAN ‖ PSN),
  9000 (their KCVs), 8010 (the PIN block), 9010 (PIN try limit) and, with ODA, the ICC
  private key 8201-8205;
* ``2PAY.SYS.DDF01`` when the profile enables it: DGI 9102.

The PIN is the cardholder's initial PIN, the same digits as the SSSE's, with the
profile's ``[pboc] pin_try_limit``. Name: tag 5F20 carries ``name_latin``; without it
5F20 is " /" (the cardholder model's convention) and the GBK name stays in the SSSE:
EMV's 9F0B is ``ans``, it cannot carry GBK.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cardspec.crypto.emv import pin_block_iso9564_format2
from cardspec.pboc import (PPSE_NAME, PSE_NAME, Dgi, IdType, PbocData, PbocDataError, PbocHolder, PbocProduct,
                           build_pboc_data, key_dgis, pin_block_dgi, pin_tries_dgi)
from cardspec.pboc.oda_data import build_pboc_data_with_oda
from cardspec.profile import PbocPolicy, Profile

from .cardholder import NO_LATIN_NAME, Cardholder
from .icckeys import IccKeySource, generate_now
from .keys import IssuerKeys, KeyFileError
from .oda import OdaPlan, plan_oda
from .pin import InitialPin
from .plan import PlanError
from .scp02_host import Scp02Error, Scp02Session
from .session import CardSession, answer, shown_apdu
from .ssse_steps import apdu

__all__ = ["DebitPlan", "Instance", "plan_debit", "personalize_debit", "product_of", "holder_of", "SECURITY_LEVEL"]

SECURITY_LEVEL = 0x03  #: SCP02 C-MAC and C-DECRYPTION


@dataclass(frozen=True)
class Instance:
    """One application instance to personalize: its AID and DGIs in STORE DATA order."""

    aid: bytes
    label: str
    dgis: tuple[tuple[int, bytes], ...] = field(repr=False)  #: (DGI, plaintext); 8000-8FFF are secret


@dataclass(frozen=True)
class DebitPlan:
    """Everything the debit side of one card receives."""

    pan: str
    psn: str
    data: PbocData = field(repr=False)
    instances: tuple[Instance, ...]
    pin: InitialPin
    pin_tries: int
    keys: IssuerKeys = field(repr=False)  #: the issuer keys: SCP02 keys, and the IMK-AC for the ARQC check
    oda: OdaPlan | None = None  #: the ODA data, when the key file names ``[oda]`` keys

    @property
    def aid(self) -> bytes:
        return self.data.aid

    def pin_block(self) -> bytes:
        """The PIN as an ISO 9564 format-2 block (VERIFY 0020 0080; secret)."""
        return pin_block_iso9564_format2(self.pin.reveal())


def product_of(policy: PbocPolicy) -> PbocProduct:
    """The builder's product choices from a profile's ``[pboc]`` section."""
    return PbocProduct(aip=policy.aip, version=policy.version, ec=policy.ec, ppse=policy.ppse)


def holder_of(cardholder: Cardholder) -> PbocHolder:
    """The builder's per-card data from a cardholder (see the module notes on the name)."""
    fin = cardholder.financial
    return PbocHolder(pan=fin.pan, expiry=f"{fin.expiry:%y%m%d}",
                      name=fin.name_latin if fin.name_latin else NO_LATIN_NAME.decode("ascii"),
                      id_number=fin.id_number, id_type=IdType(fin.id_type), psn=fin.psn,
                      effective=f"{fin.effective:%y%m%d}", service_code=fin.service_code)


def plan_debit(cardholder: Cardholder, keys: IssuerKeys, profile: Profile,
               icc_keys: IccKeySource = generate_now) -> DebitPlan:
    """The debit side of one card: data set, UDKs, PIN, ODA data (with a key pair from
    ``icc_keys``). :class:`PlanError` when the key file lacks an IMK (fatal) or the
    cardholder's data do not fit (not fatal)."""
    fin, policy = cardholder.financial, profile.pboc
    holder = holder_of(cardholder)
    try:
        oda = plan_oda(keys, holder, icc_keys)
        data = build_pboc_data(holder, product_of(policy)) if oda is None else \
            build_pboc_data_with_oda(holder, oda.inputs, product_of(policy))
    except PbocDataError as exc:
        raise PlanError(f"debit application data: {exc}", fatal=False) from None
    if "kmc" not in keys.pboc:
        raise PlanError(f"{keys.path}: [pboc] kmc is missing: the card's security domain keys come from it",
                        fatal=True)
    try:
        udks = keys.pboc_udks(fin.pan, fin.psn)
    except KeyFileError as exc:
        raise PlanError(str(exc), fatal=True) from None
    pin = cardholder.pin
    adf = {**data.dgis(), **key_dgis(*udks), Dgi.PIN: pin_block_dgi(pin.reveal()),
           Dgi.PIN_TRIES: pin_tries_dgi(policy.pin_try_limit), **(oda.icc_dgis if oda is not None else {})}
    instances = [Instance(PSE_NAME, "1PAY.SYS.DDF01", tuple(data.pse_dgis().items())),
                 Instance(data.aid, "the debit application", tuple(adf.items()))]
    if data.ppse_fci is not None:
        instances.append(Instance(PPSE_NAME, "2PAY.SYS.DDF01", tuple(data.ppse_dgis().items())))
    return DebitPlan(fin.pan, fin.psn, data, tuple(instances), pin, policy.pin_try_limit, keys, oda)


def personalize_debit(session: CardSession, plan: DebitPlan, profile: Profile) -> None:
    """SELECT the issuer security domain (profile ``[gp] isd_aid``), open SCP02 at
    security level 03 (C-MAC and C-DECRYPTION: the cardholder data travel enciphered too)
    with the card's static keys (the key file's KMC diversified over the KDD the card
    answers, EMV CPS), then INSTALL [for personalization] and STORE DATA for every
    instance; DGIs 8000-8FFF are DEK-encrypted, the last block of each instance flagged.

    A card cryptogram that does not match (wrong KMC or key version) stops here with a
    *fatal* error before EXTERNAL AUTHENTICATE is sent, so the card spends nothing."""
    isd = profile.gp.isd_aid
    command, what = apdu(0x00, 0xA4, 0x04, 0x00, isd, le=0), f"SELECT the issuer security domain {isd.hex().upper()}"
    selected = session.exchange(command, what)
    if selected.sw != 0x9000:
        hint = ": the card has no security domain to personalize its debit application through" \
            if selected.sw == 0x6A82 else ""
        raise session.fail(f"{what}: {shown_apdu(command)} answered {answer(selected.sw)}{hint}", apdu=command,
                           sw=selected.sw)
    scp = Scp02Session(lambda command: session.raw(command, _what(command)), plan.keys.scp02_card_keys,
                       SECURITY_LEVEL, key_version=profile.gp.key_version)
    target = ""
    try:
        scp.open()
        for instance in plan.instances:
            target = f" ({instance.label})"
            scp.install_for_personalization(instance.aid)
            scp.store_data(instance.dgis)
    except Scp02Error as exc:
        raise session.fail(f"SCP02{target}: {exc}", sw=exc.sw, fatal=exc.keys_rejected) from None
    except KeyFileError as exc:
        raise session.fail(str(exc), fatal=True) from None
    finally:
        scp.close()


def _what(command: bytes) -> str:
    return _NAMES.get(command[1], command[:4].hex().upper()) if len(command) > 1 else "command"


_NAMES = {0x50: "INITIALIZE UPDATE", 0x82: "EXTERNAL AUTHENTICATE (SCP02)",
          0xE6: "INSTALL [for personalization]", 0xE2: "STORE DATA"}
