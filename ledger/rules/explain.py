"""Reading the rules' records: why any entry exists (item and version, inputs, caps, multiplier,
evidence, and who recorded, confirmed, verified, approved or reviewed it), awards on public
notice for a village's public page, and the recorder report that makes outliers stand out."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from statistics import median

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import NotFound
from ledger.identity.actor import require
from ledger.identity.roles import INSPECTOR, ORGANIZER, TOWN_ADMIN, VILLAGE_ADMIN
from ledger.journal.models import Account, Posting
from ledger.journal.posting import load_entry
from ledger.registry.lookup import holder_ref
from ledger.rules import spec as S
from ledger.rules.models import Appeal, AwardRecord, AwardStatus, Objection
from ledger.rules.schemas import AwardDetail, EntryExplanation, NoticeView, RecorderReport
from ledger.rules.service import award_view
from ledger.rules.workflow import appeal_view
from ledger.timeutil import utcnow

MAX_NOTICES = 200
MAX_REPORT_ROWS = 2000
OUTLIER_FACTOR = 3  # a recorder's deductions above 3× the village median stand out
OUTLIER_MIN_RECORDS = 5


def award_detail(s: Session, award_id: int) -> dict:
    a = s.get(AwardRecord, award_id)
    if a is None:
        raise NotFound(f"award {award_id} does not exist", code="award_not_found")
    view = award_view(a)
    view["people"] = {"recorder": a.recorder_id, "confirmer": a.confirmer_id,
                      "verifier": a.verifier_id, "approver": a.approver_id,
                      "reviewer": a.reviewer_id}
    view["inputs"], view["evidence"] = a.inputs, a.evidence
    view["created_at"] = a.created_at.isoformat()
    view["posted_at"] = a.posted_at.isoformat() if a.posted_at else None
    view["note"] = a.note
    view["objections"] = [
        {"id": o.id, "user_id": o.user_id, "reason": o.reason, "outcome": o.outcome,
         "created_at": o.created_at.isoformat(), "decided_by": o.decided_by}
        for o in s.scalars(select(Objection).where(Objection.award_id == a.id)
                           .order_by(Objection.id))]
    ap = s.scalar(select(Appeal).where(Appeal.award_id == a.id))
    view["appeal"] = appeal_view(ap) if ap else None
    return view


def explain_entry(s: Session, entry_id: int) -> dict:
    """Any journal entry, explained down to its evidence where the rules made it."""
    e, postings = load_entry(s, entry_id)
    out = {"entry_id": e.id, "kind": e.kind, "unit": e.unit, "at": e.created_at.isoformat(),
           "memo": e.memo, "source": e.source, "source_ref": e.source_ref,
           "actor_id": e.actor_id, "reverses_id": e.reverses_id, "details": e.details,
           "postings": [{"account_id": p.account_id, "amount": p.amount} for p in postings]}
    award_id = None
    if e.source in ("rule", "objection") and e.source_ref.isdigit():
        award_id = int(e.source_ref)
    elif e.source == "appeal" and e.source_ref.isdigit():
        ap = s.get(Appeal, int(e.source_ref))
        if ap is not None:
            out["appeal"] = appeal_view(ap)
            award_id = ap.award_id
    elif isinstance(e.details, dict) and e.details.get("award_id"):
        award_id = int(e.details["award_id"])
    if award_id is not None:
        out["award"] = award_detail(s, award_id)
        d = out["award"]["decision"] or {}
        out["rule"] = {"catalog": d.get("catalog"), "catalog_version": d.get("catalog_version"),
                       "item": d.get("item"), "item_version": d.get("item_version"),
                       "item_name": out["award"]["item_name"]}
        out["inputs"] = out["award"]["inputs"]
        out["caps"] = {f"{c['holder_type']}:{c['holder_id']}": c["caps"]
                       for c in d.get("credits", [])}
        out["multiplier"] = d.get("multiplier")
        out["evidence"] = out["award"]["evidence"]
        out["people"] = out["award"]["people"]
    return out


def _mask(name: str) -> str:
    return (name[:1] + "*" * max(len(name) - 1, 1)) if name else "*"


def village_notices(s: Session, village_id: int, now: datetime) -> list[dict]:
    """What is on public notice (公示) in a village now: visible, not yet counted."""
    from ledger.registry.models import Household, Person, Team
    rows = list(s.scalars(select(AwardRecord).where(
        AwardRecord.village_id == village_id,
        AwardRecord.status.in_([AwardStatus.ON_NOTICE, AwardStatus.IN_REVIEW]))
        .order_by(AwardRecord.notice_until).limit(MAX_NOTICES)))
    models = {"person": (Person, "name"), "household": (Household, "head_name"),
              "team": (Team, "name")}
    out = []
    for a in rows:
        model, attr = models[a.holder_type]
        holder = s.get(model, a.holder_id)
        scale = (a.decision or {}).get("scale", 1)
        out.append({"award_id": a.id, "status": str(a.status), "item_name": a.item_name,
                    "item": a.item_code, "holder_type": a.holder_type,
                    "holder_name": _mask(getattr(holder, attr, "") if holder else ""),
                    "points": S.points_of(a.amount_steps, scale), "steps": a.amount_steps,
                    "occurred_at": a.occurred_at.isoformat(),
                    "notice_until": a.notice_until.isoformat() if a.notice_until else None,
                    "open_for_objection": a.status == AwardStatus.ON_NOTICE
                    and a.notice_until is not None and now < a.notice_until})
    return out


def recorder_report(s: Session, *, village_id: int | None = None,
                    since: datetime | None = None, until: datetime | None = None) -> dict:
    """Each recorder's awards and deductions by village and item, with totals per recorder
    and a flag on those whose deductions stand far above their village's median."""
    q = select(AwardRecord.recorder_id, AwardRecord.village_id, AwardRecord.catalog_code,
               AwardRecord.item_code, AwardRecord.item_name,
               func.count(AwardRecord.id),
               func.sum(func.abs(AwardRecord.amount_steps)).filter(AwardRecord.amount_steps > 0),
               func.sum(func.abs(AwardRecord.amount_steps)).filter(AwardRecord.amount_steps < 0),
               func.sum(AwardRecord.minutes)).where(
        AwardRecord.status.in_([AwardStatus.POSTED, AwardStatus.ON_NOTICE,
                                AwardStatus.IN_REVIEW, AwardStatus.REVERSED]))
    if village_id is not None:
        q = q.where(AwardRecord.village_id == village_id)
    if since is not None:
        q = q.where(AwardRecord.created_at >= since)
    if until is not None:
        q = q.where(AwardRecord.created_at < until)
    q = q.group_by(AwardRecord.recorder_id, AwardRecord.village_id, AwardRecord.catalog_code,
                   AwardRecord.item_code, AwardRecord.item_name).order_by(
        AwardRecord.village_id, AwardRecord.recorder_id, AwardRecord.item_code
    ).limit(MAX_REPORT_ROWS)
    rows, per = [], defaultdict(lambda: {"records": 0, "award_steps": 0, "deduct_steps": 0})
    for rec, vid, cat, item, name, n, plus, minus, minutes in s.execute(q).all():
        rows.append({"recorder_id": rec, "village_id": vid, "catalog": cat, "item": item,
                     "item_name": name, "records": n, "award_steps": int(plus or 0),
                     "deduct_steps": int(minus or 0), "minutes": int(minutes or 0)})
        t = per[(vid, rec)]
        t["records"] += n
        t["award_steps"] += int(plus or 0)
        t["deduct_steps"] += int(minus or 0)
    by_village = defaultdict(list)
    for (vid, _), t in per.items():
        by_village[vid].append(t["deduct_steps"])
    recorders = []
    for (vid, rec), t in sorted(per.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1])):
        med = median(by_village[vid])
        outlier = (len(by_village[vid]) >= 2 and t["records"] >= OUTLIER_MIN_RECORDS
                   and t["deduct_steps"] > OUTLIER_FACTOR * max(med, 1))
        recorders.append({"recorder_id": rec, "village_id": vid, **t,
                          "village_median_deduct_steps": med, "outlier": outlier})
    return {"rows": rows, "recorders": recorders, "truncated": len(rows) >= MAX_REPORT_ROWS}


