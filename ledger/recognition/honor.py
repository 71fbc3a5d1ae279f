"""Honor lists (光荣榜): definitions, drafts computed from the rollups, review with exclusions,
and publication that freezes the content with its sha256 and the ledger's checkpoint root.

Tie-break rules (a definition picks one; both are tested):
- `shared` (default): equal values share a rank (1, 2, 2, 4). Everyone tied at the last place
  is listed, so a list may run past its size, by at most TIE_SPILL entries; a tie larger than
  that at the last place is left off whole (the draft says so), never cut arbitrarily.
- `registration`: equal values are ordered by registration (the lower holder id first) and the
  list stops exactly at its size; ranks are 1..size.
Order within equal values is by holder id in both rules, so a draft is deterministic.

(Over 400 lines on purpose: definitions, drafts, review, publication and objections are one
lifecycle of one record, the honor list.)
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import outbox
from ledger.registry.models import Household, Person, Team, TeamMember, Town, Village
from ledger.db import sha256_hex
from ledger.errors import Conflict, InvalidInput, NotFound
from ledger.journal.audit import make_checkpoint
from ledger.journal.models import Checkpoint
from ledger.journal.posting import canonical_json
from ledger.recognition import rollups, scores, stars
from ledger.recognition.models import (
    HonorDefinition,
    HonorList,
    HonorObjection,
    HonorStatus,
)
from ledger.rules.periods import next_period_start
from ledger.rules.standing import stopped  # a state of standing that stops honors
from ledger.timeutil import utcnow
from ledger.rules.store import scale_in_force
from ledger.units import points_of

SCOPES = ("town", "village", "team")
PERIODS = ("month", "quarter", "year", "custom")
TIE_BREAKS = ("shared", "registration")
# metric → (unit, holder type); collective services are counted from activities
METRICS = {"points": ("points", "person"), "hours": ("minutes", "person"),
           "household_score": ("points", "household"), "collective_services": (None, "team")}
METRIC_SCOPES = {"points": SCOPES, "hours": SCOPES, "household_score": ("town", "village"),
                 "collective_services": ("town", "village")}
MAX_SIZE = 100
MAX_EXCLUSIONS = 20  # the draft keeps this many reserves below the cut
TIE_SPILL = 50
MAX_NAME_CHARS = 100
MAX_REASON_CHARS = 200
MAX_CUSTOM_MONTHS = 24
MAX_NOTICE_DAYS = 30
MAX_OBJECTIONS_PER_LIST = 200
DRAFT_TASK = "recognition.honor_draft"
POSTER_TASK = "recognition.honor_poster"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


def _bad(msg: str, code: str, **kw) -> InvalidInput:
    return InvalidInput(msg, code=code, **kw)


def _month(text_: str, field: str) -> date:
    m = _MONTH.match(text_ or "")
    if not m or not 1 <= int(m[2]) <= 12 or not 2000 <= int(m[1]) <= 2100:
        raise _bad(f"{field} is a month like 2026-03", "honor_period_invalid", field=field)
    return date(int(m[1]), int(m[2]), 1)


def parse_period(kind: str, spec: str, until: str | None = None) -> tuple[str, date, date]:
    """(period key, first day, day after the last) of a list's period, in local dates."""
    if kind == "month":
        start = _month(spec, "period")
        return f"month:{spec}", start, next_period_start("month", start)
    if kind == "quarter":
        m = _QUARTER.match(spec or "")
        if not m:
            raise _bad("period is a quarter like 2026-Q1", "honor_period_invalid")
        start = date(int(m[1]), 3 * int(m[2]) - 2, 1)
        return f"quarter:{spec}", start, next_period_start("quarter", start)
    if kind == "year":
        if not _YEAR.match(spec or ""):
            raise _bad("period is a year like 2026", "honor_period_invalid")
        start = date(int(spec), 1, 1)
        return f"year:{spec}", start, date(start.year + 1, 1, 1)
    start, last = _month(spec, "period"), _month(until or "", "until")
    end = next_period_start("month", last)
    if last < start or len(scores.months_of(start, end)) > MAX_CUSTOM_MONTHS:
        raise _bad(f"a custom period is 1..{MAX_CUSTOM_MONTHS} whole months, in order",
                   "honor_period_invalid")
    return f"custom:{spec}..{until}", start, end


# ---------------------------------------------------------------------------------------------
# Definitions


