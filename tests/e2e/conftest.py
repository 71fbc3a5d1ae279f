"""The real app under uvicorn on a free port, a fresh database with the demo data, and headless
Debian Chromium at phone size driven by Playwright.

One server per test session: tests make their own people and activities through the service
functions (against the same database), so they do not depend on one another.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ledger.config import Settings
from ledger.db import Database
from tests.conftest import REDIS_URL, TEST_DB, PgServer, build_schema

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
DOCS_SHOTS = ROOT / "docs" / "screenshots"
PAGE_MAP = ROOT / "docs" / "pages.md"
# `make screenshots` sets this to refresh the documented shots in docs/screenshots; by default
# every screenshot goes to artifacts/ (git-ignored), so a test run leaves the tree clean.
REFRESH_DOCS = os.environ.get("JIFEN_DOCS_SCREENSHOTS") == "1"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
CHROMIUM = os.environ.get("JIFEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
SERVER_START_TIMEOUT_S = 30
SECRET = "e2e-" + "s" * 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveApp:
    url: str
    db: Database
    settings: Settings


@pytest.fixture(scope="session")
def live_app(tmp_path_factory) -> Iterator[LiveApp]:
    data_dir = tmp_path_factory.mktemp("e2e")
    pg = None
    if TEST_DB == "postgres":
        pg = PgServer()  # a fresh scratch database with the schema, dropped at the end
        url = pg.url
        db = Database(url)
    else:
        url = f"sqlite:///{data_dir / 'jifen.sqlite3'}"
        db = Database(url)
        build_schema(db)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(database_url=url, redis_url=REDIS_URL, secret_key=SECRET,
                        data_dir=data_dir, public_base_url=base)
    from ledger.demo import load_demo
    from ledger.rules import store
    load_demo(db, settings)
    store.load_shipped(db)  # Baogai's catalog: half points, so the pages show steps / 2
    env = {**os.environ, "JIFEN_DATABASE_URL": url, "JIFEN_DATA_DIR": str(data_dir),
           "JIFEN_SECRET_KEY": SECRET, "JIFEN_PUBLIC_URL": base}
    if REDIS_URL:
        # This test process's own Redis database starts empty, as its scratch database does:
        # the server counts sign-ins per address there (30 a quarter hour from 127.0.0.1) and
        # caches users by id, and a run shortly before this one left both behind.
        import redis
        redis.Redis.from_url(REDIS_URL).flushdb()
        # Redis for rate limits and boards; the follow-up tasks stay in the server process
        # (no worker runs beside it here: tests/test_workers_real.py covers the real worker).
        env["JIFEN_REDIS_URL"] = REDIS_URL
        env["JIFEN_TASKS"] = "inline"
    log = open(data_dir / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.asgi:app", "--host", "127.0.0.1", "--port",
         str(port), "--log-level", "warning"], cwd=ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("the app did not start:\n" + (data_dir / "server.log").read_text())
            time.sleep(0.2)
        yield LiveApp(url=base, db=db, settings=settings)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        db.dispose()
        if pg is not None:
            pg.drop()


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver per session (a second sync driver in one thread is refused)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def page(browser, live_app):
    """A fresh phone-sized browser context (no cookies) on the live app."""
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=1, locale="zh-CN",
                              base_url=live_app.url, is_mobile=True, has_touch=True)
    ctx.set_default_timeout(10_000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def documented(name: str) -> bool:
    """A screenshot the page map (docs/pages.md) shows."""
    return f"screenshots/{name}.png" in PAGE_MAP.read_text(encoding="utf-8")


def shot(page, name: str) -> Path:
    """Save a phone-width screenshot of the page under artifacts/ (git-ignored); with
    `make screenshots` (JIFEN_DOCS_SCREENSHOTS=1) the ones docs/pages.md shows are refreshed in
    docs/screenshots too."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if REFRESH_DOCS and documented(name):
        (DOCS_SHOTS / f"{name}.png").write_bytes(path.read_bytes())
    return path


def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """Run axe-core on the page; the violations of the given impacts."""
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in impacts]


def sign_in_as(page, live_app: LiveApp, principal) -> None:
    """Put a signed token for `principal` in the browser's cookie, as the sign-in page does."""
    from api.auth import COOKIE
    from tests.tokens import token_for
    token = token_for(live_app.db, live_app.settings, principal)
    page.context.add_cookies([{"name": COOKIE, "value": token,
                               "url": live_app.url, "httpOnly": True, "sameSite": "Lax"}])
