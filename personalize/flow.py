"""Personalize one card over any transport: :func:`personalize_card`.

The steps (their names are what traces, ``on_step`` and errors show):

1. ``read the card's state`` — the ATR (historical bytes: the card factor of the keys),
   SELECT MF and SELECT SSSE: *blank* (no SSSE), *pre-personalized* (an SSSE whose EF05
   holds no record) or *personalized* (EF05 holds records). Everything the card will
   receive is computed here (:mod:`.plan`), so a key file that lacks a key refuses the
   card before anything is written.
2. ``pre-personalize the SSSE`` — transport-key EXTERNAL AUTHENTICATE at the MF, CREATE
   FILE for the profile's tree with its access rules, the per-card keys, the PIN.
3. ``write EF05/EF06/EF08`` — EXTERNAL AUTHENTICATE with the files' write key (UK 04),
   the records, the DIR and the photo.
4. ``personalize the debit application`` — SCP02 and STORE DATA (:mod:`.debit`).
5. ``end personalization`` — the transport key replaced by the card's own master key,
   END PERSONALIZATION.
6. ``verify`` — after a reset, every field read back through the terminal's commands,
   the PIN checked with VERIFY, one test transaction whose ARQC the issuer recomputes
   (:mod:`.verify`, :mod:`.transaction`).

A blank card gets all six steps. A personalized card is refused unless ``reissue``; a
pre-personalized one (an interrupted run: its structure cannot be completed safely) is
always refused. **Reissue** rewrites the data of a card this tool personalized: step 3
(EF05 keeps the card's own 卡识别码; EF08 is overwritten to its end, so nothing of an
earlier photo survives), then step 6 without the PIN checks. The structure and keys of
a personalized card are frozen (END PERSONALIZATION), so steps 2 and 5 are skipped; so
is step 4: the simulator's security domain refuses a second personalization of the debit
application (``[gp] reissue = false``), whose account stays that of the first issue (a
different PAN is refused). The PINs are the holder's: reissue neither sets nor presents
them (a VERIFY with an initial PIN the holder has changed would spend a try).

Keys: ``keys`` (:class:`~personalize.keys.IssuerKeys`) gives the SSSE and financial
masters; ``mf_keys`` (:class:`~personalize.mfkeys.MfKeys`) the transport key and the
card-master-key master, by default the key file's ``[mf]`` section (:meth:`MfKeys.of`);
``icc_keys`` the ICC key pair of ODA, by default generated on the spot (a batch passes an
:class:`~personalize.icckeys.IccKeyPool`).

``personalize_card`` keeps no state between calls and prints nothing: batches, journals
and the CLI call it once per card.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

from apdu.atr import parse_atr
from apdu.errors import ATRError, TransportError
from apdu.transport.channel import Channel
from cardspec.ids import SSSE_DF_NAME
from cardspec.profile import Profile
from cardspec.records import CardIdCode, RecordError, decode_record

from .cardholder import Cardholder
from .debit import personalize_debit, plan_debit
from .icckeys import IccKeySource, generate_now
from .keys import IssuerKeys, KeyFileError
from .mfkeys import MfKeys
from .plan import EF05, PlanError, SssePlan, plan_ssse
from .session import CardSession, OnStep, PersoError, StepTiming, answer
from .ssse_steps import apdu, end_personalization, prepersonalize, select_mf, write_data
from .transaction import check_transaction, read_account
from .verify import verify_ssse

__all__ = ["personalize_card", "PersoResult", "PersoError", "CardState", "StepTiming", "STEP_STATE",
           "STEP_PREPERSO", "STEP_DATA", "STEP_DEBIT", "STEP_END", "STEP_VERIFY", "STEPS"]

STEP_STATE = "read the card's state"
STEP_PREPERSO = "pre-personalize the SSSE"
STEP_DATA = "write EF05/EF06/EF08"
STEP_DEBIT = "personalize the debit application"
STEP_END = "end personalization"
STEP_VERIFY = "verify"
STEPS = (STEP_STATE, STEP_PREPERSO, STEP_DATA, STEP_DEBIT, STEP_END, STEP_VERIFY)


class CardState(str, Enum):
    """What step 1 finds."""

    BLANK = "blank"  #: the MF alone (and its transport key)
    PREPERSONALIZED = "pre-personalized"  #: an SSSE whose EF05 holds no record
    PERSONALIZED = "personalized"  #: an SSSE whose EF05 holds records


@dataclass(frozen=True)
class PersoResult:
    """What identifies the card made (nothing secret), and how the run went."""

    card_id: str  #: 卡识别码 (EF05 tag 01 value): region ‖ RID ‖ serial ‖ auth code, hex
    card_number: str  #: 社会保障卡卡号 (EF05 tag 07)
    atr_serial: str  #: ATR historical bytes TA-TD, hex
    pan: str  #: the debit application's account number
    steps: tuple[StepTiming, ...]  #: every step run, in order, with its time and APDU count
    verified: bool  #: step 6 ran and found everything as written
    reissued: bool = False
    state_before: CardState = CardState.BLANK


def _card_state(session: CardSession, profile: Profile) -> tuple[CardState, bytes | None]:
    """SELECT MF, SELECT SSSE and READ RECORD EF05 record 1; returns the state and that record."""
    select_mf(session)
    command = apdu(0x00, 0xA4, 0x04, 0x00, SSSE_DF_NAME)
    response = session.exchange(command, "SELECT SSSE")
    if response.sw == 0x6A82:
        return CardState.BLANK, None
    if response.sw != 0x9000:
        raise session.fail(f"SELECT SSSE answered {answer(response.sw)}", apdu=command, sw=response.sw)
    if response.data != profile.ssse_fci():
        raise session.fail(f"the card's SSSE answers the FCI {response.data.hex().upper()}, not profile "
                           f"{profile.name}'s {profile.ssse_fci().hex().upper()}: wrong profile for this card?",
                           apdu=command)
    read = apdu(0x00, 0xB2, 0x01, 0x2C, le=0)
    record = session.exchange(read, "READ RECORD EF05 record 1")
    if record.sw == 0x9000:
        return CardState.PERSONALIZED, record.data
    if record.sw in (0x6A82, 0x6A83):
        return CardState.PREPERSONALIZED, None
    raise session.fail(f"READ RECORD EF05 record 1 answered {answer(record.sw)}", apdu=read, sw=record.sw)


def _for_reissue(session: CardSession, plan: SssePlan, record: bytes | None) -> SssePlan:
    """The plan with the card's own 卡识别码, which must name the cardholder's region
    (the card's keys were diversified with it)."""
    try:
        tag, value = decode_record(record or b"", file=EF05)
    except RecordError as exc:
        raise session.fail(f"reissue: EF05 record 1 is not a 卡识别码 ({exc})") from None
    if tag != 0x01 or not isinstance(value, CardIdCode):
        raise session.fail(f"reissue: EF05 record 1 holds tag {tag:02X}, not the 卡识别码 (01)")
    if value.region != plan.region:
        raise session.fail(f"reissue: the card was issued in region {value.region} (its 卡识别码 and its keys); "
                           f"the cardholder's region is {plan.region}: issue a new card")
    records = dict(plan.records)
    records[EF05] = (bytes(record or b""), *records[EF05][1:])
    return dataclasses.replace(plan, card_id=value, records=records)


def _mf_keys(keys: IssuerKeys) -> MfKeys:
    try:
        return MfKeys.of(keys)
    except KeyFileError as exc:
        raise PersoError(STEP_STATE, str(exc), fatal=True) from None


def personalize_card(channel: Channel, cardholder: Cardholder, keys: IssuerKeys, profile: Profile, *,
                     reissue: bool = False, on_step: OnStep | None = None, mf_keys: MfKeys | None = None,
                     verify: bool = True, init_org_seq: int = 1,
                     icc_keys: IccKeySource = generate_now) -> PersoResult:
    """Personalize the card behind ``channel`` (connected) for ``cardholder``.

    ``on_step(name)`` is called as each step starts. ``verify=False`` skips step 6 (the
    result then says ``verified=False``). ``init_org_seq`` is the sequence byte of the
    初始化机构编号 (EF05 tag 04). Raises :class:`PersoError` naming the step, the command
    (secrets redacted) and the status word; ``exc.fatal`` when every further card would
    fail the same way (the keys), ``exc.card_removed`` when the card left the reader.
    """
    session = CardSession(channel, on_step)
    try:
        with session.step(STEP_STATE):
            try:
                atr = channel.atr
                historical = parse_atr(atr).historical
            except (TransportError, ATRError) as exc:
                raise session.fail(f"no usable ATR: {exc}") from None
            state, record = _card_state(session, profile)
            if state is CardState.PREPERSONALIZED:
                raise session.fail("the card is pre-personalized (an SSSE without data: an interrupted run?); "
                                   "its structure cannot be completed safely: set it aside")
            if state is CardState.PERSONALIZED and not reissue:
                raise session.fail("the card is already personalized (its SSSE answers and EF05 holds records); "
                                   "pass reissue to rewrite its data")
            if state is CardState.BLANK and reissue:
                reissue = False  # a blank card is simply issued
            try:
                plan = plan_ssse(cardholder, keys, mf_keys or _mf_keys(keys), profile, historical,
                                 init_org_seq=init_org_seq)
                debit = plan_debit(cardholder, keys, profile, icc_keys)
            except PlanError as exc:
                raise session.fail(str(exc), fatal=exc.fatal) from None
            if reissue:
                plan = _for_reissue(session, plan, record)
                pan, _ = read_account(session, debit)
                if pan != debit.pan:
                    raise session.fail(f"reissue: the card's debit account ends {pan[-4:]}, the cardholder's "
                                       f"{debit.pan[-4:]}; the account of a personalized card cannot change: "
                                       "issue a new card")
        if not reissue:
            with session.step(STEP_PREPERSO):
                prepersonalize(session, plan, profile)
        with session.step(STEP_DATA):
            write_data(session, plan, profile, wipe_photo=reissue)
        if not reissue:
            with session.step(STEP_DEBIT):
                personalize_debit(session, debit, profile)
            with session.step(STEP_END):
                end_personalization(session, plan)
        if verify:
            with session.step(STEP_VERIFY):
                again = session.reset()
                if again != atr:
                    raise session.fail(f"after the reset the card answers another ATR ({again.hex().upper()}): "
                                       "was it swapped?")
                verify_ssse(session, plan, profile, check_pin=not reissue)
                check_transaction(session, debit, compare_records=not reissue, check_pin=not reissue)
    finally:
        channel.step = ""
    return PersoResult(card_id=plan.card_id_hex, card_number=plan.card_number,
                       atr_serial=historical[9:13].hex().upper(), pan=debit.pan, steps=tuple(session.steps),
                       verified=verify, reissued=reissue, state_before=state)
