"""Dynamic data authentication on the card: the ICC RSA key and INTERNAL AUTHENTICATE
(EMV Book 2 §6.5, Book 3 §6.5.9; pboc.md §4.5).

The key arrives as DGIs 8201-8205 (:mod:`cardspec.pboc.oda_data`: q⁻¹ mod p, d mod
(q-1), d mod (p-1), q, p; each 80-padded, DEK-decrypted by STORE DATA), through
``app.dgi_handlers``, and is kept in ``PbocState.icc_key``. A component that is already
there starts a new key (the other four are forgotten: a re-personalization). When the
fifth arrives the key must be consistent, else that DGI is refused (6A80).

``0088 0000 Lc <DDOL data> [00]`` INTERNAL AUTHENTICATE answers format 1,
``80 L <signed dynamic data>`` (N_IC bytes), and sets CVR "DDA performed". The ICC
dynamic number (9F4C) is the transaction's ATC ‖ 6 random bytes (sscard's choice: time
variant and unpredictable, 8 bytes as Book 2 Table 18 allows). Status words, in the
order checked: class ≠ 00 6E00; P1-P2 ≠ 0000 6A86; no complete key 6985; outside a
transaction's READY phase (after GPO, before the first GENERATE AC) 6985; no data, or
data of another length than the DDOL (9F49, when the records have one) 6700.
"""
from __future__ import annotations

from secrets import token_bytes
from typing import TYPE_CHECKING, Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from apdu.dol import dol_length
from apdu.sw import SW, SWError
from apdu.tlv import build_ber
from cardspec.crypto.oda import sign_dynamic_data
from cardspec.pboc.oda_data import ICC_KEY_DGIS, icc_key_component, icc_key_from_components

from .transaction import Phase, expect_class

if TYPE_CHECKING:
    from apdu.command import CommandAPDU

    from .app import PbocApplication

__all__ = ["Dda", "IDN_RANDOM"]

IDN_RANDOM = 6  #: random bytes after the ATC in the ICC dynamic number


class Dda:
    """The DDA extension of a :class:`~cardsim.pboc.PbocApplication`: registers the key
    DGIs and INS 88 on construction."""

    def __init__(self, app: PbocApplication, *, random: Callable[[int], bytes] = token_bytes) -> None:
        self.app, self.random = app, random
        self._key: rsa.RSAPrivateKey | None = None
        for dgi in ICC_KEY_DGIS:
            app.dgi_handlers[int(dgi)] = self._store_component(int(dgi))
        app.handlers = {**app.handlers, 0x88: self.internal_authenticate}

    def _store_component(self, dgi: int) -> Callable[[bytes], None]:
        def store(data: bytes) -> None:
            parts = self.app.state.icc_key
            value = icc_key_component(dgi, data)
            fresh = {} if dgi in parts else dict(parts)  # a component seen again: a new key
            fresh[dgi] = value
            # the fifth component: refuses the DGI that makes an inconsistent key, else keeps the key
            key = icc_key_from_components(fresh) if len(fresh) == len(ICC_KEY_DGIS) else None
            parts.clear()
            parts.update(fresh)
            self._key = key
        return store

    @property
    def key(self) -> rsa.RSAPrivateKey | None:
        """The ICC private key once all five components are there."""
        if self._key is None and len(self.app.state.icc_key) == len(ICC_KEY_DGIS):
            self._key = icc_key_from_components(self.app.state.icc_key)
        return self._key

    def internal_authenticate(self, cmd: CommandAPDU) -> bytes:
        expect_class(cmd, 0x00)
        if cmd.p1 or cmd.p2:
            raise SWError(SW.INCORRECT_P1P2)
        app = self.app
        key = self.key
        if key is None or app.txn.phase is not Phase.READY:
            raise SWError(SW.CONDITIONS_NOT_SATISFIED)
        ddol = app.record_tag(0x9F49)
        if not cmd.data or (ddol is not None and len(cmd.data) != dol_length(ddol)):
            raise SWError(SW.WRONG_LENGTH)
        idn = app.txn.atc_bytes + self.random(IDN_RANDOM)
        signature = sign_dynamic_data(key, idn, cmd.data)
        app.note_dda()
        return build_ber(0x80, signature)
