"""The API docs are served by the app itself (nothing from a CDN), and the OpenAPI document
declares how to authenticate, so Swagger's Authorize takes a token."""

from __future__ import annotations

import re

from api.openapi_docs import REDOC_JS, SWAGGER_ASSETS

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*['"](?:https?:)?//""")


def test_swagger_ui_and_its_assets_come_from_the_app(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert not EXTERNAL.search(page.text), EXTERNAL.search(page.text)
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert f"{SWAGGER_ASSETS}/{asset}" in page.text
        r = client.get(f"{SWAGGER_ASSETS}/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000
    csp = page.headers["content-security-policy"]
    assert "https:" not in csp and "default-src 'self'" in csp


def test_redoc_comes_from_the_app_with_its_licence(client):
    page = client.get("/docs/redoc")
    assert page.status_code == 200 and REDOC_JS in page.text
    assert not EXTERNAL.search(page.text) and "fonts.googleapis" not in page.text
    assert client.get(REDOC_JS).status_code == 200
    assert "MIT License" in client.get("/static/vendor/redoc/LICENSE").text


def test_security_schemes_are_declared_for_bearer_and_cookie(client):
    doc = client.get("/docs/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["BearerToken"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                      "description": schemes["BearerToken"]["description"]}
    assert schemes["CookieToken"]["type"] == "apiKey"
    assert schemes["CookieToken"]["in"] == "cookie"
    assert schemes["CookieToken"]["name"] == "jifen_token"
    assert {"BearerToken": []} in doc["security"] and {"CookieToken": []} in doc["security"]


# Issue #18.5: each 2xx JSON body of these controllers names a component (an operation that
# must stay untyped for a while is listed here, so the list only shrinks; it is empty).
MINE = {"ledger", "stations", "activities", "recognition"}
STILL_UNTYPED: set[str] = set()


def _untyped(doc: dict, tags: set[str]) -> set[str]:
    """The operations of `tags` with a 2xx JSON body that names no component (a bare object,
    or a page whose items are bare objects)."""
    found = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if not set(op.get("tags", ())) & tags:
                continue
            for status, answer in op.get("responses", {}).items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if not status.startswith("2") or schema is None:
                    continue
                ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
                if ref is None:
                    found.add(f"{method.upper()} {path}")
                    continue
                component = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
                items = component.get("properties", {}).get("items", {}).get("items", {})
                if items.get("type") == "object" and "$ref" not in items:
                    found.add(f"{method.upper()} {path}")
    return found


def test_every_json_answer_of_the_typed_controllers_names_its_type(client):
    doc = client.get("/docs/openapi.json").json()
    untyped = _untyped(doc, MINE)
    assert untyped <= STILL_UNTYPED, sorted(untyped - STILL_UNTYPED)
    assert STILL_UNTYPED <= untyped, f"typed now, strike from the list: {STILL_UNTYPED - untyped}"
