"""The lists a village admin sees, as .xlsx: households with their scores, the year's awards and
deductions, service hours per person, orders and vouchers, and (town admins) settlement. Headers
in Chinese with the unit in them (积分, 小时); values in the unit people read (steps → points
through `points_of`, minutes → hours); every cell through the one neutraliser (tabular.to_xlsx).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from ledger.db import Database
from ledger.errors import InvalidInput, NotFound
from ledger.identity.actor import require
from ledger.identity.roles import REGISTRY_ADMINS
from ledger.journal.models import Account, HolderType, JournalEntry, Posting, Purpose, Unit
from ledger.recognition import rollups, scores
from ledger.recognition.models import HolderRollup
from ledger.redemption import settlement
from ledger.redemption.models import Provider, RedemptionOrder, Reward, Voucher
from ledger.registry.models import Household, Person, Village
from ledger.rules.spec import points_of
from ledger.rules.store import scale_in_force as points_scale
from ledger.sheets import tabular
from ledger.sheets.labels import ENTRY_KINDS, HOLDERS, ORDER_STATUS, label
from ledger.timeutil import LOCAL_TZ

MAX_EXPORT_ROWS = 200_000
KINDS = ("households", "entries", "hours", "orders")
KIND_TITLES = {"households": "户积分", "entries": "加分扣分明细", "hours": "志愿服务时长",
               "orders": "兑换订单与兑换券", "settlement": "兑换结算"}


def hours_of(minutes: int) -> float | int:
    """Minutes as hours to two decimals (whole hours stay whole numbers)."""
    h = (Decimal(minutes) / 60).quantize(Decimal("0.01"))
    return int(h) if h == h.to_integral_value() else float(h)


def _local(dt: datetime | None) -> str:
    return dt.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if dt else ""


def _year_nets(s: Session, village_id: int, unit: str, holder_type: str, year: int
               ) -> dict[int, int]:
    return dict(s.execute(select(HolderRollup.holder_id, HolderRollup.net).where(
        HolderRollup.village_id == village_id, HolderRollup.unit == unit,
        HolderRollup.holder_type == holder_type,
        HolderRollup.period_key == f"year:{year}")).all())


def _balances(s: Session, holder_type: str, ids: list[int], unit: str = Unit.POINTS
              ) -> dict[int, int]:
    out: dict[int, int] = {}
    for i in range(0, len(ids), 1000):
        out.update(s.execute(select(Account.holder_id, Account.balance).where(
            Account.holder_type == holder_type, Account.holder_id.in_(ids[i:i + 1000]),
            Account.purpose == Purpose.POINTS, Account.unit == unit, Account.shard == 0)).all())
    return out


def households(s: Session, village_id: int, year: int) -> tabular.Sheet:
    scale = points_scale(s)
    homes = s.execute(select(Household).where(Household.village_id == village_id)
                      .order_by(Household.id).limit(MAX_EXPORT_ROWS)).scalars().all()
    nets = _year_nets(s, village_id, Unit.POINTS, "household", year)
    bal = _balances(s, "household", [h.id for h in homes])
    rows = [[h.head_name, h.address, h.plate_code, points_of(nets.get(h.id, 0), scale),
             points_of(bal.get(h.id, 0), scale)] for h in homes]
    return tabular.Sheet(f"{year}年户积分", ["户主", "地址", "门牌码", f"{year}年得分（积分）",
                                          "当前余额（积分）"], rows, (12, 28, 20, 18, 16))


def entries(s: Session, village_id: int, year: int) -> tabular.Sheet:
    """Each award and deduction of the year that drew on or returned to the village budget."""
    scale = points_scale(s)
    lo = datetime(year, 1, 1, tzinfo=LOCAL_TZ)
    hi = datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ)
    budget = aliased(Account)
    holder = aliased(Account)
    hp = aliased(Posting)
    q = (select(JournalEntry, holder.holder_type, holder.holder_id, hp.amount)
         .join(Posting, Posting.entry_id == JournalEntry.id)
         .join(budget, and_(budget.id == Posting.account_id,
                            budget.holder_type == HolderType.VILLAGE,
                            budget.holder_id == village_id, budget.purpose == Purpose.BUDGET))
         .join(hp, hp.entry_id == JournalEntry.id)
         .join(holder, and_(holder.id == hp.account_id,
                            holder.holder_type.in_(("person", "household", "team"))))
         .where(JournalEntry.unit == Unit.POINTS, JournalEntry.created_at >= lo,
                JournalEntry.created_at < hi)
         .order_by(JournalEntry.id).limit(MAX_EXPORT_ROWS))
    found = s.execute(q).all()
    names = _names(s, found)
    rows = [[_local(e.created_at), label(ENTRY_KINDS, e.kind), label(HOLDERS, ht),
             names.get((ht, hid), ""), points_of(amount, scale), e.memo,
             scores.item_code_of(e.details) or "", e.id]
            for e, ht, hid, amount in found]
    return tabular.Sheet(f"{year}年加分扣分", ["时间", "类别", "对象", "姓名/户主", "积分",
                                           "事由", "规则项", "分录号"], rows,
                         (18, 8, 8, 14, 10, 36, 10, 10))


def _names(s: Session, found) -> dict[tuple[str, int], str]:
    people = {hid for _, ht, hid, _ in found if ht == "person"}
    homes = {hid for _, ht, hid, _ in found if ht == "household"}
    out: dict[tuple[str, int], str] = {}
    if people:
        out |= {("person", i): n for i, n in s.execute(
            select(Person.id, Person.name).where(Person.id.in_(people)))}
    if homes:
        out |= {("household", i): n for i, n in s.execute(
            select(Household.id, Household.head_name).where(Household.id.in_(homes)))}
    return out


def hours(s: Session, village_id: int, year: int) -> tabular.Sheet:
    """Certified service per person: the year's and the total, in hours."""
    people = s.execute(select(Person).where(Person.village_id == village_id)
                       .order_by(Person.id).limit(MAX_EXPORT_ROWS)).scalars().all()
    nets = _year_nets(s, village_id, Unit.MINUTES, "person", year)
    total = _balances(s, "person", [p.id for p in people], Unit.MINUTES)
    rows = [[p.name, "是" if p.is_volunteer else "否", hours_of(nets.get(p.id, 0)),
             hours_of(total.get(p.id, 0))] for p in people
            if p.is_volunteer or nets.get(p.id) or total.get(p.id)]
    return tabular.Sheet(f"{year}年服务时长", ["姓名", "志愿者", f"{year}年服务时长（小时）",
                                            "累计服务时长（小时）"], rows, (14, 8, 20, 20))


