"""The `jifen` command: serve, migrate, load demo data, audit, and the periodic jobs by hand."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console

from api.cli_sheets import steps
from ledger.config import load_settings
from ledger.db import Database

app = typer.Typer(help="Jifen 积分 — civility points and volunteer rewards ledger",
                  no_args_is_help=True, add_completion=False)
console = Console(stderr=True)


def _db() -> tuple:
    settings = load_settings()
    return settings, Database(settings.database_url)


@app.command()
def migrate() -> None:
    """Upgrade the database to the newest schema."""
    from ledger import migrate as m
    settings, db = _db()
    m.upgrade(db)
    console.print(f"[green]database at head[/green] ({db.engine.url.render_as_string()})")


@app.command()
def demo() -> None:
    """Load Baogai town's demo data (idempotent: running it twice adds nothing)."""
    from ledger import migrate as m
    from ledger.demo import load_demo
    settings, db = _db()
    with steps("演示数据", ["数据库结构", "宝盖镇演示数据"]) as step:
        step("数据库结构")
        m.upgrade(db)
        step("宝盖镇演示数据")
        summary = load_demo(db, settings, console=console)
    console.print(f"[green]demo data ready[/green]: {summary}")


PUBLIC_URL_ENV = "JIFEN_PUBLIC_URL"
LAN_PROBE = ("10.255.255.255", 1)  # a UDP "connect" picks the outgoing interface; sends nothing


