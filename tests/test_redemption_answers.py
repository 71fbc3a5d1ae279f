"""What the shops page asks of redemption (ledger/redemption/answers.py): a shop opens in its
village's town, a town-wide one in the first town; a clerk is added by login, given the clerk
role for the shop's village only when they do not hold it; the answers are typed."""

from __future__ import annotations

import pytest

from ledger.errors import NotFound
from ledger.identity import service as identity
from ledger.identity.actor import Actor
from ledger.redemption import answers
from ledger.redemption.schemas import ProviderView, ShopClerk
from ledger.registry.lookup import towns
from tests.builders.redemption import make_town

ADMIN = Actor(1, roles=(("town_admin", None),))


def test_a_shop_opens_in_its_villages_town_and_a_town_wide_one_in_the_first_town(db):
    make_town(db, villages=1)
    second = make_town(db, villages=1)
    village_shop = answers.create_shop(db, ADMIN, name="塘边村积分超市", kind="shop",
                                       village_id=second["villages"][0], fen_per_point=100,
                                       key=None)
    assert isinstance(village_shop, ProviderView)
    assert village_shop.town_id == second["town"]
    town_wide = answers.create_shop(db, ADMIN, name="镇影院", kind="cinema", village_id=None,
                                    fen_per_point=50, key=None)
    assert town_wide.town_id == min(t.id for t in towns(db)) and town_wide.village_id is None
    with pytest.raises(NotFound) as exc:
        answers.create_shop(db, ADMIN, name="无村之店", kind="shop", village_id=10**9,
                            fen_per_point=100, key=None)
    assert exc.value.code == "village_not_found"


def test_a_clerk_added_by_login_is_granted_the_role_once(db):
    t = make_town(db, villages=1)
    village = t["villages"][0]
    with db.transaction() as s:
        uid = identity.add_user(s, login="xiaoli", name="小李", password="Baogai-2026!").id
    first = answers.create_shop(db, ADMIN, name="一号店", kind="shop", village_id=village,
                                fen_per_point=100, key=None)
    second = answers.create_shop(db, ADMIN, name="二号店", kind="shop", village_id=village,
                                 fen_per_point=100, key=None)
    answers.add_clerk(db, ADMIN, first.id, " XiaoLi ", key=None)
    answers.add_clerk(db, ADMIN, second.id, "xiaoli", key=None)  # moves them; holds the role
    with db.sessions() as s:
        assert identity.roles_of(s, uid) == (("clerk", village),)
    assert answers.clerks(db) == {second.id: [ShopClerk(user_id=uid, login="xiaoli",
                                                        name="小李")]}
    with pytest.raises(NotFound) as exc:
        answers.add_clerk(db, ADMIN, first.id, "nobody", key=None)
    assert exc.value.code == "user_not_found"
