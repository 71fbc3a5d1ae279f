"""Stars as the pages show them, from ledger.recognition.stars (volunteer stars from certified
hours, household stars from the period's score with veto items)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.recognition import stars

MINUTES_PER_HOUR = 60


def volunteer(s: Session, person_id: int, certified_minutes: int) -> dict:
    """{"stars", "next_stars", "hours_to_next"} for the 'my points' page."""
    sm = stars.summary(s, "person", person_id)
    cur = sm["current"]
    nxt = cur.get("next_threshold")
    out = {"stars": sm["stars"], "next_stars": None, "hours_to_next": None}
    if nxt is not None:  # the next threshold and the live value are both in minutes
        out["next_stars"] = cur["level"] + 1
        out["hours_to_next"] = -(-(nxt - cur["value"]) // MINUTES_PER_HOUR)
    return out


def household(s: Session, household_id: int, year_score: int, standing=None) -> dict:
    """{"stars", "capped_by"} for the door-plate page (`standing`: see
    `stars.household_plate`)."""
    return stars.household_plate(s, household_id, standing=standing)
