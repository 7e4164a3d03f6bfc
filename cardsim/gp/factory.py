"""A card as a personalization bureau receives it for the financial zone.

>>> card = financial_card("ssc2-3des")
>>> [df.label for df in card.mf.children], card.transmit(bytes.fromhex("00A4040008A000000003000000")).hex().upper()
(['3F00/DDF2', '3F00/A000'], '6112')
>>> card.transmit(bytes.fromhex("00C0000012")).hex().upper()  # the ISD's FCI (T=0 profile)
'6F108408A000000003000000A5049F6501FF9000'
"""
from __future__ import annotations

from cardspec.pboc import PBOC_DEBIT_AID, PPSE_NAME, PSE_NAME
from cardspec.profile import Profile

from ..factory import runtime_settings
from ..fs import MF
from ..persistent import CardLife
from ..pboc import DirectoryState, PbocApplication, PbocState
from ..preperso import assemble
from ..runtime import CardOS
from ..store import Store
from .section import add_isd
from .state import TEST_KMC

__all__ = ["financial_card"]


def financial_card(profile: Profile | str | None = None, kmc: bytes = TEST_KMC, *,
                   store: Store | None = None) -> CardOS:
    """A powered card: the debit application installed but empty (PSE, the ADF, the PPSE
    when ``[pboc] ppse``), and the ISD with SCP02 keys diversified from ``kmc``."""
    profile = profile if isinstance(profile, Profile) else Profile.load(profile)
    state = PbocState(aid=PBOC_DEBIT_AID, pse=DirectoryState(PSE_NAME),
                      ppse=DirectoryState(PPSE_NAME) if profile.pboc.ppse else None)
    app = PbocApplication(state, profile.pboc)
    card = assemble(MF(children=app.zone), profile=profile, atr=profile.atr_bytes(),
                    settings=runtime_settings(profile), life=CardLife(), store=store)
    add_isd(card, profile, kmc)
    card.power_on()
    return card
