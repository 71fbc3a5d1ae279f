"""The checks around recording: a second person's confirmation of a large deduction, a
resident's claim (申报) → verification → approval, review of items that need it, public
notice (公示) with objections, and appeals (申诉) of deductions decided by someone else.

Locks are taken in one order everywhere: the award row, then its counters, then accounts."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.config import Settings
from ledger.db import Database
from ledger.errors import Conflict, Forbidden, NotFound
from ledger.journal import book
from ledger.journal.posting import reverse_entry
from ledger.identity.actor import Actor
from ledger.rules import engine as E
from ledger.rules import service as svc
from ledger.rules import store
from ledger.rules.holders import actor_dict, actor_load, resolve_actor
from ledger.rules.models import Appeal, AwardRecord, AwardStatus, Objection
from ledger.rules.schemas import AppealView, AwardView
from ledger.timeutil import utcnow

MAX_REASON_CHARS = 500
NOTICE_SWEEP_BATCH = 200
MAX_OBJECTIONS_PER_AWARD = 20


def lock_award(s: Session, award_id: int) -> AwardRecord:
    award = s.get(AwardRecord, award_id, with_for_update=True)
    if award is None:
        raise NotFound(f"award {award_id} does not exist", code="award_not_found")
    return award


def _expect(award: AwardRecord, *statuses: str) -> None:
    if award.status not in statuses:
        raise Conflict(f"award {award.id} is {award.status}, not {' / '.join(statuses)}",
                       code="award_status_conflict", status_now=award.status,
                       expected=list(statuses))


def _check_actor(s: Session, award: AwardRecord, actor, *, channels: tuple[str, ...],
                 not_users: dict[str, int | None]) -> Actor:
    """The actor holds one of `channels` for the award's village, is none of `not_users`
    (recorder, verifier…), and is not the holder or of the holder's household."""
    actor = resolve_actor(s, actor)
    for role, uid in not_users.items():
        if uid is not None and actor.user_id == uid:
            raise Forbidden(f"the {role} cannot also do this step", code=f"same_as_{role}")
    _, _, holder = svc.record_context(s, award)
    if actor.is_self_or_household(holder):
        raise Forbidden("不能处理本人或本户的记分 (not for oneself or one's household)",
                        code="self_award_forbidden")
    if not actor.channels(award.village_id) & set(channels):
        raise Forbidden(f"needs one of the roles for {', '.join(channels)} in village "
                        f"{award.village_id}", code="not_permitted")
    return actor


def _write(db: Database, fn, key: str | None, request: dict, kind: type = AwardView):
    """`fn` in one keyed transaction; its view (stored as written by the idempotency record,
    replayed as stored) answered as its type."""
    return msgspec.convert(book.write(db, fn, key=key, request=request).result, kind)


def confirm_award(db: Database, settings: Settings, *, award_id: int, confirmer: Actor,
                  key: str | None, now: datetime | None = None) -> AwardView:
    """A second person confirms a large deduction; it then goes to review or is committed."""
    def work(s: Session) -> dict:
        at = now or utcnow()
        award = lock_award(s, award_id)
        _expect(award, AwardStatus.AWAITING_CONFIRMATION)
        conf = _check_actor(s, award, confirmer, channels=E.CONFIRMER_CHANNELS,
                            not_users={"recorder": award.recorder_id})
        award.confirmer_id = conf.user_id
        award.actors = {**award.actors, "confirmer": actor_dict(conf)}
        award.updated_at = at
        item = store.catalog(s, award.catalog_code, version=award.catalog_version).items[
            award.item_code]
        if item.review:
            award.status = AwardStatus.PENDING_REVIEW
        else:
            svc.commit(s, settings, award, at)
        return svc.award_view(award)

    return _write(db, work, key, {"op": "confirm", "award": award_id, "by": confirmer.user_id})


def verify_claim(db: Database, settings: Settings, *, award_id: int, verifier: Actor,
                 key: str | None, now: datetime | None = None) -> AwardView:
    """Step one of a claim (申报): someone other than the claimant checks the evidence."""
    def work(s: Session) -> dict:
        award = lock_award(s, award_id)
        _expect(award, AwardStatus.CLAIMED)
        v = _check_actor(s, award, verifier, channels=("admin", "inspector"),
                         not_users={"recorder": award.recorder_id})
        award.verifier_id, award.status = v.user_id, AwardStatus.VERIFIED
        award.actors = {**award.actors, "verifier": actor_dict(v)}
        award.updated_at = now or utcnow()
        return svc.award_view(award)

    return _write(db, work, key, {"op": "verify", "award": award_id, "by": verifier.user_id})


