"""The OpenAPI document and its two readers, served by the app itself (no CDN: it is
unreliable in China): Swagger UI 5 (the first to read OpenAPI 3.1, which Litestar writes) at
/docs and ReDoc at /docs/redoc, both vendored under api/static/vendor/ from their npm
packages with their licences (Apache-2.0, MIT) and served with the other static files.

Security schemes are declared so Swagger's "Authorize" takes a token: a Bearer JWT (from
POST /api/v1/auth/password or /auth/code/verify), or the `jifen_token` cookie the pages use."""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from api.auth import COOKIE

SWAGGER_ASSETS = "/static/vendor/swagger-ui"
REDOC_JS = "/static/vendor/redoc/redoc.standalone.js"
FAVICON = f"<link rel='icon' href='{SWAGGER_ASSETS}/favicon-32x32.png'>"

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
