"""Steps and points: the one place that turns the ledger's integer steps into the unit people
read, for every output (API, pages, PDFs, CSV, posters, settlement).

The ledger keeps amounts as whole *steps* of the rule catalog's scale: with `scale: 2` one step
is half a point, so 23 points are 46 steps. Whatever leaves the core says which unit it is in:
`points` (or a name ending in `_points`) for points as people read them, `amount_steps` /
`*_steps` for raw steps. Input typed as points comes back through `steps_of`. The scale in
force (steps per point) is the rule catalogs' to say: `ledger.rules.store.scale_in_force`.
This module imports nothing of the domain: every layer may use it.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated

import msgspec

FEN_PER_YUAN = 100

# Points in a typed answer (`points_of`: an int when whole, a float for half points). The
# OpenAPI schema says `number` (an int is one): a choice of integer or number would let a
# whole amount match both, which a schema's `oneOf` forbids.
Points = Annotated[int | float, msgspec.Meta(
    extra_json_schema={"extra": {"oneOf": None, "type": "number"}})]
PointsOrNone = Annotated[int | float | None, msgspec.Meta(
    extra_json_schema={"extra": {"oneOf": None, "type": ["number", "null"]}})]


def points_of(steps: int, scale: int) -> int | float:
    """Steps as points: whole numbers stay whole (46 steps at scale 2 → 23; 7 → 3.5)."""
    q, r = divmod(int(steps), scale)
    return q if r == 0 else float(Fraction(int(steps), scale))


def points_text(steps: int | None, scale: int = 1, sign: bool = False) -> str:
    """Steps as points for a page, a file or a poster: "23", "3.5", "-2", "+1.5" with sign."""
    n = int(steps or 0)
    text = str(points_of(abs(n), scale))
    if n < 0:
        return "-" + text
    return ("+" + text) if sign and n > 0 else text


def steps_of(points: float | str | Fraction, scale: int) -> int:
    """Points as a person typed them (5, 0.5, "2.5") → whole steps; ValueError when the number
    is not a whole number of steps (0.3 point at scale 2)."""
    f = Fraction(str(points)) * scale
    if f.denominator != 1:
        raise ValueError(f"{points} is not a whole number of 1/{scale} point")
    return int(f)


def value_fen(steps: int, scale: int, point_value_fen: int) -> int:
    """What `steps` are worth in settlement when one point is worth `point_value_fen` fen."""
    return int(steps) * point_value_fen // scale


AVERAGE_DIGITS = 2  # an average of points is shown to two decimals (0.05, never 0)


def mean_points(total_steps: int, count: int, scale: int) -> Fraction:
    """The exact average in points (sort by this: a rounded or truncated mean misorders)."""
    return Fraction(int(total_steps), max(1, count) * scale)


def mean_points_text(total_steps: int, count: int, scale: int) -> str:
    """An average of points for people: "0.5", "12.33", "-0.25"; "0" only when it is 0."""
    text = f"{float(mean_points(total_steps, count, scale)):.{AVERAGE_DIGITS}f}"
    text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
