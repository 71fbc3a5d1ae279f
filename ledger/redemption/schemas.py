"""Redemption's answers as types, so the API's schema documents their bodies and a view that
drifts from its type fails at the boundary (`msgspec.convert`), not in a client."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from ledger.view import View

# Points people read (ledger/units.points_of): whole numbers stay integers, half points are
# decimals (scale 2). Not `int | float`: the schema would say `oneOf` integer or number, which
# a whole number matches twice (schemathesis refuses it); described instead.
Points = Annotated[Any, msgspec.Meta(
    description="points: an integer, or a decimal at a scale of 2 (half points)")]


class ProviderView(View, omit_defaults=True):
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


class ClerkView(View):
    """A clerk of a shop; `removed` only in the answer to removing one."""
    user_id: int
    provider_id: int


class ClerkRemoved(ClerkView, kw_only=True):
    removed: bool


class RewardView(View):
    """A reward in the catalog. `stock` null is unlimited; `available` is what is left to
    order (stock less vouchers open and handed over), null when unlimited."""
    id: int
    provider_id: int
    name: str
    description: str
    kind: str
    cost_points: int
    stock: int | None
    reserved: int
    issued: int
    available: int | None
    limit_per_month: int | None
    limit_per_year: int | None
    min_star_level: int
    village_id: int | None
    holder_kinds: str
    available_from: str | None
    available_until: str | None
    voucher_ttl_s: int
    active: bool


class RewardPage(View):
    """A page of the catalog by id; `next_after_id` null on the last page."""
    items: list[RewardView]
    next_after_id: int | None


class ShopClerk(View):
    """A clerk of a shop as its admin page lists them: the staff account's login and name."""
    user_id: int
    login: str | None
    name: str


class RewardRef(View):
    id: int
    name: str
    kind: str


class VoucherView(View, omit_defaults=True):
    """An order's voucher; the holder's answers add where it opens (`url`) and its QR images."""
    code: str
    display_code: str
    status: str
    expires_at: str
    resolved_at: str | None
    entry_id: int | None
    url: str | None = None
    qr_png: str | None = None
    qr_svg: str | None = None


class OrderView(View):
    """A redemption order and its voucher. `funded_by` says who pays (`holder`, or `draw`:
    the town, for a prize); `hold_id` is the points hold until the voucher is used."""
    order_id: int
    reward: RewardRef
    provider_id: int
    holder_type: str
    holder_id: int
    quantity: int
    unit_cost_points: int
    amount_points: int
    funded_by: str
    draw_id: int | None
    hold_id: int | None
    created_at: str
    voucher: VoucherView


class OrderPage(View):
    """A page of orders, newest first; `next_before_id` null on the last page."""
    items: list[OrderView]
    next_before_id: int | None


class CounterView(OrderView, kw_only=True):
    """What the counter sees after a scan: `usable`, or the `refusal` code why not."""
    usable: bool
    refusal: str | None


class Swept(View):
    expired: int


class DrawView(View):
    """A lucky draw; once drawn, how many won and whether fewer were eligible than prizes
    offered (then every eligible holder won: `everyone_eligible_won`)."""
    id: int
    town_id: int
    name: str
    reward_id: int
    winners_count: int
    population: dict[str, Any]
    status: str
    seed: str | None
    population_size: int | None
    population_digest: str | None
    drawn_at: str | None
    winners_drawn: int | None
    everyone_eligible_won: bool
    prizes_left: int | None


class DrawRun(DrawView, kw_only=True):
    """A draw just drawn; `winners` is how many won."""
    winners: int


class DrawWinner(View):
    rank: int
    holder_type: str
    holder_id: int
    order_id: int
    voucher_status: str


class DrawReward(View):
    id: int
    name: str


class DrawWinners(DrawView, kw_only=True):
    winners: list[DrawWinner]
    reward: DrawReward


class DrawCheck(View):
    """A draw recomputed from its recorded seed and candidates: each part, and all (`ok`)."""
    draw_id: int
    seed: str | None
    population_size: int
    tickets_ok: bool
    digest_ok: bool
    winners_ok: bool
    ok: bool


class DrawReview(View):
    """A draw as its admin's page shows it: the draw with its winners, each winning person's
    name, and the check from the recorded seed when asked for (and the draw was run)."""
    draw: DrawWinners
    names: dict[int, str]
    check: DrawCheck | None


class DrawWin(View):
    """A draw a holder won, with the prize voucher to collect."""
    draw: str
    rank: int
    voucher_code: str
    status: str
    drawn_at: datetime | None


class SettlementLine(View):
    """One entry on a provider's redeemed account (a use, or its reversal), with its order."""
    entry_id: int
    posted_at: str
    kind: str
    points: Points
    amount_steps: int
    amount_fen: int
    reverses_id: int | None
    order_id: int | None
    reward_id: int | None
    reward_name: str
    quantity: int | None
    holder_type: str | None
    holder_id: int | None
    funded_by: str | None
    draw_id: int | None


class ProviderSettlement(View, omit_defaults=True):
    """A provider's points redeemed in the period and what they are worth; `lines` when asked."""
    provider_id: int
    name: str
    fen_per_point: int
    points: Points
    amount_steps: int
    amount_fen: int
    entries: int
    lines: list[SettlementLine] | None = None


class SettlementReport(View):
    """Points redeemed per provider from `start` to `end` (local dates, both included)."""
    start: str
    end: str
    providers: list[ProviderSettlement]
    scale: int
    total_points: Points
    total_steps: int
    total_fen: int

