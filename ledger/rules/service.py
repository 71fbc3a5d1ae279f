"""Recording awards and deductions under the catalog: evaluate, lock the counters, and post
through the journal with the whole explanation in the entry's `details`.

Entry points for other packages (documented in docs/rules.md):
- `evaluate(db, settings, item_code=, holder=, recorder=, context=)` → the decision, no write;
- `record_award(db, settings, item_code=, holder=, recorder=, context=, key=)` → the award
  record (posted, on public notice, or waiting for confirmation / review), idempotent by key.

Over 400 lines on purpose: an award's whole life (decide, post, revoke) reads in one module;
the statements of the common case are in `direct.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.config import Settings
from ledger.db import Database
from ledger.errors import Conflict, DomainError, InsufficientFunds, NotFound
from ledger.journal import book
from ledger.journal import minutes as minutes_book
from ledger.journal.accounts import budget_shards, open_account
from ledger.journal.models import Account, HolderType, Purpose, Unit
from ledger.journal.posting import Line, post_entry, reverse_entry
from ledger.rules import coins, counters, direct, store, wallets
from ledger.rules import engine as E
from ledger.rules import spec as S
from ledger.rules.holders import (
    actor_dict,
    actor_from,
    actor_load,
    context_refs,
    context_tags,
    default_channel,
    holder_arg,
    make_inputs,
    resolve_actor,
    resolve_holder,
)
from ledger.rules.models import AwardRecord, AwardStatus, Sanction
from ledger.rules.periods import local_date
from ledger.rules.schemas import AwardView, DecisionView
from ledger.view import typed
from ledger.identity.actor import Actor
from ledger.rules.types import Evidence, Holder, Inputs
from ledger.timeutil import utcnow

STATUS_BY_REASON = {"activity_item_deduction": 422, "cap_reached": 409, "period_already_scored": 409, "budget_exhausted": 409,
                    "not_permitted": 403, "self_award_forbidden": 403, "out_of_scope": 403,
                    "confirmer_same_as_recorder": 403, "item_unknown": 404}


class RuleRefused(DomainError):
    status = 422
    title = "Refused by the rules"


def refused(dec: E.Decision, scale: int) -> RuleRefused:
    return RuleRefused(f"{dec.message} ({dec.reason})", code=dec.reason,
                       status=STATUS_BY_REASON.get(dec.reason, 422), reason=dec.reason,
                       explanation=dec.explain(scale))


def offered_items(s: Session, actor: Actor, *, channel: str, subject: str,
                  villages: dict[int, str | None], for_activity: bool = False,
                  on: datetime | None = None) -> list[tuple[S.Catalog, S.Item]]:
    """(catalog, item) in force that the engine accepts from `actor` through `channel` for a
    `subject` in at least one of `villages` (id → name): what a form offers, from the
    engine's own check (engine.refusal_of_recorder), never a second copy of it."""
    today = local_date(on or utcnow())
    out = []
    for code in store.catalog_codes(s):
        c = store.catalog(s, code, on=today)
        for it in c.items.values():
            if (it.effective_from and today < it.effective_from) or \
                    (it.effective_to and today > it.effective_to):
                continue
            if any(c.covers_village(name) and E.refusal_of_recorder(
                    c, it, actor=actor, channel=channel, village_id=vid, subject=subject,
                    for_activity=for_activity) is None for vid, name in villages.items()):
                out.append((c, it))
    return out


def holder_balance(s: Session, holder: Holder, unit: str = Unit.POINTS) -> int:
    return s.scalar(select(Account.balance).where(
        Account.unit == unit, Account.holder_type == holder.type,
        Account.holder_id == holder.id, Account.purpose == Purpose.POINTS,
        Account.shard == 0)) or 0


def _history(s: Session, c: S.Catalog, item: S.Item, holder: Holder, inp: Inputs,
             at: datetime, *, locked: bool) -> E.History:
    keys = E.counter_keys(c, item.code, holder, inp)
    usage = counters.lock(s, keys) if locked else counters.read(s, keys)
    draws = item.sign > 0 and (not c.coins or c.coin_of(item) is None)  # a coin: no budget
    budget = book.village_budget_available(s, holder.village_id) if draws else None
    balance = holder_balance(s, holder) if item.sanction and item.sanction.zero_balance else 0
    return E.History(now=at, usage=usage, budget_available=budget, balance_steps=balance)


