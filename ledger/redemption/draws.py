"""Lucky draws (like the city's gifts for 500 lucky volunteers): an admin defines a draw over an
eligible population; running it records the population and a seed, picks the winners
reproducibly, and issues each a voucher paid from the town's funding account, not their points.

Reproducible by anyone: each candidate's ticket is sha256("{seed}:{holder_type}:{holder_id}")
in hex; the `winners_count` lowest tickets win (ties, which do not happen, by holder). The
recorded candidates and the population digest (sha256 over "type:id" lines in sorted order) let
a later reader check that nobody was added or left out after the fact.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import msgspec
from sqlalchemy import bindparam, func, insert, or_, select, text
from sqlalchemy.orm import Session

from ledger.identity.actor import is_self_or_household
from ledger.registry.lookup import person_names
from ledger.registry.models import Household, Person, Village
from ledger import paging
from ledger.db import Database
from ledger.errors import Conflict, InvalidInput, NotFound
from ledger.journal import book, holds
from ledger.journal.accounts import open_account
from ledger.journal.models import Account, HolderType, Posting, Purpose, Unit
from ledger.redemption.catalog import MAX_NAME_CHARS, get_reward, provider_account
from ledger.redemption.models import (
    DrawStatus,
    FundedBy,
    LuckyDraw,
    LuckyDrawCandidate,
    LuckyDrawWinner,
    Provider,
    RedemptionOrder,
    Voucher,
)
from ledger.redemption.schemas import (DrawCheck, DrawReview, DrawRun, DrawView, DrawWin,
                                       DrawWinners)
from ledger.redemption.service import HOLD_GRACE_S, issue_voucher, periods, take_stock
from ledger.timeutil import LOCAL_TZ, UTCDateTime, utcnow

MAX_DRAW_WINNERS = 5000
MAX_DRAW_POPULATION = 500_000
MAX_SEED_CHARS = 128
MAX_POPULATION_VILLAGES = 200
MAX_SERVICE_HOURS = 10_000
CANDIDATE_BATCH = 5000
POPULATION_KEYS = {"holder_type", "volunteers_only", "village_ids", "min_service_hours",
                   "min_points", "year"}

_CLAIM_DRAW = text(
    "UPDATE lucky_draw SET status = 'drawn', seed = :seed, drawn_at = :now, drawn_by = :actor "
    "WHERE id = :id AND status = 'draft' RETURNING id").bindparams(
    bindparam("now", type_=UTCDateTime()))


def ticket(seed: str, holder_type: str, holder_id: int) -> str:
    return hashlib.sha256(f"{seed}:{holder_type}:{holder_id}".encode()).hexdigest()


def population_digest(candidates: list[tuple[str, int]]) -> str:
    return hashlib.sha256("\n".join(f"{t}:{i}" for t, i in sorted(candidates))
                          .encode()).hexdigest()


def pick_winners(seed: str, candidates: list[tuple[str, int]], n: int) -> list[tuple[str, int]]:
    return sorted(candidates, key=lambda c: (ticket(seed, *c), c))[:n]


def _bad(msg: str) -> InvalidInput:
    return InvalidInput(msg, code="invalid_population")


def validate_population(pop: dict, *, default_year: int) -> dict:
    """A population definition, normalised: who may win the draw."""
    if not isinstance(pop, dict) or set(pop) - POPULATION_KEYS:
        raise _bad(f"population keys are {', '.join(sorted(POPULATION_KEYS))}")
    out = {"holder_type": pop.get("holder_type", HolderType.PERSON),
           "volunteers_only": pop.get("volunteers_only", True),
           "village_ids": pop.get("village_ids"), "min_service_hours": pop.get("min_service_hours"),
           "min_points": pop.get("min_points"), "year": pop.get("year", default_year)}
    if out["holder_type"] not in (HolderType.PERSON, HolderType.HOUSEHOLD):
        raise _bad("a draw is over people or households")
    if out["holder_type"] == HolderType.HOUSEHOLD:
        if out["min_service_hours"] is not None:
            raise _bad("service hours are a person's; a household draw cannot ask for them")
        out["volunteers_only"] = False
    if not isinstance(out["volunteers_only"], bool):
        raise _bad("volunteers_only is true or false")
    v = out["village_ids"]
    if v is not None and (not isinstance(v, list) or not 1 <= len(v) <= MAX_POPULATION_VILLAGES
                          or not all(isinstance(i, int) for i in v)):
        raise _bad(f"village_ids is a list of 1..{MAX_POPULATION_VILLAGES} village ids")
    for name, hi in (("min_service_hours", MAX_SERVICE_HOURS), ("min_points", 10**9),
                     ("year", 2100)):
        x = out[name]
        if x is not None and (not isinstance(x, int) or isinstance(x, bool) or not 0 <= x <= hi):
            raise _bad(f"{name} must be a whole number in 0..{hi}")
    return out


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    start = datetime(year, 1, 1, tzinfo=LOCAL_TZ)
    return start, datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ)


def population(s: Session, town_id: int, pop: dict) -> list[tuple[str, int]]:
    """The eligible holders now, sorted: people or households of the town's villages, filtered
    by volunteer status, village, certified service hours in the year and points balance."""
    holder_type = pop["holder_type"]
    model = Person if holder_type == HolderType.PERSON else Household
    q = select(model.id).where(model.village_id.in_(
        select(Village.id).where(Village.town_id == town_id)))
    if pop["village_ids"]:
        q = q.where(model.village_id.in_(pop["village_ids"]))
    if model is Person:  # the dead and those who moved away do not win
        q = q.where(Person.left.is_(None))
    if pop["volunteers_only"]:
        q = q.where(Person.is_volunteer.is_(True))
    if pop["min_service_hours"]:
        start, end = _year_bounds(pop["year"])
        served = (select(Account.holder_id).join(Posting, Posting.account_id == Account.id)
                  .where(Account.unit == Unit.MINUTES, Account.holder_type == HolderType.PERSON,
                         Account.purpose == Purpose.POINTS, Posting.created_at >= start,
                         Posting.created_at < end)
                  .group_by(Account.holder_id)
                  .having(func.sum(Posting.amount) >= pop["min_service_hours"] * 60))
        q = q.where(model.id.in_(served))
    if pop["min_points"] is not None:
        q = q.where(model.id.in_(select(Account.holder_id).where(
            Account.unit == Unit.POINTS, Account.holder_type == holder_type,
            Account.purpose == Purpose.POINTS, Account.balance >= pop["min_points"])))
    ids = list(s.scalars(q.order_by(model.id).limit(MAX_DRAW_POPULATION + 1)))
    if len(ids) > MAX_DRAW_POPULATION:
        raise InvalidInput(f"a draw's population is at most {MAX_DRAW_POPULATION}",
                           code="draw_population_too_large")
    from ledger.rules.standing import stopped  # a state of standing that stops draws
    out = stopped(s, str(holder_type), ids, "draws")
    return [(str(holder_type), i) for i in ids if i not in out]


def draw_view(d: LuckyDraw) -> dict:
    """The draw; once drawn, how many won and whether fewer were eligible than prizes offered
    (then every eligible holder won, and the draw says so: `everyone_eligible_won`)."""
    drawn = d.population_size is not None
    return {"id": d.id, "town_id": d.town_id, "name": d.name, "reward_id": d.reward_id,
            "winners_count": d.winners_count, "population": d.population, "status": d.status,
            "seed": d.seed, "population_size": d.population_size,
            "population_digest": d.population_digest,
            "drawn_at": d.drawn_at.isoformat() if d.drawn_at else None,
            "winners_drawn": min(d.winners_count, d.population_size) if drawn else None,
            "everyone_eligible_won": drawn and d.population_size <= d.winners_count,
            "prizes_left": max(0, d.winners_count - d.population_size) if drawn else None}


def _get_draw(s: Session, draw_id: int) -> LuckyDraw:
    d = s.get(LuckyDraw, draw_id)
    if d is None:
        raise NotFound(f"draw {draw_id} does not exist", code="draw_not_found")
    return d


def create_draw(db: Database, *, town_id: int | None, name: str, reward_id: int,
                winners_count: int, population_def: dict, actor_id: int | None,
                key: str | None) -> DrawView:
    """A draft draw; `town_id` None: the town of the reward's provider (the admin's form)."""
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME_CHARS:
        raise InvalidInput(f"name must be 1..{MAX_NAME_CHARS} characters", code="invalid_name")
    if not isinstance(winners_count, int) or not 1 <= winners_count <= MAX_DRAW_WINNERS:
        raise InvalidInput(f"winners_count must be 1..{MAX_DRAW_WINNERS}",
                           code="invalid_winners_count")
    pop = validate_population(population_def, default_year=utcnow().astimezone(LOCAL_TZ).year)
    req = {"op": "create_draw", "town": town_id, "name": name, "reward": reward_id,
           "winners": winners_count, "population": population_def}

    def work(s: Session) -> dict:
        reward = get_reward(s, reward_id)
        town = s.get(Provider, reward.provider_id).town_id
        if town_id is not None and town != town_id:
            raise InvalidInput("the reward's provider is in another town", code="unknown_reward")
        d = LuckyDraw(town_id=town, name=name.strip(), reward_id=reward_id,
                      winners_count=winners_count, population=pop, status=DrawStatus.DRAFT,
                      created_at=utcnow(), created_by=actor_id)
        s.add(d)
        s.flush()
        return draw_view(d)

    return msgspec.convert(book.write(db, work, key=key, request=req).result, DrawView)


def _without_runner(s: Session, candidates: list[tuple[str, int]], person_id: int | None
                    ) -> list[tuple[str, int]]:
    """The population less the runner and their household (the no-self-award rule): whoever
    runs a draw, and may choose its seed, cannot be among its candidates."""
    if person_id is None:
        return candidates
    me = s.get(Person, person_id)
    household = me.household_id if me is not None else None
    mates = set(s.scalars(select(Person.id).where(Person.household_id == household))) \
        if household is not None else set()

    def household_of(t: str, i: int) -> int | None:
        return household if (t == "household" and i == household) or (
            t == "person" and i in mates) else None

    return [(t, i) for t, i in candidates
            if not is_self_or_household(person_id, household, t, i, household_of(t, i))]


def run_draw(db: Database, draw_id: int, *, seed: str | None = None, actor_id: int | None,
             key: str | None, now: datetime | None = None,
             actor_person_id: int | None = None) -> DrawRun:
    """Draw the winners once: record population and seed, issue vouchers paid by the town.
    A seed may be given (say, a public lottery number announced in advance); else a random one.
    The runner (`actor_person_id`) and their household are left out of the population."""
    if seed is not None and (not isinstance(seed, str) or not 1 <= len(seed) <= MAX_SEED_CHARS
                             or not seed.isprintable()):
        raise InvalidInput(f"seed must be 1..{MAX_SEED_CHARS} printable characters",
                           code="invalid_seed")
    chosen_seed = seed or secrets.token_hex(16)

    def work(s: Session) -> dict:
        at = now or utcnow()
        d = _get_draw(s, draw_id)
        if s.execute(_CLAIM_DRAW, {"seed": chosen_seed, "now": at, "actor": actor_id,
                                   "id": draw_id}).first() is None:
            raise Conflict(f"draw {draw_id} was already drawn", code="draw_already_run")
        s.refresh(d)
        candidates = _without_runner(s, population(s, d.town_id, d.population),
                                     actor_person_id)
        tickets = {c: ticket(chosen_seed, *c) for c in candidates}
        for i in range(0, len(candidates), CANDIDATE_BATCH):
            s.execute(insert(LuckyDrawCandidate), [
                {"draw_id": d.id, "holder_type": t, "holder_id": h, "ticket": tickets[(t, h)]}
                for t, h in candidates[i:i + CANDIDATE_BATCH]])
        winners = sorted(candidates, key=lambda c: (tickets[c], c))[:d.winners_count]
        d.population_size, d.population_digest = len(candidates), population_digest(candidates)
        reward = get_reward(s, d.reward_id)
        funding = open_account(s, holder_type=HolderType.TOWN, holder_id=d.town_id,
                               purpose=Purpose.FUNDING, unit=Unit.POINTS)
        shop = provider_account(s, reward.provider_id)
        month, year = periods(at)
        for rank, (holder_type, holder_id) in enumerate(winners, start=1):
            order = RedemptionOrder(
                reward_id=reward.id, provider_id=reward.provider_id, holder_type=holder_type,
                holder_id=holder_id, quantity=1, unit_cost_points=reward.cost_points,
                amount_points=reward.cost_points, funded_by=FundedBy.DRAW, draw_id=d.id,
                month=month, year=year, placed_by=actor_id, created_at=at)
            s.add(order)
            s.flush()
            order.hold_id = holds.reserve(
                s, unit=Unit.POINTS, debit_account_id=funding, credit_account_id=shop,
                amount=reward.cost_points, ttl_s=reward.voucher_ttl_s + HOLD_GRACE_S,
                memo=f"抽奖 {d.name}：{reward.name}", source="redemption",
                source_ref=str(order.id), now=at,
                details={"order_id": order.id, "draw_id": d.id, "rank": rank})
            issue_voucher(s, order, reward, at)
            s.add(LuckyDrawWinner(draw_id=d.id, rank=rank, holder_type=holder_type,
                                  holder_id=holder_id, order_id=order.id))
        if winners:
            take_stock(s, reward, len(winners))
        s.flush()
        return {**draw_view(d), "winners": len(winners)}

    return msgspec.convert(book.write(db, work, key=key, request={
        "op": "run_draw", "draw": draw_id, "seed": seed}).result, DrawRun)


def winners(db: Database, draw_id: int) -> DrawWinners:
    """The draw with its winners by rank and each prize voucher's state."""
    with db.sessions() as s:
        return msgspec.convert(draw_winners(s, draw_id), DrawWinners)


