"""四单: placing, dispatching, accepting or declining, rating and cancelling service orders:
what a person does to an order. Each write runs in one transaction (`book.write`, with the
caller's idempotency key) and appends an OrderEvent naming who, when and why. Beside it: the
order's state and who stands where (orders.py), the menu and skills (menu.py), following its
activity and deadlines (progress.py), what people see (views.py).

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

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.activities import planning
from ledger.activities.models import Activity, ActivityStatus, Signup, SignupStatus
from ledger.db import Database
from ledger.errors import Conflict, Forbidden, InvalidInput, NotFound
from ledger.journal import book
from ledger.matching.menu import FREE_TEXT_CODE, has_skill, menu_item
from ledger.matching.models import (
    OPEN_STATUSES,
    Channel,
    MenuItem,
    OrderEvent,
    OrderStatus,
    ServiceOrder,
)
from ledger.matching.orders import (
    MAX_REASON_CHARS,
    back_to_station,
    checked_reason,
    get_order,
    in_household,
    is_assignee,
    is_staff,
    need_status,
    record_event,
    served_by,
)
from ledger.matching.progress import sync
from ledger.matching.schemas import OrderView
from ledger.matching.views import order_view
from ledger.registry.models import Household, Person, Team, Village
from ledger.stations.service import team_leaders, team_members
from ledger.timeutil import utcnow

MAX_NEED_CHARS = 500
MAX_COMMENT_CHARS = 500
MAX_PHOTOS = 3
MAX_OPEN_ORDERS_PER_HOUSEHOLD = 5
ACCEPT_DEADLINE = timedelta(hours=24)  # 接单 within this of the dispatch, or back to the station
SERVICE_WINDOW = timedelta(hours=4)  # the order's activity: from the service time, this long
MAX_PREFERRED_AHEAD = timedelta(days=60)
PREFERRED_PAST_SLACK = timedelta(hours=1)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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


def _typed(view: dict) -> OrderView:
    """An order's view (fresh, or the first answer remembered for a retried key) as its type."""
    return msgspec.convert(view, OrderView)


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
                now: datetime | None = None) -> OrderView:
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
    return _typed(book.write(db, work, key=key, request=request).result)


def dispatch(db: Database, actor, order_id: int, *, team_id: int | None = None,
             person_id: int | None = None, service_at: datetime | None = None,
             note: str = "", key: str | None = None, now: datetime | None = None) -> OrderView:
    now = now or utcnow()
    if (team_id is None) == (person_id is None):
        raise InvalidInput("派单须指定一支队伍或一名志愿者", code="assignee_required",
                           field="assignee")

    def work(s: Session) -> dict:
        o = get_order(s, order_id, lock=True)
        if not is_staff(actor, o.village_id):
            raise Forbidden("只有站点工作人员可以派单", code="not_station_staff")
        need_status(o, OrderStatus.PLACED)
        if team_id is not None:
            t = s.get(Team, team_id)
            if t is None or t.town_id != o.town_id:
                raise NotFound("no such team", code="team_not_found", field="assignee")
            if not team_leaders(s, t.id):
                raise Conflict("该队伍没有队长，无法接单", code="team_without_leader")
            if o.service_code and not has_skill(s, o.service_code, "team", t.id):
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
            if o.service_code and not has_skill(s, o.service_code, "person", p.id):
                raise Conflict("该志愿者没有这项服务技能", code="skill_missing", field="assignee")
        at = service_at or max(o.preferred_at, now)
        if at.tzinfo is None:
            raise InvalidInput("times need a time zone", code="time_zone_missing",
                               field="service_at")
        _service_activity(s, actor, o, at, now)
        o.assignee_team_id, o.assignee_person_id = team_id, person_id
        o.accept_due_at, o.escalate_due_at = now + ACCEPT_DEADLINE, None
        record_event(s, o, "dispatch", OrderStatus.DISPATCHED, actor, now,
                     reason=note[:MAX_REASON_CHARS], team_id=team_id, person_id=person_id,
                     service_at=at.isoformat())
        return order_view(s, o, actor)

    return _typed(book.write(db, work, key=key, request={
        "op": "service_dispatch", "order": order_id, "team": team_id, "person": person_id,
        "at": service_at.isoformat() if service_at else None}).result)


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
    o.activity_id = planning.insert_activity(s, actor, d, now)["id"]


def _as_assignee(s: Session, o: ServiceOrder, actor) -> None:
    if not is_assignee(s, o, actor.person_id):
        raise Forbidden("只有被派单的志愿者或队长可以接单", code="not_assignee")


def accept(db: Database, actor, order_id: int, *, key: str | None = None,
           now: datetime | None = None) -> OrderView:
    now = now or utcnow()

    def work(s: Session) -> dict:
        o = get_order(s, order_id, lock=True)
        _as_assignee(s, o, actor)
        need_status(o, OrderStatus.DISPATCHED)
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
        record_event(s, o, "accept", OrderStatus.ACCEPTED, actor, now)
        return order_view(s, o, actor)

    return _typed(book.write(db, work, key=key, request={"op": "service_accept",
                                                         "order": order_id}).result)


def decline(db: Database, actor, order_id: int, reason: str, *, key: str | None = None,
            now: datetime | None = None) -> OrderView:
    now = now or utcnow()
    why = checked_reason(reason)

    def work(s: Session) -> dict:
        o = get_order(s, order_id, lock=True)
        _as_assignee(s, o, actor)
        need_status(o, OrderStatus.DISPATCHED)
        back_to_station(s, o, "decline", actor, now, why)
        return order_view(s, o, actor)

    return _typed(book.write(db, work, key=key, request={
        "op": "service_decline", "order": order_id, "reason": why}).result)


def rate(db: Database, actor, order_id: int, rating: int, comment: str = "", *,
         key: str | None = None, now: datetime | None = None) -> OrderView:
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
        record_event(s, o, "rate", OrderStatus.RATED, actor, now, rating=rating, channel=channel)
        return order_view(s, o, actor)

    return _typed(book.write(db, work, key=key, request={
        "op": "service_rate", "order": order_id, "rating": rating, "comment": comment}).result)


def cancel(db: Database, actor, order_id: int, reason: str, *, key: str | None = None,
           now: datetime | None = None) -> OrderView:
    now = now or utcnow()
    why = checked_reason(reason)

    def work(s: Session) -> dict:
        o = get_order(s, order_id, lock=True)
        sync(s, o)
        if not in_household(s, o, actor.person_id) and not is_staff(actor, o.village_id):
            raise Forbidden("只有下单住户或站点工作人员可以取消", code="not_your_order")
        need_status(o, OrderStatus.PLACED, OrderStatus.DISPATCHED, OrderStatus.ACCEPTED)
        if o.activity_id is not None:
            act = s.get(Activity, o.activity_id)
            if act.status != ActivityStatus.CLOSED:
                act.status, act.closed_at = ActivityStatus.CLOSED, now
        record_event(s, o, "cancel", OrderStatus.CANCELLED, actor, now, reason=why)
        return order_view(s, o, actor)

    return _typed(book.write(db, work, key=key, request={
        "op": "service_cancel", "order": order_id, "reason": why}).result)