def _prepare(s: Session, *, item_code, holder, recorder, context, catalog, confirmer, now):
    h_type, h_id = holder_arg(holder)
    ctx = context if isinstance(context, dict) else {}
    h = resolve_holder(s, h_type, h_id, tags=context_tags(ctx), village_id=ctx.get("village_id"))
    channel = ctx.get("channel") or (default_channel(recorder, h.village_id)
                                     if isinstance(recorder, Actor) else "organizer")
    actor = resolve_actor(s, actor_from(recorder, channel, h.village_id))
    conf = resolve_actor(s, confirmer) if confirmer is not None else None
    inp = make_inputs(context, channel=channel, now=now)
    c, item = store.find_item(s, item_code, on=local_date(inp.occurred_at),
                              village_name=h.village_name, catalog_code=catalog)
    return c, item, h, actor, conf, inp


def evaluate(db: Database, settings: Settings, *, item_code: str, holder, recorder,
             context: dict | None = None, catalog: str | None = None,
             confirmer: Actor | None = None, now: datetime | None = None) -> DecisionView:
    """Preview: what recording this would do, or why it would be refused. Writes nothing."""
    now = now or utcnow()
    with db.sessions() as s:
        c, item, h, actor, conf, inp = _prepare(
            s, item_code=item_code, holder=holder, recorder=recorder, context=context,
            catalog=catalog, confirmer=confirmer, now=now)
        dec = E.evaluate(c, item.code, h, actor, inp, _history(s, c, item, h, inp, now,
                                                                 locked=False), confirmer=conf)
        return msgspec.convert(dec.explain(c.scale), DecisionView)


def _request(item_code, holder, recorder, context, catalog, confirmer) -> dict:
    rec = recorder.user_id if isinstance(recorder, Actor) else recorder
    ctx = dict(context) if isinstance(context, dict) else {}
    if isinstance(context, Inputs):
        ctx = {**context.as_dict(), "note": context.evidence.note,
               "photos": list(context.evidence.photos)}
    return {"op": "rule_award", "item": item_code, "catalog": catalog,
            "holder": list(holder_arg(holder)), "recorder": rec,
            "confirmer": confirmer.user_id if confirmer else None, "context": ctx}


def record_award(db: Database, settings: Settings, *, item_code: str, holder, recorder,
                 context: dict | None = None, key: str | None = None,
                 catalog: str | None = None, confirmer: Actor | None = None,
                 now: datetime | None = None,
                 then: Callable[[Session, AwardView], None] | None = None) -> AwardView:
    """Record one deed under one item; the answer is the award record's view. `holder` is ("person"|"household"|"team", id);
    `recorder` an Actor (or a trusted caller's user id, see holders.actor_from); `context`
    the inputs (occurred_at, minutes, points, level, quantity, activity_id, note, photos…).
    Refusals raise RuleRefused with the engine's reason as `code`.

    `then(session, result)`: the caller's own bookkeeping, run in the award's transaction (or,
    when the key replays an earlier award, in a transaction of its own), so that a caller
    recording the outcome needs no third commit."""
    answer: list[AwardView] = []  # the answer of the attempt that committed

    def work(s: Session) -> dict:
        result = decide(s)  # what the idempotency record keeps (JSON)
        answer[:] = [typed(result, AwardView)]
        if then is not None:
            then(s, answer[0])
        return result

    def decide(s: Session) -> dict:
        at = now or utcnow()
        got = direct.prepare(s, item_code=item_code, holder=holder, recorder=recorder,
                             context=context, catalog=catalog, confirmer=confirmer, now=at,
                             read_budget=read_budget)
        if got is None:  # a team (its village may come from the context): the general path
            c, item, h, actor, conf, inp = _prepare(
                s, item_code=item_code, holder=holder, recorder=recorder, context=context,
                catalog=catalog, confirmer=confirmer, now=at)
        else:
            c, item, h, actor, conf, inp = (got.catalog, got.item, got.holder, got.actor,
                                            got.confirmer, got.inputs)
        # Records that wait for a claim's or a reviewer's approval are checked now and
        # committed (under lock) later; the others lock their counters right away.
        waits = E.waits_for_approval(item, inp)
        if waits or got is None or item.sanction:
            hist = _history(s, c, item, h, inp, at, locked=not waits)
        else:
            usage = direct.lock_counters(s, got.counter_keys if got.counter_keys is not None
                                         else E.counter_keys(c, item.code, h, inp))
            # The budget, when not read, is checked by the posting's shard guard (below).
            hist = E.History(now=at, usage=usage, budget_available=got.budget_available
                             if item.sign > 0 and (not c.coins or c.coin_of(item) is None)
                             else None)  # a coin draws no budget
        dec = E.evaluate(c, item.code, h, actor, inp, hist, confirmer=conf)
        if got is not None and dec.ok and not waits and dec.notice_days == 0 \
                and not item.sanction and not _books_minutes(dec, context) \
                and any(cr.steps for cr in dec.credits) and not c.coins:
            return _post_direct(s, settings, c, item, h, actor, conf, inp, context, dec, at,
                                got.award_id)
        return finish(s, settings, c, item, h, actor, conf, inp, context, dec, at)

    request = _request(item_code, holder, recorder, context, catalog, confirmer)
    read_budget = False
    try:
        done = book.write(db, work, key=key, request=request)
    except InsufficientFunds as exc:
        if exc.code != "budget_exhausted":
            raise
        # The posting's shard guard found the whole budget short (the award did not read it:
        # direct._HOLDER). Decide again with it read: the engine refuses with its explanation
        # (or, if the budget was topped up meanwhile, the award is posted).
        read_budget = True
        done = book.write(db, work, key=key, request=request)
    if not done.replayed:
        return answer[0]
    view = typed(done.result, AwardView)
    if then is not None:
        with db.transaction() as s:
            then(s, view)
    return view


