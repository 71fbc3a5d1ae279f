"""Historical points and hours: a town's records from before it started with us (a paper ledger,
another system's spreadsheet), booked as explained journal entries with their original dates
and source, through the ledger's own flows (`book.award` / `book.deduct` from the village
budget; service minutes from the town's service account as check-outs book them).

Every rule holds: only villages the importer administers; no one imports points for themself
or their household; awards stop at the village budget (a file that would overspend it is
refused whole); each row is booked once (its content is its key, kept as the entries'
`source_ref`: the same row in a later file is skipped, and two identical rows in one file are
an error unless their 原始编号 differ). The file as a whole is idempotent too (imports.run).

(Over 400 lines on purpose: the history's columns, their checks, the entries they book and
their export in the same columns are one format, as every kind of import keeps in its module.)
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from hashlib import sha256
from json.encoder import encode_basestring as _string
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.identity.actor import require, villages_of
from ledger.identity.roles import REGISTRY_ADMINS
from ledger.journal import book
from ledger.journal.accounts import open_accounts
from ledger.journal.bulk import BulkEntry, post_many
from ledger.journal.models import Account, HolderType, JournalEntry, Posting, Purpose, Unit
from ledger.journal.posting import Line
from ledger.journal.rawdb import Raw, pg_array
from ledger.registry.models import Household, Person, Village
from ledger.rules.service import village_shards
from ledger.rules.store import scale_in_force as points_scale
from ledger.rules.spec import points_of
from ledger.sheets import imports, tabular
from ledger.sheets.labels import HOLDERS
from ledger.sheets.holders import Holders, find_named
from ledger.sheets.tabular import Column, RowError, Table
from ledger.timeutil import LOCAL_TZ

SOURCE = "import"  # journal_entry.source of every booked row
BOOKED_CHUNK = 5_000  # row keys per query for the rows booked before (SQLite: its 32,766 limit)
REF_PREFIX = "h:"
EARLIEST_DATE = date(2000, 1, 1)
MAX_POINTS_PER_ROW = 10_000
MAX_HOURS_PER_ROW = 2_000  # a row may sum a year of someone's service
MAX_REASON_CHARS = 200
MAX_SOURCE_CHARS = 100
MAX_REF_CHARS = 40
HOLDER_TYPES = {"个人": "person", "person": "person", "家庭": "household", "户": "household",
                "household": "household"}

COLUMNS = (
    Column("village", "村（社区）", required=True, example="塘边村"),
    Column("holder_type", "对象", ("类型",), required=True, example="个人", note="个人 或 家庭"),
    Column("name", "姓名/户主", ("姓名", "户主"), example="陈某某"),
    Column("id_number", "身份证号", example=""),
    Column("phone", "手机号", example="13800000000"),
    Column("plate_code", "门牌码", example="", note="家庭：门牌码或户主姓名"),
    Column("date", "日期", required=True, example="2023-05-05"),
    Column("points", "积分", example="5", note="负数为扣分"),
    Column("hours", "服务时长（小时）", ("小时", "服务时长"), example="2.5"),
    Column("reason", "事由", required=True, example="参加环境整治志愿服务"),
    Column("source", "来源", required=True, example="塘边村2023年积分台账"),
    Column("ref", "原始编号", example="2023-015"),
)
_DATE_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:\s.*)?$")


class Row(NamedTuple):
    """A checked row. A tuple of plain values: the collector stops tracking it, so a file's
    20,000 rows add nothing to its full collections (which ran several times a file)."""

    line: int
    village_id: int
    town_id: int
    holder_type: str
    holder_id: int
    on: date
    steps: int
    minutes: int
    reason: str
    source: str
    ref: str
    row_key: str


def parse_date(text: str) -> date | None:
    m = _DATE_RE.match(text.strip())
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _decimal(text: str) -> Decimal | None:
    try:
        d = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def booked_at(on: date) -> datetime:
    """The original date's local noon, in UTC: the entry falls in that day, month and year.
    (UTC, as the journal stores it: an entry's digest covers its time as written, and one
    hashed with +08:00 would not verify against the UTC value read back.)"""
    return datetime.combine(on, time(12), LOCAL_TZ).astimezone(UTC)


def import_details(source: str, on: str, reason: str, ref: str, line: int) -> str:
    """{"import": {source, date, reason, ref, line}} as posting.canonical_json writes it, faster."""
    return (f'{{"import":{{"date":{_string(on)},"line":{int(line)},"reason":{_string(reason)},'
            f'"ref":{_string(ref)},"source":{_string(source)}}}}}')


def row_key(village_id: int, holder_type: str, holder_id: int, on: date, steps: int,
            minutes: int, reason: str, source: str, ref: str) -> str:
    """A row's identity, kept as its entries' source_ref: the fields joined by U+001F (as
    `"\x1f".join(map(str, ...))` wrote them, so rows booked by every version are known)."""
    raw = (f"{village_id}\x1f{holder_type}\x1f{holder_id}\x1f{on.isoformat()}\x1f{steps}"
           f"\x1f{minutes}\x1f{reason}\x1f{source}\x1f{ref}")
    return REF_PREFIX + sha256(raw.encode()).hexdigest()[:40]


def _check_date(text: str, today: date) -> tuple[date | None, tuple[str, str] | None]:
    """A date cell: the date, and the error's code and message if it is not one we book."""
    on = parse_date(text)
    if on is None:
        return None, ("date_invalid", f"日期“{text}”应写成 2023-05-05 这样")
    if not EARLIEST_DATE <= on <= today:
        return on, ("date_out_of_range", f"日期应在 {EARLIEST_DATE} 到今天之间")
    return on, None


