"""Import and export of households and people, one row per person, as .xlsx or CSV (read
and written through ledger/sheets/tabular.py: UTF-8 or GB18030, limits, formula injection).

Import checks the whole file first and reports every bad row with its line number and reason
(encoding, empty name, bad phone or ID number, duplicate ID number, unknown village, a village
outside the caller's scope...); only a file without errors is applied, in one transaction, so
nothing of a failed file is ever half-applied. Export writes the same columns, so an export
imports into another database (plate codes are kept: the plates on the doors stay valid).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import Forbidden
from ledger.identity.actor import require, villages_of
from ledger.identity.roles import REGISTRY_ADMINS
from ledger.registry import commands, service
from ledger.registry.schemas import RegistryImportChecked, RegistryImported
from ledger.view import typed
from ledger.registry.models import Household, Person, Village
from ledger.registry.privacy import normalize_id_number, normalize_phone
from ledger.sheets import imports, tabular
from ledger.sheets.tabular import Column, RowError

MAX_IMPORT_BYTES = tabular.MAX_FILE_BYTES
MAX_IMPORT_ROWS = tabular.MAX_ROWS
MAX_REPORTED_ERRORS = tabular.MAX_REPORTED_ERRORS
MAX_KEY_CHARS = 50
PREVIEW_ROWS = 10
PLATE_RE = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
# The columns in the export's order (Chinese headers first; English keys also accepted).
COLUMNS = (
    Column("village", "村（社区）", required=True, example="塘边村"),
    Column("plate_code", "门牌码", note="已有门牌的户：填门牌码；新户留空"),
    Column("household", "户号", example="A1", note="同一户号的行为同一户"),
    Column("address", "地址", example="塘边村演示路1号"),
    Column("name", "姓名", required=True, example="陈某某"),
    Column("phone", "手机号", example="13800000000"),
    Column("id_number", "身份证号"),
    Column("is_volunteer", "志愿者", example="是", note="是/否"),
    Column("is_head", "户主", example="是", note="是/否"),
)
COLUMN_LABELS = {c.key: c.header for c in COLUMNS}
YES = {"是", "y", "yes", "true", "1", "√"}
NO = {"否", "", "n", "no", "false", "0"}


@dataclass
class Row:
    line: int
    village_id: int
    name: str
    household_key: str | None  # file-local 户号, or the plate code
    plate_code: str | None
    address: str
    phone: str | None
    id_number: str | None
    is_volunteer: bool
    is_head: bool


@dataclass
class Plan:
    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    preview: list[list[str]] = field(default_factory=list)  # the first rows, as read
    encoding: str | None = None


def _flag(value: str, line: int, column: str, errors: list[RowError]) -> bool:
    v = value.strip().lower()
    if v in YES:
        return True
    if v not in NO:
        errors.append(RowError(line, f"{column}_invalid", f"“{value}”应为 是 或 否", column))
    return False


def plan_import(s: Session, data: bytes | tabular.Table, actor) -> Plan:
    """Check a file (.xlsx or CSV in UTF-8 or GB18030, or the table read from it) without
    changing anything."""
    table = data if isinstance(data, tabular.Table) else tabular.read_table(data)
    plan = Plan(errors=list(table.errors), encoding=table.encoding)
    errs = plan.errors
    index = tabular.index_header(COLUMNS, table.header, errs, table.header_line)
    if any(e.code.startswith("column") for e in errs):
        return plan
    plan.preview = [[tabular.cell_of(cells, index, c.key) for c in COLUMNS]
                    for _, cells in table.rows[:PREVIEW_ROWS]]
    scope = villages_of(actor, REGISTRY_ADMINS)
    villages: dict[str, list[Village]] = {}
    for v in s.scalars(select(Village).order_by(Village.id)):
        villages.setdefault(v.name, []).append(v)
    ids_seen: dict[str, int] = {}
    phones_seen: dict[str, int] = {}
    for line, cells in table.rows:
        row = _row(cells, index, line, villages, scope, errs)
        if row is None:
            continue
        if row.id_number:
            if row.id_number in ids_seen:
                errs.append(RowError(line, "id_number_duplicate",
                                     f"身份证号与第{ids_seen[row.id_number]}行重复 "
                                     "(same ID number as an earlier line)", "id_number"))
                continue
            ids_seen[row.id_number] = line
        if row.phone and row.is_volunteer:
            if row.phone in phones_seen:
                errs.append(RowError(line, "phone_duplicate",
                                     f"志愿者手机号与第{phones_seen[row.phone]}行重复 "
                                     "(two volunteers with one phone)", "phone"))
                continue
            phones_seen[row.phone] = line
        plan.rows.append(row)
    _check_database(s, plan)
    plan.errors.sort(key=lambda e: e.line)
    return plan


def _village(found: list[Village], scope: set[int] | None) -> Village | None:
    """One name, several towns (a shared database): the one the caller administers."""
    if len(found) > 1 and scope is not None:
        found = [v for v in found if v.id in scope] or found
    return found[0] if len(found) == 1 else None


def _row(cells: list[str], index: dict[str, int], line: int,
         villages: dict[str, list[Village]], scope: set[int] | None,
         errs: list[RowError]) -> Row | None:
    def cell(col: str) -> str:
        return tabular.cell_of(cells, index, col)

    before = len(errs)
    vname, name = cell("village"), cell("name")
    village = _village(villages.get(vname, []), scope)
    if not vname:
        errs.append(RowError(line, "village_required", "村（社区）不能为空", "village"))
    elif len(villages.get(vname, [])) > 1 and village is None:
        errs.append(RowError(line, "village_ambiguous", f"有多个“{vname}”", "village"))
    elif village is None:
        errs.append(RowError(line, "village_unknown", f"没有“{vname}”这个村（社区）", "village"))
    elif scope is not None and village.id not in scope:
        errs.append(RowError(line, "village_forbidden",
                             f"您不是“{vname}”的管理员 (not an admin of this village)", "village"))
    if not name:
        errs.append(RowError(line, "name_required", "姓名不能为空 (name is empty)", "name"))
    elif len(name) > service.MAX_NAME_CHARS or not name.isprintable():
        errs.append(RowError(line, "name_invalid", f"姓名最多{service.MAX_NAME_CHARS}个字", "name"))
    phone = id_number = None
    try:
        phone = normalize_phone(cell("phone"))
    except ValueError as exc:
        errs.append(RowError(line, "phone_invalid", str(exc), "phone"))
    try:
        id_number = normalize_id_number(cell("id_number"))
    except ValueError as exc:
        errs.append(RowError(line, "id_number_invalid", str(exc), "id_number"))
    address = cell("address")
    if len(address) > service.MAX_ADDRESS_CHARS:
        errs.append(RowError(line, "address_invalid",
                             f"地址最多{service.MAX_ADDRESS_CHARS}个字", "address"))
    is_volunteer = _flag(cell("is_volunteer"), line, "is_volunteer", errs)
    is_head = _flag(cell("is_head"), line, "is_head", errs)
    plate, key = cell("plate_code") or None, cell("household") or None
    if plate and not PLATE_RE.match(plate):
        errs.append(RowError(line, "plate_code_invalid", "门牌码格式不对", "plate_code"))
    if key and len(key) > MAX_KEY_CHARS:
        errs.append(RowError(line, "household_invalid", f"户号最多{MAX_KEY_CHARS}个字符",
                             "household"))
    if len(errs) > before:
        return None
    return Row(line, village.id, name, plate or key, plate, address, phone, id_number,
               is_volunteer, is_head)


def _check_database(s: Session, plan: Plan) -> None:
    """What only the database knows: ID numbers and volunteer phones already registered, and
    plate codes of households in another village."""
    rows = plan.rows
    ids = [r.id_number for r in rows if r.id_number]
    taken = set()
    for chunk in _chunks(ids, 500):
        taken |= set(s.scalars(select(Person.id_number).where(Person.id_number.in_(chunk))))
    phones = [r.phone for r in rows if r.phone and r.is_volunteer]
    used = set()
    for chunk in _chunks(phones, 500):
        used |= set(s.scalars(select(Person.phone).where(Person.phone.in_(chunk),
                                                         Person.is_volunteer.is_(True))))
    plates = [r.plate_code for r in rows if r.plate_code]
    homes: dict[str, int] = {}
    for chunk in _chunks(plates, 500):
        homes |= dict(s.execute(select(Household.plate_code, Household.village_id)
                                .where(Household.plate_code.in_(chunk))).all())
    keep = []
    for r in rows:
        bad = len(plan.errors)
        if r.id_number in taken:
            plan.errors.append(RowError(r.line, "id_number_taken",
                                        "该身份证号已登记 (ID number registered already)",
                                        "id_number"))
        if r.is_volunteer and r.phone in used:
            plan.errors.append(RowError(r.line, "phone_taken",
                                        "该手机号已被另一位志愿者使用", "phone"))
        if r.plate_code and r.plate_code in homes and homes[r.plate_code] != r.village_id:
            plan.errors.append(RowError(r.line, "plate_village_mismatch",
                                        "该门牌属于另一个村（社区）", "plate_code"))
        if len(plan.errors) == bad:
            keep.append(r)
    plan.rows = keep


def _require_some_admin(actor, what: str) -> set[int] | None:
    """The villages the caller administers (None: all); refused if none."""
    scope = villages_of(actor, REGISTRY_ADMINS)
    if scope is not None and not scope:
        raise Forbidden(f"{what} needs the role town_admin or village_admin",
                        code="forbidden_role")
    return scope


def _chunks(items: list, n: int) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def apply_plan(s: Session, plan: Plan) -> dict:
    """Create the households and people of a checked file inside the caller's transaction."""
    plates = {r.plate_code for r in plan.rows if r.plate_code}
    found = dict(s.execute(select(Household.plate_code, Household.id)
                           .where(Household.plate_code.in_(plates))).all()) if plates else {}
    groups: dict[tuple[int, str], list[Row]] = {}
    for r in plan.rows:
        if r.household_key:
            groups.setdefault((r.village_id, r.household_key), []).append(r)
    households: dict[tuple[int, str], int] = {}
    new_keys, drafts = [], []
    for (village_id, hkey), members in groups.items():
        plate = members[0].plate_code
        if plate and plate in found:
            households[(village_id, hkey)] = found[plate]
            continue
        head = next((m for m in members if m.is_head), members[0])
        address = next((m.address for m in members if m.address), "")
        new_keys.append((village_id, hkey))
        drafts.append(service.HouseholdDraft(village_id, head.name, address, plate_code=plate))
    for k, hid in zip(new_keys, service.add_households(s, drafts), strict=True):
        households[k] = hid
    service.add_people(s, [service.PersonDraft(
        r.village_id, r.name, households.get((r.village_id, r.household_key))
        if r.household_key else None, r.phone, r.id_number, r.is_volunteer)
        for r in plan.rows], checked=True)
    return {"households_created": len(drafts), "people_created": len(plan.rows)}