def finish(s: Session, settings: Settings, c: S.Catalog, item: S.Item, h: Holder, actor: Actor,
           conf: Actor | None, inp: Inputs, context, dec: E.Decision, at: datetime) -> dict:
    """Record a decision through the ORM: posted (or on notice), or waiting for a
    confirmation, a claim's verification or a review."""
    if not dec.ok and dec.reason != "needs_second_confirmation":
        raise refused(dec, c.scale)
    award = new_record(c, item, h, actor, conf, inp, context, at)
    award.decision = dec.explain(c.scale)
    if not dec.ok:
        award.status = AwardStatus.AWAITING_CONFIRMATION
    elif E.waits_for_approval(item, inp):
        award.status = AwardStatus.CLAIMED if inp.channel == "claim" \
            else AwardStatus.PENDING_REVIEW
    else:
        _apply(s, settings, award, c, dec, at)
        return award_view(award)
    s.add(award)
    s.flush()
    return award_view(award)


def _books_minutes(dec: E.Decision, context) -> bool:
    """Whether posting the decision books service minutes (`post_award`)."""
    return not _from_attendance(context) and any(cr.minutes > 0 for cr in dec.credits)


def _from_attendance(context) -> bool:
    return bool(context_refs(context).get("attendance_id"))


def _post_direct(s: Session, settings: Settings, c: S.Catalog, item: S.Item, h: Holder,
                 actor: Actor, conf: Actor | None, inp: Inputs, context, dec: E.Decision,
                 at: datetime, award_id: int) -> dict:
    """`finish` + `_apply` + `post_award` for an award posted at once, on prepared statements:
    the same record, counters, entry and explanation, without the ORM's unit of work."""
    award = RecordColumns(**record_columns(c, item, h, actor, conf, inp, context, at))
    award.id = award_id
    award.decision = dec.explain(c.scale)
    shares = [(cr, [(k, d) for d in (cr.delta(),) for k in cr.keys]) for cr in dec.credits]
    deltas = [kd for _, kds in shares for kd in kds]
    award.credits = [{"holder_type": cr.holder.type, "holder_id": cr.holder.id,
                      "steps": cr.steps, "minutes": cr.minutes, "held": cr.held,
                      "counters": counters.encode(kds)} for cr, kds in shares]
    award.amount_steps, award.minutes = dec.steps, dec.credits[0].minutes
    award.status, award.posted_at = AwardStatus.POSTED, at
    credits = [cr for cr in award.credits if cr["steps"] != 0]
    lines = wallets.credit_lines(s, award.village_id, credits,  # held once, counted (as post_award)
                                 shards=settings.budget_shards)
    total = wallets.held_total(credits)
    if total:
        lines.append(Line(budget_shards(s, award.village_id, settings.budget_shards), -total,
                          hot=True))
    entry = dict(unit=Unit.POINTS, kind="award" if total > 0 else "deduct",
                 memo=award.item_name[:500], source="rule", source_ref=str(award.id),
                 actor_id=award.recorder_id, details=entry_details(award), now=at)
    cols = dict(award.__dict__)
    del cols["entry_id"], cols["entry_ids"]
    answer = award_view(award)
    entry_id = direct.post(s, lines, entry, cols, deltas, answer)
    award.entry_id, award.entry_ids = entry_id, [entry_id]
    return {**answer, "entry_id": entry_id, "entry_ids": [entry_id]}