def scope_town(s: Session, scope: str, scope_id: int) -> tuple[int, int | None]:
    """(town id, village id or None) of a scope; NotFound if it does not exist."""
    if scope == "town":
        if s.get(Town, scope_id) is None:
            raise NotFound(f"town {scope_id} does not exist", code="town_not_found")
        return scope_id, None
    if scope == "village":
        v = s.get(Village, scope_id)
        if v is None:
            raise NotFound(f"village {scope_id} does not exist", code="village_not_found")
        return v.town_id, v.id
    t = s.get(Team, scope_id)
    if t is None:
        raise NotFound(f"team {scope_id} does not exist", code="team_not_found")
    return t.town_id, t.village_id


def create_definition(s: Session, f: dict, actor_id: int | None) -> HonorDefinition:
    name = (f.get("name") or "").strip()
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise _bad(f"name is 1..{MAX_NAME_CHARS} characters", "honor_name_invalid")
    scope, period, metric = f.get("scope"), f.get("period"), f.get("metric")
    tie = f.get("tie_break", "shared")
    if scope not in SCOPES:
        raise _bad(f"scope is one of {SCOPES}", "honor_scope_invalid")
    if period not in PERIODS:
        raise _bad(f"period is one of {PERIODS}", "honor_period_invalid")
    if metric not in METRICS:
        raise _bad(f"metric is one of {tuple(METRICS)}", "honor_metric_invalid")
    if scope not in METRIC_SCOPES[metric]:
        raise _bad(f"metric {metric} ranks within {METRIC_SCOPES[metric]} only",
                   "honor_scope_invalid")
    if tie not in TIE_BREAKS:
        raise _bad(f"tie_break is one of {TIE_BREAKS}", "honor_tie_break_invalid")
    size, minimum = f.get("size"), f.get("minimum", 1)
    if not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
        raise _bad(f"size is 1..{MAX_SIZE}", "honor_size_invalid")
    if not isinstance(minimum, int) or not 0 <= minimum <= 10**9:
        raise _bad("minimum is a whole number >= 0 (points, hours or services)",
                   "honor_minimum_invalid")
    town_id, _ = scope_town(s, scope, f.get("scope_id"))
    d = HonorDefinition(town_id=town_id, name=name, scope=scope, scope_id=f["scope_id"],
                        period=period, metric=metric, size=size, minimum=minimum,
                        tie_break=tie, mask_names=bool(f.get("mask_names", False)),
                        created_by=actor_id, created_at=utcnow(), active=True)
    s.add(d)
    s.flush()
    return d


def definition_view(d: HonorDefinition) -> dict:
    return {"id": d.id, "town_id": d.town_id, "name": d.name, "scope": d.scope,
            "scope_id": d.scope_id, "period": d.period, "metric": d.metric, "size": d.size,
            "minimum": d.minimum, "tie_break": d.tie_break, "mask_names": d.mask_names,
            "active": d.active}


def get_definition(s: Session, def_id: int) -> HonorDefinition:
    d = s.get(HonorDefinition, def_id)
    if d is None:
        raise NotFound(f"honor list definition {def_id} does not exist",
                       code="honor_definition_not_found")
    return d


# ---------------------------------------------------------------------------------------------
# Drafts


def request_draft(s: Session, def_id: int, period: str, until: str | None,
                  actor_id: int | None) -> HonorList:
    """Record a draft to compute and enqueue its computation (after this commit)."""
    d = get_definition(s, def_id)
    if not d.active:
        raise Conflict("this definition is retired", code="honor_definition_retired")
    key, start, end = parse_period(d.period, period, until)
    version = (s.scalar(select(func.max(HonorList.version)).where(
        HonorList.definition_id == d.id, HonorList.period_key == key)) or 0) + 1
    hl = HonorList(definition_id=d.id, period_key=key, period_start=start, period_end=end,
                   version=version, status=HonorStatus.COMPUTING, requested_by=actor_id,
                   requested_at=utcnow(), exclusions=[])
    s.add(hl)
    s.flush()
    outbox.enqueue(s, DRAFT_TASK, {"list_id": hl.id})
    return hl


def _scope_filter(q, d: HonorDefinition, col_holder, col_village, col_town):  # noqa: ANN001
    if d.scope == "town":
        return q.where(col_town == d.scope_id)
    if d.scope == "village":
        return q.where(col_village == d.scope_id)
    return q.where(col_holder.in_(select(TeamMember.person_id)
                                  .where(TeamMember.team_id == d.scope_id)))


