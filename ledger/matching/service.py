"""四单: placing, dispatching, accepting or declining, serving, rating and cancelling service
orders. Each write runs in one transaction (`book.write`, with the caller's idempotency key) and
appends an OrderEvent naming who, when and why.

Serving is an activity (ledger/activities): the dispatch makes a draft activity at the station
for the order's window, organized by the dispatcher under the menu item's rule item; accepting
opens it and signs up the assignee (or the team's members). The volunteer checks in and out
with the order's code, shown on the resident's order page (or printed by the station for
someone with no phone), and the rule engine pays hours and points as for any activity. The
order follows its activity's attendances (`sync`): checked in → serving, all out → done.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import paging
from ledger.activities import planning
from ledger.activities.models import (
    Activity,
    ActivityStatus,
    Attendance,
    AttendanceState,
    Signup,
    SignupStatus,
)
from ledger.db import Database
from ledger.errors import Conflict, Forbidden, InvalidInput, NotFound
from ledger.identity.roles import holds
from ledger.journal import book
from ledger.matching.models import (
    OPEN_STATUSES,
    Channel,
    MenuItem,
    OrderEvent,
    OrderStatus,
    ServiceOrder,
    Skill,
)
from ledger.registry.models import Household, Person, Team, TeamMember, Village
from ledger.stations.service import team_leaders, team_members
from ledger.timeutil import utcnow

STAFF_ROLES = ("town_admin", "village_admin", "organizer")  # station staff, per station
MAX_NEED_CHARS = 500
MAX_REASON_CHARS = 500
MIN_REASON_CHARS = 2
MAX_COMMENT_CHARS = 500
MAX_PHOTOS = 3
MAX_OPEN_ORDERS_PER_HOUSEHOLD = 5
ACCEPT_DEADLINE = timedelta(hours=24)  # 接单 within this of the dispatch, or back to the station
STATION_DEADLINE = timedelta(hours=48)  # then dispatched again within this, or up to the town
OVERDUE_AFTER = timedelta(days=3)  # an open order this long past its preferred time is overdue
SERVICE_WINDOW = timedelta(hours=4)  # the order's activity: from the service time, this long
MAX_PREFERRED_AHEAD = timedelta(days=60)
PREFERRED_PAST_SLACK = timedelta(hours=1)
FREE_TEXT_CODE = "other"  # the menu item whose rule item pays free-text orders
SWEEP_BATCH = 500
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def is_staff(actor, village_id: int) -> bool:
    return holds(actor, STAFF_ROLES, village_id)


def _reason(raw: str | None, what: str = "reason") -> str:
    r = (raw or "").strip()
    if len(r) < MIN_REASON_CHARS:
        raise InvalidInput(f"请说明原因（至少 {MIN_REASON_CHARS} 个字）", code=f"order_{what}_required",
                           field=what)
    if len(r) > MAX_REASON_CHARS:
        raise InvalidInput(f"原因最多 {MAX_REASON_CHARS} 字", code=f"order_{what}_too_long", field=what,
                           max_chars=MAX_REASON_CHARS)
    return r


def _event(s: Session, o: ServiceOrder, action: str, to: str, actor, now: datetime,
           reason: str = "", *, person_id: int | None = None, **details) -> None:
    """Record a state change; `actor` None is the system (a deadline, a scan), `person_id`
    then names the volunteer whose scan it was."""
    s.add(OrderEvent(order_id=o.id, action=action, from_status=o.status, to_status=to,
                     actor_user_id=getattr(actor, "user_id", None),
                     actor_person_id=getattr(actor, "person_id", person_id), reason=reason,
                     details=details, at=now))
    o.status, o.updated_at = to, now


def get_order(s: Session, order_id: int, *, lock: bool = False) -> ServiceOrder:
    q = select(ServiceOrder).where(ServiceOrder.id == order_id)
    if lock:
        q = q.with_for_update()
    o = s.scalar(q)
    if o is None:
        raise NotFound(f"order {order_id} does not exist", code="order_not_found")
    return o


def _need_status(o: ServiceOrder, *allowed: str) -> None:
    if o.status not in allowed:
        raise Conflict(f"order {o.id} is {o.status}", code="order_status_conflict",
                       status_now=o.status)


def menu_item(s: Session, town_id: int, code: str) -> MenuItem:
    m = s.scalar(select(MenuItem).where(MenuItem.town_id == town_id, MenuItem.code == code,
                                        MenuItem.active.is_(True)))
    if m is None:
        raise NotFound(f"no service {code!r} on the menu", code="service_unknown",
                       field="service_code")
    return m


# ---- the menu and who can do what ----------------------------------------------------------

# Baogai's station menu (家电维修, 爱心理发, 法律援助, 健康义诊, 上门陪护) and the rule item each
# pays under (ledger/rules/catalogs/baogai.yaml); "other" pays free-text orders.
DEFAULT_MENU = (("repair", "家电维修", "A01"), ("haircut", "爱心理发", "A05"),
                ("legal", "法律援助", "A10"), ("clinic", "健康义诊", "A01"),
                ("escort", "上门陪护", "A05"), (FREE_TEXT_CODE, "其他服务", "A01"))
MAX_MENU_ITEMS = 50


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
    if not _has_skill(s, service_code, holder_type, holder_id):
        s.add(Skill(town_id=town_id, service_code=service_code, holder_type=holder_type,
                    holder_id=holder_id, created_at=now or utcnow()))
        s.flush()


def menu(s: Session, town_id: int) -> list[dict]:
    return [{"id": m.id, "code": m.code, "name": m.name, "rule_item_code": m.rule_item_code}
            for m in s.scalars(select(MenuItem).where(MenuItem.town_id == town_id,
                                                      MenuItem.active.is_(True))
                               .order_by(MenuItem.id))]


# ---- 点单 ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class OrderDraft:
    village_id: int  # the station
    need: str
    preferred_at: datetime
    service_code: str | None = None  # None: free text
    household_id: int | None = None  # staff name it; a resident's is their own
    contact_phone: str = ""
    channel: str = Channel.SELF
    photos: tuple[str, ...] = field(default_factory=tuple)


def _check_draft(d: OrderDraft, now: datetime) -> str:
    need = (d.need or "").strip()
    if not need and d.service_code is None:
        raise InvalidInput("请写明需要什么服务", code="need_required", field="need")
    if len(need) > MAX_NEED_CHARS:
        raise InvalidInput(f"需求最多 {MAX_NEED_CHARS} 字", code="need_too_long", field="need",
                           max_chars=MAX_NEED_CHARS)
    if d.preferred_at.tzinfo is None:
        raise InvalidInput("times need a time zone", code="time_zone_missing",
                           field="preferred_at")
    if d.preferred_at < now - PREFERRED_PAST_SLACK:
        raise InvalidInput("期望时间不能早于现在", code="preferred_in_past", field="preferred_at")
    if d.preferred_at > now + MAX_PREFERRED_AHEAD:
        raise InvalidInput(f"期望时间须在 {MAX_PREFERRED_AHEAD.days} 天之内",
                           code="preferred_too_far", field="preferred_at")
    if len(d.photos) > MAX_PHOTOS:
        raise InvalidInput(f"最多 {MAX_PHOTOS} 张照片", code="photos_too_many", field="photos",
                           max_photos=MAX_PHOTOS)
    if any(not _SHA256.match(str(p)) for p in d.photos):
        raise InvalidInput("photos are named by their sha256 (64 hex digits)",
                           code="photo_invalid", field="photos")
    if d.channel not in set(Channel):
        raise InvalidInput("channel is self, phone or counter", code="channel_unknown",
                           field="channel")
    if len(d.contact_phone) > 20:
        raise InvalidInput("phone too long", code="phone_invalid", field="contact_phone")
    return need


def _household_for(s: Session, actor, d: OrderDraft) -> tuple[Household, Person | None, str]:
    """The household ordering, the person who ordered (a resident) and the channel."""
    if is_staff(actor, d.village_id):
        if d.household_id is None:
            raise InvalidInput("代点单须选择住户", code="household_required", field="household_id")
        h = s.get(Household, d.household_id)
        if h is None:
            raise NotFound("no such household", code="household_not_found",
                           field="household_id")
        channel = d.channel if d.channel != Channel.SELF else Channel.COUNTER
        return h, None, channel
    if actor.person_id is None:
        raise Forbidden("请以居民身份登录后点单", code="resident_required")
    p = s.get(Person, actor.person_id)
    if p is None or p.household_id is None:
        raise Forbidden("您的账号未关联住户，请到站点由工作人员代点单", code="household_required")
    if d.household_id not in (None, p.household_id):
        raise Forbidden("只能为本户点单", code="not_your_household")
    return s.get(Household, p.household_id), p, Channel.SELF


def place_order(db: Database, actor, d: OrderDraft, *, key: str | None = None,
                now: datetime | None = None) -> dict:
    now = now or utcnow()
    need = _check_draft(d, now)

    def work(s: Session) -> dict:
        station = s.get(Village, d.village_id)
        if station is None:
            raise NotFound(f"station {d.village_id} does not exist", code="station_not_found")
        h, person, channel = _household_for(s, actor, d)
        home = s.get(Village, h.village_id)
        if home.town_id != station.town_id or (
                station.kind in ("village", "community") and station.id != home.id):
            raise Forbidden("请向本村（社区）的实践站或镇所、点点单", code="station_not_yours")
        if d.service_code is not None:
            menu_item(s, station.town_id, d.service_code)
        open_n = len(list(s.scalars(select(ServiceOrder.id).where(
            ServiceOrder.household_id == h.id, ServiceOrder.status.in_(OPEN_STATUSES)))))
        if open_n >= MAX_OPEN_ORDERS_PER_HOUSEHOLD:
            raise Conflict(f"一户最多同时有 {MAX_OPEN_ORDERS_PER_HOUSEHOLD} 个未完成的服务单",
                           code="too_many_open_orders", limit=MAX_OPEN_ORDERS_PER_HOUSEHOLD)
        phone = d.contact_phone.strip() or (person.phone if person and person.phone else "")
        o = ServiceOrder(
            town_id=station.town_id, village_id=station.id, household_id=h.id,
            person_id=person.id if person else None, service_code=d.service_code, need=need,
            preferred_at=d.preferred_at, channel=channel, contact_phone=phone,
            address=h.address, photos=list(d.photos), status=OrderStatus.PLACED,
            created_by=actor.user_id, created_at=now, updated_at=now)
        s.add(o)
        s.flush()
        s.add(OrderEvent(order_id=o.id, action="place", from_status=None,
                         to_status=OrderStatus.PLACED, actor_user_id=actor.user_id,
                         actor_person_id=actor.person_id, details={"channel": channel}, at=now))
        return order_view(s, o, actor)

    request = {"op": "service_order", **asdict(d), "preferred_at": d.preferred_at.isoformat()}
    return book.write(db, work, key=key, request=request).result


# ---- 派单 ----------------------------------------------------------------------------------

def _has_skill(s: Session, service_code: str, holder_type: str, holder_id: int) -> bool:
    return s.scalar(select(Skill.id).where(
        Skill.service_code == service_code, Skill.holder_type == holder_type,
        Skill.holder_id == holder_id)) is not None


def candidates(s: Session, o: ServiceOrder) -> dict:
    """Who may take the order: teams and volunteers with the skill (any team for free text)."""
    teams = list(s.scalars(select(Team).where(Team.town_id == o.town_id).order_by(Team.id)))
    people = []
    if o.service_code is not None:
        teams = [t for t in teams if _has_skill(s, o.service_code, "team", t.id)]
        ids = list(s.scalars(select(Skill.holder_id).where(
            Skill.service_code == o.service_code, Skill.holder_type == "person",
            Skill.town_id == o.town_id)))
        people = [p for p in s.scalars(select(Person).where(Person.id.in_(ids)))
                  if p.household_id != o.household_id]
    return {"teams": [{"id": t.id, "name": t.name, "kind": t.kind} for t in teams],
            "people": [{"id": p.id, "name": p.name} for p in people]}


def dispatch(db: Database, actor, order_id: int, *, team_id: int | None = None,
             person_id: int | None = None, service_at: datetime | None = None,
             note: str = "", key: str | None = None, now: datetime | None = None) -> dict:
    now = now or utcnow()
    if (team_id is None) == (person_id is None):
        raise InvalidInput("派单须指定一支队伍或一名志愿者", code="assignee_required",
                           field="assignee")

    def work(s: Session) -> dict:
        o = get_order(s, order_id, lock=True)
        if not is_staff(actor, o.village_id):
            raise Forbidden("只有站点工作人员可以派单", code="not_station_staff")
        _need_status(o, OrderStatus.PLACED)
        if team_id is not None:
            t = s.get(Team, team_id)
            if t is None or t.town_id != o.town_id:
                raise NotFound("no such team", code="team_not_found", field="assignee")
            if not team_leaders(s, t.id):
                raise Conflict("该队伍没有队长，无法接单", code="team_without_leader")
            if o.service_code and not _has_skill(s, o.service_code, "team", t.id):
                raise Conflict("该队伍不提供这项服务", code="skill_missing", field="assignee")
        else:
            p = s.get(Person, person_id)
            if p is None:
                raise NotFound("no such person", code="person_not_found", field="assignee")
            if not p.is_volunteer:
                raise Conflict("此人不是志愿者", code="not_a_volunteer", field="assignee")
            if p.household_id == o.household_id:
                raise Conflict("不能派给本户成员", code="assignee_own_household",
                               field="assignee")
            if o.service_code and not _has_skill(s, o.service_code, "person", p.id):
                raise Conflict("该志愿者没有这项服务技能", code="skill_missing", field="assignee")
        at = service_at or max(o.preferred_at, now)
        if at.tzinfo is None:
            raise InvalidInput("times need a time zone", code="time_zone_missing",
                               field="service_at")
        _service_activity(s, actor, o, at, now)
        o.assignee_team_id, o.assignee_person_id = team_id, person_id
        o.accept_due_at, o.escalate_due_at = now + ACCEPT_DEADLINE, None
        _event(s, o, "dispatch", OrderStatus.DISPATCHED, actor, now, reason=note[:MAX_REASON_CHARS],
               team_id=team_id, person_id=person_id, service_at=at.isoformat())
        return order_view(s, o, actor)

    return book.write(db, work, key=key, request={
        "op": "service_dispatch", "order": order_id, "team": team_id, "person": person_id,
        "at": service_at.isoformat() if service_at else None}).result


def _service_activity(s: Session, actor, o: ServiceOrder, at: datetime, now: datetime) -> None:
    """The order's activity, made at its first dispatch (as a draft), moved on a later one."""
    if o.activity_id is not None:
        act = s.get(Activity, o.activity_id)
        act.starts_at, act.ends_at = at, at + SERVICE_WINDOW
        return
    if o.service_code is not None:
        item = menu_item(s, o.town_id, o.service_code)
    else:
        item = s.scalar(select(MenuItem).where(MenuItem.town_id == o.town_id,
                                               MenuItem.code == FREE_TEXT_CODE))
        if item is None:
            raise Conflict(f"the menu has no {FREE_TEXT_CODE!r} item for free-text orders",
                           code="free_text_item_missing")
    title = f"{item.name if o.service_code else '服务单'} · 服务单 #{o.id}"
    d = planning.ActivityDraft(
        village_id=o.village_id, title=title[:planning.MAX_TITLE_CHARS],
        rule_item_code=item.rule_item_code, starts_at=at, ends_at=at + SERVICE_WINDOW,
        place="上门服务", description=o.need[:planning.MAX_DESCRIPTION_CHARS],
        walk_ins_allowed=False)  # no team_id: one household's order is no collective service
    pa = planning.Actor(actor.user_id, actor.person_id, tuple(actor.roles))
    o.activity_id = planning.insert_activity(s, pa, d, now)["id"]


