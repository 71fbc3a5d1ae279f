"""Volunteers' long sessions over HTTP: spend a refresh token for a new token (rotated), see
one's sessions, end one or all; a town admin ends a user's sessions (DELETE)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, post

from api.auth import TOWN_ADMIN, Principal, requires_role, signed_in
from api.controllers import paged as pg
from api.controllers.auth import _signed_in
from ledger.config import Settings
from ledger.db import Database
from ledger.identity import sessions
from ledger.identity.schemas import SessionsEnded, SessionView, SignedIn


class RefreshIn(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1,
                                               max_length=sessions.MAX_TOKEN_CHARS)]


class SessionsController(Controller):
    path = "/api/v1"
    tags = ["auth"]

    @post("/auth/refresh", sync_to_thread=True, status_code=200,
          summary="A new token for a volunteer's refresh token; the refresh token is replaced")
    def refresh(self, data: RefreshIn, db: Database, settings: Settings
                ) -> Response[SignedIn]:
        who, session = sessions.rotate(db, settings.secret_key, data.refresh_token)
        return _signed_in(settings, who, session)

    @get("/auth/sessions", guards=[signed_in], sync_to_thread=True,
         summary="The caller's live long sessions (one per phone)")
    def mine(self, db: Database, principal: Principal,
             cursor: pg.Cursor = None,
             limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[SessionView]:
        return pg.page_of(sessions.live_sessions(db, principal.user_id), cursor, limit,
                          lambda x: x.session_id)

    @delete("/auth/sessions", guards=[signed_in], sync_to_thread=True, status_code=200,
            summary="End all of the caller's long sessions")
    def end_all(self, db: Database, principal: Principal) -> SessionsEnded:
        return sessions.end(db, principal.user_id, None, by=principal.user_id)

    @delete("/auth/sessions/{session_id:str}", guards=[signed_in], sync_to_thread=True,
            status_code=200, summary="End one of the caller's long sessions")
    def end_one(self, session_id: str, db: Database, principal: Principal) -> SessionsEnded:
        return sessions.end(db, principal.user_id, session_id[:32], by=principal.user_id)

    @delete("/users/{user_id:int}/sessions", guards=[requires_role(TOWN_ADMIN)],
            sync_to_thread=True, status_code=200, summary="A town admin ends a user's sessions")
    def end_user(self, user_id: int, db: Database, principal: Principal) -> SessionsEnded:
        return sessions.end(db, user_id, None, by=principal.user_id)
