"""Helpers for the page tests: a signed-in browser-like client, and reading a form's hidden
CSRF token and form key out of the rendered page."""

from __future__ import annotations

import re

from api.auth import COOKIE, Principal
from tests.tokens import token_for


def sign_in(client, settings, *roles, village_id=None, user_id=7, person_id=None,
            name="测试", db=None) -> Principal:
    """A token cookie for a user written with exactly these roles; `db` for a client of a
    server in another process (an httpx.Client has no app to find it on)."""
    p = Principal(user_id=user_id, name=name, roles=tuple((r, village_id) for r in roles),
                  person_id=person_id)
    client.cookies.set(COOKIE, token_for(db or client.app.state.db, settings, p))
    return p


def form_fields(html: str, action: str) -> dict:
    """The hidden fields of the form posting to `action`."""
    m = re.search(r'<form[^>]*action="' + re.escape(action) + r'"[^>]*>(.*?)</form>', html,
                  re.DOTALL)
    assert m, f"no form posting to {action}"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', m.group(1)))
