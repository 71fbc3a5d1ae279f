"""The volunteer's pages: my points, hours, stars and history; the rewards; redeeming; my
voucher's QR code."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import Principal
from api.pages import stars as star_info
from api.pages.common import (
    FormData,
    checked_form_key,
    form_key,
    home_of,
    int_field,
    refusals_into,
    render,
    t_for,
    to_signin,
)
from api.pages.views import history
from ledger.journal.queries import available_points
from api.pages.workflow_views import me_workflow
from ledger.config import Settings
from ledger.db import Database
from ledger.journal.models import HolderType, Unit
from ledger.redemption import catalog
from ledger.redemption import service as redemption
from ledger.redemption.vouchers import voucher_url
from ledger.timeutil import utcnow

PERSON = HolderType.PERSON
REWARDS_SHOWN = 100
ORDERS_SHOWN = 20
REDEEM_FIELDS = {"out_of_stock": "quantity", "quantity*": "quantity", "limit*": "quantity",
                 "insufficient_points": "quantity"}


@get("/me", name="me", sync_to_thread=True)
def me(request: Request, db: Database, maybe_principal: Principal | None,
       before: int | None = None) -> Template | Redirect:
    p = maybe_principal
    if p is None:
        return to_signin(request)
    if p.person_id is None:  # a staff account: no points of its own; its work is elsewhere
        return render(request, "me.html", person=None, home=home_of(p))
    t = t_for(request)
    from ledger.activities.minutes import person_minutes
    with db.sessions() as s:
        balance = available_points(s, PERSON, p.person_id)
        minutes = person_minutes(s, p.person_id)
        entries = history(s, PERSON, p.person_id, t, before_seq=before)
        hours = history(s, PERSON, p.person_id, t, unit=Unit.MINUTES) if before is None else None
        stars = star_info.volunteer(s, p.person_id, minutes["certified_minutes"])
        orders = redemption.list_orders(s, [(PERSON, p.person_id)], limit=ORDERS_SHOWN)
        more = me_workflow(s, p.person_id, utcnow())
        from ledger.rules.thresholds import standing  # the standing block (schemes)
        held = standing(s, PERSON, p.person_id)
    from ledger.rules import coins, levels as level_info  # the levels block (schemes)
    with db.transaction() as s:  # a move of level seen here is recorded in the history
        levels = level_info.summary(s, PERSON, p.person_id)
        currencies = coins.summary(s, PERSON, p.person_id)
    return render(request, "me.html", person=p.person_id, balance=balance, minutes=minutes,
                  entries=entries, hours=hours, stars=stars, orders=orders.items,
                  standing=held, levels=levels, currencies=currencies, public=False, **more)


def _rewards_for(s, person_id: int | None) -> list[dict]:  # noqa: ANN001 - Session
    """The rewards on offer where the person lives (their town's shops); all, signed out."""
    from ledger.registry.models import Person, Village
    town = None
    if person_id is not None:
        person = s.get(Person, person_id)
        village = s.get(Village, person.village_id) if person else None
        town = village.town_id if village else None
    return catalog.list_rewards(s, town_id=town, limit=REWARDS_SHOWN).items


@get("/rewards", name="rewards", sync_to_thread=True)
def rewards(request: Request, db: Database, maybe_principal: Principal | None) -> Template:
    person = maybe_principal.person_id if maybe_principal else None
    with db.sessions() as s:
        items = _rewards_for(s, person)
        balance = available_points(s, PERSON, person) if person else None
    return render(request, "rewards.html", rewards=items, balance=balance)


@post("/rewards/{reward_id:int}/redeem", name="redeem", sync_to_thread=True)
def redeem(request: Request, reward_id: int, db: Database, maybe_principal: Principal | None,
           data: FormData) -> Template | Redirect:
    p = maybe_principal
    if p is None:
        return to_signin(request)
    t = t_for(request)
    form = data
    errors: dict[str, str] = {}
    quantity = int_field(form, "quantity", t, errors, lo=1, hi=redemption.MAX_QUANTITY)
    key = checked_form_key(form, p, f"redeem:{reward_id}", t, errors)
    if p.person_id is None:
        errors["_form"] = t("me.no_person")
    if not errors:
        with refusals_into(errors, t, REDEEM_FIELDS):
            order = redemption.redeem(db, reward_id=reward_id, holder_type=PERSON,
                                      holder_id=p.person_id, quantity=quantity,
                                      actor_id=p.user_id, key=key)
            return Redirect(path=f"/me/vouchers/{order.voucher.code}", status_code=303)
    with db.sessions() as s:
        items = _rewards_for(s, p.person_id)
        balance = available_points(s, PERSON, p.person_id) if p.person_id else None
    return render(request, "rewards.html", status=422, rewards=items, balance=balance,
                  failed=reward_id, errors=errors, values=form)


@get("/me/vouchers/{code:str}", name="my_voucher", sync_to_thread=True)
def my_voucher(request: Request, code: str, db: Database, settings: Settings,
               maybe_principal: Principal | None) -> Template | Redirect:
    p = maybe_principal
    if p is None:
        return to_signin(request)
    holders = [(PERSON, p.person_id)] if p.person_id else []
    with db.sessions() as s:
        canonical = redemption.holder_voucher_code(s, code, holders)
        order = next(o for o in redemption.list_orders(s, holders, limit=200).items
                     if o.voucher.code == canonical)
    return render(request, "voucher.html", order=order,
                  url=voucher_url(settings.public_base_url, canonical))


@post("/me/orders/{order_id:int}/cancel", name="cancel_order", sync_to_thread=True)
def cancel_order(request: Request, order_id: int, db: Database,
                 maybe_principal: Principal | None, data: FormData) -> Redirect:
    p = maybe_principal
    if p is None or p.person_id is None:
        return to_signin(request)
    key = form_key(data, p, f"cancel:{order_id}")
    redemption.cancel(db, order_id=order_id, actor_id=p.user_id, key=key,
                      holder=(PERSON, p.person_id))
    return Redirect(path="/me", status_code=303)


handlers = [me, rewards, redeem, my_voucher, cancel_order]