# ---- 接单 ----------------------------------------------------------------------------------

def is_assignee(s: Session, o: ServiceOrder, person_id: int | None, *,
                leader_only: bool = True) -> bool:
    if person_id is None:
        return False
    if o.assignee_person_id is not None:
        return o.assignee_person_id == person_id
    if o.assignee_team_id is None:
        return False
    who = team_leaders(s, o.assignee_team_id) if leader_only else \
        team_members(s, o.assignee_team_id)
    return person_id in who


def _as_assignee(s: Session, o: ServiceOrder, actor) -> None:
    if not is_assignee(s, o, actor.person_id):
        raise Forbidden("只有被派单的志愿者或队长可以接单", code="not_assignee")


def accept(db: Database, actor, order_id: int, *, key: str | None = None,
           now: datetime | None = None) -> dict:
    now = now or utcnow()

    def work(s: Session) -> dict:
        o = get_order(s, order_id, lock=True)
        _as_assignee(s, o, actor)
        _need_status(o, OrderStatus.DISPATCHED)
        if now > o.accept_due_at:
            raise Conflict("已超过接单时限", code="accept_deadline_passed",
                           due_at=o.accept_due_at.isoformat())
        act = planning.get_activity(s, o.activity_id, lock=True)
        act.status, act.opened_at = ActivityStatus.OPEN, now
        servers = [o.assignee_person_id] if o.assignee_person_id else [
            p for p in team_members(s, o.assignee_team_id)
            if s.get(Person, p).household_id != o.household_id]  # nobody serves their own home
        for pid in servers:
            if s.scalar(select(Signup.id).where(Signup.activity_id == act.id,
                                                Signup.person_id == pid)) is None:
                s.add(Signup(activity_id=act.id, person_id=pid, status=SignupStatus.SIGNED_UP,
                             created_at=now, updated_at=now))
        o.accepted_by_person_id = actor.person_id
        _event(s, o, "accept", OrderStatus.ACCEPTED, actor, now)
        return order_view(s, o, actor)

    return book.write(db, work, key=key, request={"op": "service_accept",
                                                  "order": order_id}).result


