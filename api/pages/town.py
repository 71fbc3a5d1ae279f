"""The town admin's home (/town): what needs attention today — amounts whose public notice
ends within a day, honor lists on notice, appeals and other steps waiting on the desk,
village budgets running low, and villages (stations) with nothing recorded this month."""

from __future__ import annotations

from datetime import timedelta

from litestar import Request, get
from litestar.response import Redirect, Template
from sqlalchemy import func, select

from api.auth import TOWN_ADMIN, Principal
from api.pages.common import page_role, points_scale_of, render
from ledger.journal.queries import village_budgets
from ledger.registry.lookup import village_names
from api.pages.workflow_views import desk
from ledger.db import Database
from ledger.recognition import service as recognition
from ledger.rules.models import AwardRecord, AwardStatus
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
    with db.sessions() as s:
        names = village_names(s)
        ending = list(s.scalars(select(AwardRecord).where(
            AwardRecord.status == AwardStatus.ON_NOTICE,
            AwardRecord.notice_until > now, AwardRecord.notice_until <= now + NOTICE_SOON)
            .order_by(AwardRecord.notice_until).limit(ROWS_SHOWN)))
        # Notices already over but not yet posted: the periodic job posts them; a count that
        # stays up says that job is not running.
        overdue = s.scalar(select(func.count()).select_from(AwardRecord).where(
            AwardRecord.status == AwardStatus.ON_NOTICE, AwardRecord.notice_until <= now))
        waiting = desk(s, principal)
        low = [b for b in village_budgets(s) if b["available"] < LOW_BUDGET_POINTS * scale]
        active = set(s.scalars(select(AwardRecord.village_id).where(
            AwardRecord.created_at >= month_start).group_by(AwardRecord.village_id)))
        from ledger.activities.models import Activity
        active |= set(s.scalars(select(Activity.village_id).where(
            Activity.starts_at >= month_start).group_by(Activity.village_id)))
        on_notice = dict(s.execute(select(AwardRecord.village_id, func.count()).where(
            AwardRecord.status.in_([AwardStatus.ON_NOTICE, AwardStatus.IN_REVIEW]))
            .group_by(AwardRecord.village_id)).all())
    quiet = [(v, n) for v, n in names.items() if v not in active]
    return render(request, "town/home.html", ending=ending, overdue=overdue, waiting=waiting, low=low,
                  quiet=quiet, names=names, on_notice=on_notice,
                  honor_notices=recognition.notices(db), low_points=LOW_BUDGET_POINTS)


handlers = [town_home]
