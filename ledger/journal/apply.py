"""Applying one resolved entry: the guarded account UPDATEs, the entry and its postings.

PostgreSQL gets all of it as one statement (data-modifying CTEs): one round trip, and the
locks it takes are held only from that statement to COMMIT. The UPDATEs run in the order given
(ordinary accounts first, shared hot ones last). SQLite, which has one writer at a time and no
network, runs the same steps as separate statements.

Each UPDATE checks the account's overdraft policy in its WHERE clause, moves the balance,
advances the posting count and extends the account's hash chain; RETURNING gives the new
balance, sequence number and head hash for the posting row. If any guard refuses, no entry is
written and `undo` puts the rows that did change back exactly as they were (head hash included:
it is the previous posting's hash), so a refusal leaves nothing applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ledger.journal.models import GENESIS_HASH
from ledger.journal.rawdb import Raw, Sql

_GUARD = ("(CAST(:a{i} AS bigint) >= 0 OR overdraft = 'allowed' "
          "OR (overdraft = 'deductions_only' AND CAST(:neg_ok AS integer) = 1) "
          "OR balance + CAST(:a{i} AS bigint) - pending_out >= 0)")
_SET = ("balance = balance + CAST(:a{i} AS bigint), posting_count = posting_count + 1, "
        "head_hash = jifen_sha256(head_hash || CAST(:s{i} AS text))")

_UPDATE_ONE = Sql.of(
    f"UPDATE account SET {_SET.format(i='')} WHERE id = :id AND unit = :unit "
    f"AND {_GUARD.format(i='')} RETURNING balance, posting_count, head_hash, unit, "
    "holder_type, holder_id, purpose, shard")
_INSERT_ENTRY = Sql.of(
    "INSERT INTO journal_entry (unit, kind, created_at, reverses_id, memo, source, source_ref, "
    "actor_id, details, digest) VALUES (:unit, :kind, :now, :reverses_id, :memo, :source, "
    ":source_ref, :actor_id, :details, :digest) RETURNING id")
_INSERT_POSTING = Sql.of(
    "INSERT INTO posting (entry_id, account_id, amount, seq, balance_after, hash, created_at) "
    "VALUES (:entry_id, :account_id, :amount, :seq, :balance_after, :hash, :now)")
_UNDO = Sql.of(
    "UPDATE account SET balance = balance - :amount, posting_count = posting_count - 1, "
    "head_hash = COALESCE((SELECT p.hash FROM posting p WHERE p.account_id = account.id "
    "AND p.seq = account.posting_count - 1), :genesis) WHERE id = :id")


def pg_updates(n: int, *, key_guard: bool = False) -> str:
    """The CTEs `u0..u{n-1}` (one guarded UPDATE per account, in the order given) and `u` (their
    rows). With `key_guard`, each UPDATE also requires the row to be the account the caller
    remembered the id for (parameters ht/hid/pu/sh{i}), and carries the line's position
    (parameter l{i}) so that the caller can read the postings back in line order."""
    check = ("AND holder_type = :ht{i} AND holder_id = CAST(:hid{i} AS bigint) "
             "AND purpose = :pu{i} AND shard = CAST(:sh{i} AS integer) ") if key_guard else ""
    line = "CAST(:l{i} AS integer)" if key_guard else "{i}"
    updates = ",\n".join(
        (f"u{{i}} AS (UPDATE account SET {_SET} WHERE id = CAST(:id{{i}} AS bigint) "
         f"AND unit = :unit {check}AND {_GUARD} RETURNING {{i}} AS i, {line} AS line, id, "
         "CAST(:a{i} AS bigint) AS amount, balance, posting_count, head_hash, unit, "
         "holder_type, holder_id, purpose, shard)").format(i=i)
        for i in range(n))
    union = " UNION ALL ".join(f"SELECT * FROM u{i}" for i in range(n))
    return f"{updates},\nu AS ({union})"


def pg_entry_inserts(n: int) -> str:
    """The CTEs `e` (the entry, written only when all n UPDATEs applied) and `p` (its
    postings), following `pg_updates`."""
    return f"""e AS (INSERT INTO journal_entry (unit, kind, created_at, reverses_id, memo, source,
                                 source_ref, actor_id, details, digest)
      SELECT :unit, :kind, CAST(:now AS timestamp), CAST(:reverses_id AS bigint), :memo, :source,
             :source_ref, CAST(:actor_id AS bigint), CAST(:details AS json), :digest
      WHERE (SELECT count(*) FROM u) = {n} RETURNING id),
