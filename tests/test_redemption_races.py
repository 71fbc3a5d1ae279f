"""Races on PostgreSQL with real parallel connections: threads each run their request in their
own session and transaction, released together by a barrier."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy.exc import OperationalError

from ledger.db import Database
from ledger.errors import DomainError
from ledger.journal import queries
from ledger.redemption.catalog import provider_account
from ledger.redemption.schemas import OrderView
from ledger.redemption.service import cancel, fulfil, redeem
from tests.conftest import audit_clean
from tests.builders.redemption import (
    give_points,
    make_people,
    make_person,
    make_reward,
    make_shop,
    make_town,
    points,
    reward_row,
)

pytestmark = pytest.mark.postgres
CLERK_A, CLERK_B = 601, 602
RACE_CONNECTIONS = 16
CONNECT_PATIENCE_S = 120


def race(calls: list[Callable[[], OrderView]]) -> list[OrderView | str]:
    """Run the calls at once, one thread each; each result is an order or the refusal's code."""
    barrier = threading.Barrier(len(calls))
    results: list[OrderView | str] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except DomainError as exc:
            results[i] = exc.code
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            results[i] = f"error: {type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def outcomes(results) -> Counter:
    return Counter("ok" if isinstance(r, OrderView) else r for r in results)


def refusals(results) -> set:
    """For failure messages: what the losers were told (an unexpected error shows here)."""
    return {r for r in results if not isinstance(r, OrderView)}


@pytest.fixture
def racer(pg_db):
    """The racing threads' own pool of RACE_CONNECTIONS connections, all opened before the race
    (waiting while a shared server is full), so that racing threads never wait on connecting;
    a busy machine may keep a thread waiting for a free one longer than the default 30 s."""
    db = Database(pg_db.url, pool_size=RACE_CONNECTIONS, max_overflow=0, pool_timeout=600)
    conns, deadline = [], time.monotonic() + CONNECT_PATIENCE_S
    while len(conns) < RACE_CONNECTIONS:
        try:
            conns.append(db.engine.connect())
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    for c in conns:
        c.close()  # back to the pool, still open
    yield db
    db.dispose()


@pytest.fixture
def town(pg_db):
    t = make_town(pg_db)
    return {**t, "village": t["villages"][0],
            "shop": make_shop(pg_db, t["town"], clerks=(CLERK_A, CLERK_B))}


def test_hundred_holders_racing_for_five_tickets_get_exactly_five(pg_db, racer, town):
    people = make_people(pg_db, town["village"], 100)
    for p in people:
        give_points(pg_db, "person", p, town["village"], 50)
    ticket = make_reward(pg_db, town["shop"], stock=5, cost_points=20)
    results = race([lambda p=p: redeem(racer, reward_id=ticket.id, holder_type="person",
                                       holder_id=p, quantity=1, actor_id=p, key=f"r{p}")
                    for p in people])
    assert outcomes(results) == Counter({"ok": 5, "out_of_stock": 95}), refusals(results)
    row = reward_row(pg_db, ticket.id)
    assert (row["reserved"], row["available"]) == (5, 0)
    held = sum(points(pg_db, "person", p)["pending_out"] for p in people)
    assert held == 5 * 20
    audit_clean(pg_db)


def test_one_holder_firing_twenty_redemptions_with_points_for_three_gets_three(pg_db, racer,
                                                                              town):
    me = make_person(pg_db, town["village"])
    give_points(pg_db, "person", me, town["village"], 30)
    gift = make_reward(pg_db, town["shop"], kind="gift", name="吉祥礼物", cost_points=10)
    results = race([lambda i=i: redeem(racer, reward_id=gift.id, holder_type="person",
                                       holder_id=me, quantity=1, actor_id=me, key=f"tap{i}")
                    for i in range(20)])
    assert outcomes(results) == Counter({"ok": 3, "insufficient_points": 17}), refusals(results)
    acct = points(pg_db, "person", me)
    assert (acct["balance"], acct["pending_out"], acct["available"]) == (30, 30, 0)
    assert reward_row(pg_db, gift.id)["reserved"] == 3
    audit_clean(pg_db)


def test_one_holder_racing_past_a_monthly_limit_gets_exactly_the_limit(pg_db, racer, town):
    me = make_person(pg_db, town["village"])
    give_points(pg_db, "person", me, town["village"], 1000)
    gift = make_reward(pg_db, town["shop"], kind="gift", cost_points=10, limit_per_month=2)
    results = race([lambda i=i: redeem(racer, reward_id=gift.id, holder_type="person",
                                       holder_id=me, quantity=1, actor_id=me, key=f"tap{i}")
                    for i in range(20)])
    assert outcomes(results) == Counter({"ok": 2, "limit_reached": 18}), refusals(results)
    assert points(pg_db, "person", me)["pending_out"] == 20
    audit_clean(pg_db)


def test_voucher_scanned_at_two_counters_at_once_is_fulfilled_once(pg_db, racer, town):
    me = make_person(pg_db, town["village"])
    give_points(pg_db, "person", me, town["village"], 1000)
    ticket = make_reward(pg_db, town["shop"], stock=50, cost_points=25)
    codes = [redeem(pg_db, reward_id=ticket.id, holder_type="person", holder_id=me,
                    quantity=1, actor_id=me, key=None).voucher.code for _ in range(10)]
    for code in codes:
        results = race([lambda c=code: fulfil(racer, code=c, clerk_user_id=CLERK_A, key=f"a{c}"),
                        lambda c=code: fulfil(racer, code=c, clerk_user_id=CLERK_B, key=f"b{c}")])
        assert outcomes(results) == Counter({"ok": 1, "voucher_already_used": 1}), results
    acct = points(pg_db, "person", me)
    assert (acct["balance"], acct["pending_out"]) == (1000 - 10 * 25, 0)
    with pg_db.sessions() as s:
        assert queries.get_account(s, provider_account(s, town["shop"])).balance == 10 * 25
    row = reward_row(pg_db, ticket.id)
    assert (row["issued"], row["reserved"]) == (10, 0)
    audit_clean(pg_db)


def test_cancel_racing_a_scan_leaves_each_voucher_used_or_cancelled_never_both(pg_db, racer,
                                                                              town):
    me = make_person(pg_db, town["village"])
    give_points(pg_db, "person", me, town["village"], 1000)
    ticket = make_reward(pg_db, town["shop"], stock=10, cost_points=10)
    orders = [redeem(pg_db, reward_id=ticket.id, holder_type="person", holder_id=me,
                     quantity=1, actor_id=me, key=None) for _ in range(10)]
    used = 0
    for o in orders:
        results = race([
            lambda o=o: fulfil(racer, code=o.voucher.code, clerk_user_id=CLERK_A,
                               key=None),
            lambda o=o: cancel(racer, order_id=o.order_id, actor_id=me, key=None,
                               holders=[("person", me)])])
        c = outcomes(results)
        assert c["ok"] == 1 and set(c) <= {"ok", "voucher_already_used", "voucher_cancelled"}, \
            results
        used += isinstance(results[0], OrderView)
    acct = points(pg_db, "person", me)
    assert (acct["balance"], acct["pending_out"]) == (1000 - used * 10, 0)
    row = reward_row(pg_db, ticket.id)
    assert (row["issued"], row["reserved"], row["available"]) == (used, 0, 10 - used)
    audit_clean(pg_db)