def orders(s: Session, village_id: int, year: int) -> tabular.Sheet:
    """The year's orders by the village's people and households, with their vouchers."""
    pid = select(Person.id).where(Person.village_id == village_id)
    hid = select(Household.id).where(Household.village_id == village_id)
    q = (select(RedemptionOrder, Reward.name, Provider.name, Voucher)
         .join(Reward, Reward.id == RedemptionOrder.reward_id)
         .join(Provider, Provider.id == RedemptionOrder.provider_id)
         .outerjoin(Voucher, Voucher.order_id == RedemptionOrder.id)
         .where(RedemptionOrder.year == str(year),
                ((RedemptionOrder.holder_type == "person") & RedemptionOrder.holder_id.in_(pid))
                | ((RedemptionOrder.holder_type == "household")
                   & RedemptionOrder.holder_id.in_(hid)))
         .order_by(RedemptionOrder.id).limit(MAX_EXPORT_ROWS))
    found = s.execute(q).all()
    scale = points_scale(s)
    names = _names(s, [(None, o.holder_type, o.holder_id, None) for o, *_ in found])
    rows = [[o.id, _local(o.created_at), label(HOLDERS, o.holder_type),
             names.get((o.holder_type, o.holder_id), ""), reward, provider, o.quantity,
             points_of(o.amount_points, scale), v.code[-6:] if v else "",
             label(ORDER_STATUS, v.status) if v else "", _local(v.resolved_at) if v else ""]
            for o, reward, provider, v in found]
    return tabular.Sheet(f"{year}年兑换", ["订单号", "下单时间", "对象", "姓名/户主", "礼品",
                                        "兑换点", "数量（件）", "积分", "兑换券尾号", "状态",
                                        "领取/取消时间"], rows)


def settlement_sheet(s: Session, start: date, end: date, provider_id: int | None = None
                     ) -> tabular.Sheet:
    report = settlement.settlement_report(s, start=start, end=end, provider_id=provider_id,
                                          with_lines=True)
    return settlement.settlement_sheet(report)


_SHEETS = {"households": households, "entries": entries, "hours": hours, "orders": orders}


def village_workbook(db: Database, actor, kind: str, village_id: int, year: int) -> bytes:
    """One list of one village and year as .xlsx (kind: households, entries, hours, orders, or
    `all` for every list on its own sheet)."""
    if kind not in (*KINDS, "all"):
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)} or all",
                           code="export_kind_unknown")
    require(actor, REGISTRY_ADMINS, village_id, "exporting")
    if not 2000 <= year <= 2100:
        raise InvalidInput("year out of range", code="year_invalid")
    with db.sessions() as s:
        if s.get(Village, village_id) is None:
            raise NotFound(f"village {village_id} does not exist", code="village_not_found")
    rollups.catch_up(db, mode="new")  # the scores include what was posted a moment ago
    with db.sessions() as s:
        kinds = KINDS if kind == "all" else (kind,)
        return tabular.to_xlsx(*(_SHEETS[k](s, village_id, year) for k in kinds))


def settlement_workbook(db: Database, actor, start: date, end: date, *, csv: bool = False
                        ) -> bytes:
    """The settlement as .xlsx (or CSV): every shop's for a town admin, a clerk's own shop's."""
    with db.sessions() as s:
        sheet = settlement_sheet(s, start, end, settlement.settlement_scope(s, actor))
        return tabular.sheet_csv(sheet) if csv else tabular.to_xlsx(sheet)
