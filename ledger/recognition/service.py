"""Keyed recognition operations for the edges (API, CLI): each write runs in one transaction
through `book.write`, so a retried request never applies twice, and the background work it
asks for is an outbox row of that same transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger import outbox
from ledger.registry.models import Household, Person, Town, Village
from ledger.db import Database
from ledger.errors import InvalidInput, NotFound
from ledger.journal import book
from ledger.journal.models import HolderType
from ledger.recognition import honor, leaderboards, rollups, stars
from ledger.recognition.leaderboards import live_periods
from ledger.recognition.models import HonorDefinition, HonorList
from ledger.recognition.poster import poster_bytes
from ledger.recognition.schemas import (DefinitionView, HonorListView, NoticeListView,
                                        NoticeSummary, PublishedListView, RankingView,
                                        StarConfigView, StarSummary, TaskView,
                                        VolunteerStars)
from ledger.recognition.tasks import EXPORT_TASK, RECOMPUTE_TASK
from ledger.rules.store import scale_in_force
from ledger.units import points_of
from ledger.view import typed

MAX_PAGE = 100


def set_star_config(db: Database, *, town_id: int, kind: str, body: dict,
                    actor_id: int | None, key: str | None) -> StarConfigView:
    """A new version of a town's thresholds; every star is recomputed after the commit."""
    def work(s) -> dict:
        _town(s, town_id)
        cfg = stars.set_config(s, town_id, kind, body, actor_id)
        outbox.enqueue(s, RECOMPUTE_TASK, {"town_id": town_id, "cause": "thresholds"})
        return cfg.as_dict()

    return typed(book.write(db, work, key=key, request={
        "op": "star_config", "town": town_id, "kind": kind, "body": body}).result,
        StarConfigView)


def star_config(db: Database, town_id: int, kind: str) -> StarConfigView:
    """A town's star thresholds of one kind now (the defaults until it sets its own)."""
    with db.sessions() as s:
        return typed(stars.get_config(s, town_id, kind).as_dict(), StarConfigView)


def request_recompute(db: Database, *, town_id: int | None, key: str | None) -> TaskView:
    """Recompute every star (of a town, or of all) in a background task; its state now."""
    def work(s: Session) -> dict:
        if town_id is not None:
            _town(s, town_id)
        return {"task_id": outbox.enqueue(s, RECOMPUTE_TASK,
                                          {"town_id": town_id, "cause": "recompute"})}

    res = book.write(db, work, key=key, request={"op": "recompute_stars", "town": town_id})
    return task_status(db, res.result["task_id"])


def _town(s: Session, town_id: int) -> None:
    """Refuse work for a town that does not exist (before a task is queued for it)."""
    if s.get(Town, town_id) is None:
        raise NotFound(f"town {town_id} does not exist", code="town_not_found")


def star_summary(db: Database, holder_type: str, holder_id: int) -> StarSummary:
    rollups.catch_up(db, mode="new")  # the history includes every committed change
    with db.sessions() as s:
        return typed(stars.summary(s, holder_type, holder_id), StarSummary)


def create_definition(db: Database, *, fields: dict, actor_id: int | None,
                      key: str | None) -> DefinitionView:
    return typed(book.write(db, lambda s: honor.definition_view(
        honor.create_definition(s, fields, actor_id)), key=key,
        request={"op": "honor_definition", **fields}).result, DefinitionView)


def list_definitions(db: Database, *, town_id: int | None,
                     village_id: int | None) -> list[DefinitionView]:
    from sqlalchemy import select
    with db.sessions() as s:
        q = select(HonorDefinition).where(HonorDefinition.active.is_(True))
        if town_id is not None:
            q = q.where(HonorDefinition.town_id == town_id)
        if village_id is not None:
            q = q.where(HonorDefinition.scope == "village", HonorDefinition.scope_id == village_id)
        return typed([honor.definition_view(d) for d in s.scalars(
            q.order_by(HonorDefinition.id).limit(MAX_PAGE))], list[DefinitionView])


def scope_of_definition(db: Database, def_id: int) -> tuple[int, int | None]:
    """(town id, village id or None) whose admins manage the definition and its lists."""
    with db.sessions() as s:
        d = honor.get_definition(s, def_id)
        return honor.scope_town(s, d.scope, d.scope_id)


def scope_of(db: Database, scope: str, scope_id: int) -> tuple[int, int | None]:
    """(town id, village id or None) whose admins manage lists of this scope."""
    with db.sessions() as s:
        return honor.scope_town(s, scope, scope_id)


