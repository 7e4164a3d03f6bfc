"""The field reader sequences of ssse.md §3-§4, byte for byte, through real pcscd + vpcd,
against the factory's sample card in both built-in profiles: with pyscard, and with the
unmodified ``scriptor`` of pcsc-tools."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from cardsim.factory import personalized_sample_card
from cardspec.crypto.blockcipher import Algorithm
from cardspec.crypto.ssse import external_auth_cryptogram
from cardspec.ids import SSSE_DF_NAME
from cardspec.profile import Profile

pytestmark = pytest.mark.pcsc
PROFILES = ["ssc3-sm4", "ssc2-3des"]
SELECT_SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"


def ssse_of(card):
    return next(df for df in card.mf.walk() if df.name == SSSE_DF_NAME)


def records(card, fid: int) -> list[bytes]:
    return list(ssse_of(card).child(fid).records)


def send(conn, hex_apdu: str) -> str:
    data, sw1, sw2 = conn.transmit(list(bytes.fromhex(hex_apdu)))
    return (bytes(data) + bytes((sw1, sw2))).hex().upper()


@pytest.mark.parametrize("name", PROFILES)
def test_field_sequences_through_pcscd(name, serve_card, pyscard_connect):
    from smartcard.CardConnection import CardConnection

    profile = Profile.load(name)
    card = personalized_sample_card(profile)
    ef05, ef06 = records(card, 0xEF05), records(card, 0xEF06)
    by_tag = {r[0]: r.hex().upper() for r in ef05 + ef06}
    served = serve_card(card, 0)
    conn = pyscard_connect(served.reader, CardConnection.T0_protocol)
    fci = profile.ssse_fci().hex().upper()

    # T=0: the FCI comes with 61xx and GET RESPONSE, as TR4 and the ZJ/XJ readers show
    assert send(conn, SELECT_SSSE) == f"61{len(fci) // 2:02X}"
    assert send(conn, f"00C00000{len(fci) // 2:02X}") == fci + "9000"
    assert send(conn, "00A4020002EF05") == "9000"
    assert send(conn, "00A4000002EF05") == "9000"
    for apdu in ("00B2070400", "00B207040B", "00B2070000", "00B2072C0B"):
        assert send(conn, apdu) == by_tag[0x07] + "9000", apdu
    assert send(conn, "00B2010540") == "".join(r.hex().upper() for r in ef05) + "9000"
    assert sum(map(len, ef05)) == 0x40
    assert send(conn, "00B2010010") == "6C12"  # record 1 of EF05 is 0x12 bytes: Le too short

    # EF06: free on 2nd-generation cards, RKSSSE (key 0A) external authentication on 3rd (SC §10.2)
    assert send(conn, "00A4020002EF06") == "9000"
    if profile.card.generation == 3:
        assert send(conn, "00B2080014") == "6982"
        challenge = bytes.fromhex(send(conn, "0084000008")[:-4])
        rk = ssse_of(card).application.secrets.keys[0x0A].value
        alg = Algorithm.from_id(int(profile.card.algorithm_id))
        original = bytes(8)
        cryptogram = external_auth_cryptogram(alg, rk, challenge, original)
        assert send(conn, "0082000A10" + (cryptogram + original).hex()) == "9000"
    assert send(conn, "00B2080014") == by_tag[0x08] + "9000"
    assert send(conn, "00B24E0016") == by_tag[0x4E] + "9000"
    assert send(conn, "00B2083014") == by_tag[0x08] + "9000"  # via SFI 6

    # the PIN: right, then six wrong ones lock it; the right one no longer helps
    assert send(conn, "0020000003123456") == "9000"
    assert [send(conn, "0020000003654321") for _ in range(6)] == [f"63C{n}" for n in range(5, -1, -1)]
    assert send(conn, "0020000003654321") == "6983"
    assert send(conn, "0020000003123456") == "6983"
    assert send(conn, "0020000000") == "6983"


@pytest.mark.skipif(shutil.which("scriptor") is None, reason="scriptor (pcsc-tools) is not installed")
@pytest.mark.parametrize("name", PROFILES)
def test_field_sequences_with_scriptor(name, serve_card, tmp_path):
    profile = Profile.load(name)
    card = personalized_sample_card(profile)
    ef05 = records(card, 0xEF05)
    served = serve_card(card, 0)
    fci = profile.ssse_fci()
    steps = [  # (APDU, expected response data ‖ SW)
        (SELECT_SSSE, f"61{len(fci):02X}"),
        (f"00C00000{len(fci):02X}", fci.hex().upper() + "9000"),
        ("00A4020002EF05", "9000"), ("00A4000002EF05", "9000"),
        ("00B2070400", ef05[6].hex().upper() + "9000"), ("00B2070000", ef05[6].hex().upper() + "9000"),
        ("00B2072C0B", ef05[6].hex().upper() + "9000"),
        ("00B2010540", "".join(r.hex().upper() for r in ef05) + "9000"),
        ("0020000003123456", "9000"),
        *[("0020000003654321", f"63C{n}") for n in range(5, -1, -1)],
        ("0020000003123456", "6983"),
    ]
    script = tmp_path / "field.apdu"
    script.write_text("reset\n" + "".join(f"{apdu}\n" for apdu, _ in steps) + "exit\n")
    out = subprocess.run(["scriptor", "-p", "T=0", "-r", served.reader, str(script)], capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stdout + out.stderr
    # scriptor prints '< HEX ... : meaning' per response, data lines first, 16 bytes a line
    responses, current = [], []
    for line in out.stdout.splitlines():
        if line.startswith("> "):
            current = []
            continue
        body = line[2:] if line.startswith("< ") else line
        if line.startswith("< ") or (current is not None and re.fullmatch(r"([0-9A-F]{2} ?)+( : .*)?", body)):
            if line.startswith("< OK"):
                continue
            hex_part = body.split(" : ")[0]
            current.append(hex_part.replace(" ", ""))
            if " : " in body:
                responses.append("".join(current))
    assert responses == [expected for _, expected in steps]
