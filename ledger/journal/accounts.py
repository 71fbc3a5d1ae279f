"""Opening accounts: one per (unit, holder, purpose[, shard]), created on demand, race-safe.

An account is never deleted and its id never changes, so each process remembers the ids it has
looked up (per database engine): the award path then spends no query on finding its accounts.
Only ids that other transactions committed are remembered, never one this transaction created
(it could still roll back). Every remembered id that a posting uses is checked against the row
it updates (`posting.post_entry`), so a stale id (a database restored under a running process)
is caught, forgotten and the write retried, never posted to another holder.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ledger.journal.models import GENESIS_HASH, Account, HolderType, Overdraft, Purpose, Unit
from ledger.journal.rawdb import Raw, Sql, pg_array
from ledger.timeutil import utcnow

# An allocation posts one line per shard plus the funding line, and an entry has at most 64.
MAX_BUDGET_SHARDS = 63
ACCOUNT_CACHE_SIZE = 200_000  # ids per engine; about 20 MB at most

DEFAULT_OVERDRAFT = {
    Purpose.FUNDING: Overdraft.ALLOWED,
    Purpose.SERVICE: Overdraft.ALLOWED,
    Purpose.BUDGET: Overdraft.FORBIDDEN,
    Purpose.POINTS: Overdraft.DEDUCTIONS_ONLY,
    Purpose.REDEEMED: Overdraft.FORBIDDEN,
    Purpose.EXPIRED: Overdraft.FORBIDDEN,
    Purpose.HELD: Overdraft.FORBIDDEN,
    Purpose.TRANSIT: Overdraft.FORBIDDEN,
    Purpose.SCORE: Overdraft.ALLOWED,  # a memo of what counts; deductions count too
}

_FIND = Sql.of("SELECT id FROM account WHERE unit = :unit AND holder_type = :ht "
               "AND holder_id = :hid AND purpose = :purpose AND shard = :shard")
_CREATE = Sql.of(
    "INSERT INTO account (unit, holder_type, holder_id, purpose, shard, overdraft, balance, "
    "pending_out, pending_in, posting_count, head_hash, created_at) VALUES (:unit, "
    ":holder_type, :holder_id, :purpose, :shard, :overdraft, :balance, :pending_out, "
    ":pending_in, :posting_count, :head_hash, :created_at) ON CONFLICT DO NOTHING RETURNING id")
_FIND_MANY_PG = ("SELECT holder_id, id FROM account WHERE unit = %(unit)s AND holder_type = %(ht)s "
                 "AND purpose = %(purpose)s AND shard = %(shard)s "
                 "AND holder_id = ANY(%(ids)s::bigint[])")
_CREATE_MANY_PG = (  # new accounts: zero balances, the genesis head
    "INSERT INTO account (unit, holder_type, holder_id, purpose, shard, overdraft, balance, "
    "pending_out, pending_in, posting_count, head_hash, created_at) SELECT u, ht, hid, pu, sh, "
    "od, 0, 0, 0, 0, %(head)s, %(at)s FROM unnest(%(u)s::text[], %(ht)s::text[], "
    "%(hid)s::bigint[], %(pu)s::text[], %(sh)s::int[], %(od)s::text[]) "
    "AS v(u, ht, hid, pu, sh, od) "
    "ON CONFLICT DO NOTHING RETURNING unit, holder_type, holder_id, purpose, shard, id")
_FIND_SHARDS = Sql.of("SELECT shard, id FROM account WHERE unit = :unit AND holder_type = :ht "
                      "AND holder_id = :hid AND purpose = :purpose AND shard < :n")

Key = tuple[str, str, int, str, int]  # unit, holder type, holder id, purpose, shard
_caches: WeakKeyDictionary[Engine, dict[Key, int]] = WeakKeyDictionary()
_NEW = "journal_new_accounts"  # session.info: keys this session's transaction inserted
CACHED = "journal_cached_ids"  # session.info: id -> key of the ids served from the cache


def _cache(session: Session) -> dict[Key, int]:
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    found = _caches.get(engine)
    if found is None:
        found = _caches[engine] = {}
    return found


def _remember(session: Session, cache: dict[Key, int], key: Key, account_id: int) -> None:
    if key in session.info.get(_NEW, ()):
        return
    if len(cache) >= ACCOUNT_CACHE_SIZE:
        for old in list(cache)[: ACCOUNT_CACHE_SIZE // 10]:  # drop the oldest tenth
            del cache[old]
    cache[key] = account_id


def remember_accounts(session: Session, found: dict[Key, int]) -> None:
    """Remember ids another statement found (committed accounts, read before this transaction
    wrote any), so that `open_account` needs no statement of its own for them."""
    cache = _cache(session)
    for key, account_id in found.items():
        _remember(session, cache, key, account_id)


def forget_accounts(session: Session) -> None:
    """Drop this engine's remembered ids (after an account was found missing)."""
    _cache(session).clear()


