"""GlobalPlatform card content management as PBOC personalization bureaus use it: the
issuer security domain (SCP02, INSTALL [for personalization], CPS STORE DATA).

Add one with :func:`add_isd` (:func:`financial_card`: a card ready for the bureau);
images keep it as the ``gp`` section. See
:mod:`cardsim.gp.domain` for the commands and status words, :mod:`cardsim.gp.state` for
the keys, KDD and sequence counter, :mod:`cardspec.cps` for the data formats.
"""
from .domain import ISD_FID, Personalizable, SecurityDomain
from .factory import financial_card
from .section import GpImageError, add_isd, dump_section, find_isd, is_isd, load_section
from .state import TEST_KMC, AppLifecycle, GpState, kdd_of

__all__ = ["AppLifecycle", "GpImageError", "GpState", "ISD_FID", "Personalizable", "SecurityDomain", "TEST_KMC",
           "add_isd", "dump_section", "financial_card", "find_isd", "is_isd", "kdd_of", "load_section"]
