"""Who is who for the engine: holders and recorders resolved from the registry (village,
household), the inputs of a deed read from a caller's context, and what a holder has
available (balance less open holds), which every balance rule reads."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ledger.registry.models import Household, Person, Team, Village
from ledger.errors import Forbidden, InvalidInput, NotFound
from ledger.journal.models import Account, Purpose, Unit
from ledger.rules.engine import MAX_NOTE_CHARS, MAX_PHOTOS, MAX_REF_CHARS
from ledger.identity.actor import Actor, may
from ledger.rules.types import Evidence, Holder, Inputs

MAX_TAGS = 10
MAX_PHOTO_REF_CHARS = 300
CONTEXT_KEYS = frozenset({
    "occurred_at", "channel", "points", "level", "minutes", "quantity", "activity_ref",
    "reason", "note", "photos", "tags", "village_id",
    # references kept for the explanation (check-ins, inspections)
    "activity_id", "attendance_id", "activity_title", "source", "inspection_id", "plate_code",
})
REF_KEYS = ("activity_id", "attendance_id", "activity_title", "source", "inspection_id",
            "plate_code")
CHANNEL_ROLE = {"inspector": "inspector", "organizer": "organizer", "admin": "village_admin",
                "system": "system"}


def holder_arg(holder) -> tuple[str, int]:
    """("person"|"household"|"team", id) from a Holder, a dict or a pair."""
    if isinstance(holder, Holder):
        return holder.type, holder.id
    if isinstance(holder, dict):
        return holder["holder_type"], int(holder["holder_id"])
    h_type, h_id = holder
    return str(h_type), int(h_id)


def resolve_holder(s: Session, holder_type: str, holder_id: int, *, tags=(),
                   village_id: int | None = None) -> Holder:
    """The holder with its village and household, from the registry."""
    if holder_type == "person":
        row = s.get(Person, holder_id)
        household = row.household_id if row else None
    elif holder_type == "household":
        row = s.get(Household, holder_id)
        household = holder_id
    elif holder_type == "team":
        row = s.get(Team, holder_id)
        household = None
    else:
        raise InvalidInput(f"holder type must be person, household or team, not {holder_type!r}",
                           code="holder_type_invalid")
    if row is None:
        raise NotFound(f"{holder_type} {holder_id} does not exist", code="holder_not_found")
    vid = row.village_id if row.village_id is not None else village_id
    if vid is None:
        raise InvalidInput("this team has no village; give context.village_id for the budget",
                           code="village_required")
    village = s.get(Village, vid)
    if village is None:
        raise NotFound(f"village {vid} does not exist", code="village_not_found")
    return Holder(holder_type, holder_id, vid, village.name, household, frozenset(tags))


def resolve_actor(s: Session, actor: Actor) -> Actor:
    """Fill in the recorder's household (for the no-self-award rule) from the registry."""
    if actor.person_id is None or actor.household_id is not None:
        return actor
    person = s.get(Person, actor.person_id)
    if person is None or person.household_id is None:
        return actor
    return replace(actor, household_id=person.household_id)


def actor_from(recorder, channel: str, village_id: int | None) -> Actor:
    """An Actor as given, or a bare user id from a trusted domain caller (the check-in
    module passes its organizer's id): it then holds the channel's role for the village."""
    if isinstance(recorder, Actor):
        return recorder
    if isinstance(recorder, int) and not isinstance(recorder, bool):
        role = CHANNEL_ROLE.get(channel, "organizer")
        return Actor(recorder, roles=((role, village_id),))
    raise InvalidInput("recorder must be an Actor or a user id", code="recorder_invalid")


def actor_dict(a: Actor | None) -> dict | None:
    if a is None:
        return None
    return {"user_id": a.user_id, "roles": [list(r) for r in a.roles],
            "person_id": a.person_id, "household_id": a.household_id}


def actor_load(d: dict | None) -> Actor | None:
    if not d:
        return None
    return Actor(d["user_id"], roles=tuple((r, v) for r, v in d.get("roles", [])),
                 person_id=d.get("person_id"), household_id=d.get("household_id"))


def _when(v, now: datetime) -> datetime:
    if v is None:
        return now
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            raise InvalidInput("occurred_at must be an ISO date-time", code="occurred_at_invalid"
                               ) from None
    if not isinstance(v, datetime) or v.tzinfo is None:
        raise InvalidInput("occurred_at needs a time zone", code="occurred_at_invalid")
    return v