def open_account(session: Session, *, holder_type: str, holder_id: int, purpose: str,
                 unit: str = Unit.POINTS, shard: int = 0, overdraft: str | None = None,
                 now: datetime | None = None) -> int:
    """Return the id of the holder's account, creating it if needed (safe under races)."""
    key: Key = (str(unit), str(holder_type), holder_id, str(purpose), shard)
    cache = _cache(session)
    if key in cache:
        account_id = cache[key]
        session.info.setdefault(CACHED, {})[account_id] = key
        return account_id
    found = Raw(session).first(_FIND, {"unit": key[0], "ht": key[1], "hid": holder_id,
                                       "purpose": key[3], "shard": shard})
    if found is not None:
        _remember(session, cache, key, found[0])
        return found[0]
    values = {"unit": key[0], "holder_type": key[1], "holder_id": holder_id,
              "purpose": key[3], "shard": shard,
              "overdraft": str(overdraft or DEFAULT_OVERDRAFT[Purpose(purpose)]),
              "balance": 0, "pending_out": 0, "pending_in": 0, "posting_count": 0,
              "head_hash": GENESIS_HASH, "created_at": now or utcnow()}
    session.info.setdefault(_NEW, set()).add(key)
    raw = Raw(session)
    made = raw.first(_CREATE, {**values, "created_at": raw.time(values["created_at"])})
    if made is not None:
        return made[0]
    # Another transaction created it meanwhile (ON CONFLICT waited for it to commit).
    return raw.first(_FIND, {"unit": key[0], "ht": key[1], "hid": holder_id,
                             "purpose": key[3], "shard": shard})[0]


def budget_shards(session: Session, village_id: int, shards: int,
                  unit: str = Unit.POINTS) -> tuple[int, ...]:
    """The sub-accounts of a village budget; together they are the budget."""
    return shards_of(session, village_id, shards, Purpose.BUDGET, unit)


def shards_of(session: Session, village_id: int, shards: int, purpose: str,
                   unit: str = Unit.POINTS) -> tuple[int, ...]:
    """The sub-accounts of a village's hot account (its budget, its score: every award of the
    village posts to one); together they are the account."""
    if not 1 <= shards <= MAX_BUDGET_SHARDS:
        raise ValueError(f"budget shards must be 1..{MAX_BUDGET_SHARDS}")
    base = (str(unit), str(HolderType.VILLAGE), village_id, str(purpose))
    cache = _cache(session)
    known = [cache.get((*base, i)) for i in range(shards)]
    if None not in known:
        served = session.info.setdefault(CACHED, {})
        for i, account_id in enumerate(known):
            served[account_id] = (*base, i)
        return tuple(known)
    found = dict(Raw(session).all(_FIND_SHARDS, {"unit": base[0], "ht": base[1],
                                                 "hid": village_id, "purpose": base[3],
                                                 "n": shards}))
    for i, acct in found.items():
        _remember(session, cache, (*base, i), acct)
    return tuple(found[i] if i in found else open_account(
        session, holder_type=HolderType.VILLAGE, holder_id=village_id, purpose=purpose,
        unit=unit, shard=i) for i in range(shards))


def award_accounts(session: Session, *, holder_type: str, holder_id: int, village_id: int,
                   shards: int, unit: str = Unit.POINTS) -> tuple[int, tuple[int, ...]]:
    """The two sides of an award or deduction: the holder's points account and the village's
    budget shards, opened if needed."""
    points = open_account(session, holder_type=holder_type, holder_id=holder_id,
                          purpose=Purpose.POINTS, unit=unit)
    return points, budget_shards(session, village_id, shards, unit)


_FIND_POINTS = ("SELECT holder_id, id FROM account WHERE unit = :unit AND holder_type = :ht "
                "AND purpose = :purpose AND shard = 0 AND holder_id IN ({ids})")
PRELOAD_CHUNK = 1000


