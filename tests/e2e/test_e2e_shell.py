"""The page shell in a real browser: Chinese by default, the English switch, the scanner's
manual entry, and no serious accessibility violations."""

from __future__ import annotations

from tests.e2e.conftest import axe_violations, shot


def test_home_is_chinese_and_switches_to_english(page):
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("heading", level=1).inner_text() == "欢迎使用宝盖积分"
    shot(page, "home")
    page.get_by_role("link", name="切换语言: English").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome to Baogai Points"
    page.goto("/scan")  # the choice is remembered in the lang cookie
    assert page.get_by_role("heading", level=1).inner_text() == "Scan"


def test_scanner_manual_entry_refuses_foreign_text_next_to_the_field(page):
    page.goto("/scan")
    page.get_by_label("或输入二维码上的链接/编号").fill("not a code!")
    page.get_by_role("button", name="打开", exact=True).click()
    assert page.locator("#e-target").inner_text() == "二维码无效"
    assert page.get_by_label("或输入二维码上的链接/编号").get_attribute("aria-invalid") == "true"


def test_public_pages_have_no_serious_accessibility_violations(page):
    for path in ("/", "/scan", "/signin", "/rank", "/?lang=en"):
        page.goto(path)
        assert axe_violations(page) == [], path
