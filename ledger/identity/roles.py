"""The roles, where each may be held (a village or the whole town), and the scope checks the
domain uses. An actor is anything with `roles`: ((role, village_id or None), ...) — the API's
Principal and the domains' Actor classes all fit."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.errors import Forbidden, InvalidInput

TOWN_ADMIN = "town_admin"
VILLAGE_ADMIN = "village_admin"
ORGANIZER = "organizer"
INSPECTOR = "inspector"
CLERK = "clerk"
VOLUNTEER = "volunteer"
STAFF_ROLES = (TOWN_ADMIN, VILLAGE_ADMIN, ORGANIZER, INSPECTOR, CLERK)
ALL_ROLES = (*STAFF_ROLES, VOLUNTEER)

ROLE_NAMES = {TOWN_ADMIN: "镇管理员", VILLAGE_ADMIN: "村（社区）管理员", ORGANIZER: "活动组织者",
              INSPECTOR: "评议员", CLERK: "积分超市店员", VOLUNTEER: "志愿者"}
# town_admin is town-wide only; village_admin and volunteer always name a village.
TOWN_ONLY = frozenset({TOWN_ADMIN})
VILLAGE_ONLY = frozenset({VILLAGE_ADMIN, VOLUNTEER})
# Who may hand out a role: a town admin any; a village admin these, in their own village.
VILLAGE_GRANTABLE = frozenset({ORGANIZER, INSPECTOR, CLERK, VOLUNTEER})
# Registry readers and writers.
REGISTRY_ADMINS = (TOWN_ADMIN, VILLAGE_ADMIN)
REGISTRY_READERS = (TOWN_ADMIN, VILLAGE_ADMIN, ORGANIZER, INSPECTOR)


def holds(actor, roles: Iterable[str], village_id: int | None) -> bool:
    """True if the actor holds one of `roles` town-wide, or for `village_id`."""
    wanted = set(roles)
    return any(r in wanted and (scope is None or (village_id is not None and scope == village_id))
               for r, scope in getattr(actor, "roles", ()))


def require(actor, roles: Iterable[str], village_id: int | None, what: str) -> None:
    """Refuse (403 forbidden_village) unless the actor holds a role for that village."""
    roles = tuple(roles)
    if not holds(actor, roles, village_id):
        where = f"village {village_id}" if village_id is not None else "the whole town"
        raise Forbidden(f"{what} needs one of the roles {', '.join(roles)} for {where}",
                        code="forbidden_village", village_id=village_id)


def villages_of(actor, roles: Iterable[str]) -> set[int] | None:
    """The villages where the actor holds one of `roles`; None means every village."""
    wanted = set(roles)
    scopes = {scope for r, scope in getattr(actor, "roles", ()) if r in wanted}
    if None in scopes:
        return None
    return scopes


def check_scope(role: str, village_id: int | None) -> None:
    if role not in ALL_ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ALL_ROLES)}",
                           code="role_unknown")
    if role in TOWN_ONLY and village_id is not None:
        raise InvalidInput(f"{role} is held for the whole town, not one village",
                           code="role_scope_invalid")
    if role in VILLAGE_ONLY and village_id is None:
        raise InvalidInput(f"{role} must name a village", code="role_scope_invalid")
