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


# Issue #18.5: every JSON answer of the API names its type. The walk finds each operation a
# controller in api/controllers owns (so a new controller is covered without a list), and each
# 2xx JSON body must name a component, a choice of components only, or a page whose items do.
PATH_TYPE = re.compile(r":[a-z]+}")


def _operations_of(app) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route handler a controller of api/controllers owns."""
    ops = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            fn = getattr(handler.fn, "func", handler.fn)  # a sync handler runs wrapped
            if getattr(fn, "__module__", "").startswith("api.controllers.") \
                    and handler.include_in_schema is not False:
                ops |= {(PATH_TYPE.sub("}", route.path), m.lower())
                        for m in handler.http_methods if m not in ("OPTIONS", "HEAD")}
    return ops


def _names_a_component(schema: dict) -> bool:
    """A `$ref` to a component, or a choice (`oneOf`/`anyOf`) of components only."""
    if "$ref" in schema:
        return schema["$ref"].startswith("#/components/schemas/")
    choices = schema.get("oneOf") or schema.get("anyOf")
    return bool(choices) and all(_names_a_component(c) for c in choices)


def _bare_page_items(doc: dict, schema: dict) -> bool:
    """A named page (`items`: an array) whose items are inline objects."""
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    body = doc["components"]["schemas"].get(name) if name else None
    items = (body or {}).get("properties", {}).get("items", {})
    return items.get("type") == "array" and not _names_a_component(items.get("items", {}))


def test_every_json_answer_of_the_api_names_its_schema(app, client):
    doc = client.get("/docs/openapi.json").json()
    ops = _operations_of(app)
    assert len(ops) > 180  # the walk found the controllers' routes (195 on 2026-12-06)
    seen, bare = set(), []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if (path, method) not in ops:
                continue
            seen.add((path, method))
            for status, answer in op["responses"].items():
                json_body = (answer.get("content") or {}).get("application/json")
                if not status.startswith("2") or json_body is None:
                    continue
                schema = json_body["schema"]
                if not _names_a_component(schema) or _bare_page_items(doc, schema):
                    bare.append(f"{method.upper()} {path} {status}: {schema}")
    assert seen == ops, ops - seen
    assert not bare, "\n".join(bare)


def test_the_component_check_tells_a_bare_object_from_a_named_body():
    assert _names_a_component({"$ref": "#/components/schemas/UserView"})
    assert _names_a_component({"oneOf": [{"$ref": "#/components/schemas/A"},
                                         {"$ref": "#/components/schemas/B"}]})
    assert not _names_a_component({"type": "object"})
    assert not _names_a_component({"type": "object", "additionalProperties": {}})
    assert not _names_a_component({"oneOf": [{"$ref": "#/components/schemas/A"},
                                             {"type": "object"}]})
    doc = {"components": {"schemas": {
        "P": {"properties": {"items": {"type": "array", "items": {"type": "object"}}}},
        "Q": {"properties": {"items": {"type": "array",
                                       "items": {"$ref": "#/components/schemas/A"}}}}}}}
    assert _bare_page_items(doc, {"$ref": "#/components/schemas/P"})
    assert not _bare_page_items(doc, {"$ref": "#/components/schemas/Q"})
