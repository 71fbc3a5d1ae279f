"""The roles, and where each may be held (a village or the whole town). Who may do what with
them is asked of ledger/identity/actor.py (`may`), the one place that reads an actor's roles."""

from __future__ import annotations

from ledger.errors import InvalidInput

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


def check_scope(role: str, village_id: int | None) -> None:
    if role not in ALL_ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ALL_ROLES)}",
                           code="role_unknown")
    if role in TOWN_ONLY and village_id is not None:
        raise InvalidInput(f"{role} is held for the whole town, not one village",
                           code="role_scope_invalid")
    if role in VILLAGE_ONLY and village_id is None:
        raise InvalidInput(f"{role} must name a village", code="role_scope_invalid")