def default_channel(actor: Actor, village_id: int | None) -> str:
    have = actor.channels(village_id)
    return next((c for c in ("admin", "inspector", "organizer", "system") if c in have), "admin")


def _text(v, name: str, max_len: int) -> str:
    if v is None:
        return ""
    if not isinstance(v, str) or len(v) > max_len:
        raise InvalidInput(f"{name} must be text of at most {max_len} characters",
                           code=f"{name}_invalid")
    return v.strip()


def make_inputs(context: dict | Inputs | None, *, channel: str, now: datetime) -> Inputs:
    """A caller's context → the engine's Inputs; unknown keys are refused by name."""
    if isinstance(context, Inputs):
        return context
    ctx = dict(context or {})
    unknown = set(ctx) - CONTEXT_KEYS
    if unknown:
        raise InvalidInput(f"unknown context keys: {', '.join(sorted(unknown))}",
                           code="context_unknown_key", keys=sorted(unknown))
    photos = ctx.get("photos") or []
    if not isinstance(photos, list) or len(photos) > MAX_PHOTOS or not all(
            isinstance(p, str) and 0 < len(p) <= MAX_PHOTO_REF_CHARS for p in photos):
        raise InvalidInput(f"photos: at most {MAX_PHOTOS} references of at most "
                           f"{MAX_PHOTO_REF_CHARS} characters", code="photos_invalid")
    ref = ctx.get("activity_ref")
    if ref is None and ctx.get("activity_id") is not None:
        ref = f"activity:{ctx['activity_id']}"
    ref = _text(ref, "activity_ref", MAX_REF_CHARS) or None
    minutes, quantity = ctx.get("minutes"), ctx.get("quantity", 1)
    for name, v in (("minutes", minutes), ("quantity", quantity)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise InvalidInput(f"{name} must be a whole number", code=f"{name}_invalid")
    pts = ctx.get("points")
    if pts is not None and (isinstance(pts, bool) or not isinstance(pts, int | float | str)):
        raise InvalidInput("points must be a number", code="points_invalid")
    return Inputs(occurred_at=_when(ctx.get("occurred_at"), now),
                  channel=ctx.get("channel") or channel, points=pts,
                  level=ctx.get("level"), minutes=minutes, quantity=quantity, activity_ref=ref,
                  reason=_text(ctx.get("reason"), "reason", MAX_NOTE_CHARS),
                  evidence=Evidence(_text(ctx.get("note"), "note", MAX_NOTE_CHARS),
                                    tuple(photos)))


def context_tags(context) -> tuple[str, ...]:
    tags = (context or {}).get("tags") or [] if isinstance(context, dict) else []
    if not isinstance(tags, list) or len(tags) > MAX_TAGS or not all(
            isinstance(t, str) and 0 < len(t) <= 32 for t in tags):
        raise InvalidInput(f"tags: at most {MAX_TAGS} short words", code="tags_invalid")
    return tuple(tags)


def context_refs(context) -> dict:
    if not isinstance(context, dict):
        return {}
    return {k: context[k] for k in REF_KEYS if context.get(k) is not None}


_AVAILABLE = text("SELECT balance - pending_out FROM account WHERE id = :id")


def holder_available(session: Session, h, *, account_id: int | None = None,
                     lock: bool = False) -> int:
    """Balance less open holds (DESIGN guarantee 8): what every balance rule reads. With
    `lock`, the account row stays locked to the end of the transaction, so the hold placed
    next under the same lock cannot be joined by another that read the same figure."""
    if account_id is None:
        account_id = session.scalar(select(Account.id).where(
            Account.unit == Unit.POINTS, Account.holder_type == h.type,
            Account.holder_id == h.id, Account.purpose == Purpose.POINTS, Account.shard == 0))
        if account_id is None:
            return 0
    sql = _AVAILABLE
    if lock and session.get_bind().dialect.name == "postgresql":
        sql = text(_AVAILABLE.text + " FOR UPDATE")
    return int(session.scalar(sql, {"id": account_id}) or 0)


def require_own_or_staff(actor, holder_type: str, holder_id: int,
                         village_id: int | None) -> None:
    """A holder's own figures (standing, levels, coins): the person themself, or staff of the
    holder's village."""
    own = holder_type == "person" and getattr(actor, "person_id", None) == holder_id
    if not own and not may(actor, "staff", village_id):
        raise Forbidden("only the holder or staff of the village", code="forbidden")
