"""Standing with consequences that act: named states a holder is in, each with what it stops
(`redeem`, `draws`, `honors`, `stars`, `checkin`), why, and until when.

States come from the catalogs covering the holder's village (`catalog.standing`):
- `below: N` — while the points *available* (balance less open holds) are below N; lifted as
  soon as they are back (benefits suspended below 70, registration cancelled below 0);
- `deducted_over: N, for_days: D` — for D days from the deduction that took the points deducted
  in one year (the deeds' year) past N;
- a sanction item with `ban_days: D` — for D days from its posting (a ban for faked hours);
- a ban set by an admin (`impose`) for a period, with a reason; `lift` ends it early.
An appeal upheld (the award reversed) ends what that award caused, because states are computed
from what stands now. Every change — entered or left — is written to `standing_change` with who
(the recorder of the award, the admin, or None for the rules), why and when, by `refresh`, which
every enforcement point calls before it decides (`refusal`) and the holder's page calls to show.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, literal, select, union_all
from sqlalchemy.orm import Session

from ledger.errors import DomainError, Forbidden, InvalidInput, NotFound
from ledger.journal.models import Account, Purpose, Unit
from ledger.rules import spec as S
from ledger.rules import store
from ledger.rules.holders import holder_available, resolve_holder
from ledger.rules.models import AwardRecord, AwardStatus, StandingChange
from ledger.rules.periods import local_date
from ledger.timeutil import utcnow

MAX_LOOKBACK_DAYS = 3 * 366 + 366  # a bar of up to three years from a deduction last year
MAX_BAN_DAYS = 3 * 366
MAX_HISTORY = 200
SUSPECT_BATCH = 5_000
BAN = "banned"
BAN_NAME = "禁止参与"
EFFECT_CODES = {  # each place that enforces standing refuses with its own code
    "redeem": "standing_bars_redemption",
    "draws": "standing_bars_draws",
    "honors": "standing_bars_honors",
    "stars": "standing_bars_stars",
    "checkin": "standing_bars_checkin",
}
EFFECT_TEXT = {"redeem": "兑换", "draws": "抽奖", "honors": "评优上榜", "stars": "星级评定",
               "checkin": "活动签到"}


@dataclass(frozen=True)
class State:
    code: str
    name: str
    effects: tuple[str, ...]
    reason: str
    cause: str
    since: datetime | None = None
    until: datetime | None = None  # None: until the condition ends (a balance back above)
    actor_id: int | None = None

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "effects": list(self.effects),
                "reason": self.reason, "cause": self.cause,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None}


@dataclass
class Standing:
    holder_type: str
    holder_id: int
    states: list[State] = field(default_factory=list)

    def stopping(self, effect: str) -> State | None:
        return next((st for st in self.states if effect in st.effects), None)

    def as_dict(self) -> dict:
        return {"holder_type": self.holder_type, "holder_id": self.holder_id,
                "states": [st.as_dict() for st in self.states],
                "stops": sorted({e for st in self.states for e in st.effects})}


# Built once (a door plate's first visit reads both): statements with their parameters bound
# at each call cost a fraction of building them again.
_AWARDS = (select(AwardRecord).where(
    AwardRecord.holder_type == bindparam("htype"), AwardRecord.holder_id == bindparam("hid"),
    AwardRecord.status == AwardStatus.POSTED, AwardRecord.posted_at >= bindparam("since"),
    (AwardRecord.amount_steps <= 0) | (AwardRecord.sign < 0))
    .order_by(AwardRecord.posted_at, AwardRecord.id))
_HISTORY = (select(StandingChange).where(StandingChange.holder_type == bindparam("htype"),
                                         StandingChange.holder_id == bindparam("hid"))
            .order_by(StandingChange.id))


def _awards(s: Session, holder_type: str, holder_id: int, now: datetime) -> list[AwardRecord]:
    return list(s.scalars(_AWARDS, {"htype": holder_type, "hid": holder_id,
                                    "since": now - timedelta(days=MAX_LOOKBACK_DAYS)}))


def _deduction_bars(c: S.Catalog, st: S.StandingState, awards: list[AwardRecord],
                    now: datetime) -> State | None:
    by_year: dict[int, list[AwardRecord]] = defaultdict(list)
    for a in awards:
        if a.amount_steps < 0:
            by_year[local_date(a.occurred_at).year].append(a)
    found = None
    for year, rows in sorted(by_year.items()):
        total = 0
        for a in rows:  # posting order: the deduction that took the year past the limit
            total += -a.amount_steps
            if total > st.deducted_over_steps:
                until = a.posted_at + timedelta(days=st.for_days)
                if a.posted_at <= now < until:
                    found = State(st.code, st.name, st.effects,
                                  f"{year}年扣分 {c.points(total)} 分，超过 "
                                  f"{c.points(st.deducted_over_steps)} 分", f"award:{a.id}",
                                  a.posted_at, until, a.recorder_id)
                break
    return found


def compute(s: Session, holder_type: str, holder_id: int, now: datetime | None = None,
            history: list[StandingChange] | None = None) -> Standing:
    """The states the holder is in now, from the catalogs, its available points, its posted
    deductions and sanctions, and the bans admins imposed. Writes nothing. `history`: the
    holder's recorded changes (`_history`), when the caller has read them."""
    now = now or utcnow()
    out = Standing(holder_type, holder_id)
    if holder_type not in ("person", "household", "team"):
        return out
    h = resolve_holder(s, holder_type, holder_id)
    cats = [c for c in store.catalogs_for(s, h.village_name, now)]
    awards = _awards(s, holder_type, holder_id, now)
    available = None
    for c in cats:
        for st in c.standing:
            if st.below_steps is not None:
                if available is None:
                    available = holder_available(s, h)
                if available < st.below_steps:
                    out.states.append(State(st.code, st.name, st.effects,
                                            f"可用积分 {c.points(available)} 分，低于 "
                                            f"{c.points(st.below_steps)} 分", "balance"))
            elif (bar := _deduction_bars(c, st, awards, now)) is not None:
                out.states.append(bar)
    for a in awards:
        days = ((a.decision or {}).get("sanction") or {}).get("ban_days")
        if days and a.posted_at <= now < a.posted_at + timedelta(days=days):
            out.states.append(State(BAN, BAN_NAME, S.STANDING_EFFECTS,
                                    f"处罚：{a.item_name}", f"award:{a.id}", a.posted_at,
                                    a.posted_at + timedelta(days=days), a.recorder_id))
    out.states += _imposed(s, holder_type, holder_id, now, history)
    return out


