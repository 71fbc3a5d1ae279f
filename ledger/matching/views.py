"""四单 as people see them: one order with what the caller may see of the resident's contact
and what the caller may do next, its history, the lists (a station's queue, a household's
orders, a volunteer's tasks) and the order's check-in code."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import paging
from ledger.activities.models import Activity
from ledger.db import Database
from ledger.errors import Forbidden, InvalidInput
from ledger.identity.actor import may
from ledger.matching.models import MenuItem, OrderEvent, OrderStatus, ServiceOrder
from ledger.matching.orders import (
    get_order,
    in_household,
    is_assignee,
    is_staff,
    need_status,
    overdue,
    served_by,
)
from ledger.matching.menu import menu
from ledger.matching.progress import refresh
from ledger.matching.schemas import (
    HouseholdChoice,
    OrderDetail,
    OrderForm,
    OrderView,
    ServiceCode,
    StationQueue,
    StationRef,
)
from ledger.registry.models import Household, Person, Team, TeamMember
from ledger.stations.service import station
from ledger.timeutil import utcnow

MAX_HOUSEHOLD_OPTIONS = 2000  # a village's households the station's form lists


def may_see_contact(s: Session, o: ServiceOrder, actor) -> bool:
    """The resident's phone and address: the household and the station's staff; the assigned
    team (or volunteer) only while the order is open."""
    if actor is None:
        return False
    if in_household(s, o, actor.person_id) or is_staff(actor, o.village_id):
        return True
    return o.status in (OrderStatus.DISPATCHED, OrderStatus.ACCEPTED, OrderStatus.SERVING) \
        and is_assignee(s, o, actor.person_id, leader_only=False)


def order_view(s: Session, o: ServiceOrder, actor, *, now: datetime | None = None) -> dict:
    contact = may_see_contact(s, o, actor)
    menu = s.scalar(select(MenuItem.name).where(MenuItem.town_id == o.town_id,
                                                MenuItem.code == o.service_code)) \
        if o.service_code else None
    team = s.get(Team, o.assignee_team_id) if o.assignee_team_id else None
    person = s.get(Person, o.assignee_person_id) if o.assignee_person_id else None
    h = s.get(Household, o.household_id)
    return {"id": o.id, "village_id": o.village_id, "household_id": o.household_id,
            "household_name": h.head_name if contact else None,
            "service_code": o.service_code, "service_name": menu, "need": o.need,
            "preferred_at": o.preferred_at.isoformat(), "channel": o.channel,
            "status": o.status, "photos": list(o.photos or []),
            "contact_visible": contact, "contact_phone": o.contact_phone if contact else None,
            "address": o.address if contact else None,
            "assignee_team_id": o.assignee_team_id, "assignee_team": team.name if team else None,
            "assignee_person_id": o.assignee_person_id,
            "assignee_person": person.name if person else None,
            "accept_due_at": o.accept_due_at.isoformat() if o.accept_due_at else None,
            "escalation": o.escalation, "overdue": overdue(o, now or utcnow()),
            "activity_id": o.activity_id,
            "done_at": o.done_at.isoformat() if o.done_at else None,
            "rating": o.rating, "rating_comment": o.rating_comment,
            "created_at": o.created_at.isoformat()}


def events(s: Session, order_id: int) -> list[dict]:
    """The order's history; `actor` names the user (a volunteer's name masked), or is empty
    for the system (a deadline)."""
    from ledger.identity.models import AppUser
    from ledger.registry.privacy import mask_name
    rows = list(s.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id)
                          .order_by(OrderEvent.id)))
    users = dict(s.execute(select(AppUser.id, AppUser.name).where(AppUser.id.in_(
        {e.actor_user_id for e in rows if e.actor_user_id}))).all())
    people = dict(s.execute(select(Person.id, Person.name).where(Person.id.in_(
        {e.actor_person_id for e in rows if e.actor_person_id}))).all())

    def actor(e: OrderEvent) -> str:
        if e.actor_person_id in people:
            return mask_name(people[e.actor_person_id])
        return users.get(e.actor_user_id, "")

    return [{"action": e.action, "from_status": e.from_status, "to_status": e.to_status,
             "actor_user_id": e.actor_user_id, "actor_person_id": e.actor_person_id,
             "actor": actor(e), "reason": e.reason, "details": e.details,
             "at": e.at.isoformat()} for e in rows]


def read_order(db: Database, actor, order_id: int) -> OrderDetail:
    """One order as the caller may see it, with its events; brought up to date first."""
    refresh(db, order_id)
    with db.sessions() as s:
        o = get_order(s, order_id)
        if not (in_household(s, o, actor.person_id) or is_staff(actor, o.village_id)
                or is_assignee(s, o, actor.person_id, leader_only=False)
                or may(actor, ("town_admin",), None)):
            raise Forbidden("无权查看此服务单", code="not_your_order")
        return msgspec.convert({**order_view(s, o, actor), "events": events(s, o.id),
                                "can": _abilities(s, o, actor)}, OrderDetail)


def _abilities(s: Session, o: ServiceOrder, actor) -> list[str]:
    staff, resident = is_staff(actor, o.village_id), in_household(s, o, actor.person_id)
    lead = is_assignee(s, o, actor.person_id)
    out = []
    if staff and o.status == OrderStatus.PLACED:
        out.append("dispatch")
    if lead and o.status == OrderStatus.DISPATCHED:
        out += ["accept", "decline"]
    if (staff or resident) and o.status in (OrderStatus.PLACED, OrderStatus.DISPATCHED,
                                            OrderStatus.ACCEPTED):
        out.append("cancel")
    if (staff or resident) and o.status in (OrderStatus.ACCEPTED, OrderStatus.SERVING):
        out.append("show_code")
    if (staff or resident) and o.status == OrderStatus.DONE and \
            actor.person_id not in served_by(s, o):
        out.append("rate")
    return out


def list_orders(db: Database, actor, *, village_id: int | None = None, mine: bool = False,
                tasks: bool = False, limit: int = 100,
                before_id: int | None = None) -> list[OrderView]:
    """A station's queue (staff), a household's orders (mine), or a volunteer's tasks; newest
    first, the next page read from `before_id` (ledger/paging.py)."""
    with db.sessions() as s:
        return msgspec.convert(_orders(s, actor, village_id, mine, tasks, limit, before_id),
                               list[OrderView])


def _station_ref(s: Session, village_id: int) -> StationRef:
    v = station(s, village_id)
    return StationRef(id=v.id, name=v.name, town_id=v.town_id)


def order_form(db: Database, actor, village_id: int) -> OrderForm:
    """What the order form at this station offers the actor: the village's households when
    the actor is its staff (ordering for a caller or a visitor), and the town's menu."""
    staff = is_staff(actor, village_id)
    with db.sessions() as s:
        st = _station_ref(s, village_id)
        households = [HouseholdChoice(id=h.id, head_name=h.head_name, address=h.address)
                      for h in s.scalars(select(Household)
                                         .where(Household.village_id == village_id)
                                         .order_by(Household.id).limit(MAX_HOUSEHOLD_OPTIONS))
                      ] if staff else []
    return OrderForm(station=st, staff=staff, households=households, menu=menu(db, st.town_id))


