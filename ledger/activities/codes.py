"""The check-in code an activity's manager shows now: the rotating one on the organizer's screen,
or the static one printed for the venue. The API (JSON, PNG, SVG) and the organizer's and
village admin's pages all read it here, after the same manager check."""

from __future__ import annotations

import msgspec

from ledger.activities import planning, tokens
from ledger.activities import service as checkin
from ledger.activities.planning import Actor
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import InvalidInput
from ledger.timeutil import utcnow

KINDS = ("rotating", "static")


class CheckinCode(msgspec.Struct, omit_defaults=True):
    """A code to show: `url` is what the QR code holds. A static code has its window
    (`valid_from`, `valid_until`); a rotating one its period and when it next changes."""
    kind: str
    token: str
    url: str
    valid_from: str | None = None
    valid_until: str | None = None
    period_s: int | None = None
    refresh_in_s: int | None = None
    accepted_for_s: int | None = None


def current_code(db: Database, settings: Settings, actor: Actor, activity_id: int,
                 kind: str) -> CheckinCode:
    if kind not in KINDS:
        raise InvalidInput("kind is rotating or static", code="code_kind_invalid")
    with db.sessions() as s:
        act = planning.get_activity(s, activity_id)
        planning.require_manager(actor, act)
        if kind == "static":
            tok = tokens.static_token(settings.secret_key, act.id, act.static_version)
            return CheckinCode(
                "static", tok, f"{settings.public_base_url}/c/{tok}",
                valid_from=(act.starts_at - checkin.CHECKIN_OPENS_BEFORE).isoformat(),
                valid_until=(act.ends_at + checkin.SCAN_GRACE_AFTER_END).isoformat())
        tok, left = tokens.rotating_token(settings.secret_key, act.id, act.rotate_s, utcnow())
        return CheckinCode("rotating", tok, f"{settings.public_base_url}/c/{tok}",
                           period_s=act.rotate_s, refresh_in_s=left,
                           accepted_for_s=act.rotate_s * tokens.ACCEPTED_PERIODS)
