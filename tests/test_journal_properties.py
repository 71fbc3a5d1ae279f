"""Property tests: random sequences of ledger operations (refused ones included) always keep the
journal's guarantees, and the balances always match a model that knows nothing of the database.

Each example works on fresh town/village/person/shop ids in the test's database, so examples
never see each other's balances; the audit at the end of each example covers all of them.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from ledger.errors import Conflict, IdempotencyConflict, InsufficientFunds
from ledger.journal import book, holds, service
from ledger.journal.accounts import open_account
from ledger.journal.audit import run_audit
from ledger.journal.posting import Line, post_entry

SHARDS = 4
VILLAGES = 2
PEOPLE = 3
_ids = itertools.count(1)

amounts = st.integers(min_value=1, max_value=120)
village = st.integers(min_value=0, max_value=VILLAGES - 1)
person = st.integers(min_value=0, max_value=PEOPLE - 1)
pick = st.integers(min_value=0, max_value=10**6)  # an index into what exists, modulo its size
keyed = st.booleans()

operations = st.one_of(
    st.tuples(st.just("allocate"), village, amounts, keyed),
    st.tuples(st.just("award"), village, person, amounts, keyed),
    st.tuples(st.just("award"), village, person, st.integers(1, 20), keyed),
    st.tuples(st.just("deduct"), village, person, amounts, keyed),
    st.tuples(st.just("spend"), person, amounts, keyed),
    st.tuples(st.just("spend"), person, st.integers(1, 20), keyed),
    st.tuples(st.just("reserve"), person, amounts, keyed),
    st.tuples(st.just("reserve"), person, st.integers(1, 20), keyed),
    st.tuples(st.just("post_hold"), pick),
    st.tuples(st.just("post_hold"), pick),
    st.tuples(st.just("void_hold"), pick),
    st.tuples(st.just("expire_hold"), pick),
    st.tuples(st.just("reverse"), pick),
    st.tuples(st.just("reverse"), pick),
    st.tuples(st.just("replay"), pick),
    st.tuples(st.just("reuse_key"), pick, amounts),
)


@dataclass
class World:
    """The model: expected totals per holder, and what each entry and hold did to them."""

    db: object
    base: int
    expect: dict = field(default_factory=lambda: defaultdict(int))
    pending: dict = field(default_factory=lambda: defaultdict(int))
    entries: list = field(default_factory=list)  # [entry_id, effect, postings, reversed]
    holds: list = field(default_factory=list)  # [hold_id, person, amount, status]
    done_keys: list = field(default_factory=list)  # (key, call, result)

    def __post_init__(self) -> None:
        with self.db.transaction() as s:
            self.shop = open_account(s, holder_type="provider", holder_id=self.base,
                                     purpose="redeemed")
            self.pts = [open_account(s, holder_type="person", holder_id=self.base + 10 + p,
                                     purpose="points") for p in range(PEOPLE)]

    def village_id(self, v: int) -> int:
        return self.base + 1 + v

    def key(self, use: bool) -> str | None:
        return f"prop-{self.base}-{next(_ids)}" if use else None

    def available(self, p: int) -> int:
        return self.expect[("points", p)] - self.pending[p]

    def record(self, result: dict, effect: dict) -> None:
        for k, v in effect.items():
            self.expect[k] += v
        self.entries.append([result["entry_id"], effect,
                             [(x["account_id"], x["amount"]) for x in result["postings"]], False])


def _expect_refusal(fn, exc_type, codes: set[str]) -> None:
    try:
        fn()
    except exc_type as e:
        assert e.code in codes, e.code
        event(f"refused: {e.code}")
        return
    raise AssertionError(f"expected a refusal with one of {codes}")


def _keyed_write(w: World, key: str | None, work, request: dict) -> dict:
    """`work` is a function of a session (run by `book.write`) or a `Call`."""
    call = work if isinstance(work, Call) else Call(lambda k, r: book.write(
        w.db, work, key=k, request=r))
    result = call.fn(key, request).result
    if key is not None:
        w.done_keys.append((key, (call, request), result))
    return result


@dataclass
class Call:
    """A keyed write as a function of (key, request) -> WriteResult."""

    fn: Callable


def _apply(w: World, op: tuple) -> None:  # one branch per operation, kept together
    kind = op[0]
    db = w.db
    if kind == "allocate":
        _, v, amount, use_key = op
        req = {"op": "allocate", "v": v, "a": amount}
        res = _keyed_write(w, w.key(use_key), lambda s: book.allocate(
            s, town_id=w.base, village_id=w.village_id(v), amount=amount,
            shards=SHARDS).as_dict(), req)
        w.record(res, {("funding",): -amount, ("budget", v): amount})
    elif kind in ("award", "deduct"):
        _, v, p, amount, use_key = op
        req = {"op": kind, "v": v, "p": p, "a": amount}
        # The public single-entry path: one statement on PostgreSQL once the accounts are known.
        work = Call(lambda k, r: book.write_award(
            db, key=k, request=r, deduction=kind == "deduct", village_id=w.village_id(v),
            holder_type="person", holder_id=w.base + 10 + p, amount=amount, shards=SHARDS,
            source="property", details={"rule_item": "test"}))

        if kind == "award" and w.expect[("budget", v)] < amount:
            _expect_refusal(lambda: _keyed_write(w, w.key(use_key), work, req),
                            InsufficientFunds, {"budget_exhausted"})
            return
        res = _keyed_write(w, w.key(use_key), work, req)
        sign = 1 if kind == "award" else -1
        w.record(res, {("budget", v): -sign * amount, ("points", p): sign * amount})
    elif kind == "spend":
        _, p, amount, use_key = op
        req = {"op": "spend", "p": p, "a": amount}

        def work(s):
            return post_entry(s, unit="points", kind="redeem", source="property", lines=[
                Line.of(w.pts[p], -amount), Line.of(w.shop, amount, hot=True)]).as_dict()

        if w.available(p) < amount:
            _expect_refusal(lambda: _keyed_write(w, w.key(use_key), work, req),
                            InsufficientFunds, {"insufficient_points"})
            return
        res = _keyed_write(w, w.key(use_key), work, req)
        w.record(res, {("points", p): -amount, ("shop",): amount})
    elif kind == "reserve":
        _, p, amount, use_key = op

        def call():
            return msgspec.to_builtins(service.reserve(
                db, unit="points", debit_account_id=w.pts[p], credit_account_id=w.shop,
                amount=amount, ttl_s=3600, memo="", key=w.key(use_key)))

        if w.available(p) < amount:
            _expect_refusal(call, InsufficientFunds, {"insufficient_points"})
            return
        w.holds.append([call()["hold_id"], p, amount, "pending"])
        w.pending[p] += amount
    elif kind in ("post_hold", "void_hold", "expire_hold"):
        if not w.holds:
            return
        h = w.holds[op[1] % len(w.holds)]
        hold_id, p, amount, status = h

        def call():
            if kind == "post_hold":
                return msgspec.to_builtins(service.post_hold(db, hold_id=hold_id, actor_id=1,
                                                             key=None))
            if kind == "void_hold":
                return msgspec.to_builtins(service.void_hold(db, hold_id=hold_id, key=None))
            return book.write(db, lambda s: holds.void_hold(s, hold_id, expired=True)).result

        if status != "pending":
            _expect_refusal(call, Conflict, {f"hold_{status}"})
            return
        res = call()
        w.pending[p] -= amount
        h[3] = {"post_hold": "posted", "void_hold": "voided", "expire_hold": "expired"}[kind]
        if kind == "post_hold":
            w.record(res, {("points", p): -amount, ("shop",): amount})
    elif kind == "reverse":
        if not w.entries:
            return
        rec = w.entries[op[1] % len(w.entries)]
        entry_id, effect, postings, reversed_ = rec

        def call():
            return msgspec.to_builtins(service.reverse(db, entry_id=entry_id, reason="property",
                                                       actor_id=1, key=None))

        if reversed_:
            _expect_refusal(call, Conflict, {"already_reversed"})
            return
        short = _reversal_short(w, postings)
        if short:
            _expect_refusal(call, InsufficientFunds, {"budget_exhausted", "insufficient_points"})
            return
        res = call()
        rec[3] = True
        w.record(res, {k: -v for k, v in effect.items()})
    elif kind == "replay":
        if not w.done_keys:
            return
        key, (call, request), first = w.done_keys[op[1] % len(w.done_keys)]
        again = call.fn(key, request)
        assert again.replayed and again.result == first
    elif kind == "reuse_key":
        if not w.done_keys:
            return
        key, (call, request), _ = w.done_keys[op[1] % len(w.done_keys)]
        other = {**request, "a": request.get("a", 0) + op[2]}
        _expect_refusal(lambda: call.fn(key, other),
                        IdempotencyConflict, {"idempotency_conflict"})


def _reversal_short(w: World, postings: list[tuple[int, int]]) -> bool:
    """Would reversing these postings take a never-below-zero account below zero? Budget
    shards and the shop refuse that; people's points may go negative through a reversal."""
    with w.db.sessions() as s:
        for acct, amount in postings:
            if amount <= 0:
                continue  # the reversal credits this account
            purpose, available = s.execute(text(
                "SELECT purpose, balance - pending_out FROM account WHERE id = :i"),
                {"i": acct}).one()
            if purpose in ("budget", "redeemed") and available < amount:
                return True
    return False