class RecordColumns:
    """An award record's columns as plain attributes (what `entry_details` and `award_view`
    read), for the award path that writes the row itself."""

    def __init__(self, **cols) -> None:
        self.__dict__.update(cols)


def record_columns(c: S.Catalog, item: S.Item, h: Holder, actor: Actor, conf: Actor | None,
                   inp: Inputs, context, at: datetime) -> dict:
    """The columns of a new award record (see AwardRecord)."""
    return dict(
        id=None, catalog_code=c.code, catalog_version=c.version, item_code=item.code,
        item_version=item.version, item_name=item.name, village_id=h.village_id,
        holder_type=h.type, holder_id=h.id, sign=item.sign, amount_steps=0, minutes=0,
        status="new", channel=inp.channel, recorder_id=actor.user_id,
        confirmer_id=conf.user_id if conf else None, verifier_id=None, approver_id=None,
        reviewer_id=None,
        actors={"recorder": actor_dict(actor), "confirmer": actor_dict(conf),
                "holder_tags": sorted(h.tags)},
        occurred_at=inp.occurred_at, created_at=at, updated_at=at, notice_until=None,
        posted_at=None, inputs={**inp.as_dict(), "refs": context_refs(context)},
        evidence={"note": inp.evidence.note, "photos": list(inp.evidence.photos)},
        decision={}, credits=[], entry_ids=[], entry_id=None, minutes_entry_id=None, note="")


def new_record(c: S.Catalog, item: S.Item, h: Holder, actor: Actor, conf: Actor | None,
               inp: Inputs, context, at: datetime) -> AwardRecord:
    cols = record_columns(c, item, h, actor, conf, inp, context, at)
    cols.pop("id")
    return AwardRecord(**cols)


def record_inputs(award: AwardRecord) -> Inputs:
    i = award.inputs
    return Inputs(occurred_at=datetime.fromisoformat(i["occurred_at"]), channel=i["channel"],
                  points=i.get("points"), level=i.get("level"), minutes=i.get("minutes"),
                  quantity=i.get("quantity", 1), activity_ref=i.get("activity_ref"),
                  reason=i.get("reason", ""),
                  evidence=Evidence(award.evidence.get("note", ""),
                                    tuple(award.evidence.get("photos", ()))))


def record_context(s: Session, award: AwardRecord):
    c = store.catalog(s, award.catalog_code, version=award.catalog_version)
    h = resolve_holder(s, award.holder_type, award.holder_id,
                       tags=award.actors.get("holder_tags", ()), village_id=award.village_id)
    return c, c.items[award.item_code], h


def commit(s: Session, settings: Settings, award: AwardRecord, now: datetime) -> None:
    """Evaluate again under the counters' locks (the decision that counts), then apply."""
    c, item, h = record_context(s, award)
    inp = record_inputs(award)
    dec = E.evaluate(c, item.code, h, actor_load(award.actors["recorder"]), inp,
                     _history(s, c, item, h, inp, award.created_at, locked=True),
                     confirmer=actor_load(award.actors.get("confirmer")))
    if not dec.ok:
        raise refused(dec, c.scale)
    _apply(s, settings, award, c, dec, now)


