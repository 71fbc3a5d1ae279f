"""Where a deed's points are held and where they count (DESIGN guarantee 7): a roll-up to the
household counts the member's deed in the household's score without crediting it twice, and
nothing can be spent twice."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from ledger.errors import DomainError
from ledger.recognition import rollups, stars
from ledger.recognition.models import HolderRollup, StarKind
from ledger.redemption import service as shop
from ledger.rules import store
from ledger.rules import service as svc
from tests.conftest import audit_clean
from tests.builders.redemption import make_reward, make_shop, points
from tests.builders.rules import T0, add_person, balance, family, make_world, staff

ROLLUP = """
catalog:
  code: famw
  name: 家庭积分
  effective_from: 2024-01-01
  approval: {approved_by: 村民代表会议, decision: 测试, approved_on: 2024-01-01}
categories:
  - code: A
    name: 甲
    items:
      - {code: R, name: 个人得分计入家庭, points: 2, subjects: [person], rollup: household}
      - {code: W, name: 个人得分存入家庭, points: 3, subjects: [person], wallet: household}
      - {code: D, name: 个人扣分计入家庭, points: -1, subjects: [person], rollup: household}
"""


def _load(db, text=ROLLUP):
    store.import_catalog(db, text, actor_id=1)


def _rec(db, settings, w, item, person, at=T0):
    who = staff(50, "village_admin", "inspector", village_id=w.villages["塘后村"])
    return svc.record_award(db, settings, item_code=item, holder=("person", person),
                            recorder=who, context={"occurred_at": at.isoformat(),
                                                   "channel": "admin"}, now=at)


def score_of(db, holder_type, holder_id):
    """The civility score the rollups give (rankings, honor lists, stars read this)."""
    rollups.catch_up(db, mode="full")
    with db.sessions() as s:
        return sum(s.scalars(select(HolderRollup.net).where(
            HolderRollup.holder_type == holder_type, HolderRollup.holder_id == holder_id,
            HolderRollup.unit == "points", HolderRollup.period_key.like("year:%"))))


def test_rollup_is_held_by_the_person_and_counts_for_the_household(db, settings):
    w = make_world(db)
    _load(db)
    h, p = family(db, w)
    r = _rec(db, settings, w, "R", p)
    assert r.points == 2
    assert balance(db, "person", p) == 2
    assert balance(db, "household", h) == 0  # counted, not credited
    assert score_of(db, "household", h) == 2 and score_of(db, "person", p) == 2
    _rec(db, settings, w, "D", p)
    assert balance(db, "person", p) == 1 and score_of(db, "household", h) == 1
    with db.sessions() as s:
        cfg = stars.get_config(s, w.town, StarKind.HOUSEHOLD)
        d = T0.date()
        assert stars.household_figures(s, cfg, h, d.replace(month=1, day=1),
                                       d.replace(year=d.year + 1, month=1, day=1))[0] == 1
    audit_clean(db)


def test_household_wallet_holds_a_members_deed_and_the_person_counts_it(db, settings):
    w = make_world(db)
    _load(db)
    h, p = family(db, w)
    _rec(db, settings, w, "W", p)
    assert balance(db, "household", h) == 3 and balance(db, "person", p) == 0
    assert score_of(db, "household", h) == 3 and score_of(db, "person", p) == 3
    audit_clean(db)


PROPERTY = """
catalog:
  code: {code}
  name: 钱包性质
  effective_from: 2024-01-01
  approval: {{approved_by: 村民代表会议, decision: 测试, approved_on: 2024-01-01}}
categories:
  - code: A
    name: 甲
    items:
      - {{code: R, name: 计入家庭, points: 3, subjects: [person], rollup: household}}
      - {{code: W, name: 存入家庭, points: 2, subjects: [person], wallet: household}}
      - {{code: H, name: 家庭自得, points: 5, subjects: [household]}}
      - {{code: D, name: 扣分计入家庭, points: -1, subjects: [person], rollup: household}}