def _check(w: World) -> None:
    """The database agrees with the model; trial balance zero; no guarded account below zero."""
    with w.db.sessions() as s:
        assert all(total == 0 for (total,) in s.execute(text(
            "SELECT SUM(balance) FROM account GROUP BY unit"))), "trial balance is not zero"
        below = s.execute(text("SELECT id, purpose, balance, pending_out FROM account WHERE "
                               "overdraft = 'forbidden' AND balance - pending_out < 0")).all()
        assert not below, f"budget or shop below zero: {below}"
        rows = s.execute(text(
            "SELECT holder_type, holder_id, purpose, SUM(balance), SUM(pending_out) FROM account "
            "WHERE holder_id BETWEEN :lo AND :hi GROUP BY holder_type, holder_id, purpose"),
            {"lo": w.base, "hi": w.base + 999}).all()
    got = defaultdict(int)
    for holder_type, holder_id, purpose, balance, pending in rows:
        if holder_type == "town" and purpose == "funding":
            got[("funding",)] += balance
        elif holder_type == "village" and purpose == "budget":
            got[("budget", holder_id - w.base - 1)] += balance - pending
        elif holder_type == "person" and purpose == "points":
            got[("points", holder_id - w.base - 10)] += balance
            got[("pending", holder_id - w.base - 10)] += pending
        elif holder_type == "provider" and purpose == "redeemed":
            got[("shop",)] += balance
    want = {k: v for k, v in w.expect.items() if v}
    want.update({("pending", p): v for p, v in w.pending.items() if v})
    assert {k: v for k, v in got.items() if v} == want


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(funds=st.lists(st.integers(min_value=0, max_value=400), min_size=VILLAGES,
                      max_size=VILLAGES),
       ops=st.lists(operations, min_size=5, max_size=25))
def test_random_operations_keep_every_guarantee(db, funds, ops):
    w = World(db, base=next(_ids) * 1000)
    start = [("allocate", v, a, False) for v, a in enumerate(funds) if a]
    start += [("award", v, p, 1 + a // 8, False) for v, a in enumerate(funds) if a
              for p in range(PEOPLE)]
    for op in start + ops:
        before = len(w.entries)
        _apply(w, op)
        _check(w)
        if len(w.entries) > before:
            event(f"posted: {op[0]}")
    with db.sessions() as s:
        report = run_audit(s)
    assert report.ok, report.violations