# Who reads an award's details or an entry's explanation (evidence, inputs, who recorded it):
# the staff who record and review points, for the village concerned; town-wide roles anywhere.
READERS = (TOWN_ADMIN, VILLAGE_ADMIN, INSPECTOR, ORGANIZER)


def _villages_of_entry(s: Session, entry_id: int) -> set[int | None]:
    """The villages an entry touches: its holders' villages, a village budget's village; a
    town account (funding, expired, held) or a shop's stands for the whole town (None)."""
    out: set[int | None] = set()
    for holder_type, holder_id in s.execute(
            select(Account.holder_type, Account.holder_id).join(
                Posting, Posting.account_id == Account.id).where(
                Posting.entry_id == entry_id).distinct()):
        if holder_type == "village":
            out.add(holder_id)
        elif holder_type in ("person", "household", "team"):
            out.add(holder_ref(s, holder_type, holder_id).village_id)
        else:
            out.add(None)
    return out


def award_detail_for(db: Database, actor, award_id: int) -> AwardDetail:
    """An award's detail for a reader of its village (403 forbidden_village otherwise)."""
    with db.sessions() as s:
        a = s.get(AwardRecord, award_id)
        if a is None:
            raise NotFound(f"award {award_id} does not exist", code="award_not_found")
        require(actor, READERS, a.village_id, "reading an award")
        return msgspec.convert(award_detail(s, award_id), AwardDetail)


def explain_entry_for(db: Database, actor, entry_id: int) -> EntryExplanation:
    """An entry's explanation for a reader of every village it touches."""
    with db.sessions() as s:
        load_entry(s, entry_id)  # 404 first
        for village_id in _villages_of_entry(s, entry_id):
            require(actor, READERS, village_id, "reading an entry's explanation")
        return msgspec.convert(explain_entry(s, entry_id), EntryExplanation)


def notices(db: Database, village_id: int) -> list[NoticeView]:
    """What is on public notice in a village now (`village_notices`), for anyone."""
    with db.sessions() as s:
        return msgspec.convert(village_notices(s, village_id, utcnow()), list[NoticeView])


def recorder_report_for(db: Database, actor, *, village_id: int | None = None,
                        since: datetime | None = None, until: datetime | None = None
                        ) -> RecorderReport:
    """The recorder report (`recorder_report`): a village's for its admins, the whole town's
    (no `village_id`) for a town admin."""
    require(actor, "village.admin", village_id, "reading the recorders' report")
    with db.sessions() as s:
        return msgspec.convert(recorder_report(s, village_id=village_id, since=since,
                                               until=until), RecorderReport)
