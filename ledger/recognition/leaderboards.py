"""Live village and town rankings: sorted sets in Redis in production, in process memory in the
embedded default. A board holds, for one unit (points or minutes), holder type and period, every
holder's rollup `net` as its score, so an update writes an absolute value (idempotent: applying
the same refresh twice changes nothing) and a rebuild from the rollups (themselves rebuildable
from the journal) gives the same boards as the incremental updates.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ledger.errors import DomainError, InvalidInput
from ledger.recognition.models import HolderRollup
from ledger.recognition.scores import month_key, year_key
from ledger.rules.periods import local_date
from ledger.stores import PerEngine
from ledger.timeutil import utcnow

log = logging.getLogger("jifen.leaderboards")

BOARD_HOLDERS = ("person", "household")
BOARD_UNITS = ("points", "minutes")
MAX_TOP = 100
REBUILD_BATCH = 10_000


class BoardsUnavailable(DomainError):
    code = "leaderboard_unavailable"
    status = 503
    title = "Rankings are unavailable"


class MemoryBoards:
    def __init__(self) -> None:
        self._z: dict[str, dict[str, int]] = defaultdict(dict)
        self._lock = threading.Lock()

    def set_many(self, items: Iterable[tuple[str, str, int]]) -> None:
        with self._lock:
            for key, member, score in items:
                self._z[key][member] = score

    def replace(self, key: str, mapping: dict[str, int]) -> None:
        with self._lock:
            if mapping:
                self._z[key] = dict(mapping)
            else:
                self._z.pop(key, None)

    def top(self, key: str, n: int) -> list[tuple[str, int]]:
        with self._lock:
            items = list(self._z.get(key, {}).items())
        # Redis ZREVRANGE order: score descending, then member descending.
        return sorted(items, key=lambda kv: (kv[1], kv[0]), reverse=True)[:n]

    def rank(self, key: str, member: str) -> tuple[int, int] | None:
        with self._lock:
            board = self._z.get(key, {})
            if member not in board:
                return None
            score = board[member]
            ahead = sum(1 for m, v in board.items() if (v, m) > (score, member))
        return ahead, score

    def dump(self, prefix: str) -> dict[str, dict[str, int]]:
        with self._lock:
            return {k: dict(v) for k, v in self._z.items() if k.startswith(prefix) and v}

    def clear(self, prefix: str) -> None:
        with self._lock:
            for k in [k for k in self._z if k.startswith(prefix)]:
                del self._z[k]


class RedisBoards:
    def __init__(self, url: str) -> None:
        import redis
        self._r = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def set_many(self, items: Iterable[tuple[str, str, int]]) -> None:
        pipe = self._r.pipeline(transaction=False)
        for key, member, score in items:
            pipe.zadd(key, {member: score})
        pipe.execute()

    def replace(self, key: str, mapping: dict[str, int]) -> None:
        if not mapping:
            self._r.delete(key)
            return
        tmp = f"{key}:rebuild"
        pipe = self._r.pipeline(transaction=False)
        pipe.delete(tmp)
        items = list(mapping.items())
        for i in range(0, len(items), REBUILD_BATCH):
            pipe.zadd(tmp, dict(items[i:i + REBUILD_BATCH]))
        pipe.rename(tmp, key)  # readers see the old board or the new one, never half of it
        pipe.execute()

    def top(self, key: str, n: int) -> list[tuple[str, int]]:
        return [(m.decode(), int(s)) for m, s in self._r.zrevrange(key, 0, n - 1, withscores=True)]

    def rank(self, key: str, member: str) -> tuple[int, int] | None:
        pipe = self._r.pipeline(transaction=False)
        pipe.zrevrank(key, member)
        pipe.zscore(key, member)
        r, s = pipe.execute()
        return None if r is None else (int(r), int(s))

    def dump(self, prefix: str) -> dict[str, dict[str, int]]:
        out = {}
        for key in self._r.scan_iter(match=f"{prefix}*", count=1000):
            k = key.decode()
            if k.endswith(":rebuild"):
                continue
            out[k] = {m.decode(): int(s) for m, s in self._r.zrange(key, 0, -1, withscores=True)}
        return {k: v for k, v in out.items() if v}

    def clear(self, prefix: str) -> None:
        keys = list(self._r.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            self._r.delete(*keys)


# Boards name their keys by `prefix_of` (the database's name), not by the store's prefix.
_STORES = PerEngine("lb", lambda url, _prefix: RedisBoards(url), MemoryBoards)


def configure(engine: Engine, redis_url: str | None) -> None:
    """Rankings of this database live in Redis (production) or this process's memory."""
    _STORES.configure(engine, redis_url)