def lan_address() -> str:
    """This machine's address on its network (the interface of the default route), or
    127.0.0.1 when it has none."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(LAN_PROBE)
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, with_demo: bool = typer.Option(
        False, "--demo", help="load the demo data first"), workers: int = 1,
        lan: bool = typer.Option(False, "--lan", help="serve phones on this network: bind "
                                 "this machine's LAN address and put it in every QR code")
        ) -> None:
    """Apply migrations and serve the API (OpenAPI docs at /docs)."""
    import uvicorn

    from ledger import migrate as m
    from ledger.config import export_default
    if lan:
        host = lan_address()
        # every QR code (check-in, plates, vouchers) carries this address, unless one is set
        url = export_default(PUBLIC_URL_ENV, f"http://{host}:{port}")
        console.print(f"LAN mode: phones on this network open {url}")
    settings, db = _db()
    m.upgrade(db)
    if with_demo:
        from ledger.demo import load_demo
        load_demo(db, settings, console=console)
    db.dispose()
    if settings.metrics_dir is not None:  # several workers report as one (ledger/metrics.py)
        from ledger.metrics import prune_dead_processes
        settings.metrics_dir.mkdir(parents=True, exist_ok=True)
        prune_dead_processes(settings.metrics_dir)
    stop = None
    if settings.tasks != "celery":  # no Celery beat: the periodic jobs run in this process
        from workers.scheduler import start_in_background
        stop = start_in_background()
        console.print("periodic jobs (notices, expiries, points due) run in this process")
    console.print(f"Jifen on http://{host}:{port}/  — API docs: http://{host}:{port}/docs")
    # X-Forwarded-For/-Proto are believed only from JIFEN_TRUSTED_PROXIES (none by default;
    # deploy/env.example names the box's nginx): a caller cannot pick the address its rate
    # limits are counted under.
    try:
        uvicorn.run("api.asgi:app", host=host, port=port, workers=workers, log_level="warning",
                    **settings.uvicorn_proxy_options())
    finally:
        if stop is not None:
            stop.set()


@app.command("settings")
def show_settings() -> None:
    """Print the settings in force (from the environment and .env), secrets masked."""
    from ledger.config import load_env_file
    settings = load_settings()
    found = load_env_file()
    masked = {"secret_key", "access_key_secret", "app_secret"}

    def plain(obj, prefix=""):  # noqa: ANN001, ANN202
        from dataclasses import fields, is_dataclass
        out = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            if is_dataclass(value):
                out[f.name] = plain(value)
            elif f.name in masked or "://" in str(value) and "@" in str(value):
                out[f.name] = "***" if value else ""
            else:
                out[f.name] = (list(value) if isinstance(value, tuple) else value
                               if isinstance(value, (int, float, bool, type(None))) else str(value))
        return out

    print(json.dumps({"env_file": str(found) if found else None, **plain(settings)},
                     ensure_ascii=False, indent=2))


@app.command()
def audit(as_json: bool = typer.Option(False, "--json")) -> None:
    """Run the ledger audit; exit 1 on any violation."""
    from ledger.journal import service
    _, db = _db()
    report = service.audit(db)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        console.print(f"entries {report['entries']}, postings {report['postings']}, "
                      f"accounts {report['accounts']}, checkpoints {report['checkpoints']}")
        for v in report["violations"]:
            console.print(f"[red]{v['code']}[/red]: {v['message']}")
        console.print("[green]audit clean[/green]" if report["ok"] else "[red]AUDIT FAILED[/red]")
    sys.exit(0 if report["ok"] else 1)


@app.command()
def checkpoint() -> None:
    """Hash all account heads changed since the last checkpoint into a new root."""
    from ledger.journal import service
    _, db = _db()
    console.print(service.checkpoint(db) or "nothing changed since the last checkpoint")


@app.command()
def backup(out: str = typer.Argument(..., help="file to write")) -> None:
    """Online backup (SQLite backup API, or pg_dump -Fc for PostgreSQL)."""
    from pathlib import Path

    from ledger import backup as b
    _, db = _db()
    with steps("备份", ["写入备份"]) as step:
        step("写入备份")
        path = b.backup(db, Path(out))
    console.print(f"backup written to {path} ({path.stat().st_size // 1024 + 1} KB)")


@app.command()
def restore(backup_file: str, into: str = typer.Option(..., help="target database URL")) -> None:
    """Restore a backup into an empty target, then run the audit on it (exit 1 if unclean)."""
    from pathlib import Path

    from ledger import backup as b
    from ledger import readcache
    from ledger.identity import current
    from ledger.journal import service
    with steps("恢复", ["恢复备份", "核对账本"]) as step:
        step("恢复备份")
        target = b.restore(Path(backup_file), into)
        current.forget_all(target)  # user ids may be given out again: no cached state survives
        readcache.clear(target)  # nor a page kept under a version the restore may repeat
        step("核对账本")
        report = service.audit(target)
    console.print(f"restored: {report['entries']} entries; audit "
                  + ("[green]clean[/green]" if report["ok"] else "[red]FAILED[/red]"))
    sys.exit(0 if report["ok"] else 1)


@app.command("sweep-holds")
def sweep_holds() -> None:
    """Void pending holds past their timeout."""
    from ledger.journal import service
    _, db = _db()
    console.print(f"voided {service.sweep_expired_holds(db)} expired holds")


catalog_app = typer.Typer(help="积分规则目录 (rule catalogs): load, export, list",
                          no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("load")
def catalog_load(file: str, approved_by: str = typer.Option(None, help="批准单位"),
                 decision: str = typer.Option(None, help="决议文号, e.g. a meeting record"),
                 ) -> None:
    """Check a catalog file and store it as the catalog's next version (exit 1 if invalid)."""
    from pathlib import Path

    from ledger.errors import DomainError
    from ledger.rules import store
    _, db = _db()
    try:
        r = store.import_catalog(db, Path(file).read_text(encoding="utf-8"), actor_id=None,
                                 approved_by=approved_by, decision=decision)
    except DomainError as exc:
        typer.echo(f"{exc.code}: {exc.detail}", err=True)
        for e in exc.extra.get("errors", []):  # file:line: path: message, one per line
            typer.echo(f"{file}:{e['line'] or '?'}: {e['path']}: {e['message']}", err=True)
        sys.exit(1)
    state = "new version" if r.created else "unchanged"
    console.print(f"[green]{r.catalog} v{r.version}[/green] ({state}); new items "
                  f"{len(r.items_new)}, changed {len(r.items_changed)}, removed "
                  f"{len(r.items_removed)}")


