"""What a winner and a clerk read about prizes and vouchers: a prize paid by the town never
shows as points taken from the winner; a draw with more prizes than eligible people says so;
a voucher already handed over no longer asks the clerk to hand it over."""

from __future__ import annotations

from ledger.redemption import draws
from ledger.redemption.service import fulfil
from ledger.timeutil import utcnow
from tests.builders.pages import sign_in
from tests.builders.redemption import (
    give_points,
    make_people,
    make_person,
    make_reward,
    make_shop,
    make_town,
    serve,
)

CLERK = 7301


def test_a_town_paid_prize_is_no_deduction_and_a_short_draw_says_so(client, db, settings):
    t = make_town(db, villages=1)
    shop = make_shop(db, t["town"], clerks=(CLERK,))
    gift = make_reward(db, shop, name="吉祥礼物", kind="gift", cost_points=10, stock=100)
    people = make_people(db, t["villages"][0], 3)
    for p in people:
        serve(db, t["town"], p, 60, utcnow())
    d = draws.create_draw(db, town_id=t["town"], name="幸运志愿者", reward_id=gift.id,
                          winners_count=5, population_def={"year": utcnow().year},
                          actor_id=1, key=None)
    ran = draws.run_draw(db, d.id, actor_id=1, key=None)
    assert (ran.winners, ran.everyone_eligible_won, ran.prizes_left) == (3, True, 2)
    sign_in(client, settings, "volunteer", person_id=people[0])
    me = client.get("/me").text
    assert "吉祥礼物" in me and "抽奖奖品" in me and "-10" not in me
    with db.sessions() as s:
        order = next(w for w in draws.draw_winners(s, d.id)["winners"]
                     if w["holder_id"] == people[0])
        from ledger.redemption.models import Voucher
        code = s.query(Voucher).filter_by(order_id=order["order_id"]).one().code
    assert "镇里出资" in client.get(f"/me/vouchers/{code}").text


def test_a_voucher_handed_over_says_so_to_the_clerk(client, db, settings):
    t = make_town(db, villages=1)
    person = make_person(db, t["villages"][0])
    give_points(db, "person", person, t["villages"][0], 100)
    shop = make_shop(db, t["town"], clerks=(CLERK,))
    rice = make_reward(db, shop, name="大米一袋", cost_points=30)
    from ledger.redemption.service import redeem
    order = redeem(db, reward_id=rice.id, holder_type="person", holder_id=person,
                   quantity=1, actor_id=person, key=None)
    code = order.voucher.code
    fulfil(db, code=code, clerk_user_id=CLERK, key=None)
    sign_in(client, settings, "clerk", user_id=CLERK)
    page = client.get(f"/v/{code}").text
    assert "已交付" in page and "请交付" not in page


def test_the_rewards_page_lists_the_shops_of_the_persons_own_town(client, db, settings):
    home, other = make_town(db, villages=1), make_town(db, villages=1)
    person = make_person(db, home["villages"][0])
    make_reward(db, make_shop(db, home["town"], name="本镇超市"), name="本镇大米")
    make_reward(db, make_shop(db, other["town"], name="外镇超市"), name="外镇食用油")
    sign_in(client, settings, "volunteer", person_id=person)
    page = client.get("/rewards").text
    assert "本镇大米" in page and "外镇食用油" not in page