def _refuse(plan: Plan) -> None:
    if any(e.code == "village_forbidden" for e in plan.errors):
        raise Forbidden("文件中有您无权管理的村（社区），未导入任何数据 (rows name villages you do "
                        "not administer; nothing was imported)", code="forbidden_village",
                        errors=tabular.reported(plan.errors, COLUMNS),
                        error_count=len(plan.errors))
    tabular.refuse(plan.errors, COLUMNS)


def import_csv(db: Database, actor, data: bytes, *, dry_run: bool = False,
               key: str | None = None) -> RegistryImported | RegistryImportChecked:
    """Check the file; refuse it whole (import_invalid, with every row error) or apply it whole,
    checked and applied in one transaction (nothing stale, nothing half-applied). Without a
    caller's key the file's digest is the key: the same file imported again returns the first
    result and changes nothing."""
    _require_some_admin(actor, "importing")
    table = tabular.read_table(data)
    key = key or imports.file_key("registry", data)
    done = imports.stored_result(db, key) is not None
    if dry_run:
        with db.sessions() as s:
            plan = plan_import(s, table, actor)
        if not done:
            _refuse(plan)
        return RegistryImportChecked(
            dry_run=True, rows=len(plan.rows),
            households=len({(r.village_id, r.household_key) for r in plan.rows
                            if r.household_key}),
            encoding=plan.encoding, preview=plan.preview, already_imported=done)

    def work(s: Session) -> dict:
        plan = plan_import(s, table, actor)
        _refuse(plan)
        return apply_plan(s, plan)

    return typed(commands.keyed(db, work, key=key,
                                request={"op": "import", "sha256": tabular.file_digest(data)}),
                 RegistryImported)