def _fetch(s: Session, d: HonorDefinition, hl: HonorList) -> list[tuple[int, int]]:
    """(holder id, value) of the best holders, best first, ties by holder id."""
    limit = d.size + MAX_EXCLUSIONS + TIE_SPILL + 1
    minimum = d.minimum * 60 if d.metric == "hours" else d.minimum
    if d.metric == "collective_services":
        teams = select(Team.id).where(Team.town_id == d.scope_id) if d.scope == "town" else \
            select(Team.id).where(Team.village_id == d.scope_id)
        counts = stars.collective_services(s, list(s.scalars(teams)), hl.period_start,
                                           hl.period_end)
        ranked = sorted(((t, n) for t, n in counts.items() if n >= minimum),
                        key=lambda x: (-x[1], x[0]))
        return ranked[:limit]
    unit, htype = METRICS[d.metric]
    return scores.ranking(s, unit=unit, holder_type=htype, start=hl.period_start,
                          end=hl.period_end, minimum=minimum, limit=limit,
                          scope=lambda q, R: _scope_filter(q, d, R.holder_id, R.village_id,
                                                           R.town_id))


def _names(s: Session, metric: str, ids: list[int]) -> dict[int, tuple[str, str]]:
    """holder id → (name, village name)."""
    if not ids:
        return {}
    htype = METRICS[metric][1]
    if htype == "person":
        q = select(Person.id, Person.name, Village.name).join(Village,
                                                              Village.id == Person.village_id)
        q = q.where(Person.id.in_(ids))
    elif htype == "household":
        q = select(Household.id, Household.head_name, Village.name).join(
            Village, Village.id == Household.village_id).where(Household.id.in_(ids))
    else:
        q = select(Team.id, Team.name, Village.name).outerjoin(
            Village, Village.id == Team.village_id).where(Team.id.in_(ids))
    return {int(i): (n, vn or "") for i, n, vn in s.execute(q)}


@outbox.handler(DRAFT_TASK)
def compute_draft(s: Session, list_id: int, now: datetime | None = None) -> dict:
    """Fill a requested draft from the rollups. Idempotent: a computed list is left alone."""
    hl = s.get(HonorList, list_id)
    if hl is None or hl.status != HonorStatus.COMPUTING:
        return {"list_id": list_id, "skipped": True}
    d = s.get(HonorDefinition, hl.definition_id)
    rollups.catch_up_in(s)  # every posting committed before now is in the rollups
    ranked = _fetch(s, d, hl)
    out = stopped(s, METRICS[d.metric][1], [h for h, _ in ranked], "honors", now)
    ranked = [(h, v) for h, v in ranked if h not in out]
    names = _names(s, d.metric, [h for h, _ in ranked])
    hl.candidates = [{"holder_id": h, "value": v, "name": names.get(h, ("", ""))[0],
                      "village": names.get(h, ("", ""))[1]} for h, v in ranked]
    hl.computed_at = now or utcnow()
    hl.status = HonorStatus.DRAFT
    for old in s.scalars(select(HonorList).where(
            HonorList.definition_id == d.id, HonorList.period_key == hl.period_key,
            HonorList.id != hl.id,
            HonorList.status.in_([HonorStatus.DRAFT, HonorStatus.REVIEW]))):
        old.status = HonorStatus.SUPERSEDED
    s.flush()
    return {"list_id": list_id, "candidates": len(ranked)}


def rank_entries(candidates: list[dict], size: int, tie_break: str,
                 excluded: set[int]) -> tuple[list[dict], str | None]:
    """The list's entries from its candidates (best first), and a note when a tie at the last
    place was left off. See the module docstring for the rules."""
    pool = [c for c in candidates if c["holder_id"] not in excluded]
    if tie_break == "registration":
        pool.sort(key=lambda c: (-c["value"], c["holder_id"]))
        return [{**c, "rank": i + 1} for i, c in enumerate(pool[:size])], None
    out, rank, prev = [], 0, None
    for i, c in enumerate(pool):
        if c["value"] != prev:
            rank, prev = i + 1, c["value"]
        if rank > size:
            break
        out.append({**c, "rank": rank})
    # The fetch holds size + MAX_EXCLUSIONS + TIE_SPILL + 1 candidates, so a last-place tie
    # that might continue past the fetch is always longer than TIE_SPILL: left off whole.
    if len(out) > size + TIE_SPILL:
        last = out[-1]["rank"]
        kept = [e for e in out if e["rank"] != last]
        return kept, f"{len(out) - len(kept)}+ holders tied at rank {last} were left off"
    return out, None


