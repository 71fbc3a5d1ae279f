"""The town admin's home (/town): what needs attention today — amounts whose public notice
ends within a day, honor lists on notice, appeals and other steps waiting on the desk,
village budgets running low, and villages (stations) with nothing recorded this month."""

from __future__ import annotations

from datetime import timedelta

from litestar import Request, get
from litestar.response import Redirect, Template

from api.auth import TOWN_ADMIN, Principal
from api.pages.common import page_role, points_scale_of, render
from ledger.db import Database
from ledger.recognition import service as recognition
from ledger.rules import desk
from ledger.timeutil import LOCAL_TZ, utcnow

NOTICE_SOON = timedelta(days=1)
LOW_BUDGET_POINTS = 100  # a village budget below this many points is flagged
ROWS_SHOWN = 50


@get("/town", name="town_home", guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def town_home(request: Request, db: Database,
              principal: Principal) -> Template | Redirect:
    now = utcnow()
    month_start = now.astimezone(LOCAL_TZ).replace(day=1, hour=0, minute=0, second=0,
                                                   microsecond=0)
    scale = points_scale_of(request)
    day = desk.town_attention(db, principal, now=now, month_start=month_start,
                              soon=NOTICE_SOON, low_budget_steps=LOW_BUDGET_POINTS * scale,
                              rows=ROWS_SHOWN)
    return render(request, "town/home.html", ending=day.ending, overdue=day.overdue,
                  waiting=day.waiting, low=day.low_budgets, quiet=day.quiet, names=day.names,
                  on_notice=day.on_notice, honor_notices=recognition.notices(db),
                  low_points=LOW_BUDGET_POINTS)


handlers = [town_home]
