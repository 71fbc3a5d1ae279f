"""Personal data export (个人信息副本): everything the service keeps about one person, in full,
for the person themself or an admin of their village acting on their request.

It walks the whole schema rather than a fixed list, so a table added later by any domain is
exported too: rows naming the person (`person_id`), rows of the person as a points holder
(`holder_type` = person), rows naming their user (`user_id`), and every posting of their
accounts with its entry's explanation. Secrets (password and code hashes) are left out.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import msgspec
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from ledger.registry import lookup
from ledger.registry.models import Household, Person
from ledger.db import Base, Database
from ledger.identity.models import AppUser
from ledger.identity.schemas import PersonExport
from ledger.identity.actor import require
from ledger.identity.roles import REGISTRY_ADMINS
from ledger.journal.models import Account, JournalEntry, Posting
from ledger.timeutil import utcnow

MAX_ROWS_PER_TABLE = 10_000
SECRET_COLUMNS = frozenset({"password_hash", "code_hash", "head_hash", "hash"})
SKIP_TABLES = frozenset({"person", "app_user", "account", "posting", "journal_entry",
                         "idempotency_record", "otp_code"})


def _plain(v):
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def _row(table: Table, row) -> dict:
    return {c: _plain(v) for c, v in row._mapping.items() if c not in SECRET_COLUMNS}


def _rows(s: Session, table: Table, where) -> dict:
    rows = s.execute(select(table).where(where).limit(MAX_ROWS_PER_TABLE + 1)).all()
    return {"rows": [_row(table, r) for r in rows[:MAX_ROWS_PER_TABLE]],
            "truncated": len(rows) > MAX_ROWS_PER_TABLE}


def _ledger(s: Session, person_id: int) -> list[dict]:
    out = []
    for acct in s.scalars(select(Account).where(Account.holder_type == "person",
                                                Account.holder_id == person_id)
                          .order_by(Account.id)):
        q = (select(Posting.seq, Posting.amount, Posting.balance_after, Posting.created_at,
                    JournalEntry.id, JournalEntry.kind, JournalEntry.memo, JournalEntry.source,
                    JournalEntry.source_ref, JournalEntry.details)
             .join(JournalEntry, JournalEntry.id == Posting.entry_id)
             .where(Posting.account_id == acct.id).order_by(Posting.seq)
             .limit(MAX_ROWS_PER_TABLE + 1))
        rows = s.execute(q).all()
        out.append({"account_id": acct.id, "unit": acct.unit, "purpose": acct.purpose,
                    "balance": acct.balance, "held": acct.pending_out,
                    "postings": [{"seq": r[0], "amount": r[1], "balance_after": r[2],
                                  "at": _plain(r[3]), "entry_id": r[4], "kind": r[5],
                                  "memo": r[6], "source": r[7], "source_ref": r[8],
                                  "details": r[9]} for r in rows[:MAX_ROWS_PER_TABLE]],
                    "truncated": len(rows) > MAX_ROWS_PER_TABLE})
    return out


def export_person(db: Database, actor, person_id: int) -> PersonExport:
    with db.sessions() as s:
        p, v = lookup.person_with_village(s, person_id)
        if getattr(actor, "person_id", None) != p.id:
            require(actor, REGISTRY_ADMINS, v.id, "exporting a person's data")
        users = list(s.scalars(select(AppUser).where(AppUser.person_id == p.id)))
        user_ids = [u.id for u in users]
        h = s.get(Household, p.household_id) if p.household_id else None
        tables: dict[str, dict] = {}
        for name, table in sorted(Base.metadata.tables.items()):
            if name in SKIP_TABLES:
                continue
            cols = table.c
            conds = []
            if "person_id" in cols:
                conds.append(cols.person_id == p.id)
            if "holder_type" in cols and "holder_id" in cols:
                conds.append((cols.holder_type == "person") & (cols.holder_id == p.id))
            if "user_id" in cols and user_ids:
                conds.append(cols.user_id.in_(user_ids))
            for cond in conds:
                found = _rows(s, table, cond)
                if found["rows"]:
                    tables.setdefault(name, {"rows": [], "truncated": False})
                    tables[name]["rows"] += found["rows"]
                    tables[name]["truncated"] |= found["truncated"]
        return msgspec.convert({
            "exported_at": utcnow().isoformat(),
            "person": {c.key: _plain(getattr(p, c.key)) for c in Person.__table__.c},
            "village": {"id": v.id, "name": v.name, "kind": v.kind},
            "household": None if h is None else {
                "id": h.id, "plate_code": h.plate_code, "head_name": h.head_name,
                "address": h.address},
            "users": [{"id": u.id, "login": u.login, "name": u.name, "active": u.active,
                       "created_at": _plain(u.created_at),
                       "last_sign_in_at": _plain(u.last_sign_in_at)} for u in users],
            "accounts": _ledger(s, p.id),
            "records": tables,
        }, PersonExport)
