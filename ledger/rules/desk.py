"""The workflow as people read it (ledger/rules/workflow.py changes it): what is on public
notice, the deductions a resident may appeal, their claims, the reviewer's desk (what waits for
this actor's confirmation, verification, approval or decision) and the town admin's day. Each
answer opens its own session and is typed (schemas.py); amounts stay in steps."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import NotFound
from ledger.identity.actor import ACTIONS, Actor, villages_of
from ledger.identity.models import AppUser
from ledger.journal.queries import village_budgets
from ledger.redemption.eligibility import person_holders
from ledger.registry.lookup import village_names
from ledger.registry.models import Household, Person, Team
from ledger.rules import store
from ledger.rules.explain import village_notices
from ledger.rules.models import Appeal, AwardRecord, AwardStatus, Objection
from ledger.rules.schemas import (AppealView, DeductionRow, Desk, DeskRow, NoticeBoard,
                                  NoticeView, PlateWorkflow, ResidentWorkflow, TownAttention,
                                  VillageNotices, WorkflowRow)
from ledger.rules.workflow import appeal_view
from ledger.timeutil import utcnow
from ledger.view import typed

NOTICE_STATES = (AwardStatus.ON_NOTICE, AwardStatus.IN_REVIEW)
MAX_ROWS = 100  # each list of a page: notices, deductions, claims, each step of the desk
ADMINS = ACTIONS["village.admin"]
CONFIRMERS = ACTIONS["award.confirm"]
Holders = list[tuple[str, int]]


def holders_of(s: Session, person_id: int | None) -> Holders:
    """The person and their household: whose records a signed-in resident sees (the same
    holders they redeem from)."""
    return person_holders(s, person_id)


def _holder_filter(holders: Holders):
    return or_(*[(AwardRecord.holder_type == t) & (AwardRecord.holder_id == i)
                 for t, i in holders])


def _fields(a: AwardRecord) -> dict:
    return {"award_id": a.id, "item_name": a.item_name, "item": a.item_code,
            "steps": a.amount_steps, "status": str(a.status), "holder_type": a.holder_type,
            "holder_id": a.holder_id, "village_id": a.village_id,
            "notice_until": a.notice_until, "occurred_at": a.occurred_at,
            "created_at": a.created_at, "posted_at": a.posted_at, "channel": a.channel,
            "note": a.note, "evidence": a.evidence or {}, "recorder_id": a.recorder_id}


def _row(a: AwardRecord) -> WorkflowRow:
    return WorkflowRow(**_fields(a))


def _notices(s: Session, holders: Holders) -> list[WorkflowRow]:
    """The holders' awards and deductions on public notice (not yet in the balance)."""
    if not holders:
        return []
    rows = s.scalars(select(AwardRecord).where(
        _holder_filter(holders), AwardRecord.status.in_(NOTICE_STATES))
        .order_by(AwardRecord.notice_until).limit(MAX_ROWS))
    return [_row(a) for a in rows]


def _deductions(s: Session, holders: Holders, now: datetime) -> list[DeductionRow]:
    """Posted (or reversed) deductions of the holders, newest first, each with its appeal."""
    if not holders:
        return []
    rows = list(s.scalars(select(AwardRecord).where(
        _holder_filter(holders), AwardRecord.amount_steps < 0,
        AwardRecord.status.in_([AwardStatus.POSTED, AwardStatus.REVERSED]))
        .order_by(AwardRecord.posted_at.desc()).limit(MAX_ROWS)))
    appeals = {ap.award_id: ap for ap in s.scalars(select(Appeal).where(
        Appeal.award_id.in_([a.id for a in rows])))} if rows else {}
    days_of: dict[tuple[str, int], int] = {}
    out = []
    for a in rows:
        key = (a.catalog_code, a.catalog_version)
        if key not in days_of:
            days_of[key] = store.catalog(s, a.catalog_code, version=a.catalog_version).appeal_days
        days = days_of[key]
        until = a.posted_at + timedelta(days=days) if a.posted_at and days else None
        ap = appeals.get(a.id)
        open_until = until if (ap is None and a.status == AwardStatus.POSTED
                               and until is not None and now < until) else None
        out.append(DeductionRow(**_fields(a), appeal_until=open_until,
                                appeal=None if ap is None else typed(appeal_view(ap),
                                                                     AppealView)))
    return out


def _claims(s: Session, holders: Holders) -> list[WorkflowRow]:
    """The holders' own claims (申报), newest first, in whatever state."""
    if not holders:
        return []
    rows = s.scalars(select(AwardRecord).where(
        _holder_filter(holders), AwardRecord.channel == "claim")
        .order_by(AwardRecord.id.desc()).limit(MAX_ROWS))
    return [_row(a) for a in rows]


