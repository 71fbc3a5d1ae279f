"""Demo data: Baogai town (宝盖镇) as it stands in the shared facts file, so the service looks
real on first start. Idempotent: every write carries a fixed idempotency key."""

from __future__ import annotations

from ledger.config import Settings
from ledger.db import Database
from ledger.journal import service

DEMO_TOWN_ID = 1
DEMO_VILLAGE_BUDGET = 100_000


def load_demo(db: Database, settings: Settings, console=None) -> dict:  # noqa: ANN001
    allocated = 0
    for village_id in range(1, 21):
        r = service.allocate(db, shards=settings.budget_shards, town_id=DEMO_TOWN_ID,
                             village_id=village_id, amount=DEMO_VILLAGE_BUDGET, actor_id=None,
                             key=f"demo:allocate:{village_id}", memo="2026 demo allocation")
        allocated += 0 if r.replayed else 1
    return {"villages_allocated": allocated}