def _history(s: Session, holder_type: str, holder_id: int) -> list[StandingChange]:
    """The holder's recorded standing changes, oldest first."""
    return list(s.scalars(_HISTORY, {"htype": holder_type, "hid": holder_id}))


def _imposed(s: Session, holder_type: str, holder_id: int, now: datetime,
             history: list[StandingChange] | None = None) -> list[State]:
    """Bans set by an admin and not lifted, in force now (from `history` when given)."""
    open_: dict[str, StandingChange] = {}
    if history is None:
        history = _history(s, holder_type, holder_id)
    for ch in (ch for ch in history if ch.cause.startswith("admin:")):
        if ch.change == "entered":
            open_[ch.cause] = ch
        else:
            open_.pop(ch.cause, None)
    return [State(ch.state, BAN_NAME, tuple(ch.effects), ch.reason, ch.cause, ch.at, ch.until,
                  ch.actor_id)
            for ch in open_.values() if ch.at <= now and (ch.until is None or now < ch.until)]


def recorded(s: Session, holder_type: str, holder_id: int,
             history: list[StandingChange] | None = None
             ) -> dict[tuple[str, str], StandingChange]:
    """The states the history says the holder is in: (state, cause) → the change entering it
    (from `history` when given)."""
    open_: dict[tuple[str, str], StandingChange] = {}
    for ch in history if history is not None else _history(s, holder_type, holder_id):
        if ch.change == "entered":
            open_[(ch.state, ch.cause)] = ch
        else:
            open_.pop((ch.state, ch.cause), None)
    return open_


