"""The API docs in a real browser: Swagger UI and ReDoc load everything from the app (no
request leaves the site), and Swagger's Authorize takes a Bearer token that "Try it out" then
sends."""

from __future__ import annotations

import httpx

DESKTOP = {"width": 1280, "height": 900}


def _outside(requests: list[str], base: str) -> list[str]:
    return [u for u in requests if not (u.startswith(base) or u.startswith("data:")
                                        or u.startswith("blob:"))]


def test_swagger_authorize_takes_a_bearer_token_and_try_it_out_sends_it(browser, live_app):
    token = httpx.post(f"{live_app.url}/api/v1/auth/password",
                       json={"login": "admin", "password": "baogai-demo-2026"}).json()["token"]
    ctx = browser.new_context(viewport=DESKTOP, base_url=live_app.url)
    ctx.set_default_timeout(30_000)  # a 1.4 MB script and the whole schema, on a busy CI box
    page = ctx.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto("/docs", timeout=60_000)
        page.locator("button.authorize").first.click()
        page.locator("input[aria-label='auth-bearer-value']").fill(token)
        bearer = page.locator(".auth-container").filter(has_text="BearerToken")
        bearer.locator("button[aria-label='Apply credentials']").click()
        bearer.get_by_text("Authorized").first.wait_for()  # Swagger holds the token now
        bearer.locator("button.btn-done").click()
        page.locator(".opblock-summary-path[data-path='/api/v1/auth/me']").first.click()
        page.locator("button.try-out__btn").first.click()
        page.locator("button.execute").first.click()
        status = page.locator(".live-responses-table tbody .response-col_status").first
        assert status.inner_text().strip().startswith("200")
        body = page.locator(".live-responses-table tbody .microlight").first.inner_text()
        assert '"town_admin"' in body
    finally:
        ctx.close()
    assert not errors, errors
    assert _outside(requested, live_app.url) == []


def test_redoc_renders_from_the_app_alone(browser, live_app):
    ctx = browser.new_context(viewport=DESKTOP, base_url=live_app.url)
    page = ctx.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    try:
        page.goto("/docs/redoc", timeout=60_000)
        page.get_by_role("heading", name="Jifen 积分 API").first.wait_for(timeout=20_000)
    finally:
        ctx.close()
    assert _outside(requested, live_app.url) == []
