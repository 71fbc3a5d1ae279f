"""Messages of imports, exports and printed sheets (zh, en), merged into api/i18n.py."""

from __future__ import annotations

SHEETS_MESSAGES: dict[str, tuple[str, str]] = {
    "sheets.template": ("下载模板（含中文表头和示例行）",
                        "Download the template (header and an example row)"),
    "sheets.limits": ("每个文件最多 {rows} 行；CSV 可以是 UTF-8 或 GBK/GB18030 编码。",
                      "At most {rows} rows per file; CSV in UTF-8 or GBK/GB18030."),
    "sheets.preview": ("前 {n} 行（共 {total} 行），尚未导入：",
                       "First {n} of {total} rows, not imported yet:"),
    "sheets.preview_region": ("文件前几行预览", "Preview of the file's first rows"),
    "sheets.encoding": ("编码", "Encoding"),
    "sheets.already_imported": ("这个文件已经导入过，再次导入不会有任何变化。",
                                "This file was imported before; importing it again changes "
                                "nothing."),
    "sheets.export_xlsx": ("下载 Excel 表格", "Download as Excel"),
    "sheets.title": ("表格导入与导出", "Spreadsheets: import and export"),
    "sheets.imports": ("导入", "Imports"),
    "sheets.exports": ("导出村里的各类名单", "Export the village's lists"),
    "sheets.template_short": ("模板", "Template"),
    "sheets.village": ("村（社区）", "Village"),
    "sheets.year": ("年份", "Year"),
    "sheets.lists_hint": ("一个 Excel 文件，每张表一类", "One Excel file, one sheet per list"),
    "sheets.dry_ok": ("文件没有错误：将导入 {rows} 行，{skipped} 行以前已导入（跳过）。"
                      "尚未导入，取消勾选“只检查”后再提交即可导入。",
                      "No errors: {rows} rows to import, {skipped} imported before (skipped). "
                      "Nothing imported yet: untick “check only” and submit again."),
    "sheets.done": ("导入完成（{skipped} 行以前已导入，已跳过）",
                    "Imported ({skipped} rows imported before were skipped)"),
    "sheets.result.rows_booked": ("记账行数", "Rows booked"),
    "sheets.result.points_entries": ("积分分录", "Points entries"),
    "sheets.result.minutes_entries": ("服务时长分录", "Service-minute entries"),
    "sheets.result.teams_created": ("新建队伍", "Teams created"),
    "sheets.result.members_added": ("新增成员", "Members added"),
    "sheets.result.imported": ("记录的签到", "Attendances recorded"),
    "sheets.result.refused": ("未能记录的行", "Rows refused"),
    "sheets.result.rewards_changed": ("修改库存的礼品", "Rewards restocked"),
    "sheets.other": ("其他表格导入与导出（历史积分、队伍、库存、名单）",
                     "Other imports and exports (history, teams, stock, lists)"),
    "sheets.paper": ("打印公示栏材料（PDF）", "Print for the notice board (PDF)"),
    "sheets.notice_sheet": ("打印积分公示", "Print the notice sheet"),
    "sheets.score_sheet": ("打印月度红榜", "Print the monthly score sheet"),
    "sheets.month": ("月份", "Month"),
    "sheets.improve": ("同时列出最需要改进的户（姓名隐去，默认不列）",
                       "Also list the households that most need to improve (masked; off by "
                       "default)"),
    "err.import_xls_unsupported": ("不支持旧的 .xls 格式，请另存为 .xlsx 或 CSV",
                                   "Old .xls files are not read; save as .xlsx or CSV"),
    "err.import_unreadable": ("无法读取这个文件", "This file cannot be read"),
    "err.import_too_many_rows": ("文件行数超过上限", "Too many rows in the file"),
    "err.import_too_many_columns": ("文件列数超过上限", "Too many columns in the file"),
}