def refresh(s: Session, holder_type: str, holder_id: int, now: datetime | None = None
            ) -> Standing:
    """Compute the standing and record every change since the last record (inside the
    caller's transaction): states entered, and states left (lifted, expired, appeal upheld)."""
    now = now or utcnow()
    history = _history(s, holder_type, holder_id)  # read once for both
    st = compute(s, holder_type, holder_id, now, history)
    before = recorded(s, holder_type, holder_id, history)
    current = {(x.code, x.cause): x for x in st.states}
    for key, x in current.items():
        if key not in before:
            s.add(StandingChange(holder_type=holder_type, holder_id=holder_id, state=x.code,
                                 change="entered", reason=x.reason[:500], cause=x.cause,
                                 effects=list(x.effects), actor_id=x.actor_id,
                                 at=x.since or now, until=x.until))
    for key, ch in before.items():
        if key not in current:
            ended = ch.until if ch.until is not None and ch.until <= now else now
            s.add(StandingChange(holder_type=holder_type, holder_id=holder_id, state=ch.state,
                                 change="left", reason="条件已解除 (condition ended)",
                                 cause=ch.cause, effects=ch.effects, actor_id=None,
                                 at=ended, until=None))
    s.flush()
    return st


def refreshed(s: Session, holder_type: str, holder_id: int, now: datetime | None = None
              ) -> Standing:
    """`refresh`, for a holder that may be in a state (`suspects`, one statement); anyone
    else is in no state and has none recorded, so `refresh` would find and write nothing:
    their standing is empty without reading the rest."""
    now = now or utcnow()
    if holder_id not in suspects(s, holder_type, [holder_id], now):
        return Standing(holder_type, holder_id)
    return refresh(s, holder_type, holder_id, now)


def refusal(s: Session, holder_type: str, holder_id: int, effect: str,
            now: datetime | None = None) -> DomainError | None:
    """The refusal for one enforcement point (`redeem`, `draws`, `honors`, `stars`,
    `checkin`), with the state, its reason and when it ends; None when nothing stops it."""
    if effect not in EFFECT_CODES:
        raise AssertionError(f"unknown standing effect {effect!r}")
    x = refreshed(s, holder_type, holder_id, now).stopping(effect)
    if x is None:
        return None
    until = x.until.isoformat() if x.until else None
    when = f"，至 {local_date(x.until).isoformat()}" if x.until else "，恢复后解除"
    return Forbidden(f"{x.name}（{x.reason}）：暂停{EFFECT_TEXT[effect]}{when} "
                     f"(standing {x.code} stops {effect})", code=EFFECT_CODES[effect],
                     state=x.code, reason=x.reason, until=until)


def stopped(s: Session, holder_type: str, ids: list[int], effect: str,
            now: datetime | None = None) -> set[int]:
    """Which of these holders a state stops from `effect` (draw populations, honor lists).
    Only the suspects are computed one by one, so a population of 500,000 costs a few
    queries."""
    now = now or utcnow()
    if effect not in EFFECT_CODES:
        raise AssertionError(f"unknown standing effect {effect!r}")
    return {i for i in sorted(suspects(s, holder_type, ids, now, effect))
            if refresh(s, holder_type, i, now).stopping(effect) is not None}


def _suspects_sql(with_below: bool):
    """Built once (`bindparam`s: holder type, ids, the look-back's start, the threshold)."""
    ids = bindparam("ids", expanding=True)
    htype = bindparam("htype")
    parts = [select(literal(1), AwardRecord.holder_id).where(
        AwardRecord.holder_type == htype, AwardRecord.holder_id.in_(ids),
        AwardRecord.status == AwardStatus.POSTED, AwardRecord.posted_at >= bindparam("since"),
        (AwardRecord.amount_steps <= 0) | (AwardRecord.sign < 0)),
        select(literal(1), StandingChange.holder_id).where(
        StandingChange.holder_type == htype, StandingChange.holder_id.in_(ids))]
    if with_below:  # those with enough points available; the rest of the batch is suspect
        parts.append(select(literal(0), Account.holder_id).where(
            Account.unit == Unit.POINTS, Account.holder_type == htype,
            Account.purpose == Purpose.POINTS, Account.holder_id.in_(ids),
            Account.balance - Account.pending_out >= bindparam("top")))
    return union_all(*parts)


_SUSPECTS = {False: _suspects_sql(False), True: _suspects_sql(True)}


