"""The minutes book: service minutes (unit `minutes`) credited to holders from their town's
`service` account, the one source of every minute served.

Minutes are booked here and nowhere else: by an attendance when it is checked out, confirmed or
turned down (ledger/activities/minutes.py decides how many and when), and by an award under a
per-hour item that names no attendance (ledger/rules/service.post_award; an award made for an
attendance books none, the attendance has). The source may go below zero, like points funding,
and is split into shards like a budget so that check-outs do not queue on one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from ledger.journal.accounts import open_account
from ledger.journal.models import HolderType, Purpose, Unit
from ledger.journal.posting import Line, PostedEntry, post_entry


def service_shards(s: Session, town_id: int, shards: int) -> tuple[int, ...]:
    """The town's source of service minutes (opened if needed; the ids are remembered)."""
    return tuple(open_account(s, holder_type=HolderType.TOWN, holder_id=town_id,
                              purpose=Purpose.SERVICE, unit=Unit.MINUTES, shard=i)
                 for i in range(max(1, shards)))


def holder_account(s: Session, holder_type: str, holder_id: int,
                   purpose: str = Purpose.POINTS) -> int:
    """A holder's minutes: certified (`points`) or waiting for confirmation (`transit`)."""
    return open_account(s, holder_type=holder_type, holder_id=holder_id, purpose=purpose,
                        unit=Unit.MINUTES)


def credit(s: Session, *, town_id: int, holders: Sequence[tuple[str, int, int]], shards: int,
           kind: str, memo: str, source: str, source_ref: str, actor_id: int | None,
           details: dict, now: datetime | None = None, purpose: str = Purpose.POINTS,
           sign: int = 1) -> PostedEntry:
    """Service → each holder's minutes (`holders`: type, id, minutes); with `sign=-1` the
    other way (pending minutes given back)."""
    lines = [Line.of(holder_account(s, ht, hid, purpose), sign * m) for ht, hid, m in holders]
    lines.append(Line(service_shards(s, town_id, shards),
                      -sign * sum(m for _, _, m in holders), hot=True))
    return post_entry(s, unit=Unit.MINUTES, kind=kind, lines=lines, memo=memo, source=source,
                      source_ref=source_ref, actor_id=actor_id, details=details, now=now)