# ---------------------------------------------------------------------------------------------
# Review and publication


def get_list(s: Session, list_id: int, *, lock: bool = False) -> HonorList:
    q = select(HonorList).where(HonorList.id == list_id)
    if lock and s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    hl = s.scalars(q).first()
    if hl is None:
        raise NotFound(f"honor list {list_id} does not exist", code="honor_list_not_found")
    return hl


def _require(hl: HonorList, *states: str) -> None:
    if hl.status not in states:
        raise Conflict(f"honor list {hl.id} is {hl.status}; this needs {' or '.join(states)}",
                       code=f"honor_list_{hl.status}", status_now=hl.status)


def start_review(s: Session, list_id: int, actor_id: int | None) -> HonorList:
    hl = get_list(s, list_id, lock=True)
    _require(hl, HonorStatus.DRAFT)
    hl.status, hl.reviewed_by = HonorStatus.REVIEW, actor_id
    return hl


def exclude(s: Session, list_id: int, holder_id: int, reason: str,
            actor_id: int | None) -> HonorList:
    """Leave a candidate off the list, with the reason (kept with the list, not published)."""
    hl = get_list(s, list_id, lock=True)
    _require(hl, HonorStatus.DRAFT, HonorStatus.REVIEW, HonorStatus.NOTICE)
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= MAX_REASON_CHARS:
        raise _bad(f"give a reason of 1..{MAX_REASON_CHARS} characters",
                   "exclusion_reason_required")
    if holder_id not in {c["holder_id"] for c in hl.candidates or []}:
        raise NotFound(f"holder {holder_id} is not a candidate of list {hl.id}",
                       code="honor_candidate_not_found")
    if holder_id in {x["holder_id"] for x in hl.exclusions}:
        raise Conflict(f"holder {holder_id} is already excluded", code="already_excluded")
    if len(hl.exclusions) >= MAX_EXCLUSIONS:
        raise Conflict(f"at most {MAX_EXCLUSIONS} exclusions per list; compute a new draft",
                       code="too_many_exclusions")
    hl.exclusions = [*hl.exclusions, {"holder_id": holder_id, "reason": reason,
                                      "by": actor_id, "at": utcnow().isoformat()}]
    return hl


def _entries(hl: HonorList, d: HonorDefinition) -> tuple[list[dict], str | None]:
    excluded = {x["holder_id"] for x in hl.exclusions}
    return rank_entries(hl.candidates or [], d.size, d.tie_break, excluded)


def mask(name: str) -> str:
    """王小明 → 王*明, 李四 → 李*: a masked name never shows more than the first and last."""
    if len(name) <= 1:
        return name
    return name[0] + "*" * max(1, len(name) - 2) + (name[-1] if len(name) > 2 else "")


# What a list's values are counted in, as they leave the core: points metrics are held in
# ledger steps and published as points (ledger.units), hours as minutes, services as a count.
VALUE_UNITS = {"points": "points", "hours": "minutes", "household_score": "points",
               "collective_services": "count"}


def readable(entries: list[dict], metric: str, scale: int) -> list[dict]:
    """Entries with `value` in VALUE_UNITS[metric] (steps turned into points)."""
    if VALUE_UNITS[metric] != "points":
        return entries
    return [{**e, "value": points_of(e["value"], scale)} for e in entries]


