"""Server-rendered H5 pages for villagers and staff: one plugin adds the templates, the static
files and the page routes (CSRF-protected form posts) to the app; the JSON API is untouched."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Router
from litestar.config.app import AppConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.plugins import InitPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.pages.common import page_exception_handlers
from ledger.config import Settings

API_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = API_DIR / "templates"
STATIC = API_DIR / "static"
CSRF_COOKIE = "jifen_csrf"
STATIC_MAX_AGE_S = 3600


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                      trim_blocks=True, lstrip_blocks=True)
    from api.pages import filters
    filters.install(env)
    return env


def compile_templates(app) -> None:  # noqa: ANN001 - a Litestar app built with the pages
    """Compile every page template now: called in a served process before it takes requests
    (api/asgi.py). Left to first use, each template compiles while the requests behind it wait:
    the first door plate a fresh process served took 107 ms, 89 of them compiling
    household.html and what it extends (2026-12-07); all 69 templates compile in about 0.4 s."""
    env = app.template_engine.engine
    for name in env.list_templates(filter_func=lambda name: name.endswith(".html")):
        env.get_template(name)


def page_handlers() -> list:
    """Every page controller, each module adding its own as its domain lands."""
    from api.pages import registry
    return registry.handlers()


class PagesPlugin(InitPlugin):
    """Adds the pages to an app: `Litestar(..., plugins=[PagesPlugin(settings)])`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def csrf_config(self) -> CSRFConfig:
        return CSRFConfig(secret=self.settings.secret_key, cookie_name=CSRF_COOKIE,
                          cookie_secure=self.settings.public_base_url.startswith("https://"),
                          cookie_httponly=True, cookie_samesite="lax",
                          header_name="x-csrf-token")

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        if app_config.template_config is None:
            app_config.template_config = TemplateConfig(
                engine=JinjaTemplateEngine.from_environment(_environment()))
        pages = Router(path="/", route_handlers=page_handlers(), include_in_schema=False,
                       exception_handlers=page_exception_handlers,
                       middleware=[DefineMiddleware(CSRFMiddleware, config=self.csrf_config())])
        static = create_static_files_router(
            path="/static", directories=[STATIC], include_in_schema=False,
            cache_control=CacheControlHeader(max_age=STATIC_MAX_AGE_S, public=True))
        app_config.route_handlers.extend([pages, static])
        api_http_error = app_config.exception_handlers.get(HTTPException)
        if api_http_error is not None:  # unknown page URLs: a Chinese page, not JSON
            app_config.exception_handlers[HTTPException] = _pages_or_api(api_http_error)
        return app_config


API_PREFIXES = ("/api/", "/docs", "/health", "/ready", "/metrics", "/static/")


def _pages_or_api(api_handler):
    """An HTTP error outside any route (404, 405): the error page where a person browses,
    the API's problem document under the API's own paths."""
    from api.pages.common import page_http_error

    def handler(request, exc):
        if request.url.path.startswith(API_PREFIXES):
            return api_handler(request, exc)
        return page_http_error(request, exc)
    return handler
