"""Public pages served from the read cache (ledger/readcache.py): for a visitor who is not
signed in, the door plate and the ranking are rendered once per version of what they show
(ledger/recognition/freshness.py) and language, and answered with an ETag; a browser that
sends it back gets 304 while the version holds. `Cache-Control: no-cache` makes every view
ask again, so nothing is shown after it changed. Signed-in viewers see their own page (forms,
names, roles), built every time."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.response import Template

from api.pages.common import lang_of
from ledger import readcache
from ledger.db import Database
from ledger.recognition.schemas import PageVersion

CACHE_CONTROL = "no-cache"  # keep a copy, but ask (If-None-Match) before showing it
MAX_IF_NONE_MATCH_CHARS = 2048


def _etag(key: str, version: str) -> str:
    return 'W/"' + hashlib.blake2b(f"{key}|{version}".encode(), digest_size=12).hexdigest() + '"'


def _matches(request: Request, etag: str) -> bool:
    sent = (request.headers.get("if-none-match") or "")[:MAX_IF_NONE_MATCH_CHARS]
    return any(tag.strip() in (etag, "*") for tag in sent.split(","))


def _rendered(request: Request, page: Template) -> bytes:
    engine = request.app.template_engine
    return engine.get_template(page.template_name).render(
        **page.create_template_context(request)).encode()


def cacheable(request: Request, params: tuple[str, ...] = ()) -> bool:
    """A visitor's plain GET: no query but `params` (a `?lang=` switch sets a cookie: built)."""
    return set(request.query_params) <= set(params)


def public(request: Request, db: Database, version: PageVersion | None,
           build: Callable[[], Template]) -> Response | Template:
    """The page at `version` from the cache, else built by `build` and kept. `version` was
    read before anything `build` reads (None: let `build` answer, e.g. its 404)."""
    if version is None:
        return build()
    key = f"{version.key}|{lang_of(request)}|{request.url.query}"
    etag = _etag(key, version.version)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Cookie"}
    if _matches(request, etag):
        return Response(content=b"", status_code=304, headers=headers)
    html = readcache.get(db, key, version.version)
    if html is None:
        page = build()
        if page.status_code != 200:
            return page
        html = _rendered(request, page)
        readcache.put(db, key, version.version, html)
    return Response(content=html, media_type=MediaType.HTML, headers=headers)
