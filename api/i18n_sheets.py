"""Messages of imports, exports and printed sheets (zh, en), merged into api/i18n.py."""

from __future__ import annotations

SHEETS_MESSAGES: dict[str, tuple[str, str]] = {
    "registry.import": ("导入住户和人员（Excel 或 CSV）", "Import households and people (Excel or CSV)"),
    "registry.file": ("Excel（.xlsx）或 CSV 文件", "Excel (.xlsx) or CSV file"),
    "sheets.template": ("下载模板（含中文表头和示例行）", "Download the template (header and an example row)"),
    "sheets.limits": ("每个文件最多 {rows} 行；CSV 可以是 UTF-8 或 GBK/GB18030 编码。",
                      "At most {rows} rows per file; CSV in UTF-8 or GBK/GB18030."),
    "sheets.preview": ("前 {n} 行（共 {total} 行），尚未导入：", "First {n} of {total} rows, not imported yet:"),
    "sheets.encoding": ("编码", "Encoding"),
    "sheets.already_imported": ("这个文件已经导入过，再次导入不会有任何变化。",
                                "This file was imported before; importing it again changes nothing."),
    "sheets.export_xlsx": ("下载 Excel 表格", "Download as Excel"),
    "err.import_xls_unsupported": ("不支持旧的 .xls 格式，请另存为 .xlsx 或 CSV",
                                   "Old .xls files are not read; save as .xlsx or CSV"),
    "err.import_unreadable": ("无法读取这个文件", "This file cannot be read"),
    "err.import_too_many_rows": ("文件行数超过上限", "Too many rows in the file"),
    "err.import_too_many_columns": ("文件列数超过上限", "Too many columns in the file"),
}