def remember_points_accounts(session: Session, holder_type: str, holder_ids: Sequence[int],
                             unit: str = Unit.POINTS) -> int:
    """Look up the points accounts of many holders at once and remember their ids (a bulk job
    that posts to each holder once, such as the opening grants, then finds them all known).
    Call it in a session with no writes of its own: only committed accounts are remembered.
    Returns how many were found."""
    cache = _cache(session)
    raw = Raw(session)
    found = 0
    ids = [int(h) for h in holder_ids]  # ints only: safe to inline
    for i in range(0, len(ids), PRELOAD_CHUNK):
        chunk = ", ".join(str(h) for h in ids[i:i + PRELOAD_CHUNK])
        sql = Sql.of(_FIND_POINTS.format(ids=chunk))  # not prepared: the text varies
        rows = raw.cur.execute(sql.pg if raw.pg else sql.sqlite, {
            "unit": str(unit), "ht": str(holder_type), "purpose": str(Purpose.POINTS)}
        ).fetchall()
        for hid, acct in rows:
            _remember(session, cache, (str(unit), str(holder_type), hid, str(Purpose.POINTS),
                                       0), acct)
        found += len(rows)
    return found


def open_accounts(session: Session, keys: Sequence[Key], now: datetime | None = None
                  ) -> dict[Key, int]:
    """`open_account` for many keys at once (a bulk load): the existing ids in one query per
    PRELOAD_CHUNK holders of a kind, the missing accounts created in one batch. The ids are not
    remembered (some were created by this transaction, which may still roll back)."""
    raw = Raw(session)
    want = {(str(u), str(ht), int(hid), str(pu), int(sh)) for u, ht, hid, pu, sh in keys}
    found: dict[Key, int] = {}

    def look(todo: set[Key]) -> None:
        kinds: dict[tuple, list[int]] = {}
        for u, ht, hid, pu, sh in todo:
            kinds.setdefault((u, ht, pu, sh), []).append(hid)
        for (u, ht, pu, sh), hids in kinds.items():
            hids.sort()
            if raw.pg:  # all of a kind in one statement: the ids as one array parameter
                for hid, acct in raw.cur.execute(_FIND_MANY_PG, {
                        "unit": u, "ht": ht, "purpose": pu, "shard": sh,
                        "ids": pg_array(hids)}).fetchall():
                    found[(u, ht, hid, pu, sh)] = acct
                continue
            for i in range(0, len(hids), PRELOAD_CHUNK):
                chunk = ", ".join(str(h) for h in hids[i:i + PRELOAD_CHUNK])  # ints only
                sql = Sql.of(_FIND_POINTS.replace("purpose = :purpose AND shard = 0",
                                                  "purpose = :purpose AND shard = :shard")
                             .format(ids=chunk))
                for hid, acct in raw.cur.execute(sql.pg if raw.pg else sql.sqlite, {
                        "unit": u, "ht": ht, "purpose": pu, "shard": sh}).fetchall():
                    found[(u, ht, hid, pu, sh)] = acct

    look(want)
    missing = sorted(want - set(found))
    if missing:
        at = raw.time(now or utcnow())
        overdraft = {pu: str(DEFAULT_OVERDRAFT[Purpose(pu)]) for pu in {k[3] for k in missing}}
        session.info.setdefault(_NEW, set()).update(missing)
        if raw.pg:  # one statement for all (a history opens tens of thousands at once)
            u, ht, hid, pu, sh = zip(*missing)  # the key's columns, each as one array
            made = raw.cur.execute(_CREATE_MANY_PG, {
                "head": GENESIS_HASH, "at": at, "u": pg_array(u), "ht": pg_array(ht),
                "hid": pg_array(hid), "pu": pg_array(pu), "sh": pg_array(sh),
                "od": pg_array([overdraft[p] for p in pu])}).fetchall()
            for unit, holder_type, holder_id, purpose, shard, acct in made:
                found[(unit, holder_type, holder_id, purpose, shard)] = acct
            if len(made) < len(missing):  # others opened some meanwhile
                look(set(missing) - set(found))
            return found
        rows = [{"unit": u, "holder_type": ht, "holder_id": hid, "purpose": pu, "shard": sh,
                 "overdraft": overdraft[pu], "balance": 0, "pending_out": 0, "pending_in": 0,
                 "posting_count": 0, "head_hash": GENESIS_HASH, "created_at": at}
                for u, ht, hid, pu, sh in missing]
        raw.cur.executemany(_CREATE.sqlite.replace(" RETURNING id", ""), rows)
        look(set(missing))
    return found


_HOLDER_ACCOUNTS = (select(Account).where(Account.holder_type == bindparam("htype"),
                                          Account.holder_id == bindparam("hid"))
                    .order_by(Account.unit, Account.purpose, Account.shard))  # built once


def holder_accounts(session: Session, holder_type: str, holder_id: int,
                    purpose: str | None = None) -> Sequence[Account]:
    accounts = session.scalars(_HOLDER_ACCOUNTS, {"htype": holder_type, "hid": holder_id})
    return [a for a in accounts if not purpose or a.purpose == purpose]
