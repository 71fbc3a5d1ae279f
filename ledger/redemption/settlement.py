"""Settlement with providers: the points redeemed at each provider in a period, the value owed
(at the provider's fen per point), and every journal entry behind each figure; CSV for the
town's accounts office.

A figure is the net of the postings to the provider's `redeemed` account in the period: each
fulfilled voucher adds its points, a reversal (goods returned) takes them back. Days are the
town's local days; both ends of the period are included.

Amounts are in points as people read them (`points`, `total_points`, ledger.units), with the
ledger's own figure beside them (`amount_steps`, `total_steps`): with half points (scale 2) a
10-point voucher is 20 steps, 10 points, and 10 × fen_per_point fen.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import Forbidden, InvalidInput
from ledger.identity.actor import may
from ledger.identity.roles import CLERK, TOWN_ADMIN
from ledger.journal.models import Account, HolderType, JournalEntry, Posting, Purpose, Unit
from ledger.redemption.catalog import clerk_provider_id
from ledger.redemption.models import Provider, RedemptionOrder, Reward
from ledger.redemption.schemas import SettlementReport
from ledger.rules.store import scale_in_force
from ledger.sheets import tabular
from ledger.sheets.labels import ENTRY_KINDS, FUNDED_BY, HOLDERS, label
from ledger.timeutil import LOCAL_TZ
from ledger.units import points_of, value_fen

MAX_SETTLEMENT_DAYS = 366
MAX_SETTLEMENT_LINES = 100_000
IN_BATCH = 1000
# The columns of the settlement sheet (CSV and .xlsx alike), in the units people read.
SHEET_HEADER = ("兑换点编号", "兑换点", "分录号", "时间", "类别", "订单号", "礼品编号", "礼品",
                "数量（件）", "对象类型", "对象编号", "资金来源", "抽奖编号", "积分", "金额（分）")


def settlement_scope(s: Session, actor) -> int | None:
    """Whose settlement the caller may read: every provider's (None) for a town admin, their
    own shop's for a clerk; anyone else is refused."""
    if may(actor, (TOWN_ADMIN,), None):
        return None
    if any(r == CLERK for r, _ in getattr(actor, "roles", ())):
        provider_id = clerk_provider_id(s, actor.user_id)
        if provider_id is not None:
            return provider_id
    raise Forbidden("settlement is the town admin's, or a clerk's for their own shop",
                    code="settlement_forbidden")


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    if not isinstance(start, date) or not isinstance(end, date) or end < start:
        raise InvalidInput("the period ends before it starts", code="invalid_period")
    if (end - start).days + 1 > MAX_SETTLEMENT_DAYS:
        raise InvalidInput(f"a settlement period is at most {MAX_SETTLEMENT_DAYS} days",
                           code="period_too_long")
    return (datetime.combine(start, time(), LOCAL_TZ),
            datetime.combine(end + timedelta(days=1), time(), LOCAL_TZ))


def _in_batches(ids):
    ids = sorted(set(ids))
    for i in range(0, len(ids), IN_BATCH):
        yield ids[i:i + IN_BATCH]


def _orders(s: Session, order_ids) -> dict[int, tuple[RedemptionOrder, Reward]]:
    out = {}
    for chunk in _in_batches(order_ids):
        for o, r in s.execute(select(RedemptionOrder, Reward)
                              .join(Reward, Reward.id == RedemptionOrder.reward_id)
                              .where(RedemptionOrder.id.in_(chunk))):
            out[o.id] = (o, r)
    return out


def _reversed_order_ids(s: Session, entry_ids) -> dict[int, int | None]:
    out = {}
    for chunk in _in_batches(entry_ids):
        for eid, details in s.execute(select(JournalEntry.id, JournalEntry.details)
                                      .where(JournalEntry.id.in_(chunk))):
            out[eid] = (details or {}).get("order_id")
    return out


def report(db: Database, *, start: date, end: date, provider_id: int | None = None,
           with_lines: bool = True) -> SettlementReport:
    """The settlement report, for the API."""
    with db.sessions() as s:
        return msgspec.convert(settlement_report(s, start=start, end=end,
                                                 provider_id=provider_id,
                                                 with_lines=with_lines), SettlementReport)


def report_for(db: Database, actor, *, start: date, end: date,
               with_lines: bool = True) -> SettlementReport:
    """The settlement report the actor may read (`settlement_scope`): every provider's for a
    town admin, their own shop's for a clerk."""
    with db.sessions() as s:
        provider_id = settlement_scope(s, actor)
        return msgspec.convert(settlement_report(s, start=start, end=end,
                                                 provider_id=provider_id,
                                                 with_lines=with_lines), SettlementReport)


def csv_report(db: Database, *, start: date, end: date, provider_id: int | None = None) -> str:
    """The settlement report as CSV (`settlement_csv`: UTF-8 with a BOM)."""
    with db.sessions() as s:
        return settlement_csv(settlement_report(s, start=start, end=end,
                                                provider_id=provider_id))


