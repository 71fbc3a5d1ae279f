"""`jifen sheets …`: imports, exports, templates and printed sheets from the command line, each
with a progress display (rich) through its steps and a summary line with the counts; and
`steps`, the progress display the other long commands (demo, backup, restore, recomputations)
use too, with `settings_and_db` and `village_id` that the registry's commands share."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import msgspec
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.progress import TimeElapsedColumn

app = typer.Typer(help="表格与打印：导入、导出、模板、公示与红榜 (spreadsheets and paper)",
                  no_args_is_help=True)
console = Console(stderr=True)
IMPORT_KINDS = ("registry", "history", "teams", "stock", "attendance")
EXPORT_KINDS = ("registry", "history", "teams", "stock", "lists", "settlement", "attendance")


@contextmanager
def steps(title: str, names: list[str]) -> Iterator[Callable[[str], None]]:
    """A progress bar over a command's named steps: call `step(name)` as each one starts."""
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  transient=False) as bar:
        task = bar.add_task(title, total=len(names))
        done = {"n": 0}

        def step(name: str) -> None:
            bar.update(task, completed=done["n"], description=f"{title}：{name}")
            done["n"] += 1

        yield step
        bar.update(task, completed=len(names), description=f"{title}：完成")


def settings_and_db() -> tuple:
    """The settings and a Database on their URL, for a command."""
    from ledger.config import load_settings
    from ledger.db import Database
    settings = load_settings()
    return settings, Database(settings.database_url)


def village_id(db, name: str) -> int:  # noqa: ANN001 - a Database
    """The id of the one village with this name; exit 1 when none or several have it."""
    from sqlalchemy import select

    from ledger.registry.models import Village
    with db.sessions() as s:
        found = list(s.scalars(select(Village.id).where(Village.name == name)))
    if len(found) != 1:
        console.print(f"[red]{'no' if not found else 'more than one'} village named {name}[/red]")
        raise typer.Exit(1)
    return found[0]


def _summary(result: dict) -> str:
    return "，".join(f"{k} {v}" for k, v in result.items()
                    if k not in ("preview", "dry_run") and not isinstance(v, (list, dict)))


def run_import(kind: str, file: Path, check: bool) -> dict:
    from ledger.identity.service import SYSTEM
    from ledger.registry import csvio
    from ledger.sheets import attendance, history, stock, teams
    settings, db = settings_and_db()
    fns = {"registry": csvio.import_csv, "history": history.import_history,
           "teams": teams.import_teams, "stock": stock.import_stock,
           "attendance": lambda *a, **kw: attendance.import_attendance(*a, settings=settings,
                                                                      **kw)}
    with steps(f"导入 {file.name}", ["读取", "检查" if check else "检查并写入"]) as step:
        step("读取")
        data = file.read_bytes()
        step("检查" if check else "检查并写入")
        return msgspec.to_builtins(fns[kind](db, SYSTEM, data, dry_run=check))  # a Struct too


@app.command("import")
def import_file(kind: str = typer.Argument(..., help=" | ".join(IMPORT_KINDS)),
                files: list[Path] = typer.Argument(..., help=".xlsx or CSV (UTF-8 or GBK/GB18030)"
                                                   "; several files are imported in turn"),
                check: bool = typer.Option(False, "--check", help="check only, change nothing")
                ) -> None:
    """Import files, one after another, each whole or not at all: every bad row is listed
    (exit 1, the files after it are not imported) and nothing of its file is applied; the same
    file again changes nothing (a town's years of history: one file per year or ledger)."""
    from ledger.errors import DomainError
    if kind not in IMPORT_KINDS:
        console.print(f"[red]kind must be one of {', '.join(IMPORT_KINDS)}[/red]")
        raise typer.Exit(2)
    for file in files:
        try:
            r = run_import(kind, file, check)
        except DomainError as exc:
            typer.echo(f"{exc.code}: {exc.detail}", err=True)
            for e in exc.extra.get("errors", []):  # one line each, unwrapped: grep-able
                typer.echo(f"{file}:{e['line']}: {e['code']}: {e.get('text') or e['message']}",
                           err=True)
            sys.exit(1)
        console.print(f"[green]{'checked' if check else 'imported'}[/green] {file}: "
                      f"{_summary(r)}")


