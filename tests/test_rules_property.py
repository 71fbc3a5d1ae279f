"""Property: random sequences of awards under random catalogs never exceed a cap, never post
twice for one period, and keep the ledger audit clean. Checked from the stored award records
and the journal, not from the engine's own counters."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta

import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from ledger.errors import DomainError
from ledger.rules import catalog_io, store
from ledger.rules import service as svc
from ledger.rules.models import AwardRecord
from ledger.rules.periods import local_date, period_key
from tests.conftest import audit_clean
from tests.builders.rules import T0, add_household, add_person, balance, make_world, staff

PERIODS = ("day", "week", "month", "year")
_codes = itertools.count()

caps_st = st.dictionaries(st.sampled_from(PERIODS), st.integers(1, 12), max_size=2)
item_st = st.fixed_dictionaries({
    "points": st.sampled_from([-3, -2, -1, 1, 2, 3, 5]),
    "caps": caps_st, "times": caps_st,
    "once_per": st.sampled_from([None, None, "week", "month"]),
    "rollup": st.booleans(),
})
catalog_st = st.fixed_dictionaries({
    "scale": st.sampled_from([1, 2]),
    "catalog_caps": caps_st,
    "categories": st.lists(st.fixed_dictionaries({
        "caps": caps_st, "items": st.lists(item_st, min_size=1, max_size=3)}),
        min_size=1, max_size=2),
})
award_st = st.tuples(st.integers(0, 5), st.integers(0, 1), st.integers(0, 60),
                     st.integers(0, 23), st.integers(1, 3))


def _caps(c: dict, scale: int, times: dict | None = None) -> dict:
    out = {}
    if c:
        out["points"] = {p: n / scale if n % scale else n // scale for p, n in c.items()}
    if times:
        out["times"] = dict(times)
    return out


def build_catalog(g: dict) -> tuple[str, dict]:
    code = f"prop{next(_codes)}"
    cats, items = [], []
    for ci, cat in enumerate(g["categories"]):
        its = []
        for ii, it in enumerate(cat["items"]):
            d = {"code": f"I{ci}{ii}", "name": f"条目{ci}{ii}", "points": it["points"],
                 "subjects": ["person"]}
            if it["caps"] or it["times"]:
                d["caps"] = _caps(it["caps"], g["scale"], it["times"])
            if it["once_per"]:
                d["once_per"] = it["once_per"]
            if it["rollup"]:
                d["rollup"] = "household"
            its.append(d)
            items.append((d, f"C{ci}"))
        c = {"code": f"C{ci}", "name": f"大类{ci}", "items": its}
        if cat["caps"]:
            c["caps"] = _caps(cat["caps"], g["scale"])
        cats.append(c)
    head = {"code": code, "name": "随机目录", "effective_from": "2020-01-01",
            "scale": g["scale"], "approval": {"approved_by": "测试", "decision": "T-1"}}
    if g["catalog_caps"]:
        head["caps"] = _caps(g["catalog_caps"], g["scale"])
    text = yaml.safe_dump({"catalog": head, "categories": cats}, allow_unicode=True)
    return text, {"code": code, "items": items}


def check_caps(db, code: str) -> None:
    c = None
    with db.sessions() as s:
        c = store.catalog(s, code)
        awards = list(s.scalars(select(AwardRecord).where(AwardRecord.catalog_code == code,
                                                          AwardRecord.status == "posted")))
    sums: dict = defaultdict(lambda: [0, 0, 0])  # award steps, deduct steps, times
    for a in awards:
        item = c.items[a.item_code]
        d = local_date(a.occurred_at)
        for cr in a.credits:
            holder = (cr["holder_type"], cr["holder_id"])
            scopes = [("item", item.code, item.caps), ("cat", item.category,
                                                       c.category_of(item).caps),
                      ("catalog", code, c.caps)]
            for kind, name, caps in scopes:
                periods = {p for _, p, _ in caps} | ({item.once_per} if kind == "item" and
                                                     item.once_per else set())
                for p in periods:
                    k = (holder, kind, name, period_key(p, d))
                    sums[k][0 if cr["steps"] > 0 else 1] += abs(cr["steps"])
                    sums[k][2] += 1
                for metric, p, limit in caps:
                    used = sums[(holder, kind, name, period_key(p, d))]
                    if metric == "points":
                        assert max(used[0], used[1]) <= limit, (k, used, limit)
                    if metric == "times":
                        assert used[2] <= limit
            if item.once_per:
                assert sums[(holder, "item", item.code, period_key(item.once_per, d))][2] <= 1


@hsettings(max_examples=20, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture,
                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(g=catalog_st, awards=st.lists(award_st, min_size=1, max_size=25))
def test_random_awards_never_exceed_a_cap_nor_score_a_period_twice(db, settings, g, awards):
    if not hasattr(db, "_world"):
        db._world = make_world(db, villages=("塘后村",))
    w = db._world
    text, info = build_catalog(g)
    store.import_catalog(db, text, actor_id=1)
    hh = add_household(db, w, f"户{info['code']}")
    people = [add_person(db, w, f"人{info['code']}{i}", household=f"户{info['code']}")
              for i in range(2)]
    admin = staff(50, "village_admin", "inspector", village_id=w.villages["塘后村"])
    second = staff(51, "inspector", village_id=w.villages["塘后村"])
    for item_i, who, day, hour, qty in awards:
        d, _ = info["items"][item_i % len(info["items"])]
        at = T0 + timedelta(days=day, hours=hour)
        try:
            svc.record_award(db, settings, item_code=f"{info['code']}:{d['code']}",
                             holder=("person", people[who]), recorder=admin, confirmer=second,
                             context={"occurred_at": at.isoformat(), "quantity": qty},
                             key=None, now=at)
        except DomainError as exc:
            assert exc.code in {"cap_reached", "period_already_scored"}, exc.code
    check_caps(db, info["code"])
    with db.sessions() as s:
        posted = list(s.scalars(select(AwardRecord).where(
            AwardRecord.catalog_code == info["code"], AwardRecord.status == "posted")))
    for pid in people:
        expect = sum(cr["steps"] for a in posted for cr in a.credits
                     if (cr["holder_type"], cr["holder_id"]) == ("person", pid)
                     and cr["held"])
        assert balance(db, "person", pid) == expect
    assert balance(db, "household", hh) == sum(  # a roll-up counts there, is not held there
        cr["steps"] for a in posted for cr in a.credits
        if cr["holder_type"] == "household" and cr["held"])
    audit_clean(db)
    assert catalog_io.load_text(text).code == info["code"]
