"""Who acts, and the one question every door asks: may this actor do this action to this holder
in this village? The engine, the API's route guards, the pages' guards and the forms all ask
`may` (or `refusal`, which says why not); nothing else reads an actor's roles to decide."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ledger.errors import Forbidden
from ledger.identity.roles import (
    CLERK,
    INSPECTOR,
    ORGANIZER,
    REGISTRY_ADMINS,
    REGISTRY_READERS,
    STAFF_ROLES,
    TOWN_ADMIN,
    VILLAGE_ADMIN,
)

# A trusted domain caller (the check-in module's organizer, a scheduled task) records under
# this role; no user is ever given it (roles.check_scope refuses it).
SYSTEM = "system"

# What each action needs: one of these roles, town-wide or for the village concerned. A route's
# guard may name its roles directly (a tuple); the domain names its actions here.
ACTIONS: dict[str, tuple[str, ...]] = {
    # recording an award through a channel (the engine's `channel`; the catalog says which
    # channels an item accepts, this says who holds a channel where)
    "record.admin": (TOWN_ADMIN, VILLAGE_ADMIN),
    "record.inspector": (INSPECTOR,),
    "record.organizer": (ORGANIZER,),
    "record.system": (SYSTEM,),
    # the second person on a large deduction, or a step of an award's review
    "award.confirm": (TOWN_ADMIN, VILLAGE_ADMIN, INSPECTOR),
    # a village's own administration: its shops, exports, certificates, honor lists, phones
    "village.admin": (TOWN_ADMIN, VILLAGE_ADMIN),
    "activity.create": (ORGANIZER, TOWN_ADMIN, VILLAGE_ADMIN),
    # besides these, an activity's own organizer manages it (activities/planning.can_manage)
    "activity.manage": (TOWN_ADMIN, VILLAGE_ADMIN),
    "household.inspect": (INSPECTOR, VILLAGE_ADMIN, TOWN_ADMIN),
    "courtesy.use": (TOWN_ADMIN, VILLAGE_ADMIN, CLERK),
    # any holder's redemption orders and vouchers: to see them, show their QR, cancel them
    "redemption.any_order": (TOWN_ADMIN,),
    "registry.read": REGISTRY_READERS,
    "registry.write": REGISTRY_ADMINS,
    "staff": STAFF_ROLES,
}
CHANNELS = ("admin", "inspector", "organizer", "system")


class _Anywhere:
    """`village_id=ANYWHERE`: the role held for any village or town-wide (a route whose village
    is only known from its body, checked again by the domain once it is)."""

    def __repr__(self) -> str:
        return "ANYWHERE"


ANYWHERE = _Anywhere()


@dataclass(frozen=True)
class Actor:
    """Whoever acts: a signed-in user (the API's `Principal` is this type), or a trusted domain
    caller. `roles` are (role, village_id or None for town-wide); `household_id` is filled in
    from the registry when the no-self-award rule needs it (rules/holders.resolve_actor)."""

    user_id: int
    name: str = ""
    roles: tuple[tuple[str, int | None], ...] = field(default_factory=tuple)
    person_id: int | None = None
    token_version: int = 0
    only: tuple[str, ...] | None = None  # the roles this sign-in may use; None: all held
    household_id: int | None = None

    def __post_init__(self) -> None:
        # The rules' old Actor took (user_id, roles, …): a call in that order would leave this
        # actor without roles, silently refused everywhere. Refuse it loudly instead.
        assert isinstance(self.name, str), "Actor(user_id, name, roles, …): pass roles= by name"

    def has(self, role: str, village_id: int | None = None) -> bool:
        """The role held town-wide, or for this village (None: town-wide only)."""
        return holds(self, (role,), village_id)

    def has_any(self, roles: Iterable[str], village_id: int | None = None) -> bool:
        return holds(self, roles, village_id)

    def villages(self, role: str) -> set[int | None]:
        return {scope for r, scope in self.roles if r == role}

    @property
    def is_town_admin(self) -> bool:
        return holds(self, (TOWN_ADMIN,), None)

    def channels(self, village_id: int | None) -> set[str]:
        """The recording channels this actor holds for the village."""
        return {c for c in CHANNELS if may(self, "record." + c, village_id)}

    def is_self_or_household(self, holder) -> bool:  # a rules.types.Holder
        return is_self_or_household(self.person_id, self.household_id, holder.type, holder.id,
                                    holder.household_id)


def is_self_or_household(person_id: int | None, household_id: int | None, holder_type: str,
                         holder_id: int, holder_household_id: int | None) -> bool:
    """The no-self-award rule's one test: the holder is this person, or this person's
    household, or a member of it. Every path that moves points asks it (through
    `registry/lookup.refuse_self_award`, `refusal`, or `Actor.is_self_or_household`)."""
    if holder_type == "person" and person_id is not None and holder_id == person_id:
        return True
    return household_id is not None and holder_household_id == household_id


Action = str | Iterable[str]  # a name in ACTIONS, or the roles themselves (a route's guard)


def roles_for(action: Action) -> tuple[str, ...]:
    if not isinstance(action, str):
        return tuple(action)
    try:
        return ACTIONS[action]
    except KeyError:
        raise AssertionError(f"unknown action {action!r}") from None


def holds(actor, roles: Iterable[str], village_id: int | None) -> bool:
    """The scope rule, once: one of `roles` held town-wide, or for `village_id` (None: only a
    town-wide role counts). `may` asks it; nothing outside this module should."""
    wanted = set(roles)
    return any(r in wanted and (scope is None or (village_id is not None and scope == village_id))
               for r, scope in getattr(actor, "roles", ()))


def refusal(actor: Actor | None, action: Action, village_id=ANYWHERE, *,
            holder=None) -> str | None:
    """Why `actor` may not do `action` in `village_id` (to `holder`, when one is named), as a
    stable code, or None when it may. `village_id`: a village's id; None for the whole town
    (only town-wide roles count); ANYWHERE when any village will do. A holder that is the
    actor or of the actor's household is refused whatever the roles."""
    if actor is None:
        return "sign_in_required"
    roles = roles_for(action)
    if village_id is ANYWHERE:
        ok = any(r in roles for r, _ in actor.roles)
    else:
        ok = holds(actor, roles, village_id)
    if not ok:
        return "not_permitted"
    if holder is not None and actor.is_self_or_household(holder):
        return "self_award_forbidden"
    return None


def may(actor: Actor | None, action: Action, village_id=ANYWHERE, *, holder=None) -> bool:
    """May this actor do this action (to this holder) in this village? See `refusal`."""
    return refusal(actor, action, village_id, holder=holder) is None


def require(actor: Actor, action: Action, village_id, what: str, *,
            code: str = "forbidden_village") -> None:
    """Refuse (403 `code`) unless `may`; `what` names the deed in the message."""
    if not may(actor, action, village_id):
        where = (f"village {village_id}" if isinstance(village_id, int) else
                 "the whole town" if village_id is None else "any village")
        raise Forbidden(f"{what} needs one of the roles {', '.join(roles_for(action))} for "
                        f"{where}", code=code,
                        village_id=village_id if isinstance(village_id, int) else None)


def villages_of(actor, action: Action) -> set[int] | None:
    """Where `may(actor, action, v)` holds, for a form's list of villages: the ids, or None
    for every village (a town-wide role)."""
    wanted = set(roles_for(action))
    scopes = {scope for r, scope in getattr(actor, "roles", ()) if r in wanted}
    if None in scopes:
        return None
    return scopes