def scope_of_list(db: Database, list_id: int) -> tuple[int, int | None]:
    with db.sessions() as s:
        hl = s.get(HonorList, list_id)
        if hl is None:
            raise NotFound(f"honor list {list_id} does not exist", code="honor_list_not_found")
        d = s.get(HonorDefinition, hl.definition_id)
        return honor.scope_town(s, d.scope, d.scope_id)


def request_draft(db: Database, *, def_id: int, period: str, until: str | None,
                  actor_id: int | None, key: str | None) -> HonorListView:
    """Ask for a draft (computed by the worker; in the embedded default, before this returns)."""
    res = book.write(db, lambda s: {"list_id": honor.request_draft(
        s, def_id, period, until, actor_id).id}, key=key,
        request={"op": "honor_draft", "definition": def_id, "period": period, "until": until})
    return get_list(db, res.result["list_id"], admin=True)


def get_list(db: Database, list_id: int, *, admin: bool) -> HonorListView:
    with db.sessions() as s:
        hl = honor.get_list(s, list_id)
        if not admin and hl.status != "published":
            raise NotFound(f"honor list {list_id} is not published", code="honor_list_not_found")
        return typed(honor.list_view(s, hl, admin=admin), HonorListView)


def _list_op(db: Database, list_id: int, op: str, fn, key: str | None,  # noqa: ANN001
             req: dict) -> HonorListView:
    book.write(db, lambda s: {"list_id": fn(s).id}, key=key,
               request={"op": op, "list": list_id, **req})
    return get_list(db, list_id, admin=True)


def start_review(db: Database, *, list_id: int, actor_id: int | None,
                 key: str | None) -> HonorListView:
    return _list_op(db, list_id, "honor_review",
                    lambda s: honor.start_review(s, list_id, actor_id), key, {})


def exclude(db: Database, *, list_id: int, holder_id: int, reason: str, actor_id: int | None,
            key: str | None) -> HonorListView:
    return _list_op(db, list_id, "honor_exclude",
                    lambda s: honor.exclude(s, list_id, holder_id, reason, actor_id), key,
                    {"holder": holder_id, "reason": reason})


def publish(db: Database, *, list_id: int, actor_id: int | None, poster_dir: str,
            base_url: str, key: str | None) -> HonorListView:
    return _list_op(db, list_id, "honor_publish",
                    lambda s: honor.publish(s, list_id, actor_id, poster_dir=poster_dir,
                                            base_url=base_url), key, {})


def published(db: Database, *, town_id: int | None,
              village_id: int | None) -> list[PublishedListView]:
    with db.sessions() as s:
        return typed(honor.published_lists(s, town_id=town_id, village_id=village_id,
                                           limit=MAX_PAGE), list[PublishedListView])


def poster(db: Database, *, list_id: int, ext: str, poster_dir: str, base_url: str) -> bytes:
    with db.sessions() as s:
        hl = honor.get_list(s, list_id)
        if hl.status != "published":
            raise NotFound(f"honor list {list_id} is not published", code="honor_list_not_found")
        content, sha = hl.content, hl.content_sha256
    return poster_bytes(content, sha, base_url, ext, poster_dir)


def ranking(db: Database, *, scope: str, scope_id: int, metric: str, period: str,
            n: int) -> RankingView:
    """A live board, with masked names (it is public)."""
    from sqlalchemy import select

    units = {"points": ("points", "person"), "hours": ("minutes", "person"),
             "household_score": ("points", "household")}
    if metric not in units:
        raise InvalidInput(f"metric is one of {tuple(units)}", code="ranking_metric_invalid")
    if scope not in ("town", "village"):
        raise InvalidInput("scope is town or village", code="ranking_scope_invalid")
    periods = dict(zip(("month", "year"), live_periods()))
    if period not in periods:
        raise InvalidInput("period is month or year (the live ones)",
                           code="ranking_period_invalid")
    rollups.catch_up(db, mode="new")
    unit, htype = units[metric]
    with db.sessions() as s:
        rows = leaderboards.top(s, unit=unit, holder_type=htype, period_key=periods[period],
                                scope=scope, scope_id=scope_id, n=n)
        model = Person if htype == "person" else Household
        col = Person.name if htype == "person" else Household.head_name
        names = dict(s.execute(select(model.id, col).where(
            model.id.in_([r["holder_id"] for r in rows]))).all())
        scale = scale_in_force(s) if unit == "points" else 1
    for r in rows:
        r["name"] = honor.mask(names.get(r["holder_id"], ""))
        if unit == "minutes":
            r["hours_x10"] = r["value"] * 10 // 60
        else:  # `value` is in ledger steps; `points` as people read them (ledger.units)
            r["points"] = points_of(r["value"], scale)
    return typed({"scope": scope, "scope_id": scope_id, "metric": metric,
                  "period": periods[period], "entries": rows}, RankingView)


