"""The one way tables come in and go out: `.xlsx` (read with python-calamine, written with
openpyxl) and CSV (UTF-8 with or without a
byte-order mark, or GB18030/GBK as Excel and WPS save "CSV" on Chinese Windows: detected, not
refused), with the limits checked on every file, and `neutralise`, the one function every CSV
and spreadsheet export passes its cells through (formula injection).

(Over 400 lines on purpose: reading, checking and writing tables are one format's two
directions, kept together so that what is read back is what was written.)"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter

from ledger.errors import InvalidInput, LimitExceeded

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_UNZIPPED_BYTES = 100 * 1024 * 1024  # an .xlsx is a zip: bound what it expands to
MAX_ROWS = 20_000  # data rows per file, header not counted
MAX_COLUMNS = 40
MAX_CELL_CHARS = 500
MAX_REPORTED_ERRORS = 200

XLSX = "xlsx"
CSV = "csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

# A cell starting with one of these is run as a formula by Excel, WPS or LibreOffice
# (OWASP "CSV injection"): `=HYPERLINK(...)` in a villager's name must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls / .et


def neutralise(value: object) -> object:
    """The cell as it may be written to a CSV or spreadsheet: text a spreadsheet would run as a
    formula gets a leading apostrophe; numbers, dates and other text pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value


def restore(text: str) -> str:
    """The inverse of `neutralise` on import, so that an export imports back unchanged."""
    if text[:1] == "'" and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


@dataclass
class RowError:
    """One problem of an imported file: the line (1 is the header), the column, what is wrong."""

    line: int
    code: str
    message: str
    column: str | None = None

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "code": self.code,
                "message": self.message}


@dataclass
class Table:
    """A file read: the header, then each non-empty data row with its line number."""

    kind: str  # XLSX or CSV
    encoding: str | None  # for CSV: utf-8 or gb18030
    header: list[str]
    header_line: int = 1
    rows: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def read_table(data: bytes) -> Table:
    """Read an uploaded file, whatever of .xlsx or CSV it is (the bytes say, not the name).
    Raises for what makes the whole file unreadable; a bad line is a RowError in the table."""
    if len(data) > MAX_FILE_BYTES:
        raise LimitExceeded(f"文件超过 {MAX_FILE_BYTES // (1024 * 1024)} MB "
                            f"(file larger than {MAX_FILE_BYTES} bytes)", code="import_too_large")
    if not data.strip():
        raise InvalidInput("文件是空的 (the file is empty)", code="import_empty")
    if data.startswith(_OLE_MAGIC):
        raise InvalidInput("不支持旧的 .xls 格式，请另存为 .xlsx 或 CSV 后重试 "
                           "(old .xls files are not read: save as .xlsx or CSV)",
                           code="import_xls_unsupported")
    table = _read_xlsx(data) if data.startswith(_ZIP_MAGIC) else _read_csv(data)
    if not table.header or not any(h.strip() for h in table.header):
        raise InvalidInput("文件是空的 (the file is empty)", code="import_empty")
    return table