def resident(db: Database, actor: Actor, now: datetime | None = None) -> ResidentWorkflow:
    """What /me adds for the actor: amounts on notice for them and their household,
    deductions with their appeals, and their own claims."""
    with db.sessions() as s:
        holders = holders_of(s, actor.person_id)
        return ResidentWorkflow(notices=_notices(s, holders),
                                deductions=_deductions(s, holders, now or utcnow()),
                                claims=_claims(s, holders))


def claims_of(db: Database, actor: Actor) -> tuple[Holders, list[WorkflowRow]]:
    """Whom the actor may claim for (themself, their household) and their claims so far."""
    with db.sessions() as s:
        holders = holders_of(s, actor.person_id)
        return holders, _claims(s, holders)


def appealable(db: Database, actor: Actor, award_id: int,
               now: datetime | None = None) -> DeductionRow | None:
    """The actor's (or their household's) deduction `award_id` while it is open for appeal."""
    with db.sessions() as s:
        rows = _deductions(s, holders_of(s, actor.person_id), now or utcnow())
    return next((r for r in rows if r.award_id == award_id and r.appeal_until), None)


def plate(s: Session, household_id: int, actor: Actor | None) -> PlateWorkflow:
    """What the door plate adds, in the plate's own session: the household's amounts on
    notice (public, like the score), and, for a signed-in member of the household, its
    deductions with the 申诉 button."""
    household = [("household", household_id)]
    mine = actor is not None and household[0] in holders_of(s, actor.person_id)
    return PlateWorkflow(notices=_notices(s, household),
                         deductions=_deductions(s, household, utcnow()) if mine else [])


# ---- public notice --------------------------------------------------------------------------

def notice_villages(db: Database) -> list[VillageNotices]:
    """Every village with how many of its records are on notice now."""
    with db.sessions() as s:
        names = village_names(s)
        counts = dict(s.execute(select(AwardRecord.village_id, func.count())
                                .where(AwardRecord.status.in_(NOTICE_STATES))
                                .group_by(AwardRecord.village_id)).all())
    return [VillageNotices(village_id=v, village=n, on_notice=counts.get(v, 0))
            for v, n in names.items()]


def notice_board(db: Database, village_id: int) -> NoticeBoard:
    """A village's notice board, for anyone (`explain.village_notices`)."""
    with db.sessions() as s:
        names = village_names(s)
        if village_id not in names:
            raise NotFound(f"village {village_id} does not exist", code="village_not_found")
        rows = typed(village_notices(s, village_id, utcnow()), list[NoticeView])
    return NoticeBoard(village_id=village_id, village=names[village_id], rows=rows)


# ---- the reviewer's desk --------------------------------------------------------------------

def _in_scope(q, villages: set[int] | None):
    return q if villages is None else q.where(AwardRecord.village_id.in_(villages))


def _awards(s: Session, villages: set[int] | None, *statuses: str) -> list[AwardRecord]:
    if villages is not None and not villages:
        return []
    q = select(AwardRecord).where(AwardRecord.status.in_(statuses))
    return list(s.scalars(_in_scope(q, villages).order_by(AwardRecord.id).limit(MAX_ROWS)))


