"""Messages added with the whole-job walks (issue #17): the ranking per town (zh, en), merged
into api/i18n.py."""

from __future__ import annotations

WALKS_MESSAGES: dict[str, tuple[str, str]] = {
    "rank.title_town": ("{town}各村积分排行", "Villages of {town} by score"),
    "rank.town": ("镇（街道）", "Town"),
    "rank.show": ("查看", "Show"),
    "err.town_not_found": ("没有这个镇（街道）", "No such town"),
    "err.settlement_forbidden": ("只有镇管理员或本店店员可以查看结算",
                                 "Only the town admin, or a clerk for their own shop"),
    # the organizer's attendance list: who got what
    "org.points": ("所得积分", "Points"),
    "org.points_on_notice": ("（公示中）", "(on notice)"),
    "org.points_due": ("积分发放中", "Being awarded"),
    "org.points_refused": ("未获积分", "No points"),
    "org.points_reversed": ("积分已撤回", "Points taken back"),
}
