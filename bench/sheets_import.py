"""Households from a spreadsheet at a town's scale: 20,000 households (one row each, with name,
address, phone and ID number) imported from an .xlsx into a fresh SQLite file, timed.

    .venv/bin/python -m bench.sheets_import                 # 20,000 rows (the file limit)
    .venv/bin/python -m bench.sheets_import --rows 2000     # a smoke run

Target: under 10 s for the import (docs/sheets.md). Prints the time of each step: writing the
workbook (not part of the target), reading it, checking the rows against the database, and the
whole import (read, check, and apply in one transaction: households, people, their accounts).
The CPU time of the process is printed beside the wall time: on a shared machine the wall
time also counts the other processes. Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from ledger.db import Database
from ledger.identity.service import SYSTEM
from ledger.migrate import upgrade
from ledger.registry import csvio
from ledger.registry import service as registry
from ledger.registry.privacy import id_check_digit
from ledger.sheets import tabular

TARGET_S = 10.0
VILLAGES = 20


def workbook(rows: int) -> bytes:
    def person(i: int) -> list:
        first17 = f"350582{1940 + i % 60}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
        return [f"演示村{i % VILLAGES + 1:02d}", "", f"H{i}", f"演示路{i}号", f"陈某{i}",
                f"17{i:09d}", first17 + id_check_digit(first17), "是" if i % 3 == 0 else "否", "是"]

    seen, body = set(), []
    for i in range(rows):
        r = person(i)
        if r[6] in seen:  # the synthetic ID numbers repeat after 60×12×28×1000 rows
            r[6] = ""
        seen.add(r[6])
        body.append(r)
    return tabular.to_xlsx(tabular.Sheet("户籍名册", csvio.HEADER, body))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=tabular.MAX_ROWS)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        upgrade(db)
        with db.transaction() as s:
            town = registry.add_town(s, "宝盖镇", "石狮市", "泉州市")
            for v in range(VILLAGES):
                registry.add_village(s, town.id, f"演示村{v + 1:02d}")
        t0 = time.monotonic()
        data = workbook(args.rows)
        print(f"  write .xlsx ({len(data) // 1024} KB, {args.rows} rows): "
              f"{time.monotonic() - t0:.2f} s", file=sys.stderr)
        t0 = time.monotonic()
        table = tabular.read_table(data)
        print(f"  read: {time.monotonic() - t0:.2f} s ({len(table.rows)} rows)", file=sys.stderr)
        t0 = time.monotonic()
        checked = csvio.import_csv(db, SYSTEM, data, dry_run=True)
        print(f"  check only: {time.monotonic() - t0:.2f} s", file=sys.stderr)
        t0, c0 = time.monotonic(), time.process_time()
        result = csvio.import_csv(db, SYSTEM, data)
        took, cpu = time.monotonic() - t0, time.process_time() - c0
        db.dispose()
    assert checked.rows == args.rows, checked
    ok = took < TARGET_S
    print(f"import of {result.households_created} households, {result.people_created} "
          f"people from .xlsx on SQLite: {took:.2f} s (CPU {cpu:.2f} s; target < "
          f"{TARGET_S:.0f} s) "
          f"{'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
