"""The base of the domain's answers as types (`ledger/<package>/schemas.py`): a `View` is a
msgspec Struct built by keyword that refuses a field it does not declare, so a view dict that
grows a key its type lacks fails at the boundary (`typed`) instead of losing the key on the
wire. A field carried only sometimes is `UNSET` when absent (left out of the JSON)."""

from __future__ import annotations

import msgspec


class View(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


def typed(value, kind):
    """A view dict (or a list of them) as its type."""
    return msgspec.convert(value, kind)
