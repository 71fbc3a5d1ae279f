"""`jifen` commands for schemes: list (and settle) roll-ups credited twice before wallets."""

from __future__ import annotations

import json
import sys

import typer


def register(app: typer.Typer) -> None:
    @app.command("double-credits")
    def double_credits(settle: bool = typer.Option(
            False, "--settle", help="reverse each and post it again, counted not held"),
            actor_id: int = typer.Option(None, help="the admin's user id, for the journal")
    ) -> None:
        """Roll-up awards that credited a member's deed to the person AND the household."""
        from ledger.config import load_settings
        from ledger.db import Database
        from ledger.rules import wallets
        from ledger.timeutil import utcnow
        settings = load_settings()
        db = Database(settings.database_url)
        if settle:
            rows = wallets.settle_all(db, settings.budget_shards, actor_id=actor_id,
                                      now=utcnow())
        else:
            with db.sessions() as s:
                rows = [d.as_dict() for d in wallets.double_credits(s)]
        sys.stdout.write(json.dumps({"settled" if settle else "found": rows},
                                    ensure_ascii=False, indent=1) + "\n")