def settlement_report(s: Session, *, start: date, end: date, provider_id: int | None = None,
                      town_id: int | None = None, with_lines: bool = True) -> dict:
    lo, hi = period_bounds(start, end)
    q = (select(Posting.amount, Posting.created_at, Account.holder_id, JournalEntry)
         .join(Account, Account.id == Posting.account_id)
         .join(JournalEntry, JournalEntry.id == Posting.entry_id)
         .where(Account.holder_type == HolderType.PROVIDER, Account.purpose == Purpose.REDEEMED,
                Account.unit == Unit.POINTS, Posting.created_at >= lo, Posting.created_at < hi)
         .order_by(Account.holder_id, Posting.id).limit(MAX_SETTLEMENT_LINES + 1))
    if provider_id is not None:
        q = q.where(Account.holder_id == provider_id)
    rows = s.execute(q).all()
    if len(rows) > MAX_SETTLEMENT_LINES:
        raise InvalidInput(f"more than {MAX_SETTLEMENT_LINES} entries; ask for a shorter "
                           "period or one provider", code="settlement_too_large")
    reversed_orders = _reversed_order_ids(s, [e.reverses_id for *_, e in rows if e.reverses_id])
    order_of = {e.id: (e.details or {}).get("order_id") or reversed_orders.get(e.reverses_id)
                for *_, e in rows}
    orders = _orders(s, [o for o in order_of.values() if o])
    pq = select(Provider).order_by(Provider.id)
    if provider_id is not None:
        pq = pq.where(Provider.id == provider_id)
    if town_id is not None:
        pq = pq.where(Provider.town_id == town_id)
    scale = scale_in_force(s)
    providers = {p.id: {"provider_id": p.id, "name": p.name, "fen_per_point": p.fen_per_point,
                        "points": 0, "amount_steps": 0, "amount_fen": 0, "entries": 0,
                        "lines": []}
                 for p in s.scalars(pq)}
    for amount, at, pid, e in rows:
        if pid not in providers:
            continue
        p = providers[pid]
        o, r = orders.get(order_of[e.id], (None, None))
        p["amount_steps"] += amount
        p["entries"] += 1
        if with_lines:
            p["lines"].append({
                "entry_id": e.id, "posted_at": at.astimezone(LOCAL_TZ).isoformat(),
                "kind": e.kind, "points": points_of(amount, scale), "amount_steps": amount,
                "amount_fen": value_fen(amount, scale, p["fen_per_point"]),
                "reverses_id": e.reverses_id, "order_id": o.id if o else None,
                "reward_id": r.id if r else None, "reward_name": r.name if r else "",
                "quantity": o.quantity if o else None,
                "holder_type": o.holder_type if o else None,
                "holder_id": o.holder_id if o else None,
                "funded_by": o.funded_by if o else None, "draw_id": o.draw_id if o else None})
    for p in providers.values():
        p["points"] = points_of(p["amount_steps"], scale)
        p["amount_fen"] = value_fen(p["amount_steps"], scale, p["fen_per_point"])
        if not with_lines:
            del p["lines"]
    items = list(providers.values())
    total_steps = sum(p["amount_steps"] for p in items)
    return {"start": start.isoformat(), "end": end.isoformat(), "providers": items,
            "scale": scale, "total_points": points_of(total_steps, scale),
            "total_steps": total_steps,
            "total_fen": sum(p["amount_fen"] for p in items)}


def _local(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def settlement_rows(report: dict):
    """One row per entry, then one 合计 row per provider, in SHEET_HEADER order, codes as their
    Chinese labels (ledger/sheets/labels)."""
    for p in report["providers"]:
        for line in p.get("lines", []):
            yield (p["provider_id"], p["name"], line["entry_id"], _local(line["posted_at"]),
                   label(ENTRY_KINDS, line["kind"]), line["order_id"], line["reward_id"],
                   line["reward_name"], line["quantity"], label(HOLDERS, line["holder_type"]),
                   line["holder_id"], label(FUNDED_BY, line["funded_by"]), line["draw_id"],
                   line["points"], line["amount_fen"])
        yield (p["provider_id"], p["name"], "", f"{report['start']} 至 {report['end']}",
               label(ENTRY_KINDS, "total"), "", "", "", "", "", "", "", "", p["points"],
               p["amount_fen"])


def settlement_sheet(report: dict) -> tabular.Sheet:
    """The settlement as the one table writer writes it, for the CSV and the .xlsx alike."""
    return tabular.Sheet("兑换结算", SHEET_HEADER, list(settlement_rows(report)))


def settlement_csv(report: dict) -> str:
    """UTF-8 with a BOM (spreadsheet programs then read the Chinese names right), every cell
    through the one neutraliser."""
    return tabular.sheet_csv(settlement_sheet(report)).decode("utf-8")
