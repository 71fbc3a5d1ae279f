"""Opening accounts: one per (unit, holder, purpose[, shard]), created on demand, race-safe."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ledger.journal.models import Account, HolderType, Overdraft, Purpose, Unit
from ledger.timeutil import utcnow

MAX_BUDGET_SHARDS = 64

DEFAULT_OVERDRAFT = {
    Purpose.FUNDING: Overdraft.ALLOWED,
    Purpose.SERVICE: Overdraft.ALLOWED,
    Purpose.BUDGET: Overdraft.FORBIDDEN,
    Purpose.POINTS: Overdraft.DEDUCTIONS_ONLY,
    Purpose.REDEEMED: Overdraft.FORBIDDEN,
    Purpose.EXPIRED: Overdraft.FORBIDDEN,
    Purpose.HELD: Overdraft.FORBIDDEN,
    Purpose.TRANSIT: Overdraft.FORBIDDEN,
}


def _insert_ignore(session: Session):
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def open_account(session: Session, *, holder_type: str, holder_id: int, purpose: str,
                 unit: str = Unit.POINTS, shard: int = 0, overdraft: str | None = None,
                 now: datetime | None = None) -> int:
    """Return the id of the holder's account, creating it if needed (safe under races)."""
    key = (Account.unit == unit, Account.holder_type == holder_type,
           Account.holder_id == holder_id, Account.purpose == purpose, Account.shard == shard)
    found = session.scalar(select(Account.id).where(*key))
    if found is not None:
        return found
    values = dict(unit=str(unit), holder_type=str(holder_type), holder_id=holder_id,
                  purpose=str(purpose), shard=shard,
                  overdraft=str(overdraft or DEFAULT_OVERDRAFT[Purpose(purpose)]),
                  balance=0, pending_out=0, pending_in=0, posting_count=0,
                  head_hash="0" * 64, created_at=now or utcnow())
    stmt = _insert_ignore(session)(Account).values(**values).on_conflict_do_nothing()
    session.execute(stmt)
    return session.scalar(select(Account.id).where(*key))


def budget_shards(session: Session, village_id: int, shards: int,
                  unit: str = Unit.POINTS) -> tuple[int, ...]:
    """The sub-accounts of a village budget; together they are the budget."""
    if not 1 <= shards <= MAX_BUDGET_SHARDS:
        raise ValueError(f"budget shards must be 1..{MAX_BUDGET_SHARDS}")
    return tuple(open_account(session, holder_type=HolderType.VILLAGE, holder_id=village_id,
                              purpose=Purpose.BUDGET, unit=unit, shard=i) for i in range(shards))


def holder_accounts(session: Session, holder_type: str, holder_id: int,
                    purpose: str | None = None) -> Sequence[Account]:
    q = select(Account).where(Account.holder_type == holder_type, Account.holder_id == holder_id)
    if purpose:
        q = q.where(Account.purpose == purpose)
    return list(session.scalars(q.order_by(Account.unit, Account.purpose, Account.shard)))
