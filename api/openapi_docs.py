"""The OpenAPI document and its two readers, served by the app itself (no CDN: it is
unreliable in China): Swagger UI from the swagger-ui-bundle package (Apache-2.0) at /docs, and
ReDoc vendored under api/static/vendor/redoc (MIT, licence beside it) at /docs/redoc.

Security schemes are declared so Swagger's "Authorize" takes a token: a Bearer JWT (from
POST /api/v1/auth/password or /auth/code/verify), or the `jifen_token` cookie the pages use."""

from __future__ import annotations

from pathlib import Path

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

from api.auth import COOKIE

SWAGGER_ASSETS = "/static/swagger-ui"
REDOC_JS = "/static/vendor/redoc/redoc.standalone.js"
FAVICON = "<link rel='icon' href='/static/swagger-ui/favicon-32x32.png'>"
ASSETS_MAX_AGE_S = 24 * 3600

SECURITY_SCHEMES = {
    "BearerToken": SecurityScheme(
        type="http", scheme="bearer", bearer_format="JWT",
        description="The `token` answered by a sign-in (Authorization: Bearer …)"),
    "CookieToken": SecurityScheme(
        type="apiKey", name=COOKIE, security_scheme_in="cookie",
        description="The same token in the HttpOnly cookie the pages set at sign-in"),
}


def openapi_config(version: str = "0.1.0") -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Jifen 积分 API", version=version, path="/docs",
        description="Civility points and volunteer rewards on a double-entry ledger. "
                    "Conventions (paging, removals, errors): docs/api.md.",
        components=Components(security_schemes=SECURITY_SCHEMES),
        security=[{"BearerToken": []}, {"CookieToken": []}],
        render_plugins=[
            SwaggerRenderPlugin(path="/", js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
                                css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
                                standalone_preset_js_url=(
                                    f"{SWAGGER_ASSETS}/swagger-ui-standalone-preset.js"),
                                favicon=FAVICON),
            RedocRenderPlugin(path="/redoc", js_url=REDOC_JS, google_fonts=False,
                              favicon=FAVICON),
        ],
    )


def swagger_assets_router():  # noqa: ANN201
    from litestar.datastructures import CacheControlHeader
    return create_static_files_router(
        path=SWAGGER_ASSETS, directories=[Path(str(swagger_ui_path))], include_in_schema=False,
        cache_control=CacheControlHeader(max_age=ASSETS_MAX_AGE_S, public=True))
