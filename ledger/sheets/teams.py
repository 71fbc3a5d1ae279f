"""Teams and their members from a spreadsheet, one row per member (a row without a member adds
the team alone). A team is known by its name within its town: an existing team gets the new
members, a new one is created with its points account (ledger/registry/service.py). A member
already in the team is skipped, so a file imported again, or one that repeats rows of an
earlier file, changes nothing. Village teams need the village's admin; a town-wide team (no
village) the town admin."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.identity.actor import require, villages_of
from ledger.identity.roles import REGISTRY_ADMINS, TOWN_ADMIN
from ledger.registry import service
from ledger.registry.models import Person, Team, TeamMember, Town, Village
from ledger.sheets import imports, tabular
from ledger.sheets.holders import Holders, find_holder
from ledger.sheets.tabular import Column, RowError, Table

YES, NO = {"是", "y", "yes", "1", "√", "true"}, {"否", "", "n", "no", "0", "false"}
COLUMNS = (
    Column("team", "队伍名称", required=True, example="塘边村卫生环保志愿服务队"),
    Column("kind", "队伍类型", required=True, example="卫生环保"),
    Column("village", "所属村（社区）", example="塘边村", note="留空为全镇队伍"),
    Column("standing", "常设队伍", example="是", note="是/否"),
    Column("name", "成员姓名", example="陈某某"),
    Column("id_number", "成员身份证号"),
    Column("phone", "成员手机号", example="13800000000"),
    Column("member_village", "成员所在村（社区）", note="留空为队伍所属村"),
    Column("leader", "队长", example="否", note="是/否"),
)
LABELS = {c.key: c.header for c in COLUMNS}


@dataclass
class TeamPlan:
    town_id: int
    village_id: int | None
    name: str
    kind: str
    standing: bool
    team_id: int | None  # None: to be created
    line: int
    members: list[int] = field(default_factory=list)
    leader: int | None = None


def _flag(text: str, line: int, key: str, errs: list[RowError]) -> bool:
    v = text.strip().lower()
    if v not in YES | NO:
        errs.append(RowError(line, f"{key}_invalid", f"“{text}”应为 是 或 否", key))
    return v in YES


class TeamsImport:
    name = "teams"
    title = "志愿服务队伍与成员"
    columns = COLUMNS

    def plan(self, s: Session, table: Table, index: dict[str, int], actor) -> imports.Plan:
        plan = imports.Plan()
        errs = plan.errors
        scope = villages_of(actor, REGISTRY_ADMINS)
        town_wide_ok = villages_of(actor, (TOWN_ADMIN,)) is None
        villages = {v.name: v for v in s.scalars(select(Village))}
        towns = list(s.scalars(select(Town.id)))
        existing = {(t.town_id, t.name): t for t in s.scalars(select(Team))}
        holders = Holders(s)
        teams: dict[tuple[int, str], TeamPlan] = {}
        members_of: dict[int, set[int]] = {}
        for line, cells in table.rows:
            def cell(key: str, _cells=cells) -> str:
                return tabular.cell_of(_cells, index, key)

            before = len(errs)
            tname, kind, vname = cell("team"), cell("kind"), cell("village")
            if not tname or len(tname) > service.MAX_TEAM_NAME_CHARS:
                errs.append(RowError(line, "team_name_invalid",
                                     f"队伍名称不能为空，最多{service.MAX_TEAM_NAME_CHARS}个字",
                                     "team"))
            if not kind or len(kind) > service.MAX_NAME_CHARS:
                errs.append(RowError(line, "team_kind_invalid", "队伍类型不能为空", "kind"))
            standing = _flag(cell("standing"), line, "standing", errs)
            leader = _flag(cell("leader"), line, "leader", errs)
            village = villages.get(vname) if vname else None
            if vname and village is None:
                errs.append(RowError(line, "village_unknown", f"没有“{vname}”这个村（社区）",
                                     "village"))
                continue
            if village is not None and scope is not None and village.id not in scope:
                errs.append(RowError(line, "village_forbidden", f"您不是“{vname}”的管理员",
                                     "village"))
                continue
            if village is None and not town_wide_ok:
                errs.append(RowError(line, "village_forbidden",
                                     "全镇队伍只能由镇管理员导入，请填写所属村（社区）", "village"))
                continue
            if village is None and len(towns) != 1:
                errs.append(RowError(line, "village_required", "请填写所属村（社区）", "village"))
                continue
            if len(errs) > before:
                continue
            town_id = village.town_id if village else towns[0]
            tp = teams.get((town_id, tname))
            if tp is None:
                old = existing.get((town_id, tname))
                tp = TeamPlan(town_id, village.id if village else None, tname, kind, standing,
                              old.id if old else None, line)
                teams[(town_id, tname)] = tp
                if old is not None:
                    members_of[old.id] = set(s.scalars(select(TeamMember.person_id)
                                                       .where(TeamMember.team_id == old.id)))
            elif tp.village_id != (village.id if village else None) or tp.kind != kind:
                errs.append(RowError(line, "team_mismatch",
                                     f"与第{tp.line}行的同名队伍的类型或所属村不同", "team"))
                continue
            if not any(cell(k) for k in ("name", "id_number", "phone")):
                continue  # the team alone
            mv_name = cell("member_village") or vname
            mv = villages.get(mv_name)
            if mv is None:
                errs.append(RowError(line, "village_unknown" if mv_name else "village_required",
                                     f"没有“{mv_name}”这个村（社区）" if mv_name else
                                     "全镇队伍的成员请填写成员所在村（社区）", "member_village"))
                continue
            found = find_holder(holders, mv.id, "person", cell, line, errs)
            if found is None:
                continue
            pid = found[0]
            if pid in tp.members:
                errs.append(RowError(line, "member_duplicate", "同一成员在文件中出现两次", "name"))
                continue
            if tp.team_id is not None and pid in members_of.get(tp.team_id, set()):
                plan.skipped += 1
                continue
            if leader:
                if tp.leader is not None:
                    errs.append(RowError(line, "leader_duplicate", "一个队伍只能有一位队长",
                                         "leader"))
                    continue
                tp.leader = pid
            tp.members.append(pid)
        plan.rows = [tp for tp in teams.values() if tp.team_id is None or tp.members]
        return plan

    def apply(self, s: Session, plan: imports.Plan, actor) -> dict:
        created = members = 0
        for tp in plan.rows:
            if tp.team_id is None:
                tp.team_id = service.add_team(s, town_id=tp.town_id, kind=tp.kind, name=tp.name,
                                              village_id=tp.village_id, standing=tp.standing).id
                created += 1
            members += service.add_members(s, tp.team_id, tp.members, leader_id=tp.leader)
        return {"teams_created": created, "members_added": members}


KIND = TeamsImport()


def import_teams(db: Database, actor, data: bytes, *, dry_run: bool = False,
                 key: str | None = None) -> imports.SheetImport:
    return imports.run(db, KIND, actor, data, dry_run=dry_run, key=key,
                       check_actor=lambda a: _some_admin(a))


def _some_admin(actor) -> None:
    scope = villages_of(actor, REGISTRY_ADMINS)
    if scope is not None and not scope:
        require(actor, REGISTRY_ADMINS, None, "importing teams")


def export_rows(s: Session, actor):
    """Teams and members in the import's columns (header first), one row per member."""
    scope = villages_of(actor, REGISTRY_ADMINS)
    yield [c.header for c in COLUMNS]
    vnames = dict(s.execute(select(Village.id, Village.name)).all())
    q = select(Team).order_by(Team.id)
    if scope is not None:
        q = q.where(Team.village_id.in_(scope))
    for t in s.scalars(q):
        head = [t.name, t.kind, vnames.get(t.village_id, ""), "是" if t.standing else "否"]
        rows = s.execute(select(Person, TeamMember.is_leader)
                         .join(TeamMember, TeamMember.person_id == Person.id)
                         .where(TeamMember.team_id == t.id).order_by(Person.id)).all()
        if not rows:
            yield head + ["", "", "", "", ""]
        for p, is_leader in rows:
            yield head + [p.name, p.id_number or "", "" if p.id_number else (p.phone or ""),
                          vnames[p.village_id] if p.village_id != t.village_id else "",
                          "是" if is_leader else "否"]


def export_xlsx(db: Database, actor) -> bytes:
    with db.sessions() as s:
        rows = export_rows(s, actor)
        return tabular.to_xlsx(tabular.Sheet(KIND.title, next(rows), list(rows)))