HEADER = [c.header for c in COLUMNS]


def export_rows(s: Session, actor, village_id: int | None = None) -> Iterable[list[str]]:
    """Rows of the export (header first) for the villages the caller administers."""
    scope = _require_some_admin(actor, "exporting")
    if village_id is not None:
        require(actor, REGISTRY_ADMINS, village_id, "exporting")
        scope = {village_id}
    q = (select(Person, Village.name, Household)
         .join(Village, Village.id == Person.village_id)
         .outerjoin(Household, Household.id == Person.household_id)
         .order_by(Village.id, Household.id, Person.id))
    if scope is not None:
        q = q.where(Person.village_id.in_(scope))
    yield HEADER
    for p, vname, h in s.execute(q.execution_options(yield_per=1000)):
        yield [vname, h.plate_code if h else "", h.plate_code if h else "",
               h.address if h else "", p.name, p.phone or "", p.id_number or "",
               "是" if p.is_volunteer else "否", "是" if h and h.head_name == p.name else "否"]
    # A household with nobody registered yet: its head, so that the household survives a
    # round trip (importing the row registers the head as a person).
    empty = (select(Household, Village.name).join(Village, Village.id == Household.village_id)
             .where(~select(Person.id).where(Person.household_id == Household.id).exists())
             .order_by(Household.id))
    if scope is not None:
        empty = empty.where(Household.village_id.in_(scope))
    for h, vname in s.execute(empty):
        yield [vname, h.plate_code, h.plate_code, h.address, h.head_name, "", "", "否", "是"]


def export_csv(db: Database, actor, village_id: int | None = None) -> bytes:
    with db.sessions() as s:
        return tabular.to_csv(export_rows(s, actor, village_id))


def export_xlsx(db: Database, actor, village_id: int | None = None) -> bytes:
    with db.sessions() as s:
        rows = export_rows(s, actor, village_id)
        return tabular.to_xlsx(tabular.Sheet("户籍名册", next(rows), rows))


def template_xlsx() -> bytes:
    return tabular.template("户籍名册", COLUMNS)
