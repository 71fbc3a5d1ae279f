"""Period end: points that expire after N years, or are zeroed at year end (清零), and the
opening grants of deduct-from-a-full-score schemes.

Which points expire is decided first-in, first-out from the journal alone: every credit to a
holder's points is a lot (earned at its time, expiring by its catalog's policy); every debit
(spending, deductions, reversals) uses up the oldest lots first, and a debit with no lot left
is a debt that the next credit pays first. At each expiry instant the lots due are what
remains of them, so points spent were the oldest, and no point that is still valid is ever
expired with them. `fifo` is a pure function; `expire_due` posts what it finds to the town's
expired account, one idempotent entry per account and instant."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError
from ledger.journal import book
from ledger.journal.accounts import open_account, remember_points_accounts
from ledger.journal.models import Account, HolderType, JournalEntry, Posting, Purpose, Unit
from ledger.journal.posting import Line, post_entry
from ledger.rules import spec as S
from ledger.rules import store
from ledger.rules.periods import add_years, deed_time, local_date, local_midnight, period_key
from ledger.timeutil import utcnow

EXPIRY_BATCH = 500
HOLDER_TYPES = (HolderType.PERSON, HolderType.HOUSEHOLD, HolderType.TEAM)


@dataclass(frozen=True)
class Event:
    at: datetime
    amount: int  # + credit, − debit
    expires_at: datetime | None = None  # for credits: when this lot expires
    realizes: datetime | None = None  # for posted expiry entries: the instant they carried out


@dataclass
class FifoResult:
    due: dict[datetime, int]  # expiry instant → amount still to post (≤ now)
    upcoming: list[tuple[datetime, int]]  # later expiries of what remains, oldest first
    debt: int
    # instant → expired too much: a deed of the closed period (a finding on 公示 over New
    # Year) posted after its expiry used up lots that were expired in full; give it back
    restore: dict[datetime, int] = field(default_factory=dict)


def expiry_instant(policy: S.Expiry | None, earned_at: datetime) -> datetime | None:
    if policy is None:
        return None
    d = local_date(earned_at)
    if policy.year_end:
        return local_midnight(date(d.year + 1, 1, 1))
    return local_midnight(add_years(d, policy.after_years))


def fifo(events: list[Event], now: datetime) -> FifoResult:
    """Lots in, oldest-first use, expiry at each lot's instant. Pure."""
    lots: list[list] = []  # [expires_at, remaining], in earning order
    debt = 0
    expired: dict[datetime, int] = defaultdict(int)
    realized: dict[datetime, int] = defaultdict(int)

    def expire_until(t: datetime) -> None:
        for lot in lots:
            if lot[0] is not None and lot[0] <= t and lot[1] > 0:
                expired[lot[0]] += lot[1]
                lot[1] = 0
        lots[:] = [lot for lot in lots if lot[1] > 0]

    for ev in sorted(events, key=lambda e: e.at):
        expire_until(ev.at)
        if ev.realizes is not None:
            realized[ev.realizes] += -ev.amount
        elif ev.amount > 0:
            pay = min(debt, ev.amount)
            debt -= pay
            if ev.amount - pay:
                lots.append([ev.expires_at, ev.amount - pay])
        else:
            need = -ev.amount
            for lot in lots:
                use = min(lot[1], need)
                lot[1] -= use
                need -= use
                if not need:
                    break
            lots[:] = [lot for lot in lots if lot[1] > 0]
            debt += need
    expire_until(now)
    due = {t: n - realized.get(t, 0) for t, n in expired.items() if n - realized.get(t, 0) > 0}
    restore = {t: n - expired.get(t, 0) for t, n in realized.items()
               if t <= now and n - expired.get(t, 0) > 0}
    upcoming: dict[datetime, int] = defaultdict(int)
    for exp, n in lots:
        if exp is not None:
            upcoming[exp] += n
    return FifoResult(due, sorted(upcoming.items()), debt, restore)


