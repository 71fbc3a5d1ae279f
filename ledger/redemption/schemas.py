"""Redemption's answers as types, so the API's schema documents their bodies and a view that
drifts from its type fails at the boundary (`msgspec.convert`), not in a client."""

from __future__ import annotations

import msgspec


class ProviderView(msgspec.Struct, omit_defaults=True, kw_only=True):
    """A shop or partner; `fen_per_point` is the settlement value of one point in fen (分).
    A new provider's answer names its redeemed account (`account_id`)."""
    id: int
    town_id: int
    village_id: int | None
    name: str
    kind: str
    fen_per_point: int
    active: bool
    account_id: int | None = None