def _apply(s: Session, settings: Settings, award: AwardRecord, c: S.Catalog,
           dec: E.Decision, now: datetime) -> None:
    """Consume the caps of a decision taken under lock, then post, or put the award on
    public notice with its budget set aside."""
    counters.apply(s, [(k, cr.delta()) for cr in dec.credits for k in cr.keys])
    award.decision = dec.explain(c.scale)
    award.credits = [{"holder_type": cr.holder.type, "holder_id": cr.holder.id,
                      "steps": cr.steps, "minutes": cr.minutes, "held": cr.held,
                      "counters": counters.encode((k, cr.delta()) for k in cr.keys)}
                     for cr in dec.credits]
    award.amount_steps, award.minutes = dec.steps, dec.credits[0].minutes
    award.updated_at = now
    if dec.notice_days > 0:
        award.status = AwardStatus.ON_NOTICE
        award.notice_until = now + timedelta(days=dec.notice_days)
    if award.id is None:
        s.add(award)
        s.flush()  # the id names the entries
    if dec.notice_days > 0:
        total = dec.held_award_steps
        if total:  # the budget is set aside in the village's transit account meanwhile
            e = post_entry(s, unit=Unit.POINTS, kind="award_on_notice", lines=[
                Line(budget_shards(s, award.village_id, settings.budget_shards), -total,
                     hot=True), Line.of(_transit(s, award.village_id), total, hot=True)],
                memo=f"公示中：{award.item_name}"[:500], source="rule", source_ref=str(award.id),
                actor_id=award.recorder_id, details=entry_details(award), now=now)
            award.entry_ids = [e.id]
    else:
        post_award(s, settings.budget_shards, award, now, catalog=c)


def _transit(s: Session, village_id: int) -> int:
    return open_account(s, holder_type=HolderType.VILLAGE, holder_id=village_id,
                        purpose=Purpose.TRANSIT)


def entry_details(award: AwardRecord) -> dict:
    d = award.decision
    return {"award_id": award.id, "catalog": award.catalog_code,
            "catalog_version": award.catalog_version, "item": award.item_code,
            "item_version": award.item_version, "item_name": award.item_name,
            "channel": award.channel, "inputs": award.inputs, "evidence": award.evidence,
            "multiplier": d.get("multiplier"), "base_points": d.get("base_points"),
            "credits": d.get("credits"), "recorder": award.recorder_id,
            "confirmer": award.confirmer_id, "verifier": award.verifier_id,
            "approver": award.approver_id, "reviewer": award.reviewer_id}


def village_shards(s: Session, village_id: int) -> int:
    """How many budget shards the village has (for sweeps that run without settings)."""
    n = s.scalar(select(func.count()).select_from(Account).where(
        Account.holder_type == HolderType.VILLAGE, Account.holder_id == village_id,
        Account.purpose == Purpose.BUDGET, Account.unit == Unit.POINTS))
    return max(int(n or 0), 1)


def post_award(s: Session, shards: int, award: AwardRecord, now: datetime,
               catalog: S.Catalog | None = None) -> None:
    """Post the award's points (and service minutes) to the holders' accounts; an item of a
    coin's category posts that coin instead of points. `catalog`: the award's, when at hand."""
    entries = list(award.entry_ids or [])
    details = entry_details(award)
    memo = award.item_name[:500]
    credits = [cr for cr in award.credits if cr["steps"] != 0]
    coin = _coin_of(s, award, catalog)
    if credits and coin is not None:  # an earning coin, not points (rules/coins.py)
        total = sum(cr["steps"] for cr in credits)
        e = post_entry(s, unit=coins.unit_of(coin), kind="award" if total > 0 else "deduct",
                       lines=coins.award_lines(s, coin, award.village_id, credits), memo=memo,
                       source="rule", source_ref=str(award.id), actor_id=award.recorder_id,
                       details=details, now=now)
        entries.append(e.id)
        award.entry_id = e.id
        credits = []
    holder_lines = wallets.credit_lines(s, award.village_id, credits,  # held once, counted
                                        shards=shards)
    total = wallets.held_total(credits)
    if credits:
        if total > 0 and entries:  # funded from transit when it went on notice
            other = Line.of(_transit(s, award.village_id), -total, hot=True)
        else:
            other = Line(budget_shards(s, award.village_id, shards), -total, hot=True)
        zeroing = award.decision.get("sanction") and award.decision["sanction"]["zero_balance"]
        kind = "award" if total > 0 else ("sanction" if zeroing else "deduct")
        lines = [*holder_lines, other] if total else holder_lines
        e = post_entry(s, unit=Unit.POINTS, kind=kind, lines=lines, memo=memo,
                       source="rule", source_ref=str(award.id), actor_id=award.recorder_id,
                       details=details, now=now)
        entries.append(e.id)
        award.entry_id = e.id
    # An attendance books its own certified minutes (ledger.activities); an award made for
    # one must not book them a second time.
    from_attendance = _from_attendance((award.inputs or {}).get("refs"))
    minutes = [] if from_attendance else [cr for cr in award.credits if cr["minutes"] > 0]
    if minutes:
        e = minutes_book.credit(
            s, town_id=store.catalog_town(s, award.catalog_code), shards=shards,
            holders=[(cr["holder_type"], cr["holder_id"], cr["minutes"]) for cr in minutes],
            kind="award", memo=memo, source="rule", source_ref=str(award.id),
            actor_id=award.recorder_id, details=details, now=now)
        entries.append(e.id)
        award.minutes_entry_id = e.id
    bar = (award.decision.get("sanction") or {}).get("bar_redemption_days")
    if bar:
        s.add(Sanction(holder_type=award.holder_type, holder_id=award.holder_id,
                       award_id=award.id, starts_at=now, ends_at=now + timedelta(days=bar)))
    award.entry_ids = entries
    award.status, award.posted_at, award.updated_at = AwardStatus.POSTED, now, now


