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


# The controllers whose handlers return Structs (issue #18.5); a controller joins this list when
# every JSON answer of its handlers is typed.
TYPED_CONTROLLERS = ("api.controllers.registry", "api.controllers.rules", "api.controllers.auth",
                     "api.controllers.sessions", "api.controllers.sheets",
                     "api.controllers.wechat")
PATH_TYPE = re.compile(r":[a-z]+}")


def _operations_of(app, modules) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route handler a controller of these modules owns."""
    ops = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            fn = getattr(handler.fn, "func", handler.fn)  # a sync handler runs wrapped
            if getattr(fn, "__module__", None) in modules:
                ops |= {(PATH_TYPE.sub("}", route.path), m.lower())
                        for m in handler.http_methods if m != "OPTIONS"}
    return ops


def _names_a_component(schema: dict) -> bool:
    """A `$ref` to a component, or a choice (`oneOf`/`anyOf`) of components only."""
    if "$ref" in schema:
        return schema["$ref"].startswith("#/components/schemas/")
    choices = schema.get("oneOf") or schema.get("anyOf")
    return bool(choices) and all(_names_a_component(c) for c in choices)


def test_every_json_answer_of_the_typed_controllers_names_its_schema(app, client):
    doc = client.get("/docs/openapi.json").json()
    ops = _operations_of(app, TYPED_CONTROLLERS)
    assert len(ops) > 60  # the walk found the controllers' routes
    seen, bare = set(), []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if (path, method) not in ops:
                continue
            seen.add((path, method))
            for status, answer in op["responses"].items():
                json_body = (answer.get("content") or {}).get("application/json")
                if status.startswith("2") and json_body is not None \
                        and not _names_a_component(json_body["schema"]):
                    bare.append(f"{method.upper()} {path} {status}: {json_body['schema']}")
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
