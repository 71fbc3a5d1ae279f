"""Read models of the workflow pages: what is on public notice for a holder, the deductions a
person may appeal, their claims, and the reviewer's desk (what waits for this person's
confirmation, verification, approval or decision). Amounts stay in ledger steps; the
templates show them through the `pts` filter."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.auth import Principal
from ledger.identity.actor import ACTIONS, villages_of
from ledger.identity.models import AppUser
from ledger.registry.models import Household, Person, Team
from ledger.rules import store
from ledger.rules.models import Appeal, AwardRecord, AwardStatus, Objection

NOTICE_STATES = (AwardStatus.ON_NOTICE, AwardStatus.IN_REVIEW)
CLAIM_STATES = (AwardStatus.CLAIMED, AwardStatus.VERIFIED, AwardStatus.PENDING_REVIEW,
                AwardStatus.ON_NOTICE, AwardStatus.IN_REVIEW, AwardStatus.POSTED,
                AwardStatus.REJECTED)
MAX_ROWS = 100
ADMINS = ACTIONS["village.admin"]
CONFIRMERS = ACTIONS["award.confirm"]


def holders_of(s: Session, person_id: int | None) -> list[tuple[str, int]]:
    """The person and their household: whose records a signed-in resident sees."""
    if person_id is None:
        return []
    out = [("person", person_id)]
    person = s.get(Person, person_id)
    if person is not None and person.household_id is not None:
        out.append(("household", person.household_id))
    return out


def _holder_filter(holders: list[tuple[str, int]]):
    return or_(*[(AwardRecord.holder_type == t) & (AwardRecord.holder_id == i)
                 for t, i in holders])


def _row(a: AwardRecord) -> dict:
    return {"award_id": a.id, "item_name": a.item_name, "item": a.item_code,
            "steps": a.amount_steps, "status": str(a.status), "holder_type": a.holder_type,
            "holder_id": a.holder_id, "village_id": a.village_id,
            "notice_until": a.notice_until, "occurred_at": a.occurred_at,
            "created_at": a.created_at, "posted_at": a.posted_at, "channel": a.channel,
            "note": a.note, "evidence": a.evidence or {}, "recorder_id": a.recorder_id}


def pending_notices(s: Session, holders: list[tuple[str, int]]) -> list[dict]:
    """The holders' awards and deductions on public notice (not yet in the balance)."""
    if not holders:
        return []
    rows = s.scalars(select(AwardRecord).where(
        _holder_filter(holders), AwardRecord.status.in_(NOTICE_STATES))
        .order_by(AwardRecord.notice_until).limit(MAX_ROWS))
    return [_row(a) for a in rows]


def appeal_days(s: Session, a: AwardRecord, cache: dict) -> int:
    key = (a.catalog_code, a.catalog_version)
    if key not in cache:
        cache[key] = store.catalog(s, a.catalog_code, version=a.catalog_version).appeal_days
    return cache[key]


def deductions(s: Session, holders: list[tuple[str, int]], now: datetime) -> list[dict]:
    """Posted (or reversed) deductions of the holders, newest first, each with its appeal:
    `appeal_until` while one may still appeal, `appeal` once appealed."""
    if not holders:
        return []
    rows = list(s.scalars(select(AwardRecord).where(
        _holder_filter(holders), AwardRecord.amount_steps < 0,
        AwardRecord.status.in_([AwardStatus.POSTED, AwardStatus.REVERSED]))
        .order_by(AwardRecord.posted_at.desc()).limit(MAX_ROWS)))
    appeals = {ap.award_id: ap for ap in s.scalars(select(Appeal).where(
        Appeal.award_id.in_([a.id for a in rows])))} if rows else {}
    cache: dict = {}
    out = []
    for a in rows:
        r = _row(a)
        days = appeal_days(s, a, cache)
        until = a.posted_at + timedelta(days=days) if a.posted_at and days else None
        ap = appeals.get(a.id)
        r["appeal"] = ap
        r["appeal_until"] = until if (ap is None and a.status == AwardStatus.POSTED
                                      and until is not None and now < until) else None
        out.append(r)
    return out


