"""Catalog files: the shipped catalogs, round trips, line-level refusals, versions and approval."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from ledger.errors import InvalidInput
from ledger.rules import catalog_io, plain, store
from ledger.rules import service as svc
from ledger.rules.models import CatalogVersion, RuleCatalog, RuleItem
from tests.builders.rules import T0, family, load, make_world, staff


@pytest.mark.parametrize("code", catalog_io.SHIPPED)
def test_each_shipped_catalog_round_trips_through_export_and_load(code):
    c = catalog_io.load_shipped(code)
    text = catalog_io.dump_text(c)
    again = catalog_io.load_text(text)
    assert plain.to_dict(again) == plain.to_dict(c)
    assert catalog_io.dump_text(again) == text
    assert again.demo and "DEMO" in text.splitlines()[0]


def test_baogai_demo_has_four_categories_and_about_fifty_items_marked_demo():
    raw = catalog_io.shipped_path("baogai").read_text(encoding="utf-8")
    assert "演示" in raw.splitlines()[0] and "DEMO" in raw.splitlines()[0]
    c = catalog_io.load_shipped("baogai")
    assert len(c.categories) == 4 and 45 <= len(c.items) <= 55
    assert c.scale == 2 and c.point_value_fen == 100


def test_shipped_catalogs_cover_the_other_shapes():
    hh = catalog_io.load_shipped("household_1000")
    assert hh.opening_grant.points_steps == 1000 and hh.expiry.year_end
    assert hh.subjects == ("household",) and hh.villages
    vol = catalog_io.load_shipped("volunteer_hours")
    assert ("minutes", "year", 12000) in vol.caps
    assert all(vol.items[c].per != "occurrence" for c in ("V101", "V102", "V103"))


def _problems(text: str) -> list[dict]:
    with pytest.raises(InvalidInput) as e:
        catalog_io.load_text(text)
    assert e.value.code == "catalog_invalid"
    return e.value.extra["errors"]


BAD = """catalog:
  code: bad
  name: 坏文件
  effective_from: 2024-01-01
  colour: red
categories:
  - code: A
    name: 甲
    items:
      - code: A1
        name: 半分
        points: 0.5
      - code: A1
        name: 重复
        points: 2
      - code: A3
        name: 周期
        points: 2
        once_per: fortnight