def approve_award(db: Database, settings: Settings, *, award_id: int, approver: Actor,
                  key: str | None, now: datetime | None = None) -> AwardView:
    """Approve a verified claim, or an item that needs review: the award is then committed
    (caps checked again under lock) and posted or put on notice."""
    def work(s: Session) -> dict:
        at = now or utcnow()
        award = lock_award(s, award_id)
        _expect(award, AwardStatus.VERIFIED, AwardStatus.PENDING_REVIEW)
        a = _check_actor(s, award, approver, channels=("admin",),
                         not_users={"recorder": award.recorder_id,
                                    "verifier": award.verifier_id})
        award.approver_id = a.user_id
        award.actors = {**award.actors, "approver": actor_dict(a)}
        svc.commit(s, settings, award, at)
        return svc.award_view(award)

    return _write(db, work, key, {"op": "approve", "award": award_id, "by": approver.user_id})


def reject_award(db: Database, settings: Settings, *, award_id: int, actor: Actor,
                 reason: str, key: str | None, now: datetime | None = None) -> AwardView:
    """Turn down a claim or a record waiting for confirmation or review (or withdraw one's
    own). Nothing was counted yet, so nothing is given back."""
    def work(s: Session) -> dict:
        award = lock_award(s, award_id)
        _expect(award, AwardStatus.CLAIMED, AwardStatus.VERIFIED, AwardStatus.PENDING_REVIEW,
                AwardStatus.AWAITING_CONFIRMATION)
        if actor.user_id != award.recorder_id:
            _check_actor(s, award, actor, channels=("admin", "inspector"), not_users={})
        award.status, award.note = AwardStatus.REJECTED, reason[:MAX_REASON_CHARS]
        award.reviewer_id = actor.user_id
        award.updated_at = now or utcnow()
        return svc.award_view(award)

    return _write(db, work, key, {"op": "reject", "award": award_id, "by": actor.user_id,
                                  "reason": reason})


def object_to_award(db: Database, *, award_id: int, actor: Actor, reason: str,
                    key: str | None, now: datetime | None = None) -> AwardView:
    """An objection during public notice sends the award back to review."""
    def work(s: Session) -> dict:
        at = now or utcnow()
        award = lock_award(s, award_id)
        _expect(award, AwardStatus.ON_NOTICE, AwardStatus.IN_REVIEW)
        if award.status == AwardStatus.ON_NOTICE and at >= award.notice_until:
            raise Conflict("公示期已过 (the notice window has closed)",
                           code="notice_window_closed")
        n = len(list(s.scalars(select(Objection.id).where(Objection.award_id == award.id))))
        if n >= MAX_OBJECTIONS_PER_AWARD:
            raise Conflict("too many objections on one award", code="too_many_objections")
        o = Objection(award_id=award.id, user_id=actor.user_id,
                      reason=reason[:MAX_REASON_CHARS], created_at=at)
        s.add(o)
        award.status, award.updated_at = AwardStatus.IN_REVIEW, at
        s.flush()
        return {**svc.award_view(award), "objection_id": o.id}

    return _write(db, work, key, {"op": "object", "award": award_id, "by": actor.user_id,
                                  "reason": reason})


def review_objections(db: Database, settings: Settings, *, award_id: int, reviewer: Actor,
                      uphold: bool, note: str, key: str | None,
                      now: datetime | None = None) -> AwardView:
    """Decide the objections: upheld → the award is rejected, its caps given back and its
    set-aside budget returned; dismissed → it posts now."""
    def work(s: Session) -> dict:
        at = now or utcnow()
        award = lock_award(s, award_id)
        _expect(award, AwardStatus.IN_REVIEW)
        r = _check_actor(s, award, reviewer, channels=("admin",),
                         not_users={"recorder": award.recorder_id,
                                    "confirmer": award.confirmer_id})
        award.reviewer_id = r.user_id
        award.actors = {**award.actors, "reviewer": actor_dict(r)}
        award.note = note[:MAX_REASON_CHARS]
        for o in s.scalars(select(Objection).where(Objection.award_id == award.id,
                                                   Objection.outcome.is_(None))):
            o.outcome = "upheld" if uphold else "dismissed"
            o.decided_by, o.decided_at = r.user_id, at
        if uphold:
            svc.release(s, award)
            for entry_id in reversed(award.entry_ids or []):
                reverse_entry(s, int(entry_id), memo=f"公示异议成立：{award.item_name}"[:500],
                              actor_id=r.user_id, source="objection", source_ref=str(award.id),
                              now=at)
            award.status, award.updated_at = AwardStatus.REJECTED, at
        else:
            svc.post_award(s, settings.budget_shards, award, at)
        return svc.award_view(award)

    return _write(db, work, key, {"op": "review", "award": award_id, "by": reviewer.user_id,
                                  "uphold": uphold, "note": note})