def _back_to_station(s: Session, o: ServiceOrder, action: str, actor, now: datetime,
                     reason: str) -> None:
    o.assignee_team_id = o.assignee_person_id = o.accept_due_at = None
    o.escalation = max(o.escalation, 1)
    o.escalate_due_at = now + STATION_DEADLINE
    _event(s, o, action, OrderStatus.PLACED, actor, now, reason=reason, escalation=1)


def decline(db: Database, actor, order_id: int, reason: str, *, key: str | None = None,
            now: datetime | None = None) -> dict:
    now = now or utcnow()
    why = _reason(reason)

    def work(s: Session) -> dict:
        o = get_order(s, order_id, lock=True)
        _as_assignee(s, o, actor)
        _need_status(o, OrderStatus.DISPATCHED)
        _back_to_station(s, o, "decline", actor, now, why)
        return order_view(s, o, actor)

    return book.write(db, work, key=key, request={"op": "service_decline", "order": order_id,
                                                  "reason": why}).result


# ---- serving: the order follows its activity ------------------------------------------------

def sync(s: Session, o: ServiceOrder) -> bool:
    """Move an accepted order to serving or done from its activity's attendances (inside the
    caller's transaction). The event carries the volunteer and the scan's own time."""
    if o.status not in (OrderStatus.ACCEPTED, OrderStatus.SERVING) or o.activity_id is None:
        return False
    atts = list(s.scalars(select(Attendance).where(Attendance.activity_id == o.activity_id)
                          .order_by(Attendance.check_in_at)))
    if not atts:
        return False
    first, changed = atts[0], o.status == OrderStatus.ACCEPTED
    if changed:
        _event(s, o, "check_in", OrderStatus.SERVING, None, first.check_in_at,
               person_id=first.person_id, attendance_id=first.id)
    if any(a.state == AttendanceState.CHECKED_IN for a in atts):
        return changed
    last = max(atts, key=lambda a: a.check_out_at or a.check_in_at)
    done_at = last.check_out_at or last.check_in_at
    _event(s, o, "done", OrderStatus.DONE, None, done_at, person_id=last.person_id,
           attendance_id=last.id, minutes=sum(a.counted_minutes or 0 for a in atts))
    o.done_at = done_at
    act = s.get(Activity, o.activity_id)
    act.status, act.closed_at = ActivityStatus.CLOSED, done_at
    return True


