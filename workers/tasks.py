"""Celery tasks: thin wrappers that call domain functions with the worker's database. Each is
idempotent (running it twice changes nothing the second time) and safe to run in parallel."""

from __future__ import annotations

import logging

from ledger import ops, outbox
from ledger.journal import service as journal
from ledger.recognition import leaderboards, rollups
from ledger.recognition import tasks as recognition
from ledger.timeutil import utcnow
from workers.celery_app import RUN_OUTBOX, app, db, settings

log = logging.getLogger("jifen.workers")


@app.task(name=RUN_OUTBOX)
def run_outbox(ids: list[int]) -> dict:
    """Run outbox rows; each exactly once (ledger.outbox.run_row)."""
    database = db()
    results: dict[str, int] = {}
    for oid in ids:
        r = outbox.run_row(database, int(oid))
        results[r] = results.get(r, 0) + 1
    return results


@app.task(name="jifen.outbox.relay")
def relay() -> int:
    """Send outbox rows the after-commit dispatch did not get done (crash, broker down) the
    way this process dispatches: to the workers, or (embedded) run here."""
    database = db()
    dispatch = outbox.dispatcher_of(database)
    return outbox.relay(database, lambda ids: dispatch(database.engine, ids))


@app.task(name="jifen.outbox.prune")
def prune_outbox() -> int:
    return outbox.prune(db())


@app.task(name="jifen.rollups.catch_up")
def catch_up(mode: str = "recent") -> dict:
    return rollups.catch_up(db(), mode=mode)


@app.task(name="jifen.stars.recompute")
def recompute_stars(town_id: int | None = None, cause: str = "recompute") -> dict:
    with db().transaction() as s:
        return recognition.recompute_stars(s, town_id=town_id, cause=cause)


@app.task(name="jifen.boards.rebuild")
def rebuild_boards() -> dict:
    """The live boards from the rollups, after a full catch-up (nightly, and after a Redis
    restart)."""
    database = db()
    rollups.catch_up(database, mode="full")
    with database.sessions() as s:
        return leaderboards.rebuild(s)


@app.task(name="jifen.rollups.rebuild")
def rebuild_rollups() -> dict:
    return recognition.rebuild_all(db())


@app.task(name="jifen.sweep.holds")
def sweep_holds() -> int:
    return journal.sweep_expired_holds(db())


@app.task(name="jifen.sweep.vouchers")
def sweep_vouchers() -> int:
    from ledger.redemption.service import sweep_expired_vouchers
    return sweep_expired_vouchers(db(), utcnow())


@app.task(name="jifen.sweep.checkouts")
def sweep_checkouts() -> dict:
    from ledger.activities.review import sweep_forgotten_checkouts
    return sweep_forgotten_checkouts(db(), settings(), utcnow())


@app.task(name="jifen.matching.sweep")
def sweep_orders() -> dict:
    """Service orders: missed accept deadlines back to the station, then up to the town;
    orders being served follow their check-ins (ledger.matching.progress.sweep)."""
    from ledger.matching.progress import sweep
    return sweep(db(), utcnow())


@app.task(name="jifen.rules.post_due_notices")
def post_due_notices() -> int:
    from ledger.rules.workflow import post_due_notices as post
    return post(db(), utcnow(), settings())


@app.task(name="jifen.rules.expire_points")
def expire_points() -> int:
    """Points expiry, for towns whose catalog enables it (a no-op otherwise)."""
    from ledger.rules.expiry import expire_due
    return expire_due(db(), utcnow())


@app.task(name="jifen.audit.nightly")
def nightly_audit() -> dict:
    return ops.nightly_audit(db())


@app.task(name="jifen.backup.nightly")
def nightly_backup() -> dict:
    """A backup into JIFEN_BACKUP_DIR, keeping JIFEN_BACKUP_KEEP_DAYS days (ledger/backup.py)."""
    from ledger.backup import scheduled_backup
    from ledger.metrics import BACKUP_LAST_OK
    s_ = settings()
    result = scheduled_backup(db(), s_.backup_dir, s_.backup_keep_days)
    BACKUP_LAST_OK.set(utcnow().timestamp())
    log.info("backup written: %s (%d bytes), removed %d old", result["path"], result["bytes"],
             len(result["removed"]))
    return result


@app.task(name="jifen.honor.draft")
def honor_draft(list_id: int) -> dict:
    from ledger.recognition.honor import compute_draft
    with db().transaction() as s:
        return compute_draft(s, list_id)


@app.task(name="jifen.render.poster")
def render_poster(list_id: int) -> dict:
    from ledger.recognition.poster import render_posters
    s_ = settings()
    with db().sessions() as s:
        return render_posters(s, list_id, str(s_.data_dir / "posters"), s_.public_base_url)


@app.task(name="jifen.export.village")
def export_village(village_id: int, year: int) -> dict:
    with db().transaction() as s:
        return recognition.export_village(s, village_id, year,
                                          str(settings().data_dir / "exports"))


@app.task(name="jifen.render.plates")
def render_plates(village_id: int) -> dict:
    """A village's printable sheet of door plates (ledger.registry.plates), written once to
    the data directory; the same input writes the same file."""
    from ledger.registry import lookup, plates
    s_ = settings()
    with db().sessions() as s:
        town, village, rows = lookup.village_plates(s, village_id)
    pdf = plates.plates_pdf(town=town, village=village, plates=rows,
                            public_base_url=s_.public_base_url)
    path = s_.data_dir / "plates" / f"plates-{village_id}.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pdf)
    tmp.replace(path)
    return {"path": str(path), "plates": len(rows)}


# name → function, for `jifen task NAME` and the embedded scheduler (same functions, no broker)
TASKS = {t.name: t for t in (
    run_outbox, relay, prune_outbox, catch_up, recompute_stars, rebuild_boards, rebuild_rollups,
    sweep_holds, sweep_vouchers, sweep_checkouts, sweep_orders, post_due_notices,
    expire_points, nightly_audit, nightly_backup, honor_draft, render_poster, render_plates,
    export_village)}
