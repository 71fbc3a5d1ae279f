"""The query parameters and answers every paged list shares (docs/api.md, "paged lists"):
`limit` (1..MAX_PAGE) and `cursor` in, `{items, next_cursor}` out. Paging itself is
`ledger/paging.py`; this module is only its shape on the wire.

The six lists that were paged before the cursor had one name keep their old parameter and
answer field for one release (docs/api.md says which); their answers are the structs below."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import Parameter

from ledger.paging import (DEFAULT_PAGE, MAX_CURSOR_CHARS, MAX_PAGE, Page, cursor_of, either,
                           next_key, page_of)

T = TypeVar("T")

Limit = Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="page size")]
Cursor = Annotated[str | None, Parameter(
    max_length=MAX_CURSOR_CHARS,
    description="the `next_cursor` of the page before; absent for the first page")]
OLD = "deprecated: pass `cursor` instead (kept for one release)"
OldAfterId = Annotated[int | None, Parameter(ge=0, description=OLD)]
OldBeforeId = Annotated[int | None, Parameter(ge=0, description=OLD)]
OldBeforeSeq = Annotated[int | None, Parameter(ge=0, description=OLD)]

__all__ = ["DEFAULT_PAGE", "Cursor", "Limit", "Page", "AfterIdPage", "BeforeIdPage",
           "OldAfterId", "OldBeforeId", "OldBeforeSeq", "cursor_of", "either", "next_key",
           "page_of", "paged"]


class AfterIdPage(Page[T], Generic[T]):
    """A page of a list read oldest first; `next_after_id` is `next_cursor`'s old name.
    (`items` is declared again so the schema generator sees `T` bound here, not `object`.)"""
    items: list[T]
    next_after_id: int | None = None


class BeforeIdPage(Page[T], Generic[T]):
    """A page of a list read newest first; `next_before_id` is `next_cursor`'s old name."""
    items: list[T]
    next_before_id: int | None = None


def paged(result: dict[str, Any], old: str, kind: type = AfterIdPage,
          item: type | None = None) -> Any:
    """A domain page (`{items, next_<old>, …}`) as its struct, with both cursor names; the
    struct's other fields (`account`, `activity_id`) are taken from the page as they are, the
    items converted to `item` when it is given."""
    fields = {k: v for k, v in result.items() if k in kind.__struct_fields__}
    if item is not None:
        fields["items"] = msgspec.convert(fields["items"], list[item])
    return kind(**fields, next_cursor=cursor_of(result[old]))