def refresh(db: Database, order_id: int) -> None:
    """Bring one order up to date with its activity (a page about to show it)."""
    with db.sessions() as s:
        o = get_order(s, order_id)
        if o.status not in (OrderStatus.ACCEPTED, OrderStatus.SERVING):
            return
    with db.transaction() as s:
        sync(s, get_order(s, order_id, lock=True))


def sweep(db: Database, now: datetime | None = None, limit: int = SWEEP_BATCH) -> dict:
    """The periodic job (workers' beat, every few minutes): orders not accepted in time go back
    to the station; orders back with the station past the second deadline go up to the town;
    orders being served follow their check-ins."""
    now = now or utcnow()
    out = {"to_station": 0, "to_town": 0, "synced": 0}
    with db.transaction() as s:
        for o in s.scalars(select(ServiceOrder).where(
                ServiceOrder.status == OrderStatus.DISPATCHED,
                ServiceOrder.accept_due_at < now).order_by(ServiceOrder.id).limit(limit)
                .with_for_update()):
            _back_to_station(s, o, "escalate_station", None, now, "未在时限内接单")
            out["to_station"] += 1
        for o in s.scalars(select(ServiceOrder).where(
                ServiceOrder.status == OrderStatus.PLACED, ServiceOrder.escalation == 1,
                ServiceOrder.escalate_due_at < now).order_by(ServiceOrder.id).limit(limit)
                .with_for_update()):
            o.escalation = 2
            _event(s, o, "escalate_town", OrderStatus.PLACED, None, now,
                   reason="站点未在时限内重新派单，已上报镇里", escalation=2)
            out["to_town"] += 1
        for o in s.scalars(select(ServiceOrder).where(ServiceOrder.status.in_(
                (OrderStatus.ACCEPTED, OrderStatus.SERVING))).order_by(ServiceOrder.id)
                .limit(limit).with_for_update()):
            out["synced"] += int(sync(s, o))
    return out


