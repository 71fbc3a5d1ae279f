"""The volunteer fund's answers as types, so the API's schema documents each body and a view
that drifts from its type fails at the boundary (`msgspec.convert`), not in a client."""

from __future__ import annotations

from ledger.view import View


class DonorView(View):
    id: int
    name: str
    kind: str
    thank_publicly: bool


class DonationView(View):
    """A money donation: `value_fen` as given, `points_steps` what it moved into the village's
    budget (in the catalog's steps), `entry_id` the journal entry that booked it."""
    id: int
    donor_id: int
    village_id: int
    village: str
    value_fen: int
    points_steps: int
    entry_id: int
    note: str
    at: str


class DonorThanks(DonorView, kw_only=True):
    """A donor on the public thank-you list, with how many donations and what in all."""
    donations: int
    value_fen: int


class DonorStatement(DonorView, kw_only=True):
    """A donor's settlement statement; `ledger_balance` is the donor's funding account (minus
    what it put in, in steps)."""
    donations: list[DonationView]
    value_fen: int
    points_steps: int
    ledger_balance: int