def _text(value: object) -> str:
    """A spreadsheet cell as the text an import reads: whole numbers without ".0", dates as
    YYYY-MM-DD (a time only when there is one)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() \
            else value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _check_row(table: Table, line: int, cells: list[str], quoted: bool = True
               ) -> tuple[str, ...] | None:
    """Limits of one row; None for an empty row (spreadsheets leave them). `quoted`: whether a
    cell may start with an apostrophe (`restore`); a CSV without one anywhere says no. The row
    is a tuple of its cells: plain values, which the garbage collector stops tracking (a file's
    20,000 lists made it scan the whole heap several times a file)."""
    stripped = tuple(map(str.strip, cells))
    if not any(stripped):
        return None
    if len(table.rows) < MAX_ROWS and len(cells) <= MAX_COLUMNS and (
            not cells or max(map(len, cells)) <= MAX_CELL_CHARS):  # the usual row, in one pass
        if not stripped[-1]:
            end = len(stripped) - 1
            while not stripped[end - 1]:  # not all empty (above): stops at a cell
                end -= 1
            stripped = stripped[:end]
        return tuple([restore(c) if c[:1] == "'" else c for c in stripped]) if quoted \
            else stripped
    if len(table.rows) >= MAX_ROWS:
        raise LimitExceeded(f"每个文件最多 {MAX_ROWS} 行 (at most {MAX_ROWS} rows per file)",
                            code="import_too_many_rows")
    while cells and not cells[-1].strip():
        cells.pop()
    if len(cells) > MAX_COLUMNS:
        raise LimitExceeded(f"每行最多 {MAX_COLUMNS} 列 (at most {MAX_COLUMNS} columns)",
                            code="import_too_many_columns")
    for i, c in enumerate(cells):
        if len(c) > MAX_CELL_CHARS:
            table.errors.append(RowError(line, "cell_too_long",
                                         f"第{line}行第{i + 1}列超过 {MAX_CELL_CHARS} 个字",
                                         table.header[i] if i < len(table.header) else None))
            cells[i] = c[:MAX_CELL_CHARS]
    return tuple([restore(c.strip()) for c in cells])


def _read_xlsx(data: bytes) -> Table:
    """The first sheet (templates and exports put the data there), read with calamine (a Rust
    reader, twenty times faster than openpyxl's here: 20,000 rows in a third of a second)."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if sum(i.file_size for i in z.infolist()) > MAX_UNZIPPED_BYTES:
                raise LimitExceeded("表格解压后过大 (the workbook expands too much)",
                                    code="import_too_large")
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        values = wb.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except (zipfile.BadZipFile, CalamineError, KeyError, IndexError, ValueError, OSError) as exc:
        raise InvalidInput(f"无法读取这个 .xlsx 文件 (not a readable .xlsx: {type(exc).__name__})",
                           code="import_unreadable") from None
    table = Table(XLSX, None, [])
    for line, row in enumerate(values, start=1):  # rows from the sheet's first: line numbers
        cells = [_text(v) for v in row[:MAX_COLUMNS + 1]]
        if not table.header:
            if any(c.strip() for c in cells):
                table.header = [c.strip() for c in cells]
                while table.header and not table.header[-1]:
                    table.header.pop()
                table.header_line = line
            continue
        row_ = _check_row(table, line, cells)
        if row_ is not None:
            table.rows.append((line, row_))
    return table


def detect_encoding(data: bytes) -> tuple[str, list[int]]:
    """UTF-8 or GB18030 (a superset of GBK), judged on the lines with non-ASCII bytes: all
    valid UTF-8 → UTF-8; none valid UTF-8 → GB18030; a mix → UTF-8 with the other lines
    returned by number (a GBK line pasted into a UTF-8 file is reported, not guessed)."""
    try:  # the usual file: valid UTF-8 whole, so every line is ("\n" is in no sequence)
        data.decode("utf-8")
        return "utf-8", []
    except UnicodeDecodeError:
        pass
    utf8, other = 0, []
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if raw.isascii():
            continue
        try:
            raw.decode("utf-8")
            utf8 += 1
        except UnicodeDecodeError:
            other.append(n)
    if not other:
        return "utf-8", []
    if not utf8:
        try:
            data.decode("gb18030")
            return "gb18030", []
        except UnicodeDecodeError:
            pass
    return "utf-8", other


def _read_csv(data: bytes) -> Table:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    encoding, bad = detect_encoding(data)
    table = Table(CSV, encoding, [])
    for n in bad:
        table.errors.append(RowError(n, "encoding_invalid",
                                     f"第{n}行的编码与文件其余部分不同（看起来是 GBK），"
                                     "请检查这一行 "
                                     "(this line is not in the file's encoding)"))
    bad_lines = set(bad)
    text = data.decode(encoding, errors="replace")
    quoted = "'" in text
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = table.rows
    start = 1
    try:
        for cells in reader:  # each a new list: _check_row may change it
            line, start = start, reader.line_num + 1
            if not table.header:
                if any(c.strip() for c in cells):
                    table.header = [c.strip() for c in cells[:MAX_COLUMNS + 1]]
                    while table.header and not table.header[-1]:
                        table.header.pop()
                    table.header_line = line
                continue
            row = _check_row(table, line, cells, quoted)
            if row is not None and line not in bad_lines:
                rows.append((line, row))
    except csv.Error as exc:
        table.errors.append(RowError(start, "csv_invalid", f"第{start}行无法读取：{exc}"))
    return table


@dataclass(frozen=True)
class Column:
    """A column of an import: its key, the Chinese header the template writes, other headers
    accepted, whether it is required, and the template's example value."""

    key: str
    header: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    example: str = ""
    note: str = ""


def index_header(columns: Sequence[Column], header: list[str], errors: list[RowError],
                 line: int = 1) -> dict[str, int]:
    """Column key → position in the file's header; unknown, duplicate and missing columns are
    errors of the header line."""
    alias = {}
    for c in columns:
        for name in (c.header, c.key, *c.aliases):
            alias[name.strip().lower()] = c
    index: dict[str, int] = {}
    for i, h in enumerate(header):
        if not h.strip():
            continue  # an empty header cell: a column the office left blank
        c = alias.get(h.strip().lower())
        if c is None:
            errors.append(RowError(line, "column_unknown", f"不认识的列“{h}” (unknown column)", h))
        elif c.key in index:
            errors.append(RowError(line, "column_duplicate", f"列“{h}”重复 (duplicate column)", h))
        else:
            index[c.key] = i
    for c in columns:
        if c.required and c.key not in index:
            errors.append(RowError(line, "column_missing",
                                   f"缺少“{c.header}”列 (column {c.key} is missing)", c.key))
    return index


def reported(errors: list[RowError], columns: Sequence[Column]) -> list[dict]:
    """The errors as a page and the API show them: each names its line and its column by the
    Chinese header, and says what is wrong (at most MAX_REPORTED_ERRORS)."""
    labels = {c.key: c.header for c in columns}
    out = []
    for e in sorted(errors, key=lambda e: e.line)[:MAX_REPORTED_ERRORS]:
        d = e.as_dict()
        label = labels.get(e.column or "", e.column)
        d["column_label"] = label
        d["text"] = f"第{e.line}行" + (f"“{label}”列" if label else "") + f"：{e.message}"
        out.append(d)
    return out


def refuse(errors: list[RowError], columns: Sequence[Column]) -> None:
    """Nothing is applied from a file with an error: raise import_invalid naming them all."""
    if errors:
        raise InvalidInput(
            f"导入文件有{len({e.line for e in errors})}行错误，未导入任何数据 "
            "(the file has errors; nothing was imported)", code="import_invalid",
            errors=reported(errors, columns), error_count=len(errors))


def file_digest(data: bytes) -> str:
    """What makes an import idempotent per file: the same bytes, the same key."""
    return hashlib.sha256(data).hexdigest()


def cell_of(cells: Sequence[str], index: dict[str, int], key: str) -> str:
    i = index.get(key)
    return cells[i] if i is not None and i < len(cells) else ""


def cells_of(index: dict[str, int], keys: Sequence[str]
             ) -> Callable[[tuple[str, ...]], tuple[str, ...]]:
    """A reader of a row's cells under `keys`, in that order: `cell_of` for each key at once,
    the columns looked up once per file ("" for a column the file lacks or the row ends before).
    For the imports that read thousands of rows."""
    width = max(index.values(), default=-1) + 1
    missing = any(k not in index for k in keys)
    positions = [index.get(k, -1) for k in keys]  # -1: the "" appended to every row read
    assert len(positions) >= 2, "itemgetter of one position answers a cell, not a tuple"
    get = itemgetter(*positions)
    pad, end = ("",) * (width + 1), ("",)

    def read(cells: tuple[str, ...]) -> tuple[str, ...]:
        if len(cells) < width:
            cells = cells + pad[len(cells):]
        elif missing:
            cells = cells + end
        return get(cells)

    return read


# -- writing -------------------------------------------------------------------------------

def to_csv(rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with a byte-order mark (Excel and WPS then read the Chinese right), CRLF lines."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        w.writerow([neutralise(v) for v in row])
    return out.getvalue().encode("utf-8")


@dataclass
class Sheet:
    """One worksheet to write: a title, the header (units in it: 积分, 小时), the rows."""

    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[object]]
    widths: Sequence[int] = ()


def to_xlsx(*sheets: Sheet) -> bytes:
    """A workbook of one or more sheets, written streaming (constant memory), every cell
    through `neutralise` so that no text becomes a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for sh in sheets:
        ws = wb.create_sheet(title=sh.title[:31])
        for i, h in enumerate(sh.header):
            width = sh.widths[i] if i < len(sh.widths) else max(10, 2 * len(h) + 2)
            ws.column_dimensions[_letter(i)].width = width
        ws.freeze_panes = "A2"
        head = []
        for h in sh.header:
            c = WriteOnlyCell(ws, value=neutralise(h))
            c.font = bold
            head.append(c)
        ws.append(head)
        for row in sh.rows:
            ws.append([neutralise(v) for v in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def sheet_csv(sheet: Sheet) -> bytes:
    """A sheet as CSV: its header, then its rows (the same Sheet an .xlsx export writes)."""
    return to_csv([sheet.header, *sheet.rows])


def _letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)


def template(title: str, columns: Sequence[Column]) -> bytes:
    """The downloadable template of an import: the Chinese header row and one example row."""
    return to_xlsx(Sheet(title, [c.header for c in columns], [[c.example for c in columns]]))
