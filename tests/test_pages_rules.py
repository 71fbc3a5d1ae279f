"""The rule catalog in the admin console: view, edit an item into a new version (past awards
keep theirs), export YAML, import YAML with every error listed by line."""

from __future__ import annotations

import re

from ledger.rules import catalog_io, store
from tests.builders.pages import form_fields, sign_in


def test_admin_sees_catalog_and_edits_item_into_new_version(client, db, settings):
    store.load_shipped(db)
    sign_in(client, settings, "town_admin")
    page = client.get("/admin/rules/baogai")
    assert page.status_code == 200 and "理论政策宣讲" in page.text and "第 1 版" in page.text
    path = "/admin/rules/baogai/items/A07"
    form = client.get(path)
    assert 'value="理论政策宣讲"' in form.text and 'value="3"' in form.text
    r = client.post(path, data={**form_fields(form.text, path), "name": "理论政策宣讲（进村入户）",
                                "points": "4", "description": "", "approved_by": "宝盖镇",
                                "decision": "宝文〔2026〕5号"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/admin/rules/baogai")
    assert "第 2 版" in page.text and "理论政策宣讲（进村入户）" in page.text
    with db.sessions() as s:
        c = store.catalog(s, "baogai")
        assert c.version == 2 and c.points(c.items["A07"].points_steps) == 4
        assert [h["version"] for h in store.item_history(s, "baogai", "A07")] == [1, 2]
        assert store.catalog(s, "baogai", version=1).items["A07"].name == "理论政策宣讲"


def test_item_edit_errors_are_next_to_the_field(client, db, settings):
    store.load_shipped(db)
    sign_in(client, settings, "town_admin")
    path = "/admin/rules/baogai/items/A07"
    form = client.get(path)
    r = client.post(path, data={**form_fields(form.text, path), "name": "", "points": "abc",
                                "approved_by": "宝盖镇", "decision": ""})
    assert r.status_code == 422
    assert 'id="e-name">必填' in r.text and 'id="e-points">请填数字' in r.text
    assert 'id="e-decision">必填' in r.text


def test_export_is_the_catalog_yaml(client, db, settings):
    store.load_shipped(db)
    sign_in(client, settings, "town_admin")
    r = client.get("/admin/rules/baogai/export.yaml")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert catalog_io.load_text(r.text).items["A07"].name == "理论政策宣讲"


def test_bad_yaml_import_lists_errors_by_line_and_changes_nothing(client, db, settings):
    store.load_shipped(db)
    sign_in(client, settings, "town_admin")
    text = catalog_io.shipped_path("baogai").read_text(encoding="utf-8")
    bad = text.replace("points: 3, subjects: [person]}", "points: lots, subjects: [person]}", 1)
    page = client.get("/admin/rules")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/admin/rules/import", files={"yaml": (None, bad)},
                    data={"_csrf_token": token})
    assert r.status_code == 422 and "规则文件有错误，未做任何更改" in r.text
    assert re.search(r"第 \d+ 行", r.text) and 'data-testid="import-problems"' in r.text
    with db.sessions() as s:
        assert store.catalog(s, "baogai").version == 1


def test_good_yaml_file_import_makes_a_version(client, db, settings):
    sign_in(client, settings, "town_admin")
    text = catalog_io.shipped_path("household_1000").read_text(encoding="utf-8")
    page = client.get("/admin/rules")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/admin/rules/import", data={"_csrf_token": token},
                    files={"file": ("h.yaml", text.encode(), "application/yaml")})
    assert r.status_code == 200 and 'data-testid="import-result"' in r.text and "第 1 版" in r.text
