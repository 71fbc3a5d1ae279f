"""礼遇's answers as types, so the API's schema documents each body and a view that drifts from
its type fails at the boundary (`msgspec.convert`), not in a client."""

from __future__ import annotations

from ledger.view import View


class BenefitView(View):
    id: int
    name: str
    kind: str
    partner: str
    min_stars: int
    uses_per_year: int
    once_ever: bool
    active: bool


class OpenBenefit(BenefitView, kw_only=True):
    """A benefit as one volunteer sees it: passes used (this year, or ever for a once-ever
    benefit), how many are left, and whether a pass can be claimed now."""
    used: int
    left: int
    open: bool


class PassView(View):
    """A pass; `stars` is the holder's level when it was issued, `used_at` null until used."""
    id: int
    benefit_id: int
    benefit: str
    code: str
    year: int
    stars: int
    issued_at: str
    used_at: str | None


class PassCheck(PassView, kw_only=True):
    """What a pass's QR opens, for anyone: the holder's name masked."""
    partner: str
    kind: str
    holder: str
    valid: bool
    village_id: int


class MyCourtesy(View):
    """A volunteer's stars, the benefits of their town, their latest passes (newest first)."""
    stars: int
    benefits: list[OpenBenefit]
    passes: list[PassView]
