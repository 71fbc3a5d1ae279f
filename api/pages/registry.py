"""The list of page controllers: one module per audience."""

from __future__ import annotations


def handlers() -> list:
    from api.pages import (
        admin,
        checkin,
        clerk,
        courtesy,
        honors,
        household,
        matching,
        organizer,
        public,
        registry_admin,
        rules_admin,
        signin,
        stations,
        volunteer,
    )
    modules = (public, signin, volunteer, checkin, clerk, organizer, household, admin,
               rules_admin, honors, registry_admin, stations, matching,
               courtesy)
    return [h for m in modules for h in m.handlers]
