"""Hostile catalog files (issue 16, breaks 2 and 5): a 300-byte alias bomb once took the server
past 5 GB; tags, self-merges, deep nesting and 5,000-digit integers answered 500. Each is now
refused before anything is built, with its own code, through the API and `jifen catalog load`,
and the memory it costs is bounded (measured here)."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc

import pytest
from typer.testing import CliRunner

from ledger.rules import catalog_io

# What each file is, and the code it must be refused with.
BOMB = ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n"
    for i in range(8)))
CORPUS = {
    "alias bomb (9 aliases x 9 levels)": (BOMB, "catalog_alias"),
    "one alias": ("code: x\nname: &n 名\nother: *n\n", "catalog_alias"),
    "self merge": ("a: &a {<<: *a}\n", "catalog_alias"),
    "inline merge": ("code: x\nitems: {<<: {a: 1}}\n", "catalog_merge"),
    "python name tag": ("code: !!python/name:os.system x\n", "catalog_tag"),
    "python object tag": ("code: !!python/object/apply:os.system [ls]\n", "catalog_tag"),
    "local tag": ("code: !mine x\n", "catalog_tag"),
    "10,000 nested brackets": ("[" * 10_000 + "]" * 10_000, "catalog_too_deep"),
    "10,000 nested maps": ("a: " + "{b: " * 10_000 + "1" + "}" * 10_000, "catalog_too_deep"),
    "5,000-digit integer": ("code: x\nscale: " + "9" * 5_000 + "\n", "catalog_number_too_long"),
    "huge float": ("code: x\nscale: 1." + "5" * 5_000 + "\n", "catalog_number_too_long"),
    "900 KB scalar": ("code: x\nname: " + "名" * 300_000 + "\n", "catalog_too_large"),
    "100,000 nodes": ("code: x\nitems: [" + ",".join(["1"] * 100_000) + "]\n",
                      "catalog_too_large"),
    "bad date": ("code: x\neffective_from: 2026-13-45\n", "catalog_invalid"),
    "over the byte limit": ("#" * (catalog_io.MAX_CATALOG_BYTES + 1), "catalog_invalid"),
}
# The API's body limit (1 MiB) answers first for a file over the catalog's byte limit.
API_ANSWER = {"over the byte limit": (413, "body_too_large")}
MAX_PEAK_BYTES = 64 * 1024 * 1024  # what parsing any of these may allocate (Python heap)
MAX_CLI_RSS_KB = 200 * 1024  # a whole `jifen catalog load` process refusing the bomb (73 MB)
MAX_REFUSAL_S = 2.0  # the pure-Python scanner took 6 s on the 100,000-node list: CPU is bounded too


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", list(CORPUS))
def test_hostile_catalog_is_refused_by_the_api_with_its_code_in_bounded_memory(
        client, auth, name):
    text, code = CORPUS[name]
    out = {}

    def post():
        out["r"] = client.post("/api/v1/rules/catalogs", json={"yaml": text},
                               headers=auth("town_admin"))
    started = time.process_time()  # CPU of this process (the app runs in it): a busy machine
    peak = _peak(post)              # does not make a bounded refusal look unbounded
    elapsed = time.process_time() - started
    r = out["r"]
    status, code = API_ANSWER.get(name, (422, code))
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code, r.text[:300]
    assert peak < MAX_PEAK_BYTES, f"{name}: peak {peak / 1e6:.1f} MB"
    assert elapsed < MAX_REFUSAL_S, f"{name}: {elapsed:.1f} s"


@pytest.mark.parametrize("name", list(CORPUS))
def test_hostile_catalog_is_refused_by_the_cli_with_its_code(db, tmp_path, monkeypatch, name):
    from api.cli import app
    text, code = CORPUS[name]
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("JIFEN_DATABASE_URL", db.url)
    monkeypatch.setenv("JIFEN_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["catalog", "load", str(path)])
    assert result.exit_code == 1, result.output[:300]
    assert f"{code}:" in result.output, result.output[:300]


# `jifen catalog load FILE` in a process of its own, which reports its own peak RSS (the test
# process's RUSAGE_CHILDREN would count every child any test ever started).
CLI_WITH_RSS = """
import resource, sys
from api.cli import app
try:
    app(["catalog", "load", sys.argv[1]])
except SystemExit as exc:
    status = exc.code
# VmHWM: this program's own peak (ru_maxrss would keep the forking test process's size)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print("MAXRSS_KB", int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(status)
"""


def test_cli_refusing_the_bomb_stays_small(db, tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB, encoding="utf-8")
    env = {"JIFEN_DATABASE_URL": db.url, "JIFEN_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"}
    done = subprocess.run([sys.executable, "-c", CLI_WITH_RSS, str(path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "catalog_alias:" in done.stderr, done.stderr[-500:]
    rss_kb = int(done.stdout.split("MAXRSS_KB")[1].split()[0])
    assert rss_kb < MAX_CLI_RSS_KB, f"{rss_kb} KB"


def test_shipped_catalogs_pass_the_screen():
    for code in catalog_io.SHIPPED:
        assert catalog_io.load_shipped(code).code == code
