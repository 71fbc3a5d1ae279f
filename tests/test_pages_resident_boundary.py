"""The resident's pages read the domain's typed answers: none of these page modules opens a
session, builds a query or imports a domain model (issue #18.5). `views.py` joins the list once
its three activity read models (`activities_of`, `attendance_counts`, `my_attendance`) have
moved into ledger/activities."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGES = Path(__file__).resolve().parents[1] / "api" / "pages"
RESIDENT_PAGES = ("household.py", "volunteer.py", "claims.py", "desk.py", "notices.py",
                  "town.py", "certs.py", "workflow_views.py")
FORBIDDEN = (re.compile(r"\bdb\.(sessions|transaction)\("), re.compile(r"\bselect\("),
             re.compile(r"^\s*(from|import)\s+ledger\.\w+\.models\b", re.M),
             re.compile(r"^\s*from\s+sqlalchemy", re.M))


@pytest.mark.parametrize("name", RESIDENT_PAGES)
def test_resident_page_reads_only_typed_domain_answers(name):
    text = (PAGES / name).read_text(encoding="utf-8")
    found = [m.group(0).strip() for rx in FORBIDDEN for m in rx.finditer(text)]
    assert not found, f"api/pages/{name}: {found}"


def test_page_stars_module_is_gone():
    assert not (PAGES / "stars.py").exists()  # its answers are ledger/recognition/stars'
