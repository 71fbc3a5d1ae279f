"""Messages added with the whole-job walks (issue #17): the ranking per town (zh, en), merged
into api/i18n.py."""

from __future__ import annotations

WALKS_MESSAGES: dict[str, tuple[str, str]] = {
    "rank.title_town": ("{town}各村积分排行", "Villages of {town} by score"),
    "rank.town": ("镇（街道）", "Town"),
    "rank.show": ("查看", "Show"),
    "err.town_not_found": ("没有这个镇（街道）", "No such town"),
}
