"""The list of page controllers: one module per audience."""

from __future__ import annotations


def handlers() -> list:
    from api.pages import (
        admin,
        checkin,
        clerk,
        honors,
        household,
        organizer,
        public,
        registry_admin,
        rules_admin,
        sheets_admin,
        signin,
        volunteer,
    )
    modules = (public, signin, volunteer, checkin, clerk, organizer, household, admin,
               rules_admin, honors, registry_admin, sheets_admin)
    return [h for m in modules for h in m.handlers]
