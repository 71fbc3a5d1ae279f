"""`jifen serve` believes X-Forwarded-For only from the proxies named in JIFEN_TRUSTED_PROXIES
(none by default): a local process used to dodge per-address limits by sending the header from
127.0.0.1 (issue 16)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner


@pytest.mark.parametrize("env,expect", [
    (None, {"proxy_headers": False}),
    ("10.0.0.5, 10.0.0.6", {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.5,10.0.0.6"}),
])
def test_serve_trusts_forwarded_headers_only_from_configured_proxies(db, tmp_path, monkeypatch,
                                                                     env, expect):
    import uvicorn

    from api.cli import app
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setenv("JIFEN_DATABASE_URL", f"sqlite:///{tmp_path / 'serve.sqlite3'}")
    monkeypatch.setenv("JIFEN_DATA_DIR", str(tmp_path))
    if env is None:
        monkeypatch.delenv("JIFEN_TRUSTED_PROXIES", raising=False)
    else:
        monkeypatch.setenv("JIFEN_TRUSTED_PROXIES", env)
    result = CliRunner().invoke(app, ["serve", "--port", "8999"])
    assert result.exit_code == 0, result.output
    assert {k: seen.get(k) for k in expect} == expect
    if env is None:
        assert "forwarded_allow_ips" not in seen


@pytest.mark.parametrize("trusted", [(), ("10.0.0.5",)])
def test_uvicorn_reads_forwarded_headers_only_when_proxies_are_trusted(tmp_path, trusted):
    import uvicorn

    from ledger.config import Settings

    async def app(scope, receive, send):  # pragma: no cover - never called
        pass

    settings = Settings(database_url="sqlite://", redis_url=None, secret_key="t" * 43,
                        data_dir=tmp_path, trusted_proxies=trusted)
    config = uvicorn.Config(app, **settings.uvicorn_proxy_options())
    config.load()
    wrapped = type(config.loaded_app).__name__ == "ProxyHeadersMiddleware"
    assert wrapped == bool(trusted)
