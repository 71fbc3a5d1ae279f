"""The Litestar application factory."""

from __future__ import annotations

import anyio
from litestar import Litestar

from api.aliases import OldPaths
from api.controllers.activities import handlers as activities_handlers
from api.controllers.auth import AuthController, UsersController
from api.controllers.courtesy import CourtesyController
from api.controllers.fund import FundController
from api.controllers.health import health, ready
from api.controllers.ledger import LedgerController
from api.controllers.matching import MatchingController
from api.controllers.ops import OpsController
from api.controllers.recognition import RecognitionController
from api.controllers.redemption import RedemptionController
from api.controllers.registry import RegistryController
from api.controllers.sheets import SheetsController
from api.controllers.rules import RulesController
from api.controllers.stations import StationsController
from api.controllers.sessions import SessionsController
from api.controllers.wechat import WechatController
from api.deps import dependencies, document_idempotency
from api.pages import PagesPlugin
from api.observability import ObservabilityMiddleware, configure_logging, metrics
from api.openapi_docs import openapi_config
from api.problems import document_problems, exception_handlers
from ledger.config import Settings, load_settings
from ledger import outbox, readcache
from ledger.db import Database
from ledger.identity import current
from ledger.ratelimit import RateLimiter
from workers.celery_app import attach_dispatcher

MAX_BODY_BYTES = 1024 * 1024  # uploads (imports, photos) set their own larger limits


def route_handlers() -> list:
    return [health, ready, metrics, LedgerController, *activities_handlers, RedemptionController,
            RulesController, RecognitionController, OpsController, AuthController, UsersController,
            RegistryController, StationsController, MatchingController,
            FundController, CourtesyController, WechatController, SessionsController,
            SheetsController]


# What the routes are built with (the pages' CSRF cookie: its secret and whether it is Secure).
# Every other setting is read at request time from `app.state.settings`, so one built app can be
# bound to other settings and another database (`bind`): tests do, as building the ~600 routes
# takes half a second.
BUILT_WITH = ("secret_key", "public_base_url")


def built_for(settings: Settings) -> tuple:
    """The values of BUILT_WITH: apps built for the same ones can be bound to either settings."""
    return tuple(getattr(settings, k) for k in BUILT_WITH)


def after_answer(app):  # noqa: ANN001, ANN201 - an ASGI app in, one out
    """Runs, once a request has been answered, the background work its commits left for then
    (ledger/outbox.py, `after_answer`: the embedded default's rollups catch-up and drain), in a
    worker thread: the caller has its answer before the work starts."""

    async def asgi(scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":  # the lifespan's startup must not wait for its end
            return await app(scope, receive, send)
        with outbox.after_answer() as kept:
            await app(scope, receive, send)
        if kept:
            await anyio.to_thread.run_sync(outbox.run_after_answer, kept)

    return asgi


def create_app(settings: Settings | None = None, db: Database | None = None) -> Litestar:
    settings = settings or load_settings()
    db = db or Database(settings.database_url)
    configure_logging()

    def on_startup(app: Litestar) -> None:
        s, database = app.state.settings, app.state.db
        current.configure(database.engine, s.redis_url)  # users' states, read every request
        readcache.configure(database.engine, s.redis_url)  # public pages under their versions
        attach_dispatcher(database, s)  # follow-up tasks: in process, or to the workers

    app = Litestar(
        route_handlers=route_handlers(),
        plugins=[PagesPlugin(settings)],
        dependencies=dependencies,
        exception_handlers=exception_handlers,
        on_startup=[on_startup],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=openapi_config(),
        debug=False,
    )
    document_problems(app)
    document_idempotency(app)
    # outermost: work left for after the answer; then 404s included in the log and metrics;
    # old paths (api/aliases.py) are rewritten before routing
    app.asgi_handler = after_answer(ObservabilityMiddleware(OldPaths(app.asgi_handler)))
    app.state.built_with = built_for(settings)
    bind(app, settings, db)
    return app


def bind(app: Litestar, settings: Settings, db: Database, *,
         limiter: RateLimiter | None = None) -> None:
    """Serve from these settings and this database, with a fresh state (the rate limiter given,
    else one on the settings' Redis or memory; no SMS gateway chosen yet); takes effect at the
    next startup. The settings the routes were built with (BUILT_WITH) cannot change."""
    if built_for(settings) != app.state.built_with:
        raise ValueError(f"an app is built for its {', '.join(BUILT_WITH)}: create another")
    for key in [k for k in app.state.dict() if k != "built_with"]:
        del app.state[key]
    app.state.settings = settings
    app.state.db = db
    # one limiter, shared by the API and the pages
    app.state.limiter = limiter or RateLimiter(settings.redis_url)
