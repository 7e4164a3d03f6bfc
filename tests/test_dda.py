"""DDA: the ODA records and the ICC key personalized through STORE DATA; a terminal recovers
the CA → issuer → ICC chain from the records and checks INTERNAL AUTHENTICATE over its UN."""
from __future__ import annotations

import datetime
import pytest

from apdu.dol import build_dol_data
from apdu.tlv import parse_one
from cardsim.pboc import PbocApplication, PbocState
from cardspec.crypto.emv import cvr_from_iad
from cardspec.crypto import VerificationError
from cardspec.crypto.oda import (afl_oda_records, make_issuer_certificate, recover_icc_public_key,
                                 recover_issuer_public_key, static_data_to_authenticate, verify_dynamic_signature,
                                 verify_static_data)
from cardspec.pboc import Cvr4, PbocDataError, PbocProduct
from cardspec.pboc.oda_data import DAC, OdaInputs, build_pboc_data_with_oda, icc_key_dgis
from gp_support import HOLDER, ODA_KEYS, bureau, debit_data, personalize
from pboc_support import AID, PURCHASE, Terminal, afl_of, gac_fields, sample_card

H = bytes.fromhex
TODAY = datetime.date(2026, 11, 24)
UN = H("1E78EEBC")


def _card_at_gpo(*, icc_key: bool = True) -> tuple[Terminal, PbocApplication, bytes]:
    b = bureau()
    personalize(b, debit_data(), icc_key=icc_key)
    b.app.dda.random = lambda n: bytes(range(n))
    t = Terminal(b.card)
    assert t.select(AID)[1] == 0x9000
    gpo, sw = t.gpo({0x9F7A: b"\x00", 0x9F02: PURCHASE[0x9F02], 0x5F2A: PURCHASE[0x5F2A]})
    assert sw == 0x9000
    return t, b.app, gpo


def test_terminal_recovers_the_chain_and_verifies_internal_authenticate():
    t, app, gpo = _card_at_gpo()
    afl, aip = afl_of(gpo), parse_one(gpo, tag=0x80).value[:2]
    tags = t.records(afl)
    records = [(sfi, t.ok(bytes((0x00, 0xB2, n, sfi << 3 | 4, 0x00)))) for sfi, n in afl_oda_records(afl)]
    static = static_data_to_authenticate(records, aip, tags[0x9F4A])
    assert tags[0x8F] == bytes((ODA_KEYS.ca_index,))
    issuer = recover_issuer_public_key(ODA_KEYS.ca.public_key(), tags[0x90], tags.get(0x92), tags[0x9F32],
                                       HOLDER.pan, today=TODAY)
    assert verify_static_data(issuer, tags[0x93], static) == DAC  # SDA too
    icc = recover_icc_public_key(issuer, tags[0x9F46], tags.get(0x9F48), tags[0x9F47], HOLDER.pan, static,
                                 today=TODAY)
    assert icc.n == ODA_KEYS.icc.public_key().public_numbers().n
    response = t.ok("0088000004" + UN.hex() + "00")
    signature = parse_one(response, tag=0x80).value
    assert len(signature) == 128
    idn = verify_dynamic_signature(icc, signature, build_dol_data(tags[0x9F49], {0x9F37: UN}))
    assert idn == H("0001" "000102030405")  # the ATC of this transaction, then the random bytes
    with pytest.raises(VerificationError, match="hash check failed"):
        verify_dynamic_signature(icc, signature, H("1E78EEBD"))
    _, _, _, iad = gac_fields(t.gac(0x80, tags[0x8C], PURCHASE)[0])
    assert cvr_from_iad(iad)[3] & Cvr4.DDA_PERFORMED


@pytest.mark.parametrize("apdu, sw", [
    ("8088000004" + UN.hex() + "00", 0x6E00),
    ("0088010004" + UN.hex() + "00", 0x6A86),
    ("00880000031E78EE00", 0x6700),  # the DDOL asks for 4 bytes
    ("0088000000", 0x6700),
])
def test_internal_authenticate_errors(apdu, sw):
    t, _, _ = _card_at_gpo()
    assert t.send(apdu)[1] == sw


def test_internal_authenticate_only_between_gpo_and_the_first_generate_ac():
    t, app, gpo = _card_at_gpo()
    tags = t.records(afl_of(gpo))
    t.gac(0x80, tags[0x8C], PURCHASE)
    assert t.send("0088000004" + UN.hex() + "00")[1] == 0x6985
    assert t.select(AID)[1] == 0x9000
    assert t.send("0088000004" + UN.hex() + "00")[1] == 0x6985  # before GPO


def test_no_icc_key_no_internal_authenticate():
    t, app, _ = _card_at_gpo(icc_key=False)
    assert app.dda.key is None
    assert t.send("0088000004" + UN.hex() + "00")[1] == 0x6985


def _app() -> PbocApplication:
    return sample_card("ssc2-3des")[1]