@catalog_app.command("export")
def catalog_export(code: str = typer.Argument("baogai"), version: int = typer.Option(None),
                   out: str = typer.Option(None, help="file to write; stdout if absent")) -> None:
    """Write a stored catalog (newest version, or --version N) as YAML."""
    from pathlib import Path

    from ledger.rules import catalog_io, store
    _, db = _db()
    with db.sessions() as s:
        text = catalog_io.dump_text(store.catalog(s, code, version=version))
    if out:
        Path(out).write_text(text, encoding="utf-8")
        console.print(f"written to {out}")
    else:
        sys.stdout.write(text)


@catalog_app.command("list")
def catalog_list() -> None:
    """The stored catalogs and their newest versions."""
    from ledger.rules import store
    _, db = _db()
    with db.sessions() as s:
        for code in store.catalog_codes(s):
            row = store.version_row(s, code)
            console.print(f"{code} v{row.version} from {row.effective_from} — {row.decision}")


@app.command("rules-sweep")
def rules_sweep() -> None:
    """Post awards whose public notice has passed, due expiries, and opening grants."""
    from ledger.rules import expiry, workflow
    settings, db = _db()
    console.print(f"notices posted {workflow.post_due_notices(db, settings=settings)}, "
                  f"expiries {expiry.expire_due(db)}, "
                  f"opening grants {expiry.post_opening_grants(db, settings)}")


@app.command("sweep-vouchers")
def sweep_vouchers() -> None:
    """Expire unused vouchers past their time, releasing points, stock and limits."""
    from ledger.redemption.service import sweep_expired_vouchers
    _, db = _db()
    console.print(f"expired {sweep_expired_vouchers(db)} vouchers")


from api.cli_registry import register as _registry_commands  # noqa: E402
from api.cli_sheets import app as _sheets_app  # noqa: E402

app.add_typer(_sheets_app, name="sheets")


@app.command()
def recompute(what: str = typer.Argument("all", help="rollups | stars | all")) -> None:
    """Rebuild the rollups and boards from the journal and/or recompute every star (both are
    idempotent), with a progress bar and a summary line."""
    from ledger.recognition import tasks
    _, db = _db()
    names = [n for n in ("rollups", "stars") if what in (n, "all")]
    out: dict = {}
    with steps("重新计算", names) as step:
        if "rollups" in names:
            step("rollups")
            out["rollups"] = tasks.rebuild_all(db)
        if "stars" in names:
            step("stars")
            with db.transaction() as s:
                out["stars"] = tasks.recompute_stars(s, cause="cli")
    console.print(f"[green]recomputed[/green]: {out}")
_registry_commands(app)
from api.cli_schemes import register as _scheme_commands  # noqa: E402
_scheme_commands(app)


@app.command("task")
def run_task(name: str = typer.Argument(..., help="e.g. jifen.audit.nightly; see --list"),
             arg: list[str] = typer.Option([], "--arg", help="key=value (ints as ints)"),
             list_: bool = typer.Option(False, "--list", help="list the tasks")) -> None:
    """Run one background task now, in this process (the function the worker runs)."""
    from workers.tasks import TASKS
    if list_ or name not in TASKS:
        console.print("\n".join(sorted(TASKS)))
        sys.exit(0 if list_ else 2)
    kwargs = {k: int(v) if v.lstrip("-").isdigit() else v
              for k, v in (a.split("=", 1) for a in arg)}
    console.print(TASKS[name](**kwargs))


@app.command()
def scheduler() -> None:
    """Run the beat schedule in this process (embedded deployments without Redis/Celery)."""
    from workers.scheduler import run_forever
    console.print("scheduler running (Ctrl-C to stop)")
    run_forever()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
