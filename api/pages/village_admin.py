"""The village admin's registry and people pages: households of a village (edit the head and
address; members: edit, move to another household by its plate, add), each household's door
plate to print (and the village's sheet of plates as PDF); users and their roles (create a
staff account, grant and revoke roles); and an activity's printable static check-in code.
The registry's commands (ledger.registry.commands) and identity service check every scope."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import Principal
from api.pages.common import (
    FormData,
    form_key,
    int_field,
    page_role,
    refusals_into,
    render,
    require_field,
    saved,
    t_for,
)
from api.pages.organizer import ROLES as ORGANIZERS
from ledger.activities.codes import current_code
from ledger.activities.signups import activity_for
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError, NotFound
from ledger.identity import service as identity
from ledger.identity.actor import ACTIONS, villages_of
from ledger.identity.roles import ROLE_NAMES, STAFF_ROLES
from ledger.registry import commands, lookup, plates
from ledger.registry.service import HouseholdDraft, PersonDraft

ADMINS = ACTIONS["village.admin"]
HOUSEHOLDS_PAGE = 50
PERSON_FIELDS = {"name*": "name", "invalid_name": "name", "phone*": "phone", "left*": "left",
                 "id_number*": "id_number", "household*": "plate", "plate*": "plate"}
USER_FIELDS = {"login*": "login", "password*": "password", "role*": "role",
               "forbidden_grant": "role", "name*": "name"}


def _choose_village(db: Database, p: Principal, raw: int | None
                    ) -> tuple[int, dict[int, str]]:
    mine = {v.id: v.name for v in lookup.villages(db, counts=False,
                                                  within=villages_of(p, ADMINS))}
    if not mine:
        raise NotFound("no village to manage", code="village_not_found")
    return (raw if raw in mine else next(iter(mine))), mine


@get("/admin/households", name="admin_households", guards=[page_role(*ADMINS)], sync_to_thread=True)
def admin_households(request: Request, db: Database, principal: Principal,
                     village_id: int | None = None, after: int | None = None
                     ) -> Template | Redirect:
    vid, mine = _choose_village(db, principal, village_id)
    listing = lookup.households(db, principal, vid, after_id=after, limit=HOUSEHOLDS_PAGE)
    return render(request, "village/households.html", village_id=vid, villages=mine,
                  listing=listing)


def _household_page(request: Request, db: Database, settings: Settings, p: Principal,
                    household_id: int, *, status: int = 200, **ctx) -> Template:
    hh = lookup.household(db, p, household_id)
    return render(request, "village/household.html", status=status, hh=hh,
                  left_options=[("", t_for(request)("va.left.none")),
                                *((r, t_for(request)("va.left." + r))
                                  for r in commands.LEFT_REASONS)],
                  plate_url=plates.plate_url(settings.public_base_url, hh.plate_code), **ctx)


@get("/admin/households/{household_id:int}", name="admin_household",
     guards=[page_role(*ADMINS)], sync_to_thread=True)
def admin_household(request: Request, household_id: int, db: Database, settings: Settings,
                    principal: Principal) -> Template | Redirect:
    return _household_page(request, db, settings, principal, household_id)


@post("/admin/households/{household_id:int}", name="admin_household_save",
      guards=[page_role(*ADMINS)],
      sync_to_thread=True)
def admin_household_save(request: Request, household_id: int, db: Database,
                         settings: Settings, principal: Principal,
                         data: FormData) -> Template | Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    head = require_field(data, "head_name", t, errors, max_chars=100)
    if not errors:
        with refusals_into(errors, t, {"head_name*": "head_name", "address*": "address"}):
            commands.update_household(db, principal, household_id, {
                "head_name": head, "address": str(data.get("address") or "").strip()},
                key=form_key(data, principal, f"household:{household_id}"))
            return saved(f"/admin/households/{household_id}")
    return _household_page(request, db, settings, principal, household_id, status=422,
                           errors=errors, values=data, failed="household")


def _household_of_plate(db: Database, plate: str) -> int | None:
    plate = plate.strip()
    return lookup.household_of_plate(db, plate) if plate else None


@post("/admin/people/{person_id:int}", name="admin_person_save",
      guards=[page_role(*ADMINS)], sync_to_thread=True)
def admin_person_save(request: Request, person_id: int, db: Database, settings: Settings,
                      principal: Principal, data: FormData
                      ) -> Template | Redirect:
    """Edit a person; a plate code moves them to that household, an empty one takes them out
    of any household (moved away, or a household of their own to be made)."""
    t = t_for(request)
    back = int(data.get("back") or 0)
    errors: dict[str, str] = {}
    name = require_field(data, "name", t, errors, max_chars=100)
    if not errors:
        with refusals_into(errors, t, PERSON_FIELDS):
            changes = {"name": name, "is_volunteer": data.get("is_volunteer") == "1",
                       "household_id": _household_of_plate(db, str(data.get("plate") or "")),
                       "left": str(data.get("left") or "") or None}
            phone = str(data.get("phone") or "").strip()
            if phone and "*" not in phone:  # a masked phone shown back is left as it is
                changes["phone"] = phone
            commands.update_person(db, principal, person_id, changes,
                                   key=form_key(data, principal, f"person:{person_id}"))
            target = changes["household_id"] or back
            return Redirect(path=f"/admin/households/{target}?saved=1" if target
                            else "/admin/households?saved=1", status_code=303)
    if not back:
        raise DomainError("；".join(errors.values()), code="invalid_name", status=422)
    return _household_page(request, db, settings, principal, back, status=422, errors=errors,
                           values=data, failed=f"person-{person_id}")


@post("/admin/households/{household_id:int}/members", name="admin_member_add",
      guards=[page_role(*ADMINS)],
      sync_to_thread=True)
def admin_member_add(request: Request, household_id: int, db: Database, settings: Settings,
                     principal: Principal, data: FormData
                     ) -> Template | Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    name = require_field(data, "name", t, errors, max_chars=100)
    if not errors:
        with refusals_into(errors, t, PERSON_FIELDS):
            village = lookup.household(db, principal, household_id).village_id
            commands.create_person(db, principal, PersonDraft(
                village, name, household_id, phone=str(data.get("phone") or "").strip() or None,
                id_number=str(data.get("id_number") or "").strip() or None,
                is_volunteer=data.get("is_volunteer") == "1"),
                key=form_key(data, principal, f"member:{household_id}"))
            return saved(f"/admin/households/{household_id}")
    return _household_page(request, db, settings, principal, household_id, status=422,
                           errors=errors, values=data, failed="member")


@post("/admin/households", name="admin_household_new",
      guards=[page_role(*ADMINS)], sync_to_thread=True)
def admin_household_new(request: Request, db: Database, principal: Principal,
                        data: FormData) -> Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    head = require_field(data, "head_name", t, errors, max_chars=100)
    village = int_field(data, "village_id", t, errors, lo=1)
    if errors:
        raise DomainError("；".join(errors.values()), code="invalid_name", status=422)
    made = commands.create_household(db, principal, HouseholdDraft(
        village, head, str(data.get("address") or "").strip()),
        key=form_key(data, principal, "household_new"))
    return saved(f"/admin/households/{made.id}")


# ---- users and roles -------------------------------------------------------------------------

def _users_page(request: Request, db: Database, p: Principal, village_id: int | None, *,
                status: int = 200, **ctx) -> Template:
    t = t_for(request)
    vid, mine = _choose_village(db, p, village_id)
    users = identity.list_users(db, p, vid)
    roles = [(r, ROLE_NAMES[r]) for r in STAFF_ROLES if identity.may_grant(p, r, vid)]
    return render(request, "village/users.html", status=status, users=users, village_id=vid,
                  villages=mine, role_names=ROLE_NAMES,
                  role_options=[("", t("admin.choose")), *roles], **ctx)


@get("/admin/users", name="admin_users", guards=[page_role(*ADMINS)], sync_to_thread=True)
def admin_users(request: Request, db: Database, principal: Principal,
                village_id: int | None = None) -> Template | Redirect:
    return _users_page(request, db, principal, village_id)


@post("/admin/users", name="admin_user_new", guards=[page_role(*ADMINS)], sync_to_thread=True)
def admin_user_new(request: Request, db: Database, principal: Principal,
                   data: FormData) -> Template | Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    login = require_field(data, "login", t, errors, max_chars=64)
    name = require_field(data, "name", t, errors, max_chars=100)
    password = require_field(data, "password", t, errors, max_chars=200)
    role = require_field(data, "role", t, errors, max_chars=32)
    village = int_field(data, "village_id", t, errors, lo=1)
    if not errors:
        with refusals_into(errors, t, USER_FIELDS):
            identity.create_user(db, principal, login=login, name=name, password=password,
                                 roles=((role, village),), key=form_key(data, principal, "user"))
            return Redirect(path=f"/admin/users?village_id={village}&saved=1",
                            status_code=303)
    return _users_page(request, db, principal, village, status=422, errors=errors,
                       values={k: v for k, v in data.items() if k != "password"})


@post("/admin/users/{user_id:int}/roles/{action:str}", name="admin_user_role",
      guards=[page_role(*ADMINS)],
      sync_to_thread=True)
def admin_user_role(request: Request, user_id: int, action: str, db: Database,
                    principal: Principal, data: FormData) -> Template | Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    role = require_field(data, "role", t, errors, max_chars=32)
    village = int_field(data, "village_id", t, errors, lo=1)
    if not errors:
        try:
            fn = {"grant": identity.grant_role, "revoke": identity.revoke_role}.get(action)
            if fn is None:
                raise NotFound(f"no action {action}", code="not_found")
            fn(db, principal, user_id, role, village,
               key=form_key(data, principal, f"role_{action}:{user_id}"))
            return Redirect(path=f"/admin/users?village_id={village}&saved=1",
                            status_code=303)
        except DomainError as exc:
            errors = {"_form": t("err." + exc.code, default=exc.detail)}
    return _users_page(request, db, principal, village, status=422, errors=errors)


# ---- printable static check-in code ----------------------------------------------------------

@get("/org/activities/{activity_id:int}/print", name="org_print_code",
     guards=[page_role(*ORGANIZERS)], sync_to_thread=True)
def org_print_code(request: Request, activity_id: int, db: Database, settings: Settings,
                   principal: Principal) -> Template | Redirect:
    """A static check-in code to print and post at the venue (valid for the activity's
    window only; a reprint after a leak gets a new version on the organizer's page)."""
    code = current_code(db, settings, principal, activity_id, "static")
    return render(request, "village/print_code.html", act=activity_for(db, activity_id, None),
                  code=code)


handlers = [admin_households, admin_household, admin_household_save, admin_person_save,
            admin_member_add, admin_household_new, admin_users, admin_user_new,
            admin_user_role, org_print_code]