"""
_n = iter(range(10**6))
op_st = st.one_of(
    st.tuples(st.just("deed"), st.sampled_from(["R", "W", "H", "D"]), st.integers(0, 1)),
    st.tuples(st.just("redeem"), st.sampled_from(["person", "household"]), st.integers(0, 1),
              st.integers(1, 10)))


@hsettings(max_examples=25, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(op_st, min_size=1, max_size=20))
def test_a_family_never_spends_more_than_was_credited(db, settings, ops):
    """Across any deeds and redemptions, what the members and their household have spent plus
    what they can still spend never exceeds what their deeds were worth (each deed once)."""
    if not hasattr(db, "_fam"):
        w = make_world(db, villages=("塘后村",))
        shop_id = make_shop(db, w.town)
        db._fam = (w, make_reward(db, shop_id, cost_points=1).id)
    w, reward = db._fam
    code = f"wp{next(_n)}"
    store.import_catalog(db, PROPERTY.format(code=code), actor_id=1)
    hh, p1 = family(db, w, tag=code)
    p2 = add_person(db, w, f"{code}二", household=f"{code}家")
    people = [p1, p2]
    worth = {"R": 3, "W": 2, "H": 5, "D": -1}
    spent = 0
    for i, op in enumerate(ops):
        at = T0 + timedelta(minutes=i)
        if op[0] == "deed":
            _, item, who = op
            holder = ("household", hh) if item == "H" else ("person", people[who])
            svc.record_award(db, settings, item_code=f"{code}:{item}", holder=holder,
                             recorder=staff(50, "village_admin", village_id=w.villages["塘后村"]),
                             context={"occurred_at": at.isoformat(), "channel": "admin"},
                             now=at)
        else:
            _, kind, who, qty = op
            hid = hh if kind == "household" else people[who]
            try:
                shop.redeem(db, reward_id=reward, holder_type=kind, holder_id=hid,
                            quantity=qty, actor_id=1, key=None, now=at)
                spent += qty
            except DomainError as exc:
                assert exc.code == "insufficient_points", exc.code
        spendable = sum(max(points(db, t, h)["available"], 0)
                        for t, h in [("household", hh)] + [("person", p) for p in people])
        assert spent + spendable <= _credited_max(ops[:i + 1], worth), (spent, spendable)
    audit_clean(db)


def _credited_max(ops, worth) -> int:
    """The most the family could ever hold: every positive deed once (deductions may land on
    a wallet already spent, so they do not lower what was credited)."""
    return sum(worth[op[1]] for op in ops if op[0] == "deed" and worth[op[1]] > 0)


def _legacy_double_credit(db, settings, w, p, h):
    """An award as roll-ups were posted before wallets: +2 to the person AND +2 to the
    household's points, both from the budget (built by hand: the code no longer does it)."""
    from ledger.journal.accounts import budget_shards, open_account
    from ledger.journal.posting import Line, post_entry, reverse_entry
    from ledger.rules.models import AwardRecord
    r = _rec(db, settings, w, "R", p)
    with db.transaction() as s:
        a = s.get(AwardRecord, r.award_id)
        reverse_entry(s, a.entry_id, memo="构造旧数据")
        e = post_entry(s, unit="points", kind="award", source="rule", source_ref=str(a.id),
                       memo=a.item_name, lines=[
                           Line.of(open_account(s, holder_type="person", holder_id=p,
                                                purpose="points"), 2),
                           Line.of(open_account(s, holder_type="household", holder_id=h,
                                                purpose="points"), 2),
                           Line(budget_shards(s, a.village_id, 4), -4, hot=True)],
                       details={"award_id": a.id, "item": "R"})
        a.credits = [{k: v for k, v in cr.items() if k != "held"} for cr in a.credits]
        a.entry_id, a.entry_ids = e.id, [e.id]
    return r.award_id


def test_double_credits_are_listed_and_settled_by_reversing_entries(db, settings):
    from ledger.rules import wallets
    w = make_world(db)
    _load(db)
    h, p = family(db, w)
    award_id = _legacy_double_credit(db, settings, w, p, h)
    _rec(db, settings, w, "R", p)  # a new one: counted, not listed
    assert balance(db, "household", h) == 2 and balance(db, "person", p) == 4
    with db.sessions() as s:
        found = [d.as_dict() for d in wallets.double_credits(s)]
    assert [(d["award_id"], d["household_id"], d["steps"]) for d in found] == [(award_id, h, 2)]
    done = wallets.settle_all(db, 4, actor_id=1, now=T0 + timedelta(days=1))
    assert len(done) == 1 and done[0]["reversal_id"]
    assert balance(db, "household", h) == 0 and balance(db, "person", p) == 4
    assert score_of(db, "household", h) == 4
    assert wallets.settle_all(db, 4, actor_id=1, now=T0 + timedelta(days=1)) == []
    audit_clean(db)


def test_the_village_score_is_sharded_and_concurrent_writers_take_different_shards(db,
                                                                                  settings):
    """Every roll-up award of a village posts to the village's score: it has as many
    sub-accounts as the budget (one row made the village's awards wait for each other's
    COMMIT), writer threads of one process take different shards, and together the shards
    balance what the households count."""
    import threading

    from ledger.journal.models import Account
    w = make_world(db)
    _load(db)
    people = [family(db, w, tag=f"陈{i}")[1] for i in range(4)]
    errors = []

    def award(p):
        try:
            for _ in range(3):
                _rec(db, settings, w, "R", p)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=award, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    village = w.villages["塘后村"]
    with db.sessions() as s:
        shards = s.execute(select(Account.shard, Account.balance).where(
            Account.holder_type == "village", Account.holder_id == village,
            Account.purpose == "score")).all()
    assert len(shards) == settings.budget_shards
    used = [b for _, b in shards if b != 0]
    assert len(used) == len(people)  # four threads, four different shards
    assert sum(b for _, b in shards) == -2 * 3 * len(people)
    assert sum(score_of(db, "household", h) for h in
               {_household_of(db, p) for p in people}) == 2 * 3 * len(people)
    audit_clean(db)


def _household_of(db, person):
    from ledger.registry.models import Person
    with db.sessions() as s:
        return s.get(Person, person).household_id
