"""The volunteer's pages: my points, hours, stars and history; the rewards; redeeming; my
voucher's QR code."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import Principal
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
from api.pages.views import HISTORY_PAGE, history
from ledger.activities.minutes import service_of
from ledger.config import Settings
from ledger.db import Database
from ledger.journal.queries import available_points_for, holder_statement
from ledger.recognition.service import volunteer_progress
from ledger.redemption import answers
from ledger.redemption import service as redemption
from ledger.redemption.draws import wins_for
from ledger.redemption.vouchers import voucher_url
from ledger.rules import coins, desk, thresholds
from ledger.rules import levels as level_info

PERSON = "person"  # the holder type of a person's accounts
MINUTES = "minutes"  # the unit of service minutes
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
    pid = p.person_id
    entries = history(holder_statement(db, PERSON, pid, limit=HISTORY_PAGE, before_seq=before), t)
    hours = (history(holder_statement(db, PERSON, pid, limit=HISTORY_PAGE, unit=MINUTES), t)
             if before is None else None)
    more = desk.resident(db, p)
    return render(request, "me.html", person=pid, balance=available_points_for(db, PERSON, pid),
                  minutes=service_of(db, pid), entries=entries, hours=hours,
                  stars=volunteer_progress(db, pid),
                  orders=answers.own_orders(db, p, limit=ORDERS_SHOWN),
                  standing=thresholds.standing_for(db, p, PERSON, pid),  # the standing block
                  # the levels block; a move of level seen here is recorded in the history
                  levels=level_info.summary_for(db, p, PERSON, pid),
                  currencies=coins.summary_for(db, p, PERSON, pid), public=False,
                  notices=more.notices, deductions=more.deductions, claims=more.claims,
                  wins=wins_for(db, p))


@get("/rewards", name="rewards", sync_to_thread=True)
def rewards(request: Request, db: Database, maybe_principal: Principal | None) -> Template:
    p = maybe_principal
    person = p.person_id if p else None
    return render(request, "rewards.html", rewards=answers.rewards_near(db, p, limit=REWARDS_SHOWN),
                  balance=available_points_for(db, PERSON, person) if person else None)


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
    balance = available_points_for(db, PERSON, p.person_id) if p.person_id else None
    return render(request, "rewards.html", status=422,
                  rewards=answers.rewards_near(db, p, limit=REWARDS_SHOWN), balance=balance,
                  failed=reward_id, errors=errors, values=form)


@get("/me/vouchers/{code:str}", name="my_voucher", sync_to_thread=True)
def my_voucher(request: Request, code: str, db: Database, settings: Settings,
               maybe_principal: Principal | None) -> Template | Redirect:
    p = maybe_principal
    if p is None:
        return to_signin(request)
    order = answers.own_voucher(db, p, code)
    return render(request, "voucher.html", order=order,
                  url=voucher_url(settings.public_base_url, order.voucher.code))


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