class _Policies:
    """Expiry policy per catalog and date, and the default for a holder's village."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self.codes = store.catalog_codes(s)
        self.cache: dict = {}

    def of(self, code: str, on: date) -> S.Expiry | None:
        k = (code, on)
        if k not in self.cache:
            try:
                self.cache[k] = store.catalog(self.s, code, on=on).expiry
            except DomainError:
                self.cache[k] = None
        return self.cache[k]

    def any(self) -> bool:
        return any(store.catalog(self.s, c).expiry for c in self.codes)

    def default_code(self, village_name: str | None, on: date) -> str | None:
        """The village's own catalog with an expiry policy, else a town-wide one."""
        best = None
        for code in self.codes:
            c = store.catalog(self.s, code, on=on)
            if c.expiry and c.covers_village(village_name):
                if c.villages:
                    return code
                best = best or code
        return best


def account_events(s: Session, account_id: int, policies: _Policies,
                   village_name: str | None) -> list[Event]:
    rows = s.execute(select(Posting.amount, JournalEntry.created_at, JournalEntry.kind,
                            JournalEntry.details)
                     .join(JournalEntry, JournalEntry.id == Posting.entry_id)
                     .where(Posting.account_id == account_id).order_by(Posting.seq)).all()
    events = []
    for amount, posted_at, kind, details in rows:
        details = details or {}
        if kind == "expire" and details.get("expires_at"):  # an expiry, or its restoration
            events.append(Event(posted_at, amount, realizes=datetime.fromisoformat(
                details["expires_at"])))
            continue
        at = deed_time(details, posted_at)  # a deed belongs to its own period (guarantee 9)
        if amount > 0:
            d = local_date(at)
            code = details.get("catalog") or policies.default_code(village_name, d)
            policy = policies.of(code, d) if code else None
            events.append(Event(at, amount, expires_at=expiry_instant(policy, at)))
        else:
            events.append(Event(at, amount))
    return events


def _village_name(s: Session, holder_type: str, holder_id: int) -> str | None:
    from ledger.rules.holders import resolve_holder
    try:
        return resolve_holder(s, holder_type, holder_id).village_name
    except DomainError:
        return None


def _town(s: Session, holder_type: str, holder_id: int) -> int:
    """The town whose expired account receives the holder's expired points."""
    from ledger.registry.models import Village
    from ledger.rules.holders import resolve_holder
    try:
        return s.get(Village, resolve_holder(s, holder_type, holder_id).village_id).town_id
    except DomainError:
        return 1


def holder_fifo(s: Session, holder_type: str, holder_id: int, now: datetime) -> FifoResult:
    acct = s.scalar(select(Account.id).where(
        Account.unit == Unit.POINTS, Account.holder_type == holder_type,
        Account.holder_id == holder_id, Account.purpose == Purpose.POINTS, Account.shard == 0))
    if acct is None:
        return FifoResult({}, [], 0)
    return fifo(account_events(s, acct, _Policies(s), _village_name(s, holder_type, holder_id)),
                now)


def expire_due(db: Database, now: datetime | None = None) -> int:
    """Post every expiry that is due, to the town's expired account. Safe to rerun."""
    now = now or utcnow()
    posted, last = 0, 0
    with db.sessions() as s:
        if not _Policies(s).any():
            return 0
    while True:
        with db.sessions() as s:
            rows = s.execute(select(Account.id, Account.holder_type, Account.holder_id).where(
                Account.unit == Unit.POINTS, Account.purpose == Purpose.POINTS,
                Account.holder_type.in_([str(h) for h in HOLDER_TYPES]), Account.id > last)
                .order_by(Account.id).limit(EXPIRY_BATCH)).all()
            if not rows:
                return posted
            policies = _Policies(s)
            work = []
            for acct, h_type, h_id in rows:
                res = fifo(account_events(s, acct, policies, _village_name(s, h_type, h_id)), now)
                town = _town(s, h_type, h_id)
                work += [(acct, town, t, n) for t, n in sorted(res.due.items())]
                work += [(acct, town, t, -n) for t, n in sorted(res.restore.items())]
            last = rows[-1][0]
        for acct, town, t, n in work:
            posted += _post_expiry(db, acct, town, t, n, now)