@app.command("export")
def export_file(kind: str = typer.Argument(..., help=" | ".join(EXPORT_KINDS)),
                out: Path = typer.Option(..., "--out", help=".xlsx file to write"),
                village: str = typer.Option(None, "--village", help="村（社区）名称 (lists)"),
                year: int = typer.Option(None, "--year", help="年份 (lists)"),
                start: str = typer.Option(None, "--start", help="YYYY-MM-DD (settlement)"),
                end: str = typer.Option(None, "--end", help="YYYY-MM-DD (settlement)"),
                activity: int = typer.Option(None, "--activity", help="活动编号 (attendance)"),
                ) -> None:
    """Export as .xlsx: the import formats (registry, history, teams, stock, attendance), a
    village's lists of a year, or settlement of a period."""
    from ledger.identity.service import SYSTEM
    from ledger.registry import csvio
    from ledger.sheets import attendance, exports, history, stock, teams
    from ledger.timeutil import LOCAL_TZ, utcnow
    settings, db = settings_and_db()
    with steps(f"导出 {kind}", ["查询并生成", "写入文件"]) as step:
        step("查询并生成")
        if kind == "registry":
            data = csvio.export_xlsx(db, SYSTEM)
        elif kind == "history":
            data = history.export_xlsx(db, SYSTEM)
        elif kind == "teams":
            data = teams.export_xlsx(db, SYSTEM)
        elif kind == "stock":
            data = stock.export_xlsx(db)
        elif kind == "attendance" and activity:
            data = attendance.export_xlsx(db, SYSTEM, activity)
        elif kind == "lists" and village:
            data = exports.village_workbook(db, SYSTEM, "all", village_id(db, village),
                                            year or utcnow().astimezone(LOCAL_TZ).year)
        elif kind == "settlement" and start and end:
            data = exports.settlement_workbook(db, SYSTEM, date.fromisoformat(start),
                                               date.fromisoformat(end))
        else:
            console.print("[red]give a kind and what it needs (lists: --village; settlement: "
                          "--start --end; attendance: --activity)[/red]")
            raise typer.Exit(2)
        step("写入文件")
        out.write_bytes(data)
    console.print(f"[green]written[/green] {out}: {len(data) // 1024 + 1} KB")


@app.command("template")
def template(kind: str = typer.Argument(..., help=" | ".join(IMPORT_KINDS)),
             out: Path = typer.Option(..., "--out", help=".xlsx file to write")) -> None:
    """The import's template: the Chinese header row and an example row."""
    from ledger.registry import csvio
    from ledger.sheets import attendance, history, imports, stock, teams
    kinds = {"history": history.KIND, "teams": teams.KIND, "stock": stock.KIND,
             "attendance": attendance.KIND}
    data = csvio.template_xlsx() if kind == "registry" else imports.template(kinds[kind])
    out.write_bytes(data)
    console.print(f"[green]template written[/green] to {out}")


@app.command("print")
def print_sheet(what: str = typer.Argument(..., help="notices | scores | vouchers"),
                out: Path = typer.Option(..., "--out", help="PDF file to write"),
                village: str = typer.Option(None, "--village", help="村（社区）名称"),
                month: str = typer.Option(None, "--month", help="YYYY-MM (scores)"),
                improve: bool = typer.Option(False, "--improve",
                                             help="scores: also the masked list of households "
                                                  "that most need to improve (off by default)"),
                order: list[int] = typer.Option([], "--order", help="order ids (vouchers)"),
                ) -> None:
    """Print for the notice board: the 公示 sheet, the monthly 红榜, or vouchers of orders."""
    from ledger.identity.service import SYSTEM
    from ledger.sheets import paper
    from ledger.timeutil import LOCAL_TZ, utcnow
    settings, db = settings_and_db()
    base = settings.public_base_url
    with steps(f"打印 {what}", ["生成", "写入文件"]) as step:
        step("生成")
        if what == "vouchers" and order:
            pdf = paper.vouchers_pdf(db, SYSTEM, order, public_base_url=base)
        elif what in ("notices", "scores") and village:
            vid = village_id(db, village)
            pdf = (paper.notice_sheet_pdf(db, SYSTEM, vid, public_base_url=base)
                   if what == "notices" else
                   paper.score_sheet_pdf(db, SYSTEM, vid,
                                         month or f"{utcnow().astimezone(LOCAL_TZ):%Y-%m}",
                                         include_improve=improve, public_base_url=base))
        else:
            console.print("[red]notices/scores need --village; vouchers need --order[/red]")
            raise typer.Exit(2)
        step("写入文件")
        out.write_bytes(pdf)
    console.print(f"[green]written[/green] {out}")
