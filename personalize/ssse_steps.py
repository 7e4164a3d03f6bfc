"""The social-security side of personalization, as APDUs: pre-personalization in sscard's
dialect (docs/prepersonalization.md), data personalization after EXTERNAL AUTHENTICATE
with the files' write keys (S10 §5.4; ssse.md §3, §6) and END PERSONALIZATION.

Every EXTERNAL AUTHENTICATE is tried once: a failure (63Cx, 6983) stops the flow with a
*fatal* :class:`~personalize.session.PersoError`, because the next try would spend
another try of the same key and the next card would fail the same way.
"""
from __future__ import annotations

from secrets import token_bytes

from apdu.command import CommandAPDU
from cardspec.access import AccessRule
from cardspec.crypto.ssse import external_auth_cryptogram
from cardspec.fcp import encode_fcp, spec_params
from cardspec.ids import SSSE_DF_NAME, KeyId
from cardspec.profile import Profile
from cardspec.tree import DFSpec, EFSpec

from .keys import SecretKey
from .plan import DIR, EF05, EF06, EF08, PlanError, SssePlan
from .session import CardSession, PersoError, answer, shown_apdu

__all__ = ["apdu", "select_mf", "select_ssse", "authenticate", "open_rule", "prepersonalize", "write_data",
           "end_personalization", "record_p2", "PHOTO_CHUNK", "KEY_NAMES"]

#: largest UPDATE BINARY / READ BINARY chunk (fits a short APDU with room for SM)
PHOTO_CHUNK = 0xF0
#: names of key ids in messages
KEY_NAMES = {int(k): k.name for k in KeyId}
_MF_SELECT = bytes.fromhex("00A4000C023F00")
_CHALLENGE = bytes.fromhex("0084000008")
_TRANSPORT = "the transport key (MF key 00)"


def apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    """A short command APDU."""
    return CommandAPDU(cla, ins, p1, p2, data, le).to_bytes()


def record_p2(sfi: int, *, by_number: bool) -> int:
    """P2 of READ/UPDATE RECORD: SFI ‖ 100 (record number P1) or ‖ 000 (first record with tag P1)."""
    return sfi << 3 | (0b100 if by_number else 0b000)


def select_mf(session: CardSession) -> None:
    session.command(_MF_SELECT, "SELECT MF")


def select_ssse(session: CardSession, profile: Profile) -> None:
    """SELECT the SSSE by DF name, as terminals do, and check its FCI against the profile."""
    command = apdu(0x00, 0xA4, 0x04, 0x00, SSSE_DF_NAME)
    fci = session.command(command, "SELECT SSSE")
    if fci != profile.ssse_fci():
        raise session.fail(f"SELECT SSSE: the FCI {fci.hex().upper()} is not profile {profile.name}'s "
                           f"{profile.ssse_fci().hex().upper()}: wrong profile for this card?", apdu=command)


def _key_name(kid: int) -> str:
    name = KEY_NAMES.get(kid)
    return f"{name} ({kid:02X})" if name else f"key {kid:02X}"


def authenticate(session: CardSession, kid: int, key: SecretKey, *, label: str | None = None) -> None:
    """GET CHALLENGE, then EXTERNAL AUTHENTICATE ``0082 00 KID 10 authData ‖ original``
    (S5 §6.4) with a random original. Tried once; see the module notes. ``label`` names
    the key in messages (default: its SSSE name, e.g. ``UK (04)``)."""
    what = f"EXTERNAL AUTHENTICATE with {label or _key_name(kid)}"
    challenge = session.command(_CHALLENGE, "GET CHALLENGE")
    if len(challenge) != 8:
        raise session.fail(f"GET CHALLENGE answered {len(challenge)} bytes, 8 were asked for", apdu=_CHALLENGE)
    original = token_bytes(8)
    command = apdu(0x00, 0x82, 0x00, kid, external_auth_cryptogram(key.algorithm, key.reveal(), challenge,
                                                                   original) + original)
    response = session.exchange(command, what)
    if response.sw == 0x9000:
        return
    wrong_key = response.sw & 0xFFF0 == 0x63C0 or response.sw in (0x6300, 0x6983)
    hint = ("; the key does not match this card (not retried: every try spends one of the card's)"
            if wrong_key else "")
    raise PersoError(session.current, f"{what}: {shown_apdu(command)} answered {answer(response.sw)}{hint}",
                     apdu=shown_apdu(command), sw=response.sw, fatal=wrong_key)


def open_rule(session: CardSession, plan: SssePlan, rule: AccessRule, done: set[int]) -> None:
    """Satisfy an SSSE-level access rule by external authentication with the key it names
    (``done``: keys already authenticated in this selection; updated)."""
    if rule.kind == "free":
        return
    if rule.kind not in ("key", "pin_or_key") or rule.key is None:
        raise session.fail(f"access rule {rule} cannot be opened with the issuer's keys alone")
    if rule.key not in done:
        try:
            key = plan.key("SSSE", rule.key)
        except PlanError as exc:
            raise session.fail(f"access rule {rule}: {exc}", fatal=exc.fatal) from None
        authenticate(session, rule.key, key)
        done.add(rule.key)