p AS (INSERT INTO posting (entry_id, account_id, amount, seq, balance_after, hash, created_at)
      SELECT e.id, u.id, u.amount, u.posting_count, u.balance, u.head_hash,
             CAST(:now AS timestamp) FROM e CROSS JOIN u)"""


@lru_cache(maxsize=64)
def _pg_statement(n: int, also: PgAlso | None = None) -> Sql:
    """The whole entry as one PostgreSQL statement, for an entry of n postings (and what
    `also` adds when the entry is written)."""
    ctes = f",\n{also.ctes}" if also else ""
    cols = f", {also.columns}" if also else ""
    text = f"""WITH {pg_updates(n)},
{pg_entry_inserts(n)}{ctes}
SELECT u.i, (SELECT id FROM e), u.id, u.balance, u.posting_count, u.head_hash, u.unit,
       u.holder_type, u.holder_id, u.purpose, u.shard{cols} FROM u"""
    return Sql.of(text, text)


@dataclass(frozen=True)
class PgAlso:
    """More writes in the entry's statement on PostgreSQL: CTEs that must read the entry CTE
    `e` (so that they write only when the entry is written: `FROM e` or `WHERE EXISTS (SELECT
    1 FROM e)`), and result columns (scalar subqueries over them), read back as
    `Applied.also`."""

    ctes: str
    columns: str


@dataclass
class Applied:
    """What one attempt did: the entry id (None when a guard refused), the new state of each
    account it changed, and the position (in lock order) of the first refused line."""

    entry_id: int | None
    rows: dict[int, tuple[int, int, str]]  # account id -> (balance, seq, head hash)
    refused: int | None
    keys: dict[int, tuple] = field(default_factory=dict)  # account id -> what the row is
    also: tuple = ()  # the values of PgAlso.columns


def apply_entry(raw: Raw, ordered: list[tuple[int, int, str]], entry: dict,
                neg_ok: int, also: PgAlso | None = None, also_params: dict | None = None
                ) -> Applied:
    """`ordered`: (account id, amount, chain suffix) in lock order. `entry`: the entry's columns
    (unit, kind, now, reverses_id, memo, source, source_ref, actor_id, details as JSON text,
    digest). On refusal nothing stays applied. `also` (PostgreSQL only) and its parameters:
    see PgAlso."""
    now = entry["now"]
    params = {**entry, "now": raw.time(now), "neg_ok": neg_ok}
    if raw.pg:
        for i, (acct, amount, suffix) in enumerate(ordered):
            params[f"id{i}"], params[f"a{i}"], params[f"s{i}"] = acct, amount, suffix
        got = raw.all(_pg_statement(len(ordered), also), {**params, **(also_params or {})})
        rows = {r[2]: (r[3], r[4], r[5]) for r in got}
        entry_id = got[0][1] if got else None
        if entry_id is not None:
            return Applied(entry_id, rows, None, {r[2]: tuple(r[6:11]) for r in got},
                           tuple(got[0][11:]))
        done = {r[0] for r in got}
        refused = min(i for i in range(len(ordered)) if i not in done)
        undo(raw, [(a, n) for a, n, _ in ordered if a in rows])
        return Applied(None, {}, refused)
    rows: dict[int, tuple[int, int, str]] = {}
    keys: dict[int, tuple] = {}
    for i, (acct, amount, suffix) in enumerate(ordered):
        row = raw.first(_UPDATE_ONE, {"id": acct, "unit": params["unit"], "a": amount,
                                      "s": suffix, "neg_ok": neg_ok})
        if row is None:
            undo(raw, [(a, n) for a, n, _ in ordered[:i]])
            return Applied(None, {}, i)
        rows[acct] = (row[0], row[1], row[2])
        keys[acct] = tuple(row[3:8])
    entry_id = raw.first(_INSERT_ENTRY, params)[0]
    raw.cur.executemany(_INSERT_POSTING.sqlite, [
        {"entry_id": entry_id, "account_id": acct, "amount": amount, "seq": rows[acct][1],
         "balance_after": rows[acct][0], "hash": rows[acct][2], "now": params["now"]}
        for acct, amount, _ in ordered])
    return Applied(entry_id, rows, None, keys)


def undo(raw: Raw, changed: list[tuple[int, int]]) -> None:
    """Put accounts changed by a refused attempt back; their rows stay locked by us."""
    for acct, amount in changed:
        raw.execute(_UNDO, {"id": acct, "amount": amount, "genesis": GENESIS_HASH})


__all__ = ["Applied", "PgAlso", "apply_entry", "pg_entry_inserts", "pg_updates", "undo"]