def publish(s: Session, list_id: int, actor_id: int | None, *, poster_dir: str | None = None,
            base_url: str = "", now: datetime | None = None) -> HonorList:
    """Freeze the reviewed list: content, its sha256, and the checkpoint root at this moment."""
    hl = get_list(s, list_id, lock=True)
    _require(hl, HonorStatus.REVIEW, HonorStatus.NOTICE)
    d = s.get(HonorDefinition, hl.definition_id)
    now = now or utcnow()
    if hl.status == HonorStatus.NOTICE:
        _notice_over(s, hl, now)
    entries, note = _entries(hl, d)
    entries = readable(entries, d.metric, scale_in_force(s))
    cp = make_checkpoint(s, now) or s.scalars(
        select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).first()
    town = s.get(Town, d.town_id)
    scope_name = town.name if town else ""
    if d.scope == "village":
        scope_name = (s.get(Village, d.scope_id) or Village(name="")).name
    elif d.scope == "team":
        scope_name = (s.get(Team, d.scope_id) or Team(name="")).name
    content = {
        "list_id": hl.id, "title": d.name, "scope": d.scope, "scope_id": d.scope_id,
        "scope_name": scope_name, "metric": d.metric, "unit": VALUE_UNITS[d.metric],
        "period": hl.period_key,
        "period_start": hl.period_start.isoformat(), "period_end": hl.period_end.isoformat(),
        "size": d.size, "minimum": d.minimum, "tie_break": d.tie_break, "version": hl.version,
        "computed_at": hl.computed_at.isoformat() if hl.computed_at else None,
        "published_at": now.isoformat(), "note": note,
        "checkpoint": {"id": cp.id, "root": cp.root, "at": cp.created_at.isoformat()}
        if cp else None,
        "entries": [{"rank": e["rank"], "holder_id": e["holder_id"], "value": e["value"],
                     "name": mask(e["name"]) if d.mask_names else e["name"],
                     "village": e["village"]} for e in entries],
    }
    hl.content = content
    hl.content_sha256 = sha256_hex(canonical_json(content))
    hl.checkpoint_id, hl.checkpoint_root = (cp.id, cp.root) if cp else (None, None)
    hl.status, hl.published_by, hl.published_at = HonorStatus.PUBLISHED, actor_id, now
    s.flush()
    if poster_dir:
        outbox.enqueue(s, POSTER_TASK, {"list_id": hl.id, "out_dir": poster_dir,
                                         "base_url": base_url})
    return hl


def verify(hl: HonorList) -> bool:
    """True if the stored content still hashes to the hash stored at publication."""
    return bool(hl.content) and sha256_hex(canonical_json(hl.content)) == hl.content_sha256


def list_view(s: Session, hl: HonorList, *, admin: bool) -> dict:
    d = s.get(HonorDefinition, hl.definition_id)
    out = {"id": hl.id, "definition": definition_view(d), "period": hl.period_key,
           "version": hl.version, "status": hl.status}
    if hl.status == HonorStatus.PUBLISHED:
        out.update(content=hl.content, content_sha256=hl.content_sha256,
                   checkpoint_root=hl.checkpoint_root, verified=verify(hl),
                   published_at=hl.published_at.isoformat())
    if admin and hl.status != HonorStatus.PUBLISHED:
        entries, note = _entries(hl, d) if hl.candidates is not None else ([], None)
        out.update(entries=readable(entries, d.metric, scale_in_force(s)), note=note,
                   unit=VALUE_UNITS[d.metric], candidates=len(hl.candidates or []),
                   computed_at=hl.computed_at.isoformat() if hl.computed_at else None)
    if admin:
        out["exclusions"] = hl.exclusions
        out["notice_until"] = hl.notice_until.isoformat() if hl.notice_until else None
        out["objections"] = objections(s, hl.id)
    return out


def published_lists(s: Session, *, town_id: int | None = None, village_id: int | None = None,
                    limit: int = 50) -> list[dict]:
    q = (select(HonorList, HonorDefinition).join(HonorDefinition,
                                                  HonorDefinition.id == HonorList.definition_id)
         .where(HonorList.status == HonorStatus.PUBLISHED))
    if town_id is not None:
        q = q.where(HonorDefinition.town_id == town_id)
    if village_id is not None:
        q = q.where(HonorDefinition.scope == "village", HonorDefinition.scope_id == village_id)
    rows = s.execute(q.order_by(HonorList.published_at.desc()).limit(limit)).all()
    return [{"id": hl.id, "title": d.name, "scope": d.scope, "scope_id": d.scope_id,
             "period": hl.period_key, "version": hl.version,
             "published_at": hl.published_at.isoformat(), "content_sha256": hl.content_sha256}
            for hl, d in rows]


# ---------------------------------------------------------------------------------------------
# Public notice (公示) before publication


def start_notice(s: Session, list_id: int, actor_id: int | None, days: int,
                 now: datetime | None = None) -> HonorList:
    """Show a reviewed list to the public for `days` days: anyone may object meanwhile, and
    it can be published once the notice is over and every objection decided."""
    hl = get_list(s, list_id, lock=True)
    _require(hl, HonorStatus.REVIEW)
    if not 1 <= days <= MAX_NOTICE_DAYS:
        raise _bad(f"notice days are 1..{MAX_NOTICE_DAYS}", "honor_notice_days_invalid",
                   field="days")
    hl.status, hl.notice_until = HonorStatus.NOTICE, (now or utcnow()) + timedelta(days=days)
    hl.reviewed_by = hl.reviewed_by or actor_id
    return hl


