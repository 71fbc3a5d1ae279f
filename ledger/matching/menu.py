"""四单: the station's menu of services (the rule item each pays under) and who can do what
(skills of teams and volunteers), from which a dispatcher picks."""

from __future__ import annotations

import re
from datetime import datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import Forbidden, InvalidInput, NotFound
from ledger.matching.models import MenuItem, ServiceOrder, Skill
from ledger.matching.orders import get_order, is_staff
from ledger.matching.schemas import Candidates, MenuItemView
from ledger.registry.models import Person, Team
from ledger.timeutil import utcnow

FREE_TEXT_CODE = "other"  # the menu item whose rule item pays free-text orders
# Baogai's station menu (家电维修, 爱心理发, 法律援助, 健康义诊, 上门陪护) and the rule item each
# pays under (ledger/rules/catalogs/baogai.yaml); "other" pays free-text orders.
DEFAULT_MENU = (("repair", "家电维修", "A01"), ("haircut", "爱心理发", "A05"),
                ("legal", "法律援助", "A10"), ("clinic", "健康义诊", "A01"),
                ("escort", "上门陪护", "A05"), (FREE_TEXT_CODE, "其他服务", "A01"))
MAX_MENU_ITEMS = 50


def menu_item(s: Session, town_id: int, code: str) -> MenuItem:
    m = s.scalar(select(MenuItem).where(MenuItem.town_id == town_id, MenuItem.code == code,
                                        MenuItem.active.is_(True)))
    if m is None:
        raise NotFound(f"no service {code!r} on the menu", code="service_unknown",
                       field="service_code")
    return m


def add_menu_item(s: Session, town_id: int, code: str, name: str, rule_item_code: str,
                  now: datetime | None = None) -> MenuItem:
    if not re.match(r"^[a-z0-9_]{1,32}$", code):
        raise InvalidInput("menu code: 1..32 of a-z 0-9 _", code="menu_code_invalid")
    if not name.strip() or len(name) > 50:
        raise InvalidInput("menu name: 1..50 characters", code="menu_name_invalid")
    n = len(list(s.scalars(select(MenuItem.id).where(MenuItem.town_id == town_id))))
    if n >= MAX_MENU_ITEMS:
        raise InvalidInput(f"a menu has at most {MAX_MENU_ITEMS} services",
                           code="menu_too_long")
    m = MenuItem(town_id=town_id, code=code, name=name.strip(), rule_item_code=rule_item_code,
                 active=True, created_at=now or utcnow())
    s.add(m)
    s.flush()
    return m


def add_skill(s: Session, town_id: int, service_code: str, holder_type: str, holder_id: int,
              now: datetime | None = None) -> None:
    if holder_type not in ("team", "person"):
        raise InvalidInput("a skill belongs to a team or a person", code="holder_type_invalid")
    if not has_skill(s, service_code, holder_type, holder_id):
        s.add(Skill(town_id=town_id, service_code=service_code, holder_type=holder_type,
                    holder_id=holder_id, created_at=now or utcnow()))
        s.flush()


def menu(db: Database, town_id: int) -> list[MenuItemView]:
    """The town's active services, in id order."""
    with db.sessions() as s:
        return [MenuItemView(id=m.id, code=m.code, name=m.name,
                             rule_item_code=m.rule_item_code)
                for m in s.scalars(select(MenuItem).where(MenuItem.town_id == town_id,
                                                          MenuItem.active.is_(True))
                                   .order_by(MenuItem.id))]


def has_skill(s: Session, service_code: str, holder_type: str, holder_id: int) -> bool:
    return s.scalar(select(Skill.id).where(
        Skill.service_code == service_code, Skill.holder_type == holder_type,
        Skill.holder_id == holder_id)) is not None


def order_candidates(db: Database, actor, order_id: int) -> Candidates:
    """Who may take the order, for the station's staff to dispatch it."""
    with db.sessions() as s:
        o = get_order(s, order_id)
        if not is_staff(actor, o.village_id):
            raise Forbidden("只有站点工作人员可以派单", code="not_station_staff")
        return msgspec.convert(candidates(s, o), Candidates)


def candidates(s: Session, o: ServiceOrder) -> dict:
    """Who may take the order: teams and volunteers with the skill (any team for free text)."""
    teams = list(s.scalars(select(Team).where(Team.town_id == o.town_id).order_by(Team.id)))
    people = []
    if o.service_code is not None:
        teams = [t for t in teams if has_skill(s, o.service_code, "team", t.id)]
        ids = list(s.scalars(select(Skill.holder_id).where(
            Skill.service_code == o.service_code, Skill.holder_type == "person",
            Skill.town_id == o.town_id)))
        people = [p for p in s.scalars(select(Person).where(Person.id.in_(ids)))
                  if p.household_id != o.household_id]
    return {"teams": [{"id": t.id, "name": t.name, "kind": t.kind} for t in teams],
            "people": [{"id": p.id, "name": p.name} for p in people]}
