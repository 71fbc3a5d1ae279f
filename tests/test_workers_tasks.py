"""Every scheduled task runs against a real database through the same functions the worker
runs, twice without changing anything the second time; `jifen task` runs one by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ledger.recognition.models import StarChange
from ledger.timeutil import utcnow
from tests.builders.recognition import make_world, serve


@pytest.fixture
def worker_state(db, settings):
    """The worker process's database and settings are this test's."""
    from workers import celery_app, tasks  # noqa: F401 - importing tasks registers them
    saved = dict(celery_app._state)
    celery_app._state.update(db=db, settings=settings)
    yield celery_app
    celery_app._state.clear()
    celery_app._state.update(saved)


def test_every_scheduled_task_runs_and_a_second_round_changes_nothing(db, worker_state):
    from workers.celery_app import BEAT
    from workers.scheduler import run_due
    w = make_world(db)
    serve(db, w, w.people[0], 100 * 60)
    long_ago = utcnow() - timedelta(days=2)
    ran = run_due({name: long_ago for name in BEAT})
    assert sorted(ran) == sorted(BEAT)  # each due job ran without an error
    with db.sessions() as s:
        changes = s.scalar(select(func.count()).select_from(StarChange))
    ran = run_due({name: long_ago for name in BEAT})
    assert sorted(ran) == sorted(BEAT)
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(StarChange)) == changes == 1
    from ledger import ops
    assert ops.audit_status(db).last_run.ok is True


def test_nothing_runs_before_it_is_due(db, worker_state):
    from workers.celery_app import BEAT
    from workers.scheduler import run_due
    now = utcnow()
    assert run_due({name: now for name in BEAT}) == []


def test_jifen_task_command_runs_a_task(db, tmp_path, monkeypatch, worker_state):
    from typer.testing import CliRunner

    from api.cli import app
    make_world(db)
    result = CliRunner().invoke(app, ["task", "jifen.audit.nightly"])
    assert result.exit_code == 0, result.output
    from ledger import ops
    assert ops.audit_status(db).last_run.ok is True
    result = CliRunner().invoke(app, ["task", "jifen.no.such", "--list"])
    assert result.exit_code == 0


def test_plates_and_posters_render_into_the_data_directory(db, settings, worker_state):
    from ledger.recognition import honor
    from tests.builders.recognition import award
    w = make_world(db, people=2)
    award(db, w.villages[0], "person", w.people[0], 5)
    out = worker_state.app.tasks["jifen.render.plates"](w.villages[0])
    assert out["plates"] == 2 and open(out["path"], "rb").read(5) == b"%PDF-"
    with db.transaction() as s:
        d = honor.create_definition(s, {"name": "榜", "scope": "town", "scope_id": w.town,
                                        "period": "year", "metric": "points", "size": 3}, 1)
        hl = honor.request_draft(s, d.id, str(utcnow().year), None, 1)
    with db.transaction() as s:
        honor.start_review(s, hl.id, 1)
        honor.publish(s, hl.id, 1)
    out = worker_state.app.tasks["jifen.render.poster"](hl.id)
    assert sorted(out["rendered"]) == ["pdf", "png"]
    assert len(list((settings.data_dir / "posters").glob(f"honor-{hl.id}-*"))) == 2
