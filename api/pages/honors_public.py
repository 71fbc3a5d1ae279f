"""The public honor list (光荣榜) pages: the published lists, and one list as the poster's QR
code opens it — ranks, masked names, results, the publication date and its check code — read
through ledger.recognition.service (only published lists are shown)."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from api.pages.common import render
from ledger.db import Database
from ledger.recognition import service

POINT_METRICS = ("points", "household_score")  # values kept in ledger steps


@get("/honors", name="honor_lists_public", sync_to_thread=True)
def honor_lists_public(request: Request, db: Database) -> Template:
    return render(request, "honors_public/lists.html",
                  lists=service.published(db, town_id=None, village_id=None))


@get("/honors/{list_id:int}", name="honor_list_public", sync_to_thread=True)
def honor_list_public(request: Request, list_id: int, db: Database) -> Template:
    view = service.get_list(db, list_id, admin=False)
    return render(request, "honors_public/list.html", hl=view, content=view["content"],
                  point_metrics=POINT_METRICS)


handlers = [honor_lists_public, honor_list_public]