def check(db: Database, draw_id: int) -> DrawCheck:
    """`verify_draw`, for the API."""
    with db.sessions() as s:
        return msgspec.convert(verify_draw(s, draw_id), DrawCheck)


def recent(db: Database, limit: int = 50) -> list[DrawView]:
    """The newest draws first, at most `limit` (1..paging.MAX_PAGE)."""
    paging.check_limit(limit)
    with db.sessions() as s:
        return msgspec.convert([draw_view(d) for d in s.scalars(
            select(LuckyDraw).order_by(LuckyDraw.id.desc()).limit(limit))], list[DrawView])


def review(db: Database, draw_id: int, *, verify: bool = False) -> DrawReview:
    """The draw with its winners and their names; checked from the recorded seed when
    `verify` (a draw not yet run has nothing to check)."""
    with db.sessions() as s:
        view = draw_winners(s, draw_id)
        checked = verify_draw(s, draw_id) if verify and view["status"] == DrawStatus.DRAWN \
            else None
        names = person_names(s, [w["holder_id"] for w in view["winners"]
                                 if w["holder_type"] == HolderType.PERSON])
    return DrawReview(draw=msgspec.convert(view, DrawWinners), names=names,
                      check=None if checked is None else msgspec.convert(checked, DrawCheck))


def wins_of(s: Session, holders: list[tuple[str, int]], limit: int = 50) -> list[DrawWin]:
    """The draws the holders won, newest first, with the voucher to collect (for /me)."""
    if not holders:
        return []
    rows = s.execute(select(LuckyDrawWinner, LuckyDraw, Voucher)
                     .join(LuckyDraw, LuckyDraw.id == LuckyDrawWinner.draw_id)
                     .join(RedemptionOrder, RedemptionOrder.id == LuckyDrawWinner.order_id)
                     .join(Voucher, Voucher.order_id == RedemptionOrder.id)
                     .where(or_(*[(LuckyDrawWinner.holder_type == t)
                                  & (LuckyDrawWinner.holder_id == i) for t, i in holders]))
                     .order_by(LuckyDraw.id.desc()).limit(limit)).all()
    return [DrawWin(draw=d.name, rank=w.rank, voucher_code=v.code, status=v.status,
                    drawn_at=d.drawn_at) for w, d, v in rows]