def post_due_notices(db: Database, now: datetime | None = None,
                     settings: Settings | None = None) -> int:
    """Post every award whose notice window has passed without objection. Safe to run twice
    or in parallel: each award moves from on_notice to posted under its row lock, once."""
    now = now or utcnow()
    shards = settings.budget_shards if settings else None
    posted = 0
    with db.sessions() as s:
        ids = list(s.scalars(select(AwardRecord.id).where(
            AwardRecord.status == AwardStatus.ON_NOTICE, AwardRecord.notice_until <= now)
            .order_by(AwardRecord.id).limit(NOTICE_SWEEP_BATCH)))
    for award_id in ids:
        def work(s: Session, award_id=award_id) -> dict:
            award = lock_award(s, award_id)
            if award.status != AwardStatus.ON_NOTICE or award.notice_until > now:
                return {"posted": False}
            svc.post_award(s, shards or svc.village_shards(s, award.village_id), award, now)
            return {"posted": True}
        posted += 1 if book.write(db, work).result["posted"] else 0
    return posted


def appeal(db: Database, *, award_id: int, appellant: Actor, reason: str, key: str | None,
           now: datetime | None = None) -> AppealView:
    """The holder appeals a posted deduction within the catalog's appeal window."""
    def work(s: Session) -> dict:
        at = now or utcnow()
        award = lock_award(s, award_id)
        _expect(award, AwardStatus.POSTED)
        if award.amount_steps >= 0 and not (award.decision.get("sanction")):
            raise Conflict("只能对扣分申诉 (only deductions can be appealed)",
                           code="not_a_deduction")
        c, _, holder = svc.record_context(s, award)
        if not resolve_actor(s, appellant).is_self_or_household(holder):
            raise Forbidden("只有被扣分的本人或本户可以申诉 (only the holder may appeal)",
                            code="not_permitted")
        if c.appeal_days == 0:
            raise Conflict("该目录不受理申诉 (this catalog takes no appeals)",
                           code="appeals_disabled")
        if at > award.posted_at + timedelta(days=c.appeal_days):
            raise Conflict(f"申诉期 {c.appeal_days} 天已过 (the appeal window has closed)",
                           code="appeal_window_closed", appeal_days=c.appeal_days)
        if s.scalar(select(Appeal.id).where(Appeal.award_id == award.id)) is not None:
            raise Conflict("该扣分已申诉过 (this deduction was appealed already)",
                           code="appeal_exists")
        a = Appeal(award_id=award.id, appellant_id=appellant.user_id,
                   reason=reason[:MAX_REASON_CHARS], status="open", created_at=at)
        s.add(a)
        s.flush()
        return appeal_view(a)

    return _write(db, work, key, {"op": "appeal", "award": award_id, "by": appellant.user_id,
                                  "reason": reason}, AppealView)


def decide_appeal(db: Database, settings: Settings, *, appeal_id: int, decider: Actor,
                  upheld: bool, note: str, key: str | None,
                  now: datetime | None = None) -> AppealView:
    """Someone other than the deduction's recorder (and confirmer) decides. Upheld: a reversing
    entry that names the appeal, caps given back, sanctions lifted."""
    def work(s: Session) -> dict:
        at = now or utcnow()
        a = s.get(Appeal, appeal_id, with_for_update=True)
        if a is None:
            raise NotFound(f"appeal {appeal_id} does not exist", code="appeal_not_found")
        if a.status != "open":
            raise Conflict(f"appeal {appeal_id} was decided already", code="appeal_decided")
        award = lock_award(s, a.award_id)
        d = _check_actor(s, award, decider, channels=("admin",),
                         not_users={"recorder": award.recorder_id,
                                    "confirmer": award.confirmer_id,
                                    "appellant": a.appellant_id})
        a.status, a.decided_by, a.decided_at = ("upheld" if upheld else "rejected"), d.user_id, at
        a.decision_note = note[:MAX_REASON_CHARS]
        if upheld:
            done = svc.revoke(s, award, actor_id=d.user_id,
                              memo=f"申诉成立（申诉 {a.id}）：{award.item_name}",
                              source="appeal", source_ref=str(a.id), now=at)
            a.reversal_entry_id = done[0] if done else None
        return appeal_view(a)

    return _write(db, work, key, {"op": "decide_appeal", "appeal": appeal_id,
                                  "by": decider.user_id, "upheld": upheld, "note": note},
                  AppealView)


def appeal_view(a: Appeal) -> dict:
    return {"appeal_id": a.id, "award_id": a.award_id, "status": a.status, "reason": a.reason,
            "appellant_id": a.appellant_id, "created_at": a.created_at.isoformat(),
            "decided_by": a.decided_by,
            "decided_at": a.decided_at.isoformat() if a.decided_at else None,
            "decision_note": a.decision_note, "reversal_entry_id": a.reversal_entry_id}


__all__ = [
    "actor_load",
    "appeal",
    "approve_award",
    "confirm_award",
    "decide_appeal",
    "object_to_award",
    "post_due_notices",
    "reject_award",
    "review_objections",
    "verify_claim",
]
