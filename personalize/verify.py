"""Reading a freshly personalized card back, as a terminal would (step 6, SSSE side):
SELECT the SSSE by name, READ RECORD by tag, READ BINARY of the photo, external
authentication with the read key where the profile's access rules ask for it, and the
PIN checked with VERIFY: first without data (the try counter, S7 §5.6: no try spent),
then with the right PIN. A wrong PIN is never presented.

Differences are collected and reported together; the message names the files and tags,
never their contents (they are personal data) nor the PIN.
"""
from __future__ import annotations

from cardspec.profile import Profile
from cardspec.records import UnknownRecordError, layout_for
from cardspec.tree import EFSpec

from .plan import DIR, EF05, EF06, EF08, SssePlan
from .session import CardSession, answer
from .ssse_steps import PHOTO_CHUNK, apdu, open_rule, record_p2, select_ssse

__all__ = ["verify_ssse", "check_ssse_pin", "read_records", "read_photo"]


def _label(path: str, record: bytes, number: int) -> str:
    if path == DIR:
        return f"{path} record {number}"
    try:
        name = layout_for(record[0], path).name_en
    except UnknownRecordError:
        return f"{path} tag {record[0]:02X}"
    return f"{path} tag {record[0]:02X} ({name})"


def read_records(session: CardSession, ef: EFSpec, path: str, expected: tuple[bytes, ...]) -> list[str]:
    """Read ``expected``'s records back (by tag, the DIR by number) and check that no record
    follows them; returns the differences."""
    assert ef.sfi is not None
    problems = []
    for number, record in enumerate(expected, 1):
        by_number = path == DIR
        p1 = number if by_number else record[0]
        what = f"READ RECORD {path} " + (f"record {number}" if by_number else f"tag {record[0]:02X}")
        got = session.command(apdu(0x00, 0xB2, p1, record_p2(ef.sfi, by_number=by_number), le=0), what)
        if got != record:
            problems.append(f"{_label(path, record, number)} differs from what was written")
    extra = len(expected) + 1
    if extra <= (ef.max_records or 0):
        response = session.exchange(apdu(0x00, 0xB2, extra, record_p2(ef.sfi, by_number=True), le=0),
                                    f"READ RECORD {path} record {extra}")
        if response.sw != 0x6A83:
            problems.append(f"{path} record {extra}: expected none (6A83), the card answered {answer(response.sw)}")
    return problems


def read_photo(session: CardSession, ef: EFSpec, length: int) -> bytes:
    """The first ``length`` bytes of EF08 (SELECT by FID, READ BINARY by offset)."""
    session.command(apdu(0x00, 0xA4, 0x02, 0x0C, ef.fid.to_bytes(2, "big")), f"SELECT {EF08}")
    out = bytearray()
    while len(out) < length:
        offset, size = len(out), min(PHOTO_CHUNK, length - len(out))
        chunk = session.command(apdu(0x00, 0xB0, offset >> 8, offset & 0xFF, le=size),
                                f"READ BINARY {EF08} offset {offset:04X}")
        if not chunk:
            break
        out += chunk
    return bytes(out)


def check_ssse_pin(session: CardSession, plan: SssePlan) -> list[str]:
    """VERIFY without data must report a full counter (63Cx, no try spent); only then is
    the initial PIN presented. Returns the differences."""
    status = session.exchange(bytes.fromhex("00200000"), "VERIFY without data (PIN try counter)")
    if status.sw != 0x63C0 | plan.pin_tries:
        return [f"PIN: VERIFY without data answered {answer(status.sw)}, expected {0x63C0 | plan.pin_tries:04X} "
                f"(a full counter of {plan.pin_tries}); the initial PIN was not presented"]
    pin = session.exchange(apdu(0x00, 0x20, 0x00, 0x00, plan.pin_bcd()), "VERIFY")
    return [] if pin.sw == 0x9000 else [f"PIN: VERIFY with the initial PIN answered {answer(pin.sw)}"]


def verify_ssse(session: CardSession, plan: SssePlan, profile: Profile, *, check_pin: bool = True) -> None:
    """Read EF05, EF06, the DIR and the photo back and (``check_pin``) check the PIN; raise
    on any difference."""
    tree = profile.tree()
    select_ssse(session, profile)
    done: set[int] = set()
    problems: list[str] = []
    for path in (EF05, EF06, DIR):
        ef = tree.find(path)
        assert isinstance(ef, EFSpec)
        open_rule(session, plan, ef.read, done)
        problems += read_records(session, ef, path, plan.records[path])
    if plan.photo:
        ef08 = tree.find(EF08)
        assert isinstance(ef08, EFSpec)
        open_rule(session, plan, ef08.read, done)
        if read_photo(session, ef08, len(plan.photo)) != plan.photo:
            problems.append(f"{EF08}: the photo read back differs from the one written")
    if check_pin:
        problems += check_ssse_pin(session, plan)
    if problems:
        raise session.fail("read back: " + "; ".join(problems))
