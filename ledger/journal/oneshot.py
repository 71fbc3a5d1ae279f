"""A keyed single-entry write as one autocommit statement on PostgreSQL.

`book.write` runs a write as BEGIN, the work, the idempotency record and COMMIT: four round
trips and a SQLAlchemy session around them, which cost the client more CPU than the database
spends on the posting (docs/ledger.md, "Measurements"). A write that is one journal entry and
nothing else (an award, a deduction) can be sent as a single statement instead: the guarded
UPDATEs, the entry, its postings and the idempotency record (its result built by the database)
in data-modifying CTEs, committed by the server as one implicit transaction.

All or nothing: the statement ends with `jifen_oneshot_check`, which raises when a guard refused
a line or the key was already taken; the error aborts the statement, so the UPDATEs that did
apply are undone with the rest. A key already taken raises KeyTaken (the caller answers with
the stored record, as `book.write` would). A refusal, or any database error, is not answered
here: `try_post` returns None, and the caller runs the ordinary `book.write` path with the same
key, which finds the exact refusal, moves to another budget shard, retries a deadlock, or
(when a lost connection hid a commit) finds the key taken and answers with its record. The fast
path therefore never decides anything the ordinary path would decide otherwise.

It runs only with every account id already remembered by this process (`accounts.remembered`);
each UPDATE also checks that the row is still the account the id was remembered for, so a
stale id is a refusal, never a posting to someone else.
"""

from __future__ import annotations

from datetime import UTC
from functools import lru_cache

import psycopg

from ledger.db import Database
from ledger.journal.apply import pg_entry_inserts, pg_updates
from ledger.journal.posting import PostedEntry, Prepared
from ledger.journal.rawdb import Sql

_CURSOR = "jifen_oneshot_cursor"
REFUSED, KEY_TAKEN = "JF001", "JF002"  # raised by jifen_oneshot_check (ddl.py)


class KeyTaken(Exception):
    """The idempotency key already has a record: nothing was applied; answer with that one."""


@lru_cache(maxsize=16)
def _statement(n: int) -> Sql:
    postings = ("(SELECT json_agg(json_build_object('account_id', u.id, 'amount', u.amount, "
                "'balance_after', u.balance) ORDER BY u.line) FROM u)")
    text = f"""WITH {pg_updates(n, key_guard=True)},
{pg_entry_inserts(n)},
k AS (INSERT INTO idempotency_record (key, request_hash, status, result, created_at)
      SELECT :key, :hash, 200, json_build_object('entry_id', e.id,
             'unit', CAST(:unit AS text), 'kind', CAST(:kind AS text),
             'created_at', CAST(:created_iso AS text), 'postings', {postings}),
             CAST(:now AS timestamp) FROM e
      ON CONFLICT (key) DO NOTHING RETURNING key)
SELECT (SELECT id FROM e), jifen_oneshot_check((SELECT count(*) FROM u) = {n},
                                               (SELECT count(*) FROM k) = 1),
       (SELECT array_agg(ARRAY[u.id, u.balance]) FROM u)"""
    return Sql.of(text, text)


def try_post(db: Database, prep: Prepared, keys: list[tuple], *, key: str, rhash: str
             ) -> PostedEntry | None:
    """Post `prep` with its idempotency record in one statement; None when it did not apply
    (refused, database error): the caller then takes the ordinary path. KeyTaken when the key
    has a record already (a retry): the caller answers with the record.
    `keys`: for each line, what its account is (unit, holder type, holder id, purpose, shard)."""
    params = {**prep.columns, "now": prep.now.astimezone(UTC).replace(tzinfo=None),
              "created_iso": prep.now.isoformat(), "neg_ok": prep.neg_flag, "key": key,
              "hash": rhash}
    for i, (acct, amount, suffix) in enumerate(prep.ordered):
        pos = prep.order[i]  # the line this account is on
        _unit, ht, hid, purpose, shard = keys[pos]
        params.update({f"id{i}": acct, f"a{i}": amount, f"s{i}": suffix, f"l{i}": pos,
                       f"ht{i}": ht, f"hid{i}": hid, f"pu{i}": purpose, f"sh{i}": shard})
    sql = _statement(len(prep.ordered)).pg
    conn = db.engine.raw_connection()
    driver = conn.driver_connection
    try:
        cur = conn.info.get(_CURSOR)
        if cur is None:
            cur = conn.info[_CURSOR] = driver.cursor()
        driver.autocommit = True
        row = cur.execute(sql, params, prepare=True).fetchone()
        driver.autocommit = False
    except psycopg.Error as exc:
        # Refused or key taken: nothing was applied. Anything else (a deadlock, a lost
        # connection, which may have hidden a commit): the ordinary path, same key, answers.
        if driver.closed or driver.broken:
            conn.invalidate(exc)
        else:
            driver.autocommit = False
        if getattr(exc, "sqlstate", None) == KEY_TAKEN:
            raise KeyTaken(key) from None
        return None
    finally:
        conn.close()  # back to the pool
    entry_id, _ok, balances = row
    return prep.posted(entry_id, {a: b for a, b in balances})


__all__ = ["KEY_TAKEN", "REFUSED", "KeyTaken", "try_post"]