"""


def test_bad_file_lists_every_problem_with_its_line():
    got = {(p["line"], p["path"]) for p in _problems(BAD)}
    assert (5, "catalog.colour") in got
    assert (12, "categories[0].items[0].points") in got  # half point at scale 1
    assert (13, "categories[0].items[1].code") in got  # duplicate item code
    assert (19, "categories[0].items[2].once_per") in got


def test_duplicate_key_and_syntax_error_give_lines():
    dup = "catalog:\n  code: a\n  code: b\n"
    assert _problems(dup)[0]["line"] == 3
    broken = "catalog:\n  code: [a\n  name: x\n"
    p = _problems(broken)[0]
    assert p["line"] is not None and "YAML" in p["message"]
    control = "catalog:\n  code: a\n  name: \x7f\n"
    assert _problems(control)[0]["line"] == 3


def test_bad_file_is_refused_and_changes_nothing(db):
    with pytest.raises(InvalidInput):
        store.import_catalog(db, BAD, actor_id=1)
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(RuleCatalog)) == 0


def test_catalog_needs_approval_on_record(db):
    text = catalog_io.dump_text(catalog_io.load_shipped("baogai"))
    unapproved = yaml.safe_load(text)
    del unapproved["catalog"]["approval"]
    body = yaml.safe_dump(unapproved, allow_unicode=True)
    with pytest.raises(InvalidInput) as e:
        store.import_catalog(db, body, actor_id=1)
    assert e.value.code == "approval_required"
    r = store.import_catalog(db, body, actor_id=1, approved_by="村民代表会议",
                             decision="会议记录 2026-7")
    with db.sessions() as s:
        row = store.version_row(s, "baogai")
        assert (row.approved_by, row.decision, row.loaded_by) == ("村民代表会议",
                                                                  "会议记录 2026-7", 1)
    assert r.version == 1


def _edited(code: str, item: str, **changes) -> str:
    data = plain.to_dict(catalog_io.load_shipped(code))
    for cat in data["categories"]:
        for it in cat["items"]:
            if it["code"] == item:
                it.update(changes)
    data["catalog"]["approval"]["decision"] = "演示〔2026〕2号"
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_editing_an_item_makes_a_new_version_and_old_awards_keep_theirs(db, settings):
    w = make_world(db)
    load(db, "baogai")
    _, p = family(db, w)
    admin = staff(50, "village_admin", village_id=w.villages["塘后村"])
    first = svc.record_award(db, settings, item_code="D08", holder=("person", p),
                             recorder=admin, context={"occurred_at": T0.isoformat()},
                             key="a1", now=T0)
    assert store.load_shipped(db, "baogai").created is False  # same file: no new version
    r = store.import_catalog(db, _edited("baogai", "D08", points=4), actor_id=1)
    assert r.version == 2 and r.items_changed == ["D08"] and not r.items_new
    second = svc.record_award(db, settings, item_code="D08", holder=("person", p),
                              recorder=admin, context={"occurred_at": T0.isoformat()},
                              key="a2", now=T0)
    assert (first.item_version, first.points) == (1, 3)
    assert (second.catalog_version, second.item_version, second.points) == (2, 2, 4)
    with db.sessions() as s:
        assert [h["version"] for h in store.item_history(s, "baogai", "D08")] == [1, 2]
        unchanged = s.scalars(select(RuleItem.version).where(RuleItem.code == "D07")).all()
        assert unchanged == [1]


def test_a_version_takes_effect_from_its_date(db, settings):
    w = make_world(db)
    load(db, "baogai")
    _, p = family(db, w)
    data = yaml.safe_load(_edited("baogai", "D08", points=4))
    data["catalog"]["effective_from"] = datetime(2026, 3, 11).date()
    store.import_catalog(db, yaml.safe_dump(data, allow_unicode=True), actor_id=1)
    admin = staff(50, "village_admin", village_id=w.villages["塘后村"])
    before = svc.record_award(db, settings, item_code="D08", holder=("person", p),
                              recorder=admin, context={"occurred_at": T0.isoformat()},
                              key="b1", now=T0)
    later = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)
    after = svc.record_award(db, settings, item_code="D08", holder=("person", p),
                             recorder=admin, context={"occurred_at": later.isoformat()},
                             key="b2", now=later)
    assert (before.catalog_version, before.points) == (1, 3)
    assert (after.catalog_version, after.points) == (2, 4)


def test_cli_loads_and_exports_a_catalog(db, settings, tmp_path, monkeypatch):
    from api.cli import app
    monkeypatch.setenv("JIFEN_DATABASE_URL", db.url)
    monkeypatch.setenv("JIFEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JIFEN_SECRET_KEY", "s" * 40)
    runner = CliRunner()
    path = catalog_io.shipped_path("volunteer_hours")
    r = runner.invoke(app, ["catalog", "load", str(path)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "export.yaml"
    r = runner.invoke(app, ["catalog", "export", "volunteer_hours", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert plain.to_dict(catalog_io.load_text(out.read_text(encoding="utf-8"))) == \
        plain.to_dict(catalog_io.load_shipped("volunteer_hours"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    r = runner.invoke(app, ["catalog", "load", str(bad)])
    assert r.exit_code == 1 and f"{bad}:5: catalog.colour" in r.output
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(CatalogVersion)) == 1


def test_the_default_catalog_is_baogais_demo_loaded_once(db):
    assert store.ensure_default_catalog(db).catalog == "baogai"
    assert store.ensure_default_catalog(db) is None
    with db.sessions() as s:
        assert store.catalog(s, "baogai").demo


def test_catalog_versions_are_read_once_a_transaction_and_a_new_version_is_seen_after(db):
    """Pages ask for the scale and the catalogs covering a holder many times a request (the
    expiry FIFO once per posting): the version rows are read once per transaction, and a
    version published meanwhile is seen from the session's next transaction."""
    from sqlalchemy import event
    load(db, "baogai")
    sent: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    now = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)
    with db.sessions() as s:
        assert store.catalog(s, "baogai").version == 1  # reads the rows (and a spec, if new)
        first = len(sent)
        for _ in range(5):
            assert store.scale_in_force(s) == 2
            assert [c.code for c in store.catalogs_for(s, "塘后村", now)] == ["baogai"]
            assert store.catalog(s, "baogai", on=now.date()).version == 1
        assert len(sent) == first  # nothing read again in the same transaction
        s.commit()
        store.import_catalog(db, _edited("baogai", "D08", points=4), actor_id=1)
        assert store.catalog(s, "baogai").version == 2
        assert store.catalog(s, "baogai").items["D08"].points_steps == 8  # 4 points, scale 2
        assert len(sent) > first