def request_export(db: Database, *, village_id: int, year: int, out_dir: str,
                   key: str | None) -> TaskView:
    def work(s: Session) -> dict:
        # Refuse now what the task would refuse later: a task for no village would only
        # retry until it is dead, and the caller would have been told 202.
        if s.get(Village, village_id) is None:
            raise NotFound(f"village {village_id} does not exist", code="village_not_found")
        return {"task_id": outbox.enqueue(
            s, EXPORT_TASK, {"village_id": village_id, "year": year, "out_dir": out_dir})}

    res = book.write(db, work, key=key,
                     request={"op": "export", "village": village_id, "year": year})
    return task_status(db, res.result["task_id"])


def task_status(db: Database, task_id: int) -> TaskView:
    with db.sessions() as s:
        row = s.get(outbox.OutboxRow, task_id)
        if row is None:
            raise NotFound(f"task {task_id} does not exist", code="task_not_found")
        state = ("done" if row.done_at else "dead" if row.dead_at else
                 "retrying" if row.attempts else "queued")
        return TaskView(task_id=row.id, task=row.task, state=state, attempts=row.attempts,
                        error=row.last_error or None, result=row.result)


def start_notice(db: Database, *, list_id: int, actor_id: int | None, days: int,
                 key: str | None) -> HonorListView:
    return _list_op(db, list_id, "honor_notice",
                    lambda s: honor.start_notice(s, list_id, actor_id, days), key,
                    {"days": days})


def object_to_list(db: Database, *, list_id: int, user_id: int, reason: str,
                   holder_id: int | None, key: str | None) -> dict:
    """A public objection while the list is on notice (idempotent by key)."""
    return book.write(db, lambda s: {"objection_id": honor.object_to_list(
        s, list_id, user_id, reason, holder_id).id}, key=key, request={
        "op": "honor_object", "list": list_id, "by": user_id, "holder": holder_id,
        "reason": reason}).result


def decide_objection(db: Database, *, list_id: int, objection_id: int, actor_id: int | None,
                     upheld: bool, note: str, key: str | None) -> HonorListView:
    return _list_op(db, list_id, "honor_objection",
                    lambda s: honor.decide_objection(s, objection_id, actor_id, upheld, note),
                    key, {"objection": objection_id, "upheld": upheld, "note": note})


def public_list(db: Database, list_id: int) -> NoticeListView | HonorListView:
    """A list as anyone sees it: on public notice (with its candidates, for objections) or
    published; a list in any other state is not shown."""
    with db.sessions() as s:
        hl = honor.get_list(s, list_id)
        if hl.status == "notice":
            return typed(honor.notice_view(s, hl), NoticeListView)
        if hl.status != "published":
            raise NotFound(f"honor list {list_id} is not published",
                           code="honor_list_not_found")
        return typed(honor.list_view(s, hl, admin=False), HonorListView)


def notices(db: Database) -> list[NoticeSummary]:
    """Every list on public notice now, newest first."""
    from sqlalchemy import select
    with db.sessions() as s:
        rows = s.execute(select(HonorList, HonorDefinition).join(
            HonorDefinition, HonorDefinition.id == HonorList.definition_id)
            .where(HonorList.status == "notice").order_by(HonorList.id.desc())
            .limit(MAX_PAGE)).all()
        return [NoticeSummary(id=hl.id, title=d.name, period=hl.period_key,
                              notice_until=hl.notice_until.isoformat()) for hl, d in rows]


MINUTES_PER_HOUR = 60


def volunteer_progress(db: Database, person_id: int) -> VolunteerStars:
    """The 'my points' page's stars: held, the next level, and the hours to it
    (`stars.summary`)."""
    with db.sessions() as s:
        sm = stars.summary(s, HolderType.PERSON, person_id)
    cur = sm["current"]
    nxt = cur.get("next_threshold")
    if nxt is None:
        return VolunteerStars(stars=sm["stars"], next_stars=None, hours_to_next=None)
    # the next threshold and the live value are both in minutes
    return VolunteerStars(stars=sm["stars"], next_stars=cur["level"] + 1,
                          hours_to_next=-(-(nxt - cur["value"]) // MINUTES_PER_HOUR))
