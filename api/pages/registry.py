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
        sheets_admin,
        signin,
        stations,
        volunteer,
        wechat,
    )
    modules = (public, signin, volunteer, checkin, clerk, organizer, household, admin,
               rules_admin, honors, registry_admin, stations, matching, courtesy, wechat,
               sheets_admin, *pages2_modules())
    return [h for m in modules for h in m.handlers]


def pages2_modules() -> tuple:
    """The workflow pages: public notice and appeals, the reviewer's desk, claims, sign-ups,
    certificates and the public honor list."""
    from api.pages import (
        certs,
        claims,
        desk,
        draws,
        honors_public,
        notices,
        shops,
        signups,
        town,
        village_admin,
    )
    return (notices, desk, claims, signups, certs, honors_public, shops, draws, town,
            village_admin)
