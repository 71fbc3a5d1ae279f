"""The pages that have moved onto the typed boundary stay there (issue #18.5): they open no
database session, write no SQL and import no models; they call domain functions that take
the `Database` and answer types. Add a page here once it has moved."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGES = Path(__file__).resolve().parent.parent / "api" / "pages"
MOVED = ("clerk.py", "shops.py", "matching.py", "stations.py")
FORBIDDEN = {"a session": re.compile(r"\.sessions\(|\.transaction\("),
             "SQL": re.compile(r"\bselect\(|\bsqlalchemy\b"),
             "models": re.compile(r"\bledger\.\w+\.models\b")}


@pytest.mark.parametrize("page", MOVED)
def test_a_moved_page_opens_no_session_and_reads_no_models(page):
    text = (PAGES / page).read_text(encoding="utf-8")
    found = [what for what, pattern in FORBIDDEN.items() if pattern.search(text)]
    assert found == [], f"api/pages/{page} uses {', '.join(found)}"