def _post_expiry(db: Database, acct: int, town: int, t: datetime, amount: int,
                 now: datetime) -> int:
    if amount < 0:
        return _post_restore(db, acct, town, t, -amount, now)

    def work(s: Session) -> dict:
        a = s.get(Account, acct)
        take = min(amount, a.balance - a.pending_out)  # points held for a redemption stay
        if take <= 0:
            return {"posted": 0}
        expired = open_account(s, holder_type=HolderType.TOWN, holder_id=town,
                               purpose=Purpose.EXPIRED)
        e = post_entry(s, unit=Unit.POINTS, kind="expire", lines=[
            Line.of(acct, -take), Line.of(expired, take, hot=True)],
            memo=f"积分到期（{local_date(t).isoformat()} 起失效）",
            source="expiry", source_ref=str(acct),
            details={"expires_at": t.isoformat(), "due": amount, "expired": take}, now=now)
        return {"posted": 1, "entry_id": e.id}
    try:
        return book.write(db, work, key=f"expire:{acct}:{t.isoformat()}:{amount}",
                          request={"op": "expire", "account": acct, "at": t.isoformat(),
                                   "amount": amount}).result["posted"]
    except DomainError:
        return 0  # spent meanwhile; the next sweep looks again


def _post_restore(db: Database, acct: int, town: int, t: datetime, amount: int,
                  now: datetime) -> int:
    """Give back what an expiry took beyond what its period finally held (keyed: once)."""
    def work(s: Session) -> dict:
        expired = open_account(s, holder_type=HolderType.TOWN, holder_id=town,
                               purpose=Purpose.EXPIRED)
        e = post_entry(s, unit=Unit.POINTS, kind="expire", lines=[
            Line.of(expired, -amount, hot=True), Line.of(acct, amount)],
            memo=f"到期积分更正：所属期间后记的扣分（{local_date(t).isoformat()}）",
            source="expiry", source_ref=str(acct),
            details={"expires_at": t.isoformat(), "restored": amount}, now=now)
        return {"posted": 1, "entry_id": e.id}
    try:
        return book.write(db, work, key=f"unexpire:{acct}:{t.isoformat()}:{amount}",
                          request={"op": "unexpire", "account": acct, "at": t.isoformat(),
                                   "amount": amount}).result["posted"]
    except DomainError:
        return 0


def post_opening_grants(db: Database, settings: Settings, now: datetime | None = None) -> int:
    """Give every holder in a catalog's scope its opening grant for the current period
    (every household starts the year at 1000, …). One keyed entry per holder and period."""
    from ledger.registry.models import Household, Person, Team, Village
    now = now or utcnow()
    posted = 0
    posted += post_opening_balances(db, settings, now)
    with db.sessions() as s:
        plans = []
        for code in store.catalog_codes(s):
            c = store.catalog(s, code, on=local_date(now))
            if c.opening_grant is None or local_date(now) < c.effective_from:
                continue
            villages = {v.id: v.name for v in s.scalars(select(Village))
                        if c.covers_village(v.name)}
            models = {"household": Household, "person": Person, "team": Team}
            for subject in c.opening_grant.subjects:
                m = models[subject]
                rows = s.execute(select(m.id, m.village_id).where(
                    m.village_id.in_(list(villages)))).all()
                plans += [(c, subject, hid, vid) for hid, vid in rows]
                # Known accounts cost each grant no lookup (journal/accounts.py).
                remember_points_accounts(s, subject, [hid for hid, _ in rows])
    for c, subject, hid, vid in plans:
        g = c.opening_grant
        period = period_key(g.every, local_date(now))
        if g.negative == "reset":
            _reset_debt(db, settings, c, subject, hid, vid, period, now)
        details = {"catalog": c.code, "catalog_version": c.version, "opening_grant": period,
                   "points": c.points(g.points_steps)}
        r = book.write_award(
            db, key=f"grant:{c.code}:{period}:{subject}:{hid}",
            request={"op": "grant", **details, "holder": [subject, hid]}, village_id=vid,
            holder_type=subject, holder_id=hid, amount=g.points_steps,
            shards=settings.budget_shards, memo=f"{c.name} 期初积分", source="opening_grant",
            source_ref=f"{c.code}:{period}", details=details, now=now)
        posted += 0 if r.replayed else 1
    return posted


