"""Lucky draws for the town admin (/admin/draws): define one (a reward, how many winners, who
may win), run it once (the seed and the population are recorded; each winner gets a voucher
paid by the town), check it again from the recorded seed; a draw with fewer people than
winners says that everyone eligible won. Winners see their win on /me. All of it is
ledger.redemption.draws."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy import select

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
from ledger.registry.lookup import village_names
from ledger.db import Database
from ledger.errors import DomainError, NotFound
from ledger.redemption import catalog, draws
from ledger.redemption.models import LuckyDraw, LuckyDrawWinner, RedemptionOrder, Voucher

DRAWS_SHOWN = 50
DRAW_FIELDS = {"invalid_name": "name", "invalid_winners_count": "winners_count",
               "unknown_reward": "reward_id", "invalid_population": "village_id",
               "invalid_seed": "seed"}


def _page(request: Request, db: Database, *, status: int = 200, **ctx) -> Template:
    t = t_for(request)
    with db.sessions() as s:
        rows = [draws.draw_view(d) for d in s.scalars(
            select(LuckyDraw).order_by(LuckyDraw.id.desc()).limit(DRAWS_SHOWN))]
        rewards = catalog.list_rewards(s, only_offered=False, limit=100).items
        names = village_names(s, with_town=True)
    reward_names = {r.id: r.name for r in rewards}
    return render(request, "draws/draws.html", status=status, draws=rows,
                  reward_names=reward_names,
                  reward_options=[("", t("admin.choose"))] + [(str(r.id), r.name)
                                                              for r in rewards],
                  village_options=[("", t("shop.town_wide"))] + [
                      (str(v), n) for v, (n, _) in names.items()], **ctx)


@get("/admin/draws", name="admin_draws", guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_draws(request: Request, db: Database) -> Template | Redirect:
    return _page(request, db)


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
            with db.sessions() as s:
                town = catalog.get_provider(s, catalog.get_reward(s, reward).provider_id).town_id
            draws.create_draw(db, town_id=town, name=name, reward_id=reward,
                              winners_count=winners, population_def=pop, actor_id=principal.user_id,
                              key=form_key(data, principal, "draw"))
            return saved("/admin/draws")
    return _page(request, db, status=422, errors=errors, values=data)


@post("/admin/draws/{draw_id:int}/run", name="admin_draw_run",
      guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_draw_run(request: Request, draw_id: int, db: Database,
                   principal: Principal, data: FormData) -> Template | Redirect:
    seed = str(data.get("seed") or "").strip() or None
    try:
        draws.run_draw(db, draw_id, seed=seed, actor_id=principal.user_id,
                       key=form_key(data, principal, f"draw_run:{draw_id}"))
    except DomainError as exc:
        return _page(request, db, status=exc.status, errors={
            "_form": t_for(request)("err." + exc.code, default=exc.detail)})
    return Redirect(path=f"/admin/draws/{draw_id}", status_code=303)


@get("/admin/draws/{draw_id:int}", name="admin_draw",
     guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_draw(request: Request, draw_id: int, db: Database, verify: bool = False
               ) -> Template | Redirect:
    from ledger.registry.lookup import person_names
    with db.sessions() as s:
        if s.get(LuckyDraw, draw_id) is None:
            raise NotFound(f"draw {draw_id} does not exist", code="draw_not_found")
        view = draws.draw_winners(s, draw_id)
        checked = draws.verify_draw(s, draw_id) if verify and view["status"] == "drawn" \
            else None
        names = person_names(s, [w["holder_id"] for w in view["winners"]
                                 if w["holder_type"] == "person"])
    return render(request, "draws/draw.html", d=view, checked=checked, names=names)


def my_wins(s, holders: list[tuple[str, int]]) -> list[dict]:
    """The draws the holders won, with the voucher to collect (for /me)."""
    if not holders:
        return []
    from sqlalchemy import or_
    rows = s.execute(select(LuckyDrawWinner, LuckyDraw, Voucher)
                     .join(LuckyDraw, LuckyDraw.id == LuckyDrawWinner.draw_id)
                     .join(RedemptionOrder, RedemptionOrder.id == LuckyDrawWinner.order_id)
                     .join(Voucher, Voucher.order_id == RedemptionOrder.id)
                     .where(or_(*[(LuckyDrawWinner.holder_type == t)
                                  & (LuckyDrawWinner.holder_id == i) for t, i in holders]))
                     .order_by(LuckyDraw.id.desc()).limit(DRAWS_SHOWN)).all()
    return [{"draw": d.name, "rank": w.rank, "voucher_code": v.code, "status": v.status,
             "drawn_at": d.drawn_at} for w, d, v in rows]


handlers = [admin_draws, admin_draw_new, admin_draw_run, admin_draw]
