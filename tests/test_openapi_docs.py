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


# The modules whose answers are typed (issue #18.5): each JSON answer names a component.
TYPED_MODULES = ("/api/v1/redemption/", "/api/v1/matching/", "/api/v1/courtesy/",
                 "/api/v1/fund/", "/api/v1/ops/", "/health", "/ready")


def _json_answers(doc: dict, prefixes: tuple[str, ...]):
    """(operation, schema) for each 2xx JSON body of the operations under `prefixes`."""
    for path, item in doc["paths"].items():
        if not path.startswith(prefixes):
            continue
        for method, op in item.items():
            for status, answer in op.get("responses", {}).items():
                body = answer.get("content", {}).get("application/json")
                if status.startswith("2") and body is not None:
                    yield f"{method.upper()} {path} {status}", body.get("schema", {})


def _component(doc: dict, schema: dict) -> dict | None:
    """The component a schema names, or None for an inline (bare) one."""
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    return doc["components"]["schemas"].get(name) if name else None


def test_every_json_answer_of_the_typed_modules_names_its_schema(client):
    doc = client.get("/docs/openapi.json").json()
    answers = dict(_json_answers(doc, TYPED_MODULES))
    seen = {p for p in TYPED_MODULES if any(f" {p}" in op for op in answers)}
    assert seen == set(TYPED_MODULES)  # the walk found every module's operations
    bare = {}
    for op, schema in answers.items():
        body = _component(doc, schema)
        if body is None:
            bare[op] = schema
            continue
        items = body.get("properties", {}).get("items", {})
        if items.get("type") == "array" and _component(doc, items.get("items", {})) is None:
            bare[op] = {"items": items}  # a page whose items are bare objects
    assert bare == {}, "answers documented as a bare object, not a named component"