def _check_texts(line: int, reason: str, source: str, ref: str, errs: list[RowError]) -> None:
    for key, text, limit in (("reason", reason, MAX_REASON_CHARS),
                             ("source", source, MAX_SOURCE_CHARS),
                             ("ref", ref, MAX_REF_CHARS)):
        if key != "ref" and not text:
            errs.append(RowError(line, f"{key}_required",
                                 f"“{COLUMN_LABELS[key]}”不能为空", key))
        elif len(text) > limit:
            errs.append(RowError(line, f"{key}_too_long",
                                 f"“{COLUMN_LABELS[key]}”最多{limit}个字", key))


class HistoryImport:
    name = "history"
    title = "历史积分与服务时长"
    columns = COLUMNS

    def plan(self, s: Session, table: Table, index: dict[str, int], actor) -> imports.Plan:
        plan = imports.Plan()
        errs = plan.errors
        scope = villages_of(actor, REGISTRY_ADMINS)
        villages = {name: (vid, town_id) for name, vid, town_id in
                    s.execute(select(Village.name, Village.id, Village.town_id))}
        holders = Holders(s)
        me = s.get(Person, actor.person_id) if getattr(actor, "person_id", None) else None
        scale = points_scale(s)
        today = datetime.now(LOCAL_TZ).date()
        seen: dict[str, int] = {}
        # A file's dates, amounts and texts repeat: each distinct cell is checked once.
        dates: dict[str, tuple[date | None, tuple[str, str] | None]] = {}
        steps_of: dict[str, int] = {}
        minutes_of: dict[tuple[str, str], int] = {}
        read = tabular.cells_of(index, _KEYS)
        for line, cells in table.rows:
            (vname, htext, name, id_number, phone, plate, dtext, ptext, htext_hours, reason,
             source, ref) = read(cells)
            before = len(errs)
            v = villages.get(vname)
            if v is None:
                errs.append(RowError(line, "village_unknown", f"没有“{vname}”这个村（社区）",
                                     "village"))
                continue
            vid, town_id = v
            if scope is not None and vid not in scope:
                errs.append(RowError(line, "village_forbidden", f"您不是“{vname}”的管理员",
                                     "village"))
                continue
            htype = HOLDER_TYPES.get(htext.lower())
            if htype is None:
                errs.append(RowError(line, "holder_type_invalid", "对象应为“个人”或“家庭”",
                                     "holder_type"))
                continue
            on, problem = dates.get(dtext) or dates.setdefault(dtext, _check_date(dtext, today))
            if problem is not None:
                errs.append(RowError(line, *problem, "date"))
            steps = 0
            if ptext:
                steps = steps_of.get(ptext)
                if steps is None:
                    n = len(errs)
                    steps = self._steps(ptext, scale, line, errs)
                    if len(errs) == n:
                        steps_of[ptext] = steps
            minutes = 0
            if htext_hours:
                minutes = minutes_of.get((htext_hours, htype))
                if minutes is None:
                    n = len(errs)
                    minutes = self._minutes(htext_hours, htype, line, errs)
                    if len(errs) == n:
                        minutes_of[htext_hours, htype] = minutes
            if steps == 0 and minutes == 0 and len(errs) == before:
                errs.append(RowError(line, "amount_required", "积分和服务时长至少填一项",
                                     "points"))
            if (not reason or not source or len(reason) > MAX_REASON_CHARS
                    or len(source) > MAX_SOURCE_CHARS or len(ref) > MAX_REF_CHARS):
                _check_texts(line, reason, source, ref, errs)
            found = find_named(holders, vid, htype, name, id_number, plate, phone, line, errs)
            if len(errs) > before or found is None:
                continue
            holder_id, household_id = found
            if me is not None and ((htype == "person" and holder_id == me.id) or
                                   (household_id is not None
                                    and household_id == me.household_id)):
                errs.append(RowError(line, "self_award", "不能为本人或本户导入积分", "name"))
                continue
            key = row_key(vid, htype, holder_id, on, steps, minutes, reason, source, ref)
            if key in seen:
                errs.append(RowError(line, "row_duplicate",
                                     f"与第{seen[key]}行完全相同；如确为两笔，请填写不同的原始编号",
                                     "ref"))
                continue
            seen[key] = line
            plan.rows.append(Row(line, vid, town_id, htype, holder_id, on, steps, minutes,
                                 reason, source, ref, key))
        self._drop_booked(s, plan)
        self._check_budgets(s, plan, scale)
        return plan

    @staticmethod
    def _steps(text: str, scale: int, line: int, errs: list[RowError]) -> int:
        if not text:
            return 0
        d = _decimal(text)
        if d is None or abs(d) > MAX_POINTS_PER_ROW:
            errs.append(RowError(line, "points_invalid",
                                 f"积分应为 -{MAX_POINTS_PER_ROW} 到 {MAX_POINTS_PER_ROW} 之间的数",
                                 "points"))
            return 0
        steps = d * scale
        if steps != steps.to_integral_value():
            errs.append(RowError(line, "points_invalid",
                                 f"积分最小单位是 {points_of(1, scale)} 分", "points"))
            return 0
        return int(steps)

    @staticmethod
    def _minutes(text: str, htype: str, line: int, errs: list[RowError]) -> int:
        if not text:
            return 0
        d = _decimal(text)
        if d is None or not 0 <= d <= MAX_HOURS_PER_ROW:
            errs.append(RowError(line, "hours_invalid",
                                 f"服务时长应为 0 到 {MAX_HOURS_PER_ROW} 之间的小时数", "hours"))
            return 0
        minutes = d * 60
        if minutes != minutes.to_integral_value():
            errs.append(RowError(line, "hours_invalid", "服务时长要能折成整分钟", "hours"))
            return 0
        if minutes and htype != "person":
            errs.append(RowError(line, "hours_household", "服务时长只能记给个人", "hours"))
            return 0
        return int(minutes)

    @staticmethod
    def _drop_booked(s: Session, plan: imports.Plan) -> None:
        """Rows booked before (by an earlier file) are skipped: idempotent per row."""
        booked = booked_refs(Raw(s), [r.row_key for r in plan.rows])
        fresh = [r for r in plan.rows if r.row_key not in booked]
        plan.skipped = len(plan.rows) - len(fresh)
        plan.rows = fresh

    @staticmethod
    def _check_budgets(s: Session, plan: imports.Plan, scale: int) -> None:
        """Awards stop at the village budget: the row where the file's awards pass it is named."""
        spent: dict[int, int] = {}
        left: dict[int, int] = {}
        for r in plan.rows:
            if r.steps <= 0:
                continue
            if r.village_id not in left:
                left[r.village_id] = book.village_budget_available(s, r.village_id)
            spent[r.village_id] = spent.get(r.village_id, 0) + r.steps
            if spent[r.village_id] > left[r.village_id]:
                plan.errors.append(RowError(
                    r.line, "budget_exhausted",
                    f"到这一行为止本村共需 {points_of(spent[r.village_id], scale)} 分，"
                    f"村预算只剩 {points_of(left[r.village_id], scale)} 分", "points"))
                left[r.village_id] = -1  # one error per village is enough

    def apply(self, s: Session, plan: imports.Plan, actor) -> dict:
        """Every row's entries posted in one batch (journal.bulk: the accounts locked once,
        COPY on PostgreSQL), in file order, each as `book.award` / `book.deduct` and
        `minutes.credit` would post it."""
        actor_id = getattr(actor, "user_id", None)
        budgets = {vid: village_shards(s, vid) for vid in {r.village_id for r in plan.rows
                                                            if r.steps}}
        ids = open_accounts(s, _account_keys(plan.rows, budgets))
        points_unit, minutes_unit = str(Unit.POINTS), str(Unit.MINUTES)
        holder_purpose, person = str(Purpose.POINTS), str(HolderType.PERSON)
        shards = {vid: tuple(ids[(points_unit, str(HolderType.VILLAGE), vid,
                                  str(Purpose.BUDGET), i)] for i in range(n))
                  for vid, n in budgets.items()}
        services = {tid: (ids[(minutes_unit, str(HolderType.TOWN), tid, str(Purpose.SERVICE),
                               0)],) for tid in {r.town_id for r in plan.rows if r.minutes}}
        # Per distinct date, reason and paying line (a file repeats them): made once.
        times: dict[date, tuple[datetime, str]] = {}  # a date's time and its isoformat
        memos: dict[str, str] = {}
        paying: dict[tuple[int, int], Line] = {}  # (village, points)
        serving: dict[tuple[int, int], Line] = {}  # (town, minutes)
        entries: list[BulkEntry] = []
        points = minutes = 0
        for r in plan.rows:
            on, reason, steps = r.on, r.reason, r.steps
            at = times.get(on) or times.setdefault(on, (booked_at(on), on.isoformat()))
            details = import_details(r.source, at[1], reason, r.ref, r.line)
            memo = memos.get(reason) or memos.setdefault(reason, f"历史记录导入：{reason}"[:500])
            if steps:
                holder = ids[(points_unit, r.holder_type, r.holder_id, holder_purpose, 0)]
                pay = paying.get((r.village_id, steps))
                if pay is None:
                    pay = paying[r.village_id, steps] = Line(shards[r.village_id], -steps, True)
                entries.append(BulkEntry(points_unit, "award" if steps > 0 else "deduct",
                                         (Line((holder,), steps), pay), at[0], memo,
                                         SOURCE, r.row_key, actor_id, details_json=details))
                points += 1
            if r.minutes:
                holder = ids[(minutes_unit, person, r.holder_id, holder_purpose, 0)]
                pay = serving.get((r.town_id, r.minutes))
                if pay is None:
                    pay = serving[r.town_id, r.minutes] = Line(services[r.town_id], -r.minutes,
                                                               True)
                entries.append(BulkEntry(minutes_unit, "service",
                                         (Line((holder,), r.minutes), pay), at[0], memo,
                                         SOURCE, r.row_key, actor_id, details_json=details))
                minutes += 1
        post_many(s, entries)
        return {"rows_booked": len(plan.rows), "points_entries": points,
                "minutes_entries": minutes}


