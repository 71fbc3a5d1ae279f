"""Identity's answers as types: users, sign-in, long sessions and WeChat bindings, so the API's
schema documents each body. Every field here is always on the wire (null or not) unless it is
`UNSET` by default, which is left out, as the views leave it out."""

from __future__ import annotations

from typing import Any

import msgspec
from ledger.view import View

UNSET = msgspec.UNSET


class RoleView(View):
    role: str
    village_id: int | None  # null: held for the whole town


class UserView(View):
    id: int
    login: str | None
    name: str
    person_id: int | None
    active: bool
    has_password: bool
    roles: list[RoleView]
    created_at: str
    last_sign_in_at: str | None


class PasswordChanged(View):
    """A password set; changing one's own also answers the new token (the others ended)."""
    id: int
    password_changed: bool
    token: str | msgspec.UnsetType = UNSET
    token_type: str | msgspec.UnsetType = UNSET
    expires_in: int | msgspec.UnsetType = UNSET


class SignedInUser(View):
    id: int
    name: str
    person_id: int | None
    login: str | None
    roles: list[RoleView]


class SignedIn(View):
    """A sign-in's token; a volunteer's also opens a long session (`refresh_token`)."""
    token: str
    token_type: str
    expires_in: int
    user: SignedInUser
    refresh_token: str | msgspec.UnsetType = UNSET
    session_id: str | msgspec.UnsetType = UNSET
    refresh_expires_in: int | msgspec.UnsetType = UNSET


class SignedOut(View):
    signed_out: bool


class Caller(View):
    """Who the caller is, as their user stands now."""
    user_id: int
    name: str
    person_id: int | None
    roles: list[RoleView]


class CodeSent(View):
    """Answered alike whether or not the phone is a volunteer's (nothing to learn from it)."""
    sent: bool
    ttl_s: int


class SessionView(View):
    session_id: str
    started_at: str
    last_used_at: str
    expires_at: str


class SessionsEnded(View):
    ended: int


class WechatBindingView(View):
    id: int
    app_id: str
    nickname: str | None
    openid_tail: str
    bound_at: str
    unbound_at: str | None
    unbound_by: int | None
    unbind_reason: str | None


class Unbound(View):
    """`unbound: false` when there was nothing to remove (then no `binding`)."""
    unbound: bool
    binding: WechatBindingView | msgspec.UnsetType = UNSET


def roles_view(roles) -> list[RoleView]:
    return [RoleView(role=r, village_id=v) for r, v in roles]


class ExportVillage(View):
    id: int
    name: str
    kind: str | None


class ExportHousehold(View):
    id: int
    plate_code: str
    head_name: str
    address: str


class ExportUser(View):
    id: int
    login: str | None
    name: str
    active: bool
    created_at: str | None
    last_sign_in_at: str | None


class ExportPosting(View):
    seq: int
    amount: int
    balance_after: int
    at: str | None
    entry_id: int
    kind: str
    memo: str | None
    source: str | None
    source_ref: str | None
    details: Any  # the entry's details as written (an object)


class ExportAccount(View):
    """One of the person's accounts, its postings newest first (`truncated`: cut at the
    export's limit)."""
    account_id: int
    unit: str
    purpose: str
    balance: int
    held: int
    postings: list[ExportPosting]
    truncated: bool


class ExportTable(View):
    rows: list[dict[str, Any]]  # a table's rows naming the person, secrets left out
    truncated: bool


class PersonExport(View):
    """Everything kept about one person (个人信息导出): the register, their users, their
    accounts with postings, and every other table's rows that name them."""
    exported_at: str
    person: dict[str, Any]
    village: ExportVillage
    household: ExportHousehold | None
    users: list[ExportUser]
    accounts: list[ExportAccount]
    records: dict[str, ExportTable]