def appealable(s: Session, award_id: int, holders: list[tuple[str, int]],
               now: datetime) -> dict | None:
    return next((r for r in deductions(s, holders, now)
                 if r["award_id"] == award_id and r["appeal_until"]), None)


def claims(s: Session, holders: list[tuple[str, int]]) -> list[dict]:
    """The holders' own claims (申报), newest first, in whatever state."""
    if not holders:
        return []
    rows = s.scalars(select(AwardRecord).where(
        _holder_filter(holders), AwardRecord.channel == "claim")
        .order_by(AwardRecord.id.desc()).limit(MAX_ROWS))
    return [_row(a) for a in rows]


def holder_names(s: Session, rows: list[dict]) -> dict[tuple[str, int], str]:
    """(holder type, id) → the name staff see (a household by its head and plate)."""
    out: dict[tuple[str, int], str] = {}
    for r in rows:
        key = (r["holder_type"], r["holder_id"])
        if key in out:
            continue
        if key[0] == "person":
            p = s.get(Person, key[1])
            out[key] = p.name if p else f"#{key[1]}"
        elif key[0] == "household":
            h = s.get(Household, key[1])
            out[key] = f"{h.head_name}户（{h.plate_code}）" if h else f"#{key[1]}"
        else:
            t = s.get(Team, key[1])
            out[key] = t.name if t else f"#{key[1]}"
    return out


def user_names(s: Session, ids) -> dict[int, str]:
    ids = [i for i in set(ids) if i is not None]
    if not ids:
        return {}
    return dict(s.execute(select(AppUser.id, AppUser.name).where(AppUser.id.in_(ids))).all())


def _in_scope(q, villages: set[int] | None):
    return q if villages is None else q.where(AwardRecord.village_id.in_(villages))


def _awards(s: Session, villages: set[int] | None, *statuses: str) -> list[AwardRecord]:
    if villages is not None and not villages:
        return []
    q = select(AwardRecord).where(AwardRecord.status.in_(statuses))
    return list(s.scalars(_in_scope(q, villages).order_by(AwardRecord.id).limit(MAX_ROWS)))


def _own(s: Session, p: Principal) -> set[tuple[str, int]]:
    return set(holders_of(s, p.person_id))


def desk(s: Session, p: Principal) -> dict:
    """What waits for this person, by step, in the villages they serve. A step they may not
    take (they recorded it, it concerns them or their household) is left to others; the
    domain checks all of this again when they act."""
    own = _own(s, p)
    confirm_v = villages_of(p, CONFIRMERS)
    admin_v = villages_of(p, ADMINS)

    def mine(a: AwardRecord) -> bool:
        return (a.holder_type, a.holder_id) in own

    confirmations = [a for a in _awards(s, confirm_v, AwardStatus.AWAITING_CONFIRMATION)
                     if a.recorder_id != p.user_id and not mine(a)]
    to_verify = [a for a in _awards(s, confirm_v, AwardStatus.CLAIMED)
                 if a.recorder_id != p.user_id and not mine(a)]
    approvals = [a for a in _awards(s, admin_v, AwardStatus.VERIFIED, AwardStatus.PENDING_REVIEW)
                 if p.user_id not in (a.recorder_id, a.verifier_id) and not mine(a)]
    objected = [a for a in _awards(s, admin_v, AwardStatus.IN_REVIEW)
                if p.user_id not in (a.recorder_id, a.confirmer_id) and not mine(a)]
    appeals = []
    if admin_v is None or admin_v:
        q = select(Appeal, AwardRecord).join(AwardRecord, AwardRecord.id == Appeal.award_id) \
            .where(Appeal.status == "open")
        for ap, a in s.execute(_in_scope(q, admin_v).order_by(Appeal.id).limit(MAX_ROWS)):
            if p.user_id not in (a.recorder_id, a.confirmer_id, ap.appellant_id) and not mine(a):
                appeals.append({**_row(a), "appeal_id": ap.id, "reason": ap.reason,
                                "appeal_at": ap.created_at})
    reasons: dict[int, list[str]] = {}
    if objected:
        for o in s.scalars(select(Objection).where(
                Objection.award_id.in_([a.id for a in objected]),
                Objection.outcome.is_(None)).order_by(Objection.id)):
            reasons.setdefault(o.award_id, []).append(o.reason)
    out = {"confirmations": [_row(a) for a in confirmations],
           "claims": [_row(a) for a in to_verify],
           "approvals": [_row(a) for a in approvals],
           "objections": [{**_row(a), "reasons": reasons.get(a.id, [])} for a in objected],
           "appeals": appeals}
    everything = [r for rows in out.values() for r in rows]
    out["holders"] = holder_names(s, everything)
    out["users"] = user_names(s, [r["recorder_id"] for r in everything])
    out["count"] = len(everything)
    return out


