"""Presentation of the workflow's answers (ledger/rules/desk.py): what a recorded finding or a
per-hour item did, in words, and a refusal for missing evidence placed under its field."""

from __future__ import annotations


from ledger.db import Database
from ledger.rules import desk


# award states as the answers name them (the values of the rules' award status)
AWAITING_CONFIRMATION, ON_NOTICE = "awaiting_confirmation", "on_notice"
UNDER_REVIEW = ("pending_review", "claimed", "verified")


def _get(obj, key: str):
    """A field of an answer, typed or still a dict."""
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def finding_message(db: Database, done, t, scale: int) -> str:
    """Say what a recorded finding did: counted, on notice until a date, waiting for a second
    confirmation, or waiting for approval."""
    from api.pages.filters import localtime, pts
    award = _get(done, "award") or {}
    item = _get(award, "item_name") or _get(done, "item_code") or ""
    status = _get(award, "status")
    steps = _get(award, "steps") or 0
    if status == AWAITING_CONFIRMATION:
        # nothing is counted yet: the decision's base points (the item's, in points)
        steps = desk.awaiting_base_steps(db, _get(award, "award_id"), _get(award, "decision"),
                                         scale)
        return t("insp.done_confirm", item=item, p=pts(steps, scale, True))
    if status in UNDER_REVIEW:
        return t("insp.done_review", item=item)
    if status == ON_NOTICE:
        return t("insp.done_notice", item=item, p=pts(steps, scale, True),
                 d=localtime(_get(award, "notice_until")))
    return t("insp.done_posted", item=item, p=pts(steps, scale, True))


def evidence_field(exc, t) -> dict[str, str] | None:
    """A refusal for missing evidence, placed under the field that is missing (photo or note)."""
    if getattr(exc, "code", None) != "evidence_required":
        return None
    missing = ((exc.extra.get("explanation") or {}).get("detail") or {}).get("missing")
    if missing not in ("photo", "note"):
        return None
    return {missing: t("err.evidence_required_" + missing)}


def per_hour_hint(db, points: dict | None, minutes: int | None, t, scale: int
                  ) -> str | None:
    """Why a per-hour item gave nothing: fewer `minutes` than earn its smallest step
    (`points`: an attendance's points outcome)."""
    from api.pages.filters import pts
    from ledger.activities.awards import hour_step_minutes
    points = points if isinstance(points, dict) else None
    if points and points.get("code"):  # the rules refused the points: say why
        from ledger.rules.engine import MESSAGES
        why = t("err." + points["code"], default=MESSAGES.get(points["code"], points["code"]))
        if points["code"] == "minutes_required" and minutes == 0:
            why = t("hour.no_minutes")
        return t("hour.refused", why=why)
    if not points or points.get("steps") or not points.get("award_id") or minutes is None:
        return None
    step_minutes = hour_step_minutes(db, points["award_id"])
    if step_minutes is None or minutes >= step_minutes:
        return None
    return t("hour.zero", m=step_minutes, p=pts(1, scale), n=minutes)