def object_to_list(s: Session, list_id: int, user_id: int, reason: str,
                   holder_id: int | None = None, now: datetime | None = None) -> HonorObjection:
    """An objection while the list is on notice, about the list or one person on it."""
    now = now or utcnow()
    hl = get_list(s, list_id, lock=True)
    _require(hl, HonorStatus.NOTICE)
    if now >= hl.notice_until:
        raise Conflict("公示期已过 (the notice is over)", code="notice_window_closed")
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= MAX_REASON_CHARS:
        raise _bad(f"give a reason of 1..{MAX_REASON_CHARS} characters", "reason_missing",
                   field="reason")
    if holder_id is not None and holder_id not in {c["holder_id"] for c in hl.candidates or []}:
        raise NotFound(f"holder {holder_id} is not on list {hl.id}",
                       code="honor_candidate_not_found")
    n = s.scalar(select(func.count()).select_from(HonorObjection)
                 .where(HonorObjection.list_id == hl.id))
    if n >= MAX_OBJECTIONS_PER_LIST:
        raise Conflict("too many objections on one list", code="too_many_objections")
    o = HonorObjection(list_id=hl.id, user_id=user_id, holder_id=holder_id, reason=reason,
                       created_at=now)
    s.add(o)
    s.flush()
    return o


def decide_objection(s: Session, objection_id: int, actor_id: int | None, upheld: bool,
                     note: str = "", now: datetime | None = None) -> HonorList:
    """Decide an objection; upheld about a person leaves them off the list (an exclusion
    that names the objection)."""
    o = s.get(HonorObjection, objection_id)
    if o is None:
        raise NotFound(f"objection {objection_id} does not exist", code="objection_not_found")
    hl = get_list(s, o.list_id, lock=True)
    _require(hl, HonorStatus.NOTICE)
    if o.outcome is not None:
        raise Conflict("this objection was decided already", code="objection_decided")
    o.outcome = "upheld" if upheld else "dismissed"
    o.decided_by, o.decided_at = actor_id, now or utcnow()
    o.decision_note = (note or "")[:MAX_REASON_CHARS]
    if upheld and o.holder_id is not None \
            and o.holder_id not in {x["holder_id"] for x in hl.exclusions}:
        exclude(s, hl.id, o.holder_id, f"公示异议成立：{o.reason}"[:MAX_REASON_CHARS], actor_id)
    return hl


def objections(s: Session, list_id: int) -> list[dict]:
    return [{"id": o.id, "holder_id": o.holder_id, "reason": o.reason,
             "created_at": o.created_at.isoformat(), "outcome": o.outcome,
             "decided_by": o.decided_by, "decision_note": o.decision_note}
            for o in s.scalars(select(HonorObjection).where(HonorObjection.list_id == list_id)
                               .order_by(HonorObjection.id))]


def _notice_over(s: Session, hl: HonorList, now: datetime) -> None:
    if now < hl.notice_until:
        raise Conflict(f"公示期未满，{hl.notice_until.isoformat()} 后才能发布 "
                       "(the notice is still running)", code="honor_notice_running",
                       notice_until=hl.notice_until.isoformat())
    if s.scalar(select(func.count()).select_from(HonorObjection).where(
            HonorObjection.list_id == hl.id, HonorObjection.outcome.is_(None))):
        raise Conflict("先处理公示期间的异议 (decide the objections first)",
                       code="honor_objections_open")


def notice_view(s: Session, hl: HonorList) -> dict:
    """What the public sees of a list on notice: ranks, names as they will be published
    (masked when the definition says so), values (`value_unit`: points metrics in ledger
    steps, hours in minutes), and when the notice ends."""
    d = s.get(HonorDefinition, hl.definition_id)
    entries, note = _entries(hl, d)
    return {"id": hl.id, "title": d.name, "metric": d.metric, "period": hl.period_key,
            "value_unit": {"hours": "minutes", "collective_services": "count"}.get(d.metric,
                                                                                 "steps"),
            "period_start": hl.period_start.isoformat(),
            "period_end": hl.period_end.isoformat(), "status": hl.status,
            "notice_until": hl.notice_until.isoformat() if hl.notice_until else None,
            "note": note,
            "entries": [{"rank": e["rank"], "holder_id": e["holder_id"], "value": e["value"],
                         "name": mask(e["name"]) if d.mask_names else e["name"],
                         "village": e["village"]} for e in entries]}