def suspects(s: Session, holder_type: str, ids: list[int], now: datetime,
             effect: str | None = None) -> set[int]:
    """The holders among `ids` that may be in a state (one that stops `effect`; any state when
    None): points available below a `below` threshold of some catalog (or no points account),
    a posted deduction or sanction in the look-back, or any standing history (an admin's ban, a
    state recorded). Anyone else is in no such state, and with no history `refresh` has nothing
    to record for them either: `compute` reads exactly these three sources. One statement per
    batch of SUSPECT_BATCH."""
    if holder_type not in ("person", "household", "team") or not ids:
        return set()
    below = [st.below_steps for c in store.catalogs_in_force(s, local_date(now))
             for st in c.standing
             if st.below_steps is not None and (effect is None or effect in st.effects)]
    found: set[int] = set()
    for i in range(0, len(ids), SUSPECT_BATCH):
        chunk = ids[i:i + SUSPECT_BATCH]
        rows = s.execute(_SUSPECTS[bool(below)], {
            "htype": holder_type, "ids": chunk, "top": max(below, default=0),
            "since": now - timedelta(days=MAX_LOOKBACK_DAYS)}).all()
        found |= {h for tag, h in rows if tag}
        if below:
            found |= set(chunk) - {h for tag, h in rows if not tag}
    return found


def impose(s: Session, holder_type: str, holder_id: int, *, actor_id: int, reason: str,
           days: int, effects: tuple[str, ...] = S.STANDING_EFFECTS,
           now: datetime | None = None) -> StandingChange:
    """An admin's ban for a period (faked hours: 1–3 years), with the reason."""
    now = now or utcnow()
    if not 1 <= days <= MAX_BAN_DAYS:
        raise InvalidInput(f"a ban lasts 1..{MAX_BAN_DAYS} days", code="ban_days_out_of_range")
    if not reason.strip() or len(reason) > 500:
        raise InvalidInput("a ban needs a reason of at most 500 characters",
                           code="reason_required")
    if not effects or set(effects) - set(S.STANDING_EFFECTS):
        raise InvalidInput(f"effects: some of {', '.join(S.STANDING_EFFECTS)}",
                           code="effects_invalid")
    ch = StandingChange(holder_type=holder_type, holder_id=holder_id, state=BAN,
                        change="entered", reason=reason.strip(), cause="", effects=list(effects),
                        actor_id=actor_id, at=now, until=now + timedelta(days=days))
    s.add(ch)
    s.flush()
    ch.cause = f"admin:{ch.id}"
    return ch


def lift(s: Session, change_id: int, *, actor_id: int, reason: str,
         now: datetime | None = None) -> StandingChange:
    """End an admin's ban early, with who and why."""
    now = now or utcnow()
    ch = s.get(StandingChange, change_id)
    if ch is None or ch.change != "entered" or not ch.cause.startswith("admin:"):
        raise NotFound(f"no ban {change_id}", code="ban_not_found")
    out = StandingChange(holder_type=ch.holder_type, holder_id=ch.holder_id, state=ch.state,
                         change="left", reason=reason.strip()[:500] or "解除", cause=ch.cause,
                         effects=ch.effects, actor_id=actor_id, at=now)
    s.add(out)
    s.flush()
    return out


def history(s: Session, holder_type: str, holder_id: int) -> list[dict]:
    rows = s.scalars(select(StandingChange).where(
        StandingChange.holder_type == holder_type, StandingChange.holder_id == holder_id)
        .order_by(StandingChange.id.desc()).limit(MAX_HISTORY))
    return [{"state": r.state, "change": r.change, "reason": r.reason, "cause": r.cause,
             "effects": list(r.effects or ()), "actor_id": r.actor_id, "at": r.at.isoformat(),
             "until": r.until.isoformat() if r.until else None} for r in rows]


def summary(s: Session, holder_type: str, holder_id: int, now: datetime | None = None) -> dict:
    """For the holder's page and the API: states, reasons, until when, and the history."""
    st = refresh(s, holder_type, holder_id, now)
    return {**st.as_dict(), "history": history(s, holder_type, holder_id)}


__all__ = ["EFFECT_CODES", "State", "Standing", "compute", "history", "impose", "lift",
           "refresh", "refreshed", "refusal", "stopped", "summary", "suspects"]