def station_queue(db: Database, actor, village_id: int) -> StationQueue:
    """A station's queue (`list_orders` for the village) with the station it is."""
    with db.sessions() as s:
        st = _station_ref(s, village_id)
    return StationQueue(station=st, orders=list_orders(db, actor, village_id=village_id))


def _orders(s: Session, actor, village_id: int | None, mine: bool, tasks: bool, limit: int,
            before_id: int | None) -> list[dict]:
    q = (select(ServiceOrder).order_by(ServiceOrder.id.desc())
         .limit(paging.check_limit(min(limit, paging.MAX_PAGE))))
    if before_id is not None:
        q = q.where(ServiceOrder.id < before_id)
    if village_id is not None:
        if not is_staff(actor, village_id):
            raise Forbidden("只有站点工作人员可以查看站点的服务单", code="not_station_staff")
        q = q.where(ServiceOrder.village_id == village_id)
    elif mine:
        p = s.get(Person, actor.person_id) if actor.person_id else None
        if p is None or p.household_id is None:
            return []
        q = q.where(ServiceOrder.household_id == p.household_id)
    elif tasks:
        if actor.person_id is None:
            return []
        teams = list(s.scalars(select(TeamMember.team_id)
                               .where(TeamMember.person_id == actor.person_id)))
        q = q.where((ServiceOrder.assignee_person_id == actor.person_id)
                    | (ServiceOrder.assignee_team_id.in_(teams)))
    else:
        raise InvalidInput("say which orders", code="order_list_scope")
    return [order_view(s, o, actor) for o in s.scalars(q)]


def service_code(db: Database, secret: str, base_url: str, actor,
                 order_id: int) -> ServiceCode:
    """The order's check-in code, for the household's page (or the station to print): the
    activity's static code, valid while the order is accepted or being served."""
    from ledger.activities import tokens
    refresh(db, order_id)
    with db.sessions() as s:
        o = get_order(s, order_id)
        if not (in_household(s, o, actor.person_id) or is_staff(actor, o.village_id)):
            raise Forbidden("服务码只给下单住户和站点工作人员", code="not_your_order")
        need_status(o, OrderStatus.ACCEPTED, OrderStatus.SERVING)
        act = s.get(Activity, o.activity_id)
        tok = tokens.static_token(secret, act.id, act.static_version)
        return ServiceCode(order_id=o.id, activity_id=act.id, token=tok,
                           url=f"{base_url}/c/{tok}")