# --- step 2: pre-personalization ----------------------------------------------------------------
def _create(session: CardSession, node: EFSpec | DFSpec, path: str) -> None:
    session.command(apdu(0x00, 0xE0, 0x00, 0x00, encode_fcp(spec_params(node))), f"CREATE FILE {path}")


def _create_children(session: CardSession, df: DFSpec, path: str) -> None:
    for child in df.children:
        where = f"{path}/{child.name}"
        _create(session, child, where)  # selects the new file
        if isinstance(child, DFSpec):
            _create_children(session, child, where)
            session.command(bytes.fromhex("00A4030C"), f"SELECT parent of {where}")


def _write_key(session: CardSession, kid: int, record: bytes, label: str) -> None:
    session.command(apdu(0x80, 0xD4, 0x00, kid, record), f"WRITE KEY {label}")


def prepersonalize(session: CardSession, plan: SssePlan, profile: Profile) -> None:
    """Transport session at the MF, CREATE FILE for the whole tree with its access rules,
    the per-card keys of the SSSE and its DFs, the initial PIN with its try limit."""
    select_mf(session)
    authenticate(session, 0x00, plan.transport, label=_TRANSPORT)
    tree = profile.tree()
    _create(session, tree, tree.name)
    _create_children(session, tree, tree.name)  # ends with the SSSE current again
    for load in (k for k in plan.keys if k.space == tree.name):
        _write_key(session, load.kid, load.record(), load.label)
    session.command(apdu(0x80, 0x2C, 0x00, 0x00, bytes((plan.pin_tries,)) + plan.pin_bcd()),
                    f"SET PIN (try limit {plan.pin_tries})")
    for df in tree.children:
        loads = [k for k in plan.keys if k.space == df.name]
        if not isinstance(df, DFSpec) or not loads:
            continue
        session.command(apdu(0x00, 0xA4, 0x08, 0x0C, tree.fid.to_bytes(2, "big") + df.fid.to_bytes(2, "big")),
                        f"SELECT {tree.name}/{df.name}")
        for load in loads:
            _write_key(session, load.kid, load.record(), load.label)


# --- step 3: data ------------------------------------------------------------------------------
def write_data(session: CardSession, plan: SssePlan, profile: Profile, *, wipe_photo: bool) -> None:
    """EF05 and EF06 record by record (UPDATE RECORD by tag: appended on a new card,
    replaced on a reissued one), the DIR by record number, the photo into EF08 in chunks
    of :data:`PHOTO_CHUNK` bytes. ``wipe_photo`` fills the rest of EF08 with 00, so that
    a reissued card keeps nothing of an earlier photo."""
    tree = profile.tree()
    select_ssse(session, profile)
    done: set[int] = set()
    for path in (EF05, EF06, DIR):
        ef = tree.find(path)
        assert isinstance(ef, EFSpec) and ef.sfi is not None
        open_rule(session, plan, ef.write, done)
        for number, record in enumerate(plan.records[path], 1):
            by_number = path == DIR  # every DIR record has tag 61
            p1 = number if by_number else record[0]
            what = f"UPDATE RECORD {path} " + (f"record {number}" if by_number else f"tag {record[0]:02X}")
            session.command(apdu(0x00, 0xDC, p1, record_p2(ef.sfi, by_number=by_number), record), what)
    ef08 = tree.find(EF08)
    assert isinstance(ef08, EFSpec) and ef08.size is not None
    photo = plan.photo or b""
    if wipe_photo:
        photo += bytes(ef08.size - len(photo))
    if not photo:
        return
    open_rule(session, plan, ef08.write, done)
    session.command(apdu(0x00, 0xA4, 0x02, 0x0C, ef08.fid.to_bytes(2, "big")), f"SELECT {EF08}")
    for offset in range(0, len(photo), PHOTO_CHUNK):
        session.command(apdu(0x00, 0xD6, offset >> 8, offset & 0xFF, photo[offset:offset + PHOTO_CHUNK]),
                        f"UPDATE BINARY {EF08} offset {offset:04X}")


# --- step 5: end --------------------------------------------------------------------------------
def end_personalization(session: CardSession, plan: SssePlan) -> None:
    """At the MF, in a fresh transport session: replace the transport key with the card's
    own master key (WRITE KEY MF 00), then END PERSONALIZATION ``8044 0000``."""
    select_mf(session)
    authenticate(session, 0x00, plan.transport, label=_TRANSPORT)
    _write_key(session, 0x00, plan.card_master.record(), "MF key 00 (card master key)")
    session.command(bytes.fromhex("80440000"), "END PERSONALIZATION")
