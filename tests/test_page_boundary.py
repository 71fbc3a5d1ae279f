"""The typed service boundary on the pages (issue #18.5): a page handler reads the request, calls
domain functions that take the `Database` and answer types, and renders. The page modules listed
modules (every one in api/pages) open no database session, build no query and import no model or
SQLAlchemy; a page that does fails here with the line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PAGES = Path(__file__).resolve().parent.parent / "api" / "pages"
TYPED_PAGES = sorted(p.name for p in PAGES.glob("*.py"))


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return []


def _is_model_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "sqlalchemy" or (parts[0] == "ledger" and "models" in parts[1:])


def problems(source: str) -> list[str]:
    """Each session opened, query built or model/SQLAlchemy import, with its line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        for name in _imported(node):
            if _is_model_module(name):
                found.append(f"line {node.lineno}: imports {name}")
                break
        if isinstance(node, ast.Call):
            f = node.func
            called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if called in ("sessions", "transaction", "select", "execute", "scalar", "scalars"):
                found.append(f"line {node.lineno}: calls {called}(…)")
    return found


@pytest.mark.parametrize("name", TYPED_PAGES)
def test_page_opens_no_session_and_reads_no_model(name):
    assert problems((PAGES / name).read_text(encoding="utf-8")) == []


def test_the_scan_finds_a_session_a_query_and_a_model():
    source = ("from ledger.redemption.models import LuckyDraw\n"
              "from sqlalchemy import select\n"
              "def page(db):\n"
              "    with db.sessions() as s:\n"
              "        return s.scalars(select(LuckyDraw))\n")
    assert problems(source) == [
        "line 1: imports ledger.redemption.models", "line 2: imports sqlalchemy",
        "line 4: calls sessions(…)", "line 5: calls scalars(…)", "line 5: calls select(…)"]