def draw_winners(s: Session, draw_id: int) -> dict:
    d = _get_draw(s, draw_id)
    rows = s.execute(select(LuckyDrawWinner, RedemptionOrder, Voucher)
                     .join(RedemptionOrder, RedemptionOrder.id == LuckyDrawWinner.order_id)
                     .join(Voucher, Voucher.order_id == RedemptionOrder.id)
                     .where(LuckyDrawWinner.draw_id == draw_id)
                     .order_by(LuckyDrawWinner.rank)).all()
    reward = get_reward(s, d.reward_id)
    return {**draw_view(d), "winners": [
        {"rank": w.rank, "holder_type": w.holder_type, "holder_id": w.holder_id,
         "order_id": o.id, "voucher_status": v.status} for w, o, v in rows],
        "reward": {"id": reward.id, "name": reward.name}}


def verify_draw(s: Session, draw_id: int) -> dict:
    """Recompute tickets, digest and winners from the recorded seed and candidates."""
    d = _get_draw(s, draw_id)
    if d.status != DrawStatus.DRAWN:
        raise Conflict(f"draw {draw_id} has not been drawn", code="draw_not_run")
    rows = s.execute(select(LuckyDrawCandidate.holder_type, LuckyDrawCandidate.holder_id,
                            LuckyDrawCandidate.ticket)
                     .where(LuckyDrawCandidate.draw_id == draw_id)).all()
    candidates = [(t, i) for t, i, _ in rows]
    tickets_ok = all(ticket(d.seed, t, i) == tk for t, i, tk in rows)
    digest_ok = (population_digest(candidates) == d.population_digest
                 and len(candidates) == d.population_size)
    recorded = [(t, i) for t, i in s.execute(
        select(LuckyDrawWinner.holder_type, LuckyDrawWinner.holder_id)
        .where(LuckyDrawWinner.draw_id == draw_id).order_by(LuckyDrawWinner.rank))]
    winners_ok = recorded == pick_winners(d.seed, candidates, d.winners_count)
    return {"draw_id": d.id, "seed": d.seed, "population_size": len(candidates),
            "tickets_ok": tickets_ok, "digest_ok": digest_ok, "winners_ok": winners_ok,
            "ok": tickets_ok and digest_ok and winners_ok}


WINS_SHOWN = 50  # the draws /me lists


def wins_for(db: Database, actor) -> list[DrawWin]:  # noqa: ANN001 - an Actor
    """The draws the actor (their person, not their household) won, newest first, with the
    voucher to collect: /me's list (`wins_of` in its own session)."""
    if getattr(actor, "person_id", None) is None:
        return []
    with db.sessions() as s:
        return wins_of(s, [(HolderType.PERSON, actor.person_id)], WINS_SHOWN)
