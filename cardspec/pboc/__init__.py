"""Spec knowledge of the financial zone (PBOC 2.0/3.0 debit, JR/T 0025; pboc.md): tags,
default issuer data, DGIs, the CVR/IAD layout and the builder of a card's data set."""
from .builder import INTERNAL_2_TAGS, IdType, PbocData, PbocHolder, PbocProduct, build_pboc_data
from .cvr import AcType, Cvr, Cvr2, Cvr3, Cvr4, Iad
from .defaults import (ADF_FID, DEFAULTS, DIRECTORY_SFI, EC_DEFAULTS, LOG_RECORDS, LOG_SFI, PBOC_DEBIT_AID,
                       PPSE_FID, PPSE_NAME, PSE_FID, PSE_NAME, IssuerDefaults, record_fid)
from .dgi import (Dgi, describe_dgi, dgi_record, is_encrypted, key_dgis, pin_block_dgi, pin_tries_dgi,
                  record_dgi, split_udks)
from .tags import EC_TAGS, GET_DATA_TAGS, PUT_DATA_TAGS, TAGS, PbocDataError, TagInfo, check_value, tag_name

__all__ = [
    "AcType", "ADF_FID", "build_pboc_data", "check_value", "Cvr", "Cvr2", "Cvr3", "Cvr4", "DEFAULTS",
    "describe_dgi", "Dgi", "dgi_record", "DIRECTORY_SFI", "EC_DEFAULTS", "EC_TAGS", "GET_DATA_TAGS", "Iad",
    "IdType", "INTERNAL_2_TAGS", "is_encrypted", "IssuerDefaults", "key_dgis", "LOG_RECORDS", "LOG_SFI",
    "PBOC_DEBIT_AID", "PbocData", "PbocDataError", "PbocHolder", "PbocProduct", "pin_block_dgi",
    "pin_tries_dgi", "PPSE_FID", "PPSE_NAME", "PSE_FID", "PSE_NAME", "PUT_DATA_TAGS", "record_dgi",
    "record_fid", "split_udks", "tag_name", "TagInfo", "TAGS",
]