def plate_workflow(s: Session, household_id: int, p: Principal | None) -> dict:
    """What the plate page adds: the household's amounts on notice (public, like the score),
    and, for a signed-in member of the household, its deductions with the 申诉 button."""
    from ledger.timeutil import utcnow
    notices = pending_notices(s, [("household", household_id)])
    mine = p is not None and ("household", household_id) in holders_of(s, p.person_id)
    return {"notices": notices,
            "deductions": deductions(s, [("household", household_id)], utcnow()) if mine
            else []}


def me_workflow(s: Session, person_id: int | None, now: datetime) -> dict:
    """What /me adds: amounts on notice for the person and their household, deductions with
    their appeals, and the person's own claims."""
    from api.pages.draws import my_wins
    holders = holders_of(s, person_id)
    return {"notices": pending_notices(s, holders), "deductions": deductions(s, holders, now),
            "claims": claims(s, holders), "wins": my_wins(s, holders[:1])}


def finding_message(s: Session, done: dict, t, scale: int) -> str:
    """Say what a recorded finding did: counted, on notice until a date, waiting for a second
    confirmation, or waiting for approval."""
    from api.pages.filters import localtime, pts
    award = done.award or {}
    item = award.get("item_name") or done.item_code
    status = award.get("status")
    steps = award.get("steps") or 0
    if status == AwardStatus.AWAITING_CONFIRMATION:
        rec = s.get(AwardRecord, award.get("award_id")) if award.get("award_id") else None
        d = (rec.decision if rec is not None else award.get("decision")) or {}
        # nothing is counted yet: the decision's base points (the item's, in points)
        steps = round(float(d.get("base_points") or 0) * int(d.get("scale") or scale))
        return t("insp.done_confirm", item=item, p=pts(steps, scale, True))
    if status in (AwardStatus.PENDING_REVIEW, AwardStatus.CLAIMED, AwardStatus.VERIFIED):
        return t("insp.done_review", item=item)
    if status == AwardStatus.ON_NOTICE:
        return t("insp.done_notice", item=item, p=pts(steps, scale, True),
                 d=localtime(award.get("notice_until")))
    return t("insp.done_posted", item=item, p=pts(steps, scale, True))


def evidence_field(exc, t) -> dict[str, str] | None:
    """A refusal for missing evidence, placed under the field that is missing (photo or note)."""
    if getattr(exc, "code", None) != "evidence_required":
        return None
    missing = ((exc.extra.get("explanation") or {}).get("detail") or {}).get("missing")
    if missing not in ("photo", "note"):
        return None
    return {missing: t("err.evidence_required_" + missing)}


def per_hour_hint(db, points: dict | None, minutes: int | None, t, scale: int
                  ) -> str | None:
    """Why a per-hour item gave nothing: fewer `minutes` than earn its smallest step
    (`points`: an attendance's points outcome)."""
    from api.pages.filters import pts
    from ledger.activities.awards import hour_step_minutes
    points = points if isinstance(points, dict) else None
    if points and points.get("code"):  # the rules refused the points: say why
        from ledger.rules.engine import MESSAGES
        why = t("err." + points["code"], default=MESSAGES.get(points["code"], points["code"]))
        if points["code"] == "minutes_required" and minutes == 0:
            why = t("hour.no_minutes")
        return t("hour.refused", why=why)
    if not points or points.get("steps") or not points.get("award_id") or minutes is None:
        return None
    step_minutes = hour_step_minutes(db, points["award_id"])
    if step_minutes is None or minutes >= step_minutes:
        return None
    return t("hour.zero", m=step_minutes, p=pts(1, scale), n=minutes)