def store_of(session_or_engine) -> object:  # noqa: ANN001
    """The store configured for this database (ledger/stores.py)."""
    engine = session_or_engine
    if isinstance(engine, Session):
        bind = engine.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
    return _STORES.of(engine)


def prefix_of(session: Session) -> str:
    """Keys are namespaced by database, so two databases never share a board."""
    bind = session.get_bind()
    url = (bind if isinstance(bind, Engine) else bind.engine).url
    name = (url.database or "db").rsplit("/", 1)[-1]
    return f"jifen:lb:{name}:"


def board_key(prefix: str, unit: str, holder_type: str, period_key: str, scope: str,
              scope_id: int) -> str:
    return f"{prefix}{unit}:{holder_type}:{period_key}:{scope}:{scope_id}"


def _period_of(prefix: str, key: str) -> str:
    parts = key[len(prefix):].split(":")  # unit, holder type, period kind, period, scope, id
    return f"{parts[2]}:{parts[3]}" if len(parts) >= 6 else ""


def live_periods(now: datetime | None = None) -> list[str]:
    d = local_date(now or utcnow())
    return [month_key(d), year_key(d)]


def _entries(rows) -> list[tuple[str, str, int]]:  # noqa: ANN001
    out = []
    for r in rows:
        if r.holder_type not in BOARD_HOLDERS or r.unit not in BOARD_UNITS:
            continue
        for scope, sid in (("town", r.town_id), ("village", r.village_id)):
            if sid is not None:
                out.append(((r.unit, r.holder_type, r.period_key, scope, sid),
                            str(r.holder_id), int(r.net)))
    return out


def refresh(session: Session, holders: list[tuple[str, int, str]], periods: list[str],
            now: datetime | None = None) -> int:
    """Write these holders' current rollup values into the live boards (current month and
    year). Redis down: logged and skipped; the nightly rebuild puts the boards right."""
    live = [p for p in periods if p in live_periods(now)]
    keys = [(h, i, u) for h, i, u in holders if h in BOARD_HOLDERS and u in BOARD_UNITS]
    if not live or not keys:
        return 0
    rows = session.scalars(select(HolderRollup).where(
        tuple_(HolderRollup.holder_type, HolderRollup.holder_id, HolderRollup.unit).in_(keys),
        HolderRollup.period_key.in_(live))).all()
    prefix = prefix_of(session)
    items = [(board_key(prefix, *k), m, s) for k, m, s in _entries(rows)]
    try:
        store_of(session).set_many(items)
    except Exception:  # noqa: BLE001 - rankings are rebuildable; points are not at stake
        log.warning("leaderboard refresh failed for %s holders", len(keys), exc_info=True)
        return 0
    return len(items)


def rebuild(session: Session, periods: list[str] | None = None) -> dict:
    """Replace every board of these periods (default: the live ones) from the rollups."""
    periods = periods or live_periods()
    prefix = prefix_of(session)
    store = store_of(session)
    boards: dict[str, dict[str, int]] = defaultdict(dict)
    q = (select(HolderRollup).where(HolderRollup.period_key.in_(periods),
                                    HolderRollup.holder_type.in_(BOARD_HOLDERS),
                                    HolderRollup.unit.in_(BOARD_UNITS))
         .execution_options(yield_per=REBUILD_BATCH))
    for k, m, s in _entries(session.scalars(q)):
        boards[board_key(prefix, *k)][m] = s
    existing = {k for k in store.dump(prefix) if _period_of(prefix, k) in periods}
    for key in existing - set(boards):
        store.replace(key, {})
    for key, mapping in boards.items():
        store.replace(key, mapping)
    return {"boards": len(boards), "entries": sum(len(v) for v in boards.values())}


def dump(session: Session) -> dict[str, dict[str, int]]:
    return store_of(session).dump(prefix_of(session))


def clear(session: Session) -> None:
    store_of(session).clear(prefix_of(session))


def top(session: Session, *, unit: str, holder_type: str, period_key: str, scope: str,
        scope_id: int, n: int = 20) -> list[dict]:
    if not 1 <= n <= MAX_TOP:
        raise InvalidInput(f"a ranking shows 1..{MAX_TOP} places", code="page_size_out_of_range")
    key = board_key(prefix_of(session), unit, holder_type, period_key, scope, scope_id)
    try:
        items = store_of(session).top(key, n)
    except Exception as exc:  # noqa: BLE001
        raise BoardsUnavailable(f"rankings store unavailable: {type(exc).__name__}") from exc
    out, prev, rank = [], None, 0
    for i, (member, score) in enumerate(items):
        if score != prev:
            rank, prev = i + 1, score
        out.append({"rank": rank, "holder_id": int(member), "value": score})
    return out