def test_a_component_seen_again_starts_a_new_key():
    app = _app()
    for dgi, value in icc_key_dgis(ODA_KEYS.icc).items():
        app.store_dgi(dgi, value)
    assert app.dda.key is not None
    assert app.dda.key.public_key().public_numbers() == ODA_KEYS.icc.public_key().public_numbers()
    other = icc_key_dgis(ODA_KEYS.issuer)  # any other RSA key: a re-personalization
    app.store_dgi(0x8201, other[0x8201])
    assert list(app.state.icc_key) == [0x8201] and app.dda.key is None
    for dgi in (0x8202, 0x8203, 0x8204, 0x8205):
        app.store_dgi(dgi, other[dgi])
    assert app.dda.key.public_key().public_numbers() == ODA_KEYS.issuer.public_key().public_numbers()


def test_an_inconsistent_fifth_component_is_refused():
    app = _app()
    icc, other = icc_key_dgis(ODA_KEYS.icc), icc_key_dgis(ODA_KEYS.issuer)
    for dgi in (0x8201, 0x8202, 0x8203, 0x8204):
        app.store_dgi(dgi, icc[dgi])
    with pytest.raises(PbocDataError, match="ICC RSA key: "):
        app.store_dgi(0x8205, other[0x8205])
    assert sorted(app.state.icc_key) == [0x8201, 0x8202, 0x8203, 0x8204] and app.dda.key is None
    with pytest.raises(PbocDataError, match=r"DGI 8205 \(ICC RSA key, prime p\): padding: no 80 marker"):
        app.store_dgi(0x8205, icc[0x8205][:-8] + bytes(8))


def test_the_key_survives_the_image():
    app = _app()
    assert "icc_key" not in app.state.to_dict()
    for dgi, value in icc_key_dgis(ODA_KEYS.icc).items():
        app.store_dgi(dgi, value)
    copy = PbocApplication(PbocState.from_dict(app.state.to_dict()))
    assert copy.state.icc_key == app.state.icc_key and copy.dda.key is not None


def test_oda_records_in_the_data_set():
    data = debit_data()
    assert data.afl == H("08010200" "10010500" "18010201")
    assert [obj.tag for obj in parse_one(data.records[(2, 2)], tag=0x70).children()] == [0x9F32, 0x92, 0x8F]
    fifth = {obj.tag: obj.value for obj in parse_one(data.records[(2, 5)], tag=0x70).children()}
    assert (fifth[0x9F47], len(fifth[0x9F48]), fifth[0x9F49]) == (H("03"), 26, H("9F3704"))
    inputs = OdaInputs(make_issuer_certificate(ODA_KEYS.ca, ODA_KEYS.issuer.public_key(), "622800", H("1249"),
                                               H("000001")), ODA_KEYS.ca_index, ODA_KEYS.issuer, ODA_KEYS.icc)
    with pytest.raises(PbocDataError, match="the product already carries ODA records"):
        build_pboc_data_with_oda(HOLDER, inputs, PbocProduct(oda_records=(H("9001AA"),)))
    with pytest.raises(PbocDataError, match="icc_key must be the card's RSA key"):
        OdaInputs(inputs.issuer_certificate, ODA_KEYS.ca_index, ODA_KEYS.issuer, b"not a key")  # type: ignore[arg-type]


def test_a_composite_prime_is_refused_before_it_signs():
    """The card checks the key as it would sign with it (no OpenSSL check): a p that is not
    prime, with every other component consistent, is refused."""
    import math

    from cardspec.pboc.oda_data import icc_key_from_components

    real = ODA_KEYS.icc.private_numbers()
    q, e = real.q, 3
    p = real.p + 2
    while True:  # the next odd composite with the same size whose p-1 is prime to e
        n = p * q
        if (any(p % f == 0 for f in (5, 7, 11, 13)) and math.gcd(e, p - 1) == 1 and math.gcd(p, q) == 1
                and n.bit_length() == real.public_numbers.n.bit_length()):
            break
        p += 2
    dp, dq, qinv = pow(e, -1, p - 1), real.dmq1, pow(q, -1, p)
    size = lambda v: v.to_bytes((v.bit_length() + 7) // 8, "big")  # noqa: E731
    parts = {0x8201: size(qinv), 0x8202: size(dq), 0x8203: size(dp), 0x8204: size(q), 0x8205: size(p)}
    with pytest.raises(PbocDataError, match="a signature would not verify"):
        icc_key_from_components(parts)
    good = {0x8201: size(real.iqmp), 0x8202: size(real.dmq1), 0x8203: size(real.dmp1), 0x8204: size(q),
            0x8205: size(real.p)}
    rebuilt = icc_key_from_components(good).private_numbers()
    assert (rebuilt.p, rebuilt.q, rebuilt.public_numbers) == (real.p, real.q, real.public_numbers)


def test_an_even_prime_is_refused_by_name():
    """GMP's constant-time power needs an odd modulus: an even p is a data error, not a crash."""
    from cardspec.pboc.oda_data import icc_key_from_components

    real = ODA_KEYS.icc.private_numbers()
    size = lambda v: v.to_bytes((v.bit_length() + 7) // 8, "big")  # noqa: E731
    parts = {0x8201: size(real.iqmp), 0x8202: size(real.dmq1), 0x8203: size(real.dmp1), 0x8204: size(real.q),
             0x8205: size(real.p + 1)}
    with pytest.raises(PbocDataError, match="not two distinct odd primes"):
        icc_key_from_components(parts)