# ---- 评单 and cancelling --------------------------------------------------------------------

def served_by(s: Session, o: ServiceOrder) -> set[int]:
    """Everyone whose work the order is: the assignee, the team's members, who checked in."""
    who = set()
    if o.assignee_person_id:
        who.add(o.assignee_person_id)
    if o.assignee_team_id:
        who.update(team_members(s, o.assignee_team_id))
    if o.activity_id:
        who.update(s.scalars(select(Attendance.person_id)
                             .where(Attendance.activity_id == o.activity_id)))
    return who


def in_household(s: Session, o: ServiceOrder, person_id: int | None) -> bool:
    if person_id is None:
        return False
    p = s.get(Person, person_id)
    return p is not None and p.household_id == o.household_id


def rate(db: Database, actor, order_id: int, rating: int, comment: str = "", *,
         key: str | None = None, now: datetime | None = None) -> dict:
    now = now or utcnow()
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput("评分为 1–5 星", code="rating_out_of_range", field="rating")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"评价最多 {MAX_COMMENT_CHARS} 字", code="comment_too_long",
                           field="comment", max_chars=MAX_COMMENT_CHARS)

    def work(s: Session) -> dict:
        o = get_order(s, order_id, lock=True)
        sync(s, o)
        resident = in_household(s, o, actor.person_id)
        staff = is_staff(actor, o.village_id)
        if actor.person_id is not None and actor.person_id in served_by(s, o):
            raise Forbidden("不能评价本人或本队的服务", code="rate_own_team")
        if not resident and not staff:
            raise Forbidden("只有下单住户或站点工作人员可以评价", code="not_your_order")
        if o.status == OrderStatus.RATED:
            raise Conflict("此服务单已评价", code="order_already_rated")
        if o.status != OrderStatus.DONE:
            raise Conflict("服务完成后才能评价", code="order_not_done", status_now=o.status)
        channel = Channel.SELF if resident else Channel.PHONE
        o.rating, o.rating_comment, o.rated_at = rating, comment, now
        _event(s, o, "rate", OrderStatus.RATED, actor, now, rating=rating, channel=channel)
        return order_view(s, o, actor)

    return book.write(db, work, key=key, request={"op": "service_rate", "order": order_id,
                                                  "rating": rating, "comment": comment}).result


