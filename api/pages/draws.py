"""Lucky draws for the town admin (/admin/draws): define one (a reward, how many winners, who
may win), run it once (the seed and the population are recorded; each winner gets a voucher
paid by the town), check it again from the recorded seed; a draw with fewer people than
winners says that everyone eligible won. Winners see their win on /me. All of it is
ledger.redemption.draws."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import TOWN_ADMIN, Principal
from api.pages.common import (
    FormData,
    form_key,
    int_field,
    page_role,
    refusals_into,
    render,
    require_field,
    saved,
    t_for,
)
from ledger.db import Database
from ledger.errors import DomainError
from ledger.redemption import answers, catalog, draws
from ledger.registry.lookup import villages

DRAWS_SHOWN = 50
REWARDS_OFFERED = 100
DRAW_FIELDS = {"invalid_name": "name", "invalid_winners_count": "winners_count",
               "unknown_reward": "reward_id", "invalid_population": "village_id",
               "invalid_seed": "seed"}


def _page(request: Request, db: Database, p: Principal, *, status: int = 200,
          **ctx) -> Template:
    t = t_for(request)
    rewards = answers.rewards(db, p, include_unavailable=True, limit=REWARDS_OFFERED).items
    return render(request, "draws/draws.html", status=status,
                  draws=draws.recent(db, DRAWS_SHOWN),
                  reward_names={r.id: r.name for r in rewards},
                  reward_options=[("", t("admin.choose"))] + [(str(r.id), r.name)
                                                              for r in rewards],
                  village_options=[("", t("shop.town_wide"))] + [
                      (str(v.id), v.name) for v in villages(db, counts=False)], **ctx)


@get("/admin/draws", name="admin_draws", guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_draws(request: Request, db: Database,
                principal: Principal) -> Template | Redirect:
    return _page(request, db, principal)


@post("/admin/draws", name="admin_draw_new", guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_draw_new(request: Request, db: Database, principal: Principal,
                   data: FormData) -> Template | Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    name = require_field(data, "name", t, errors, max_chars=catalog.MAX_NAME_CHARS)
    reward = int_field(data, "reward_id", t, errors, lo=1)
    winners = int_field(data, "winners_count", t, errors, lo=1, hi=draws.MAX_DRAW_WINNERS)
    village = int_field(data, "village_id", t, errors, lo=1, required=False)
    hours = int_field(data, "min_service_hours", t, errors, lo=0, hi=draws.MAX_SERVICE_HOURS,
                      required=False)
    if not errors:
        pop = {"holder_type": "person", "volunteers_only": data.get("volunteers_only") == "1"}
        if village is not None:
            pop["village_ids"] = [village]
        if hours:
            pop["min_service_hours"] = hours
        with refusals_into(errors, t, DRAW_FIELDS):
            draws.create_draw(db, town_id=None, name=name, reward_id=reward,
                              winners_count=winners, population_def=pop, actor_id=principal.user_id,
                              key=form_key(data, principal, "draw"))
            return saved("/admin/draws")
    return _page(request, db, principal, status=422, errors=errors, values=data)


@post("/admin/draws/{draw_id:int}/run", name="admin_draw_run",
      guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_draw_run(request: Request, draw_id: int, db: Database,
                   principal: Principal, data: FormData) -> Template | Redirect:
    seed = str(data.get("seed") or "").strip() or None
    try:
        draws.run_draw(db, draw_id, seed=seed, actor_id=principal.user_id,
                       key=form_key(data, principal, f"draw_run:{draw_id}"))
    except DomainError as exc:
        return _page(request, db, principal, status=exc.status, errors={
            "_form": t_for(request)("err." + exc.code, default=exc.detail)})
    return Redirect(path=f"/admin/draws/{draw_id}", status_code=303)


@get("/admin/draws/{draw_id:int}", name="admin_draw",
     guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_draw(request: Request, draw_id: int, db: Database, verify: bool = False
               ) -> Template | Redirect:
    r = draws.review(db, draw_id, verify=verify)
    return render(request, "draws/draw.html", d=r.draw, checked=r.check, names=r.names)


handlers = [admin_draws, admin_draw_new, admin_draw_run, admin_draw]
