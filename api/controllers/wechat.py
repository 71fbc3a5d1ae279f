"""A volunteer's WeChat binding over HTTP: its record, and removal by the volunteer or a town
admin (DELETE). Binding happens on the pages (api/pages/wechat.py), after one SMS sign-in."""

from __future__ import annotations

from litestar import Controller, delete, get

from api.auth import TOWN_ADMIN, Principal, requires_role, signed_in
from api.controllers import paged as pg
from ledger.config import Settings
from ledger.db import Database
from ledger.identity import wechat
from ledger.identity.schemas import Unbound, WechatBindingView


class WechatController(Controller):
    path = "/api/v1"
    tags = ["auth"]

    @get("/auth/wechat", guards=[signed_in], sync_to_thread=True,
         summary="The caller's WeChat bindings, newest first (live and removed)")
    def mine(self, db: Database, principal: Principal,
             cursor: pg.Cursor = None,
             limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[WechatBindingView]:
        return pg.page_of(wechat.history(db, principal.user_id), cursor, limit,
                          lambda b: b.id, newest_first=True)

    @delete("/auth/wechat", guards=[signed_in], status_code=200, sync_to_thread=True,
            summary="Unbind the caller's WeChat: opening links in WeChat no longer signs in")
    def unbind_mine(self, db: Database, settings: Settings, principal: Principal) -> Unbound:
        return wechat.unbind(db, principal.user_id, settings.wechat.app_id,
                             by=principal.user_id)

    @delete("/users/{user_id:int}/wechat", guards=[requires_role(TOWN_ADMIN)], status_code=200,
            sync_to_thread=True, summary="A town admin unbinds a user's WeChat")
    def unbind_user(self, user_id: int, db: Database, settings: Settings,
                    principal: Principal) -> Unbound:
        return wechat.unbind(db, user_id, settings.wechat.app_id, by=principal.user_id)