def _in_scope(s: Session, c: S.Catalog, subjects) -> list[tuple[str, int, int]]:
    from ledger.registry.models import Household, Person, Team, Village
    villages = [v.id for v in s.scalars(select(Village)) if c.covers_village(v.name)]
    models = {"household": Household, "person": Person, "team": Team}
    return [(subject, hid, vid) for subject in subjects
            for hid, vid in s.execute(select(models[subject].id, models[subject].village_id)
                                      .where(models[subject].village_id.in_(villages)))]


def post_opening_balances(db: Database, settings: Settings, now: datetime | None = None) -> int:
    """The catalog's `opening_balance`, once per holder and catalog, to every holder in scope
    that has not had it (a holder who joins gets it at the next sweep)."""
    now = now or utcnow()
    with db.sessions() as s:
        plans = []
        for code in store.catalog_codes(s):
            c = store.catalog(s, code, on=local_date(now))
            if c.opening_balance is not None and local_date(now) >= c.effective_from:
                plans += [(c, *x) for x in _in_scope(s, c, c.opening_balance.subjects)]
    posted = 0
    for c, subject, hid, vid in plans:
        ob = c.opening_balance
        details = {"catalog": c.code, "catalog_version": c.version, "opening_balance": True,
                   "points": c.points(ob.points_steps)}
        r = book.write_award(
            db, key=f"opening:{c.code}:{subject}:{hid}",
            request={"op": "opening_balance", "catalog": c.code, "holder": [subject, hid]},
            village_id=vid, holder_type=subject, holder_id=hid, amount=ob.points_steps,
            shards=settings.budget_shards, memo=f"{c.name} 开户积分", source="opening_balance",
            source_ref=c.code, details=details, now=now)
        posted += 0 if r.replayed else 1
    return posted


def _reset_debt(db: Database, settings: Settings, c: S.Catalog, subject: str, hid: int,
                vid: int, period: str, now: datetime) -> None:
    """`negative: reset`: a debt left at the end of the last period is written off (kind
    `reset`, not civility) before the new period's grant, so the period starts at N. Keyed
    per holder and period, and decided on the balance read under the account's lock."""
    from ledger.journal.accounts import budget_shards

    def work(s: Session) -> dict:
        acct = open_account(s, holder_type=subject, holder_id=hid, purpose=Purpose.POINTS)
        q = select(Account.balance).where(Account.id == acct)
        debt = -int(s.scalar(q.with_for_update() if s.get_bind().dialect.name == "postgresql"
                             else q) or 0)
        if debt <= 0:
            return {"reset": 0}
        e = post_entry(s, unit=Unit.POINTS, kind="reset", lines=[
            Line(budget_shards(s, vid, settings.budget_shards), -debt, hot=True),
            Line.of(acct, debt)], memo=f"{c.name} 新周期从 {c.points(c.opening_grant.points_steps)}"
            " 分开始：上期欠分清除", source="opening_grant", source_ref=f"{c.code}:{period}",
            details={"catalog": c.code, "period": period, "debt_written_off": debt}, now=now)
        return {"reset": debt, "entry_id": e.id}
    book.write(db, work, key=f"reset:{c.code}:{period}:{subject}:{hid}",
               request={"op": "reset", "catalog": c.code, "period": period,
                        "holder": [subject, hid]})
