"""Operations API for town admins: the nightly audit's status (the alert when it fails or
stops running), the background task backlog, and retrying a task that died."""

from __future__ import annotations

from litestar import Controller, get, post

from api.auth import TOWN_ADMIN, requires_role
from ledger import ops
from ledger.db import Database


class OpsController(Controller):
    path = "/api/v1/ops"
    tags = ["ops"]
    guards = [requires_role(TOWN_ADMIN)]

    @get("/audit-status", sync_to_thread=True,
         summary="Last ledger audit and checkpoint; status 'failing' with alerts when not clean")
    def audit_status(self, db: Database) -> ops.AuditStatus:
        return ops.audit_status(db)

    @post("/tasks/{task_id:int}/retry", status_code=200, sync_to_thread=True,
          summary="Give a dead background task another round of attempts")
    def retry(self, task_id: int, db: Database) -> ops.TaskRetried:
        return ops.retry_task(db, task_id)
