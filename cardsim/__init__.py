"""The virtual card: an ISO 7816-4 file system and card runtime (:class:`CardOS`)."""
from .application import Application, BaseApplication, Handler, SecurityState, Shape, shape_of, shaped
from .fs import (DF, EF, MF, CyclicEF, File, FileSystemError, LinearFixedEF, LinearVariableEF, RecordEF,
                 RecordRef, TransparentEF)
from .runtime import CardConfigError, CardOS, RuntimeSettings
from .store import NullStore, RecordingStore, Store

__all__ = [
    "Application", "BaseApplication", "CardConfigError", "CardOS", "CyclicEF", "DF", "EF", "File",
    "FileSystemError", "Handler", "LinearFixedEF", "LinearVariableEF", "MF", "NullStore", "RecordEF",
    "RecordRef", "RecordingStore", "RuntimeSettings", "SecurityState", "Shape", "Store", "TransparentEF",
    "shape_of", "shaped",
]
