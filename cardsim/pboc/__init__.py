"""The financial zone of the virtual card: PSE/PPSE directories and the PBOC debit ADF.

Build it from persistent state (:class:`PbocState`) or with :func:`pboc_sample`, then add
``app.zone`` under the MF. See :mod:`cardsim.pboc.app` for the commands and status words,
:mod:`~cardsim.pboc.transaction` for the sequence rules and the CVR,
:mod:`~cardsim.pboc.authorization` for the card's decisions, :mod:`~cardsim.pboc.scripts`
for issuer scripts and :mod:`~cardsim.pboc.personalize` for the DGIs.
"""
from .app import PbocApplication
from .directory import DirectoryApplication
from .personalize import apply_dgi
from .section import dump_section, find_pboc, is_financial, load_section
from .sample import SAMPLE_HOLDER, TEST_KEYS_FILE, load_test_imks, pboc_sample, product_of
from .state import DirectoryState, PbocKey, PbocState
from .transaction import Phase, Transaction

__all__ = ["DirectoryApplication", "DirectoryState", "PbocApplication", "PbocKey", "PbocState", "Phase",
           "SAMPLE_HOLDER", "TEST_KEYS_FILE", "Transaction", "apply_dgi", "dump_section", "find_pboc", "is_financial",
           "load_section", "load_test_imks", "pboc_sample", "product_of"]