def _account_keys(rows: list[Row], budgets: dict[int, int]) -> list[tuple]:
    """The accounts a history's rows post to: holders' points and minutes, the villages'
    budget shards, the towns' source of service minutes (one shard, as imports always used)."""
    points_unit, minutes_unit = str(Unit.POINTS), str(Unit.MINUTES)
    holder_purpose, person = str(Purpose.POINTS), str(HolderType.PERSON)
    keys = {(points_unit, str(HolderType.VILLAGE), vid, str(Purpose.BUDGET), i)
            for vid, n in budgets.items() for i in range(n)}
    keys.update((points_unit, r.holder_type, r.holder_id, holder_purpose, 0)
                for r in rows if r.steps)
    minutes = [r for r in rows if r.minutes]
    keys.update((minutes_unit, person, r.holder_id, holder_purpose, 0) for r in minutes)
    keys.update((minutes_unit, str(HolderType.TOWN), tid, str(Purpose.SERVICE), 0)
                for tid in {r.town_id for r in minutes})
    return list(keys)


COLUMN_LABELS = {c.key: c.header for c in COLUMNS}
_KEYS = tuple(c.key for c in COLUMNS)  # the order plan() unpacks a row's cells in


def booked_refs(raw: Raw, keys: list[str]) -> set[str]:
    """Which of these row keys a history file booked before. On PostgreSQL the lookup is
    planned as index probes whatever the statistics say (`Raw.keyed_plans`): on a journal
    whose statistics were taken while it was nearly empty (a new town, autovacuum not yet
    round), its generic plan scanned every entry and compared each with every key (6 s to
    over 4 minutes for 5,000 keys, measured in psql, 2026-12-07)."""
    booked: set[str] = set()
    with raw.keyed_plans():
        for i in range(0, len(keys), BOOKED_CHUNK):
            chunk = keys[i:i + BOOKED_CHUNK]
            if raw.pg:  # one text parameter (the keys are hex): no per-key binding
                rows = raw.cur.execute(_BOOKED_PG, {"source": SOURCE, "refs": pg_array(chunk)})
            else:
                rows = raw.cur.execute(_BOOKED_SQLITE.format(
                    marks=", ".join("?" * len(chunk))), [SOURCE, *chunk])
            booked.update(r[0] for r in rows.fetchall())
    return booked