def _coin_of(s: Session, award: AwardRecord, c: S.Catalog | None) -> S.Coin | None:
    """The coin the award's item earns, if its catalog has coins (the catalog is cached)."""
    if c is None or c.version != award.catalog_version or c.code != award.catalog_code:
        c = store.catalog(s, award.catalog_code, version=award.catalog_version)
    return c.coin_of(c.items[award.item_code]) if c.coins else None


def release(s: Session, award: AwardRecord) -> None:
    """Give back what the award consumed of its caps (rejected on notice, appeal upheld)."""
    deltas = [d for cr in award.credits for d in counters.decode(cr.get("counters", []))]
    counters.lock(s, [k for k, _ in deltas])
    counters.apply(s, deltas, sign=-1)


def revoke(s: Session, award: AwardRecord, *, actor_id: int | None, memo: str, source: str,
           source_ref: str, now: datetime) -> list[int]:
    """Reverse every entry the award posted, give back its caps, lift its sanctions."""
    release(s, award)
    done = []
    for entry_id in reversed(award.entry_ids or []):  # newest first: transit empties last
        e = reverse_entry(s, int(entry_id), memo=memo[:500], actor_id=actor_id, source=source,
                          source_ref=source_ref, now=now,
                          details={"reverses": int(entry_id), "award_id": award.id,
                                   source: source_ref,
                                   "period_at": award.occurred_at.isoformat()})
        done.append(e.id)
    for sanction in s.scalars(select(Sanction).where(Sanction.award_id == award.id,
                                                     Sanction.lifted_at.is_(None))):
        sanction.lifted_at = now
    award.status, award.updated_at = AwardStatus.REVERSED, now
    return done


def revoke_entry(s: Session, entry_id: int, *, actor_id: int | None, reason: str,
                 source: str, source_ref: str, now: datetime | None = None) -> list[int]:
    """Undo, inside the caller's transaction, the award that posted `entry_id` (a check-in
    rejected after its points were paid): all its entries reversed, its caps given back.
    Returns the reversing entries' ids."""
    award = s.scalar(select(AwardRecord).where(AwardRecord.entry_id == entry_id)
                     .with_for_update())
    if award is None:
        raise NotFound(f"no award posted entry {entry_id}", code="award_not_found")
    if award.status != AwardStatus.POSTED:
        raise Conflict(f"award {award.id} is {award.status}", code="award_status_conflict")
    return revoke(s, award, actor_id=actor_id, memo=reason, source=source,
                  source_ref=source_ref, now=now or utcnow())


def award_view(a: AwardRecord) -> dict:
    scale = (a.decision or {}).get("scale", 1)
    return {"award_id": a.id, "status": str(a.status), "catalog": a.catalog_code,
            "catalog_version": a.catalog_version, "item": a.item_code,
            "item_version": a.item_version, "item_name": a.item_name,
            "holder_type": a.holder_type, "holder_id": a.holder_id, "village_id": a.village_id,
            "points": S.points_of(a.amount_steps, scale), "steps": a.amount_steps,
            "minutes": a.minutes, "channel": a.channel, "recorder_id": a.recorder_id,
            "occurred_at": a.occurred_at.isoformat(),
            "notice_until": a.notice_until.isoformat() if a.notice_until else None,
            "entry_id": a.entry_id, "minutes_entry_id": a.minutes_entry_id,
            "entry_ids": a.entry_ids,
            "decision": a.decision}
