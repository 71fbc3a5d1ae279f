"""`jifen` commands of the registry and identity: door-plate sheets, CSV import and export, and
staff users. Registered on the main app by api/cli.py (one line)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api.cli_sheets import run_import, settings_and_db, steps, village_id

console = Console(stderr=True)
user_app = typer.Typer(help="员工账号 (staff users): create, list", no_args_is_help=True)


def plates(village: str = typer.Option(..., "--village", help="村（社区）名称, e.g. 塘边村"),
           out: Path = typer.Option(Path("plates.pdf"), "--out", help="PDF file to write")) -> None:
    """Write a printable A4 sheet of a village's door plates (二维码门牌), eight per page."""
    from ledger.registry import lookup
    from ledger.registry import plates as plate_sheet
    settings, db = settings_and_db()
    vid = village_id(db, village)
    with db.sessions() as s:
        town, vname, rows = lookup.village_plates(s, vid)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task(f"{vname} 门牌", total=len(rows))
        pdf = plate_sheet.plates_pdf(town=town, village=vname, plates=rows,
                                     public_base_url=settings.public_base_url,
                                     progress=lambda n: bar.update(task, completed=n))
    out.write_bytes(pdf)
    console.print(f"[green]{len(rows)} plates[/green] written to {out} "
                  f"(QR links to {settings.public_base_url}/h/…)")


def import_registry(file: Path = typer.Argument(..., help=".xlsx or CSV (UTF-8 or GBK/GB18030)"),
                    check: bool = typer.Option(False, "--check", help="check only, change nothing"),
                    ) -> None:
    """Import households and people from .xlsx or CSV: every bad row is listed; nothing of a
    file with errors is applied (exit 1); the same file imported again changes nothing."""
    from ledger.errors import DomainError
    try:
        r = run_import("registry", file, check)
    except DomainError as exc:
        typer.echo(f"{exc.code}: {exc.detail}", err=True)
        for e in exc.extra.get("errors", []):
            typer.echo(f"{file}:{e['line']}: {e['code']}: {e['message']}", err=True)
        sys.exit(1)
    r.pop("preview", None)
    console.print(f"[green]{'checked' if check else 'imported'}[/green]: {r}")


def export_registry(out: Path = typer.Option(..., "--out", help=".xlsx or .csv file to write"),
                    village: str = typer.Option(None, "--village", help="one village only"),
                    ) -> None:
    """Export households and people as .xlsx or CSV (UTF-8 with BOM), by the file's suffix; the
    import's columns, in full: keep the file safe, it holds phone and ID numbers."""
    from ledger.registry import csvio
    from ledger.identity.service import SYSTEM
    _, db = settings_and_db()
    vid = village_id(db, village) if village else None
    export = csvio.export_xlsx if out.suffix.lower() == ".xlsx" else csvio.export_csv
    with steps("导出户籍名册", ["查询并生成", "写入文件"]) as step:
        step("查询并生成")
        data = export(db, SYSTEM, vid)
        step("写入文件")
        out.write_bytes(data)
    console.print(f"written to {out}")


def _roles(specs: list[str], db) -> list[tuple[str, int | None]]:
    roles = []
    for spec in specs:
        role, _, village = spec.partition(":")
        roles.append((role, village_id(db, village) if village else None))
    return roles


@user_app.command("create")
def user_create(login: str = typer.Option(..., help="登录名: a-z 0-9 . _ -"),
                name: str = typer.Option(..., help="姓名"),
                role: list[str] = typer.Option(..., "--role",
                                               help="role or role:村名, e.g. village_admin:塘边村"),
                password: str = typer.Option(..., prompt=True, hide_input=True,
                                             confirmation_prompt=True)) -> None:
    """Create a staff user (town admin, village admin, organizer, inspector, clerk)."""
    from ledger.errors import DomainError
    from ledger.identity import service
    _, db = settings_and_db()
    try:
        u = service.create_user(db, service.SYSTEM, login=login, name=name, password=password,
                                roles=_roles(role, db))
    except DomainError as exc:
        typer.echo(f"{exc.code}: {exc.detail}", err=True)
        sys.exit(1)
    console.print(f"[green]user {u.id} {u.login}[/green] roles "
                  + ", ".join(f"{r.role}@{r.village_id or 'town'}" for r in u.roles))


@user_app.command("list")
def user_list() -> None:
    """Every user with their roles."""
    from ledger.identity import service
    _, db = settings_and_db()
    for u in service.list_users(db, service.SYSTEM):
        roles = ", ".join(f"{r.role}@{r.village_id or 'town'}" for r in u.roles)
        console.print(f"{u.id:>5} {u.login or '-':<24} {u.name:<16} {roles}"
                      + ("" if u.active else "  [red](disabled)[/red]"))


def register(app: typer.Typer) -> None:
    app.command("plates")(plates)
    app.command("import")(import_registry)
    app.command("export")(export_registry)
    app.add_typer(user_app, name="user")