def cancel(db: Database, actor, order_id: int, reason: str, *, key: str | None = None,
           now: datetime | None = None) -> dict:
    now = now or utcnow()
    why = _reason(reason)

    def work(s: Session) -> dict:
        o = get_order(s, order_id, lock=True)
        sync(s, o)
        if not in_household(s, o, actor.person_id) and not is_staff(actor, o.village_id):
            raise Forbidden("只有下单住户或站点工作人员可以取消", code="not_your_order")
        _need_status(o, OrderStatus.PLACED, OrderStatus.DISPATCHED, OrderStatus.ACCEPTED)
        if o.activity_id is not None:
            act = s.get(Activity, o.activity_id)
            if act.status != ActivityStatus.CLOSED:
                act.status, act.closed_at = ActivityStatus.CLOSED, now
        _event(s, o, "cancel", OrderStatus.CANCELLED, actor, now, reason=why)
        return order_view(s, o, actor)

    return book.write(db, work, key=key, request={"op": "service_cancel", "order": order_id,
                                                  "reason": why}).result


# ---- views ---------------------------------------------------------------------------------

def may_see_contact(s: Session, o: ServiceOrder, actor) -> bool:
    """The resident's phone and address: the household and the station's staff; the assigned
    team (or volunteer) only while the order is open."""
    if actor is None:
        return False
    if in_household(s, o, actor.person_id) or is_staff(actor, o.village_id):
        return True
    return o.status in (OrderStatus.DISPATCHED, OrderStatus.ACCEPTED, OrderStatus.SERVING) \
        and is_assignee(s, o, actor.person_id, leader_only=False)