def _holder_names(s: Session, keys: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """(holder type, id) → the name staff see: a household by its head and its address (its
    plate's code only when the register has no address)."""
    out: dict[tuple[str, int], str] = {}
    for kind, i in keys:
        if kind == "person":
            p = s.get(Person, i)
            out[(kind, i)] = p.name if p else f"#{i}"
        elif kind == "household":
            h = s.get(Household, i)
            out[(kind, i)] = (f"{h.head_name}户（{h.address or h.plate_code}）" if h
                              else f"#{i}")
        else:
            t = s.get(Team, i)
            out[(kind, i)] = t.name if t else f"#{i}"
    return out


def _user_names(s: Session, ids) -> dict[int, str]:
    ids = [i for i in set(ids) if i is not None]
    if not ids:
        return {}
    return dict(s.execute(select(AppUser.id, AppUser.name).where(AppUser.id.in_(ids))).all())


def _desk(s: Session, actor: Actor) -> Desk:
    own = set(holders_of(s, actor.person_id))
    me = actor.user_id
    confirm_v = villages_of(actor, CONFIRMERS)
    admin_v = villages_of(actor, ADMINS)

    def mine(a: AwardRecord) -> bool:
        return (a.holder_type, a.holder_id) in own

    steps: dict[str, list[tuple[AwardRecord, dict]]] = {
        "confirmations": [(a, {}) for a in _awards(s, confirm_v,
                                                   AwardStatus.AWAITING_CONFIRMATION)
                          if a.recorder_id != me and not mine(a)],
        "claims": [(a, {}) for a in _awards(s, confirm_v, AwardStatus.CLAIMED)
                   if a.recorder_id != me and not mine(a)],
        "approvals": [(a, {}) for a in _awards(s, admin_v, AwardStatus.VERIFIED,
                                               AwardStatus.PENDING_REVIEW)
                      if me not in (a.recorder_id, a.verifier_id) and not mine(a)],
        "objections": [(a, {}) for a in _awards(s, admin_v, AwardStatus.IN_REVIEW)
                       if me not in (a.recorder_id, a.confirmer_id) and not mine(a)],
        "appeals": []}
    if admin_v is None or admin_v:
        q = select(Appeal, AwardRecord).join(AwardRecord, AwardRecord.id == Appeal.award_id) \
            .where(Appeal.status == "open")
        for ap, a in s.execute(_in_scope(q, admin_v).order_by(Appeal.id).limit(MAX_ROWS)):
            if me not in (a.recorder_id, a.confirmer_id, ap.appellant_id) and not mine(a):
                steps["appeals"].append((a, {"appeal_id": ap.id, "reason": ap.reason,
                                             "appeal_at": ap.created_at}))
    objected = [a.id for a, _ in steps["objections"]]
    if objected:
        for o in s.scalars(select(Objection).where(
                Objection.award_id.in_(objected),
                Objection.outcome.is_(None)).order_by(Objection.id)):
            next(extra for a, extra in steps["objections"] if a.id == o.award_id) \
                .setdefault("reasons", []).append(o.reason)
    everything = [a for rows in steps.values() for a, _ in rows]
    holders = _holder_names(s, {(a.holder_type, a.holder_id) for a in everything})
    users = _user_names(s, [a.recorder_id for a in everything])

    def row(a: AwardRecord, extra: dict) -> DeskRow:
        return DeskRow(**_fields(a), **extra,
                       holder_name=holders.get((a.holder_type, a.holder_id), ""),
                       recorder_name=users.get(a.recorder_id, f"#{a.recorder_id}"))
    return Desk(**{k: [row(a, extra) for a, extra in rows] for k, rows in steps.items()},
                count=len(everything))


def desk(db: Database, actor: Actor) -> Desk:
    """What waits for this actor, by step, in the villages they serve. A step they may not
    take (they recorded it, it concerns them or their household) is left to others; the
    workflow checks all of this again when they act."""
    with db.sessions() as s:
        return _desk(s, actor)


# ---- the town admin's day -------------------------------------------------------------------

def town_attention(db: Database, actor: Actor, *, now: datetime, month_start: datetime,
                   soon: timedelta, low_budget_steps: int, rows: int) -> TownAttention:
    """What needs the town admin today: notices ending before `now + soon` (at most `rows`),
    notices over but not yet posted, the desk, budgets below `low_budget_steps`, villages
    with no record nor activity since `month_start`, and what is on notice by village."""
    from ledger.activities.models import Activity
    with db.sessions() as s:
        names = village_names(s)
        ending = [_row(a) for a in s.scalars(select(AwardRecord).where(
            AwardRecord.status == AwardStatus.ON_NOTICE,
            AwardRecord.notice_until > now, AwardRecord.notice_until <= now + soon)
            .order_by(AwardRecord.notice_until).limit(rows))]
        overdue = s.scalar(select(func.count()).select_from(AwardRecord).where(
            AwardRecord.status == AwardStatus.ON_NOTICE, AwardRecord.notice_until <= now))
        waiting = _desk(s, actor)
        low = [b for b in village_budgets(s) if b["available"] < low_budget_steps]
        active = set(s.scalars(select(AwardRecord.village_id).where(
            AwardRecord.created_at >= month_start).group_by(AwardRecord.village_id)))
        active |= set(s.scalars(select(Activity.village_id).where(
            Activity.starts_at >= month_start).group_by(Activity.village_id)))
        on_notice = dict(s.execute(select(AwardRecord.village_id, func.count()).where(
            AwardRecord.status.in_(NOTICE_STATES)).group_by(AwardRecord.village_id)).all())
    return TownAttention(ending=ending, overdue=int(overdue or 0), waiting=waiting,
                         low_budgets=low, on_notice=on_notice, names=names,
                         quiet=[(v, n) for v, n in names.items() if v not in active])


# ---- what a recorded award did --------------------------------------------------------------

def awaiting_base_steps(db: Database, award_id: int | None, decision: dict | None,
                        scale: int) -> int:
    """An award waiting for a second confirmation counts nothing yet: the steps of its
    decision's base points (the stored record's decision, else `decision`)."""
    d = decision
    if award_id:
        with db.sessions() as s:
            rec = s.get(AwardRecord, award_id)
            d = rec.decision if rec is not None else decision
    d = d or {}
    return round(float(d.get("base_points") or 0) * int(d.get("scale") or scale))

