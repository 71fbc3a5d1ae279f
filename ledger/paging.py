"""Keyset paging, defined once for every list the API answers: a page size checked against one
limit, an opaque cursor in, the cursor of the next page out (None on the last page).

A cursor is the key of the last row a page showed (an id, a posting's sequence number), written
as text; clients pass back what they were given and never build one. Lists read from the
database page in SQL (`WHERE id > :key ORDER BY id LIMIT :limit`); lists bounded by what one
town holds (its villages, users, teams, honor lists) are read whole and cut here by
`page_of`, with the same cursor, so clients walk every list the same way."""

from __future__ import annotations

import base64
from typing import Any, Callable, Generic, Iterable, TypeVar

import msgspec

from ledger.errors import InvalidInput

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_CURSOR_CHARS = 100  # a 63-bit key in decimal, or a code's text key encoded
MAX_TEXT_KEY_CHARS = 64

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T]):
    """One page of a list: its items, and the cursor that reads the next page (None: the last)."""
    items: list[T]
    next_cursor: str | None = None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}", code="page_size_out_of_range")
    return limit


def key_of(cursor: str | None) -> int | None:
    """The key a cursor stands for; a cursor this module did not write is refused."""
    if cursor is None or cursor == "":
        return None
    if len(cursor) > 19 or not cursor.isascii() or not cursor.isdigit():
        raise InvalidInput("cursor is not one this API gave", code="cursor_invalid")
    return int(cursor)


def cursor_of(key: int | None) -> str | None:
    return None if key is None else str(key)


def either(cursor: str | None, legacy: int | None) -> int | None:
    """The key from `cursor`, or from a list's old cursor parameter (`after_id`, `before_id`,
    `before_seq`), kept for one release (docs/api.md); both at once is ambiguous."""
    if cursor not in (None, "") and legacy is not None:
        raise InvalidInput("pass cursor or the old cursor parameter, not both",
                           code="cursor_invalid")
    if legacy is not None:
        if legacy < 0:
            raise InvalidInput("a cursor is never negative", code="cursor_invalid")
        return legacy
    return key_of(cursor)


def next_key(rows: list, limit: int, key: Callable[[Any], int]) -> int | None:
    """The key that reads the next page: the last row's when the page is full."""
    return key(rows[-1]) if rows and len(rows) == limit else None


def _text_cursor(key: str) -> str:
    return "s" + base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _text_key(cursor: str | None) -> str | None:
    if cursor is None or cursor == "":
        return None
    try:
        if not cursor.startswith("s") or len(cursor) > 4 * MAX_TEXT_KEY_CHARS:
            raise ValueError(cursor)
        body = cursor[1:]
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except ValueError:
        raise InvalidInput("cursor is not one this API gave", code="cursor_invalid") from None


def page_of(items: Iterable[T], cursor: str | None, limit: int,
            key: Callable[[T], Any], newest_first: bool = False) -> Page[T]:
    """A page of a list read whole (bounded by what a town holds), walked by `key`: an int
    (an id) or, for lists keyed by a code, a str."""
    check_limit(limit)
    ordered = sorted(items, key=key, reverse=newest_first)
    if not ordered:
        return Page([], None)
    text = isinstance(key(ordered[0]), str)
    after = _text_key(cursor) if text else key_of(cursor)
    if after is not None:
        ordered = [x for x in ordered if (key(x) < after if newest_first else key(x) > after)]
    rows = ordered[:limit]
    last = key(rows[-1]) if len(ordered) > limit else None
    return Page(rows, _text_cursor(last) if isinstance(last, str) else cursor_of(last))