def overdue(o: ServiceOrder, now: datetime) -> bool:
    return o.escalation > 0 or (o.status in OPEN_STATUSES
                                and now > o.preferred_at + OVERDUE_AFTER)


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


def read_order(db: Database, actor, order_id: int) -> dict:
    """One order as the caller may see it, with its events; brought up to date first."""
    refresh(db, order_id)
    with db.sessions() as s:
        o = get_order(s, order_id)
        if not (in_household(s, o, actor.person_id) or is_staff(actor, o.village_id)
                or is_assignee(s, o, actor.person_id, leader_only=False)
                or holds(actor, ("town_admin",), None)):
            raise Forbidden("无权查看此服务单", code="not_your_order")
        return {**order_view(s, o, actor), "events": events(s, o.id),
                "can": _abilities(s, o, actor)}


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


def list_orders(s: Session, actor, *, village_id: int | None = None, mine: bool = False,
                tasks: bool = False, limit: int = 100,
                before_id: int | None = None) -> list[dict]:
    """A station's queue (staff), a household's orders (mine), or a volunteer's tasks; newest
    first, the next page read from `before_id` (ledger/paging.py)."""
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


def service_code(db: Database, secret: str, base_url: str, actor, order_id: int) -> dict:
    """The order's check-in code, for the household's page (or the station to print): the
    activity's static code, valid while the order is accepted or being served."""
    from ledger.activities import tokens
    refresh(db, order_id)
    with db.sessions() as s:
        o = get_order(s, order_id)
        if not (in_household(s, o, actor.person_id) or is_staff(actor, o.village_id)):
            raise Forbidden("服务码只给下单住户和站点工作人员", code="not_your_order")
        _need_status(o, OrderStatus.ACCEPTED, OrderStatus.SERVING)
        act = s.get(Activity, o.activity_id)
        tok = tokens.static_token(secret, act.id, act.static_version)
        return {"order_id": o.id, "activity_id": act.id, "token": tok,
                "url": f"{base_url}/c/{tok}"}
