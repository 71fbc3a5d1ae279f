"""Reward stock from a spreadsheet: the total units of each reward, by shop and reward name
(the count a shop reports after a delivery or a stocktake). Setting a total is idempotent by
nature: the same file again changes nothing. A total below what open vouchers hold plus what
was handed over is refused for that row, as `catalog.change_stock` refuses it. Town admins."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.identity.actor import require
from ledger.identity.roles import TOWN_ADMIN
from ledger.redemption import catalog
from ledger.redemption.models import Provider, Reward
from ledger.sheets import imports, tabular
from ledger.sheets.tabular import Column, RowError, Table

UNLIMITED = {"不限", "不限量", "无限", "unlimited"}
COLUMNS = (
    Column("provider", "兑换点", required=True, example="塘边村积分超市"),
    Column("reward", "礼品名称", required=True, example="洗衣液"),
    Column("stock", "库存总数（件）", ("库存总数", "库存"), required=True, example="50",
           note="累计可兑换的总件数（含已兑出）；不限量填“不限”"),
    Column("cost", "所需积分", note="仅供核对，导入时不修改"),
)


@dataclass
class StockRow:
    line: int
    reward_id: int
    set_to: int | None  # None: unlimited


class StockImport:
    name = "stock"
    title = "礼品库存"
    columns = COLUMNS

    def plan(self, s: Session, table: Table, index: dict[str, int], actor) -> imports.Plan:
        plan = imports.Plan()
        errs = plan.errors
        rewards = {(p, r.name): r for r, p in s.execute(
            select(Reward, Provider.name).join(Provider, Provider.id == Reward.provider_id))}
        seen: dict[int, int] = {}
        for line, cells in table.rows:
            def cell(key: str, _cells=cells) -> str:
                return tabular.cell_of(_cells, index, key)

            r = rewards.get((cell("provider"), cell("reward")))
            if r is None:
                errs.append(RowError(line, "reward_unknown",
                                     f"兑换点“{cell('provider')}”没有礼品“{cell('reward')}”",
                                     "reward"))
                continue
            if r.id in seen:
                errs.append(RowError(line, "reward_duplicate", f"与第{seen[r.id]}行是同一礼品",
                                     "reward"))
                continue
            seen[r.id] = line
            text = cell("stock")
            if text.lower() in UNLIMITED:
                set_to = None
            elif text.isdigit() and int(text) <= catalog.MAX_STOCK:
                set_to = int(text)
                if set_to < r.reserved + r.issued:
                    errs.append(RowError(line, "stock_below_committed",
                                         f"已兑出和待领取共 {r.reserved + r.issued} 件，"
                                         "总数不能更少", "stock"))
                    continue
            else:
                errs.append(RowError(line, "stock_invalid",
                                     f"库存总数应为 0 到 {catalog.MAX_STOCK} 的整数或“不限”",
                                     "stock"))
                continue
            if set_to == r.stock:
                plan.skipped += 1  # unchanged
                continue
            plan.rows.append(StockRow(line, r.id, set_to))
        return plan

    def apply(self, s: Session, plan: imports.Plan, actor) -> dict:
        for row in plan.rows:
            catalog.apply_stock_change(s, row.reward_id, set_to=row.set_to,
                                       unlimited=row.set_to is None)
        return {"rewards_changed": len(plan.rows)}


KIND = StockImport()


def import_stock(db: Database, actor, data: bytes, *, dry_run: bool = False,
                 key: str | None = None) -> imports.SheetImport:
    return imports.run(db, KIND, actor, data, dry_run=dry_run, key=key,
                       check_actor=lambda a: require(a, (TOWN_ADMIN,), None, "importing stock"))


def export_rows(s: Session):
    yield [c.header for c in COLUMNS]
    for r, p in s.execute(select(Reward, Provider.name)
                          .join(Provider, Provider.id == Reward.provider_id)
                          .order_by(Provider.id, Reward.id)):
        yield [p, r.name, "不限" if r.stock is None else r.stock, r.cost_points]


def export_xlsx(db: Database) -> bytes:
    with db.sessions() as s:
        rows = export_rows(s)
        return tabular.to_xlsx(tabular.Sheet(KIND.title, next(rows), list(rows)))