_BOOKED_PG = ("SELECT source_ref FROM journal_entry WHERE source = %(source)s "
              "AND source_ref = ANY(%(refs)s::text[])")
_BOOKED_SQLITE = "SELECT source_ref FROM journal_entry WHERE source = ? AND source_ref IN ({marks})"
KIND = HistoryImport()


def import_history(db: Database, actor, data: bytes, *, dry_run: bool = False,
                   key: str | None = None) -> imports.SheetImport:
    return imports.run(db, KIND, actor, data, dry_run=dry_run, key=key,
                       check_actor=_check_admin)


def _check_admin(actor) -> None:
    scope = villages_of(actor, REGISTRY_ADMINS)
    if scope is not None and not scope:
        require(actor, REGISTRY_ADMINS, None, "importing points")


def export_rows(s: Session, actor, village_id: int | None = None):
    """The imported history in the import's columns (header first): exported, it imports into
    another database as the same entries."""
    scope = villages_of(actor, REGISTRY_ADMINS)
    if village_id is not None:
        require(actor, REGISTRY_ADMINS, village_id, "exporting")
        scope = {village_id}
    scale = points_scale(s)
    yield [c.header for c in COLUMNS]
    rows: dict[str, dict] = {}
    q = (select(JournalEntry).where(JournalEntry.source == SOURCE,
                                    JournalEntry.source_ref.like(REF_PREFIX + "%"),
                                    JournalEntry.reverses_id.is_(None))
         .order_by(JournalEntry.id))
    for e in s.scalars(q):
        acct = s.execute(select(Account.holder_type, Account.holder_id).join(
            Posting, Posting.account_id == Account.id).where(
            Posting.entry_id == e.id, Account.holder_type.in_(("person", "household")))
        ).first()
        if acct is None:
            continue
        amount = s.scalar(select(Posting.amount).join(Account, Account.id == Posting.account_id)
                          .where(Posting.entry_id == e.id, Account.holder_type == acct[0],
                                 Account.holder_id == acct[1]))
        r = rows.setdefault(e.source_ref, {"holder": acct, "points": "", "hours": "",
                                           "details": e.details.get("import", {})})
        if e.unit == Unit.MINUTES:
            r["hours"] = f"{(Decimal(amount) / 60).normalize():f}"
        else:
            r["points"] = f"{(Decimal(amount) / scale).normalize():f}"
    for r in rows.values():
        htype, hid = r["holder"]
        if htype == "person":
            p = s.get(Person, hid)
            v = s.get(Village, p.village_id)
            who = [p.name, p.id_number or "", "" if p.id_number else (p.phone or ""), ""]
        else:
            h = s.get(Household, hid)
            v = s.get(Village, h.village_id)
            who = [h.head_name, "", "", h.plate_code]
        if scope is not None and v.id not in scope:
            continue
        d = r["details"]
        yield [v.name, HOLDERS[htype], *who, d.get("date", ""), r["points"], r["hours"],
               d.get("reason", ""), d.get("source", ""), d.get("ref", "")]


def export_xlsx(db: Database, actor, village_id: int | None = None) -> bytes:
    with db.sessions() as s:
        rows = export_rows(s, actor, village_id)
        return tabular.to_xlsx(tabular.Sheet(KIND.title, next(rows), list(rows)))
