"""What a form offers, typed: the items in force that the engine accepts from an actor through
a channel (`service.offered_items`, the engine's own check), each with what it is worth in
points at its catalog's scale."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.identity.actor import Actor
from ledger.registry import lookup
from ledger.rules import spec as S
from ledger.rules.schemas import OfferedItem
from ledger.rules.service import offered_items


def offer_of(c: S.Catalog, it: S.Item) -> OfferedItem:
    return OfferedItem(code=it.code, name=it.name, points=c.points(it.points_steps or 0),
                       range=None if it.range_steps is None
                       else (c.points(it.range_steps[0]), c.points(it.range_steps[1])),
                       levels=[(name, c.points(v)) for name, v in it.levels])


def offers(s: Session, actor: Actor, *, channel: str, subject: str,
           villages: dict[int, str | None]) -> list[OfferedItem]:
    """The items `service.offered_items` lists, typed."""
    return [offer_of(c, it) for c, it in offered_items(s, actor, channel=channel,
                                                       subject=subject, villages=villages)]


def claim_offers(db: Database, actor: Actor) -> list[OfferedItem]:
    """Exactly the items the engine accepts as this resident's claim, for themself or their
    household, in their village (each item once)."""
    with db.sessions() as s:
        _, village = lookup.person_with_village(s, actor.person_id)
        seen: dict[str, OfferedItem] = {}
        for subject in ("person", "household"):
            for o in offers(s, actor, channel="claim", subject=subject,
                            villages={village.id: village.name}):
                seen.setdefault(o.code, o)
    return list(seen.values())
