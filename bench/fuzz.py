"""Fuzz the API with Schemathesis: every operation of the app's own OpenAPI schema, as every role.

Each request is checked: no 5xx, every error is an RFC 9457 problem detail
(application/problem+json with a `code`), and the response conforms to the schema (status code
documented, body matches). The CI test (tests/test_fuzz_schemathesis.py) runs a few examples per
operation and role; `make fuzz` runs this module for as long as you give it:

    .venv/bin/python -m bench.fuzz --seconds 600 --examples 50
    .venv/bin/python -m bench.fuzz --database-url postgresql+psycopg://postgres@127.0.0.1/jifen_fuzz
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from api.auth import Principal
from ledger.config import Settings
from ledger.db import Database

SCHEMA_PATH = "/docs/openapi.json"
PROBLEM = "application/problem+json"
SECRET = "fuzz-secret-" + "k" * 40
MAX_FAILURES_KEPT = 200
HOSTILE_DEPTH = 5_000  # JSON nesting sent to every operation with a body
HOSTILE_BYTES = 1024 * 1024 + 64  # just past the app's body limit
CLERK_USER_ID = 9005
VOLUNTEER_USER_ID = 9006


# ---- the world the fuzzer walks in -----------------------------------------------------------

def seed_world(db: Database, settings: Settings, people: int = 3) -> dict:
    """Town, villages, households, people, the Baogai rule catalog, budgets, an open activity,
    a shop with a clerk and a reward, points, and one order with its voucher: every id a path
    parameter may name exists, so the fuzzer reaches past 'not found'."""
    from ledger.registry.service import (
        HouseholdDraft,
        PersonDraft,
        add_household,
        add_person,
        add_town,
        add_village,
    )
    from ledger.activities import planning
    from ledger.activities.planning import ActivityDraft, Actor
    from ledger.journal import service as journal
    from ledger.redemption import catalog
    from ledger.redemption import service as redemption
    from ledger.rules import catalog_io, store
    from ledger.timeutil import utcnow

    with db.transaction() as s:
        town = add_town(s, "宝盖镇", city="石狮市", prefecture="泉州市")
        villages = [add_village(s, town.id, n) for n in ("塘边村", "坑东村")]
        hh = add_household(s, HouseholdDraft(villages[0].id, "陈大明", address="塘边村 1 号"))
        people = [add_person(s, PersonDraft(villages[0].id, f"林志愿{i}", hh.id if i == 0 else None,
                                            f"1380000{i:04d}", None, True)) for i in range(people)]
        w = {"town_id": town.id, "village_ids": [v.id for v in villages], "household_id": hh.id,
             "plate_code": hh.plate_code, "person_ids": [p.id for p in people]}
    store.import_catalog(db, catalog_io.shipped_path("baogai").read_text(encoding="utf-8"),
                         actor_id=1, town_id=w["town_id"])
    entries = []
    for v in w["village_ids"]:
        entries.append(journal.allocate(db, shards=settings.budget_shards, town_id=w["town_id"],
                                        village_id=v, amount=100_000, actor_id=1,
                                        key=None))
    for pid in w["person_ids"]:
        journal.adjust(db, shards=settings.budget_shards, village_id=w["village_ids"][0],
                       holder_type="person", holder_id=pid, amount=500, memo="种子积分",
                       actor_id=1, key=None)
    organizer = Actor(9003, roles=(("organizer", w["village_ids"][0]),))
    now = utcnow()
    act = planning.create_activity(db, organizer, ActivityDraft(
        village_id=w["village_ids"][0], title="家园清洁志愿活动", rule_item_code="A07",
        starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=6),
        place="塘边村文化广场"), now=now - timedelta(days=1))
    planning.set_status(db, organizer, act.id, "open", now=now - timedelta(days=1))
    admin = Actor(1, roles=(("town_admin", None),))
    shop = catalog.create_provider(db, admin, town_id=w["town_id"], name="塘边村积分超市",
                                   kind="shop", village_id=w["village_ids"][0], key=None)
    catalog.assign_clerk(db, admin, provider_id=shop.id, user_id=CLERK_USER_ID, key=None)
    reward = catalog.create_reward(db, admin, provider_id=shop.id, stock=1000, key=None,
                                   fields={"name": "电影票", "kind": "film_ticket",
                                           "cost_points": 10})
    order = redemption.redeem(db, reward_id=reward.id, holder_type="person",
                              holder_id=w["person_ids"][0], quantity=1, actor_id=1, key=None)
    w.update(activity_id=act.id, provider_id=shop.id, reward_id=reward.id,
             order_id=order.order_id, hold_id=order.hold_id, voucher_code=order.voucher.code)
    return w


def principals(w: dict) -> dict[str, Principal | None]:
    v1 = w["village_ids"][0]
    return {
        "anonymous": None,
        "town_admin": Principal(9001, "镇管理员", (("town_admin", None),)),
        "village_admin": Principal(9002, "村管理员", (("village_admin", v1),)),
        "organizer": Principal(9003, "组织者", (("organizer", v1),)),
        "inspector": Principal(9004, "评议员", (("inspector", v1),)),
        "clerk": Principal(CLERK_USER_ID, "店员", (("clerk", None),)),
        "volunteer": Principal(VOLUNTEER_USER_ID, "志愿者", (("volunteer", None),),
                               person_id=w["person_ids"][0]),
    }


def known_values(w: dict) -> dict[str, list]:
    """Values a path parameter of this name can take that name a real row."""
    return {
        "village_id": w["village_ids"], "person_id": w["person_ids"],
        "household_id": [w["household_id"]], "plate_code": [w["plate_code"]],
        "activity_id": [w["activity_id"]], "provider_id": [w["provider_id"]],
        "reward_id": [w["reward_id"]], "order_id": [w["order_id"]],
        "code": [w["voucher_code"], "baogai"], "user_id": [CLERK_USER_ID],
        "account_id": [1, 2, 3], "entry_id": [1, 2], "hold_id": [w["hold_id"]],
        "holder_type": ["person", "household"], "holder_id": w["person_ids"],
        "scope_kind": ["village", "town"], "scope_id": w["village_ids"],
        "kind": ["volunteer", "household"], "year": [2026], "item": ["A01"],
    }


def scratch_db(database_url: str | None, data_dir: Path) -> Database:
    """A fresh database with the whole schema (SQLite in data_dir unless a URL is given)."""
    from tests.conftest import build_schema
    db = Database(database_url or f"sqlite:///{data_dir / 'fuzz.sqlite3'}")
    build_schema(db)
    return db


def build_settings(db: Database, data_dir: Path) -> Settings:
    return Settings(database_url=db.url, redis_url=None, secret_key=SECRET, data_dir=data_dir,
                    public_base_url="http://testserver", budget_shards=4)


def build(db: Database, data_dir: Path):
    """An app on `db` (schema built, empty) with the world seeded: (app, settings, world)."""
    from api.app import create_app
    settings = build_settings(db, data_dir)
    world = seed_world(db, settings)
    return create_app(settings, db), settings, world


# ---- one check per response ----------------------------------------------------------------

def problem_failure(status: int, headers, body: bytes) -> str | None:
    """Why this response breaks our error contract, or None."""
    if status >= 500:
        return f"server error {status}"
    if status < 400:
        return None
    ctype = headers.get("content-type", "")
    if isinstance(ctype, list):  # Schemathesis keeps every value of a header
        ctype = ctype[0] if ctype else ""
    if not ctype.startswith(PROBLEM):
        return f"{status} answered as {ctype!r}, not {PROBLEM}"
    try:
        doc = json.loads(body)
    except ValueError:
        return f"{status} problem body is not JSON"
    if not isinstance(doc, dict) or not isinstance(doc.get("code"), str) or not doc["code"]:
        return f"{status} problem without a code: {str(doc)[:200]}"
    if doc.get("status") != status:
        return f"problem status {doc.get('status')} differs from HTTP status {status}"
    return None


@dataclass
class Report:
    requests: int = 0
    by_status: collections.Counter = field(default_factory=collections.Counter)
    server_errors: int = 0
    failures: list[dict] = field(default_factory=list)
    operations: int = 0
    roles: int = 0
    seconds: float = 0.0
    slowest: collections.Counter = field(default_factory=collections.Counter)
    kinds: collections.Counter = field(default_factory=collections.Counter)
    with_key: int = 0  # requests carrying the Idempotency-Key the schema declares
    hostile: int = 0  # nested and oversized bodies sent

    def add_failure(self, op: str, role: str, why: str, case) -> None:
        short = " ".join(why.split())
        short = short.split(" [")[0] if short.startswith("FailureGroup") else short
        self.kinds[(op, short.replace("FailureGroup: Schemathesis found 1 distinct failure - ",
                                      "")[:100])] += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append({"operation": op, "role": role, "why": why[:600],
                                  "curl": case.as_curl_command()[:600]})

    def summary(self) -> dict:
        return {"operations": self.operations, "roles": self.roles, "requests": self.requests,
                "with_key": self.with_key, "hostile": self.hostile,
                "server_errors": self.server_errors, "failures": len(self.failures),
                "by_status": dict(sorted(self.by_status.items())),
                "seconds": round(self.seconds, 1)}


class Fuzzer:
    def __init__(self, app, db: Database, settings: Settings, world: dict) -> None:
        from schemathesis.checks import not_a_server_error
        from schemathesis.specs.openapi.checks import (
            content_type_conformance,
            response_schema_conformance,
            status_code_conformance,
        )
        self.app = app
        self.schema = schemathesis.openapi.from_asgi(SCHEMA_PATH, app)
        self.checks = [not_a_server_error, status_code_conformance, content_type_conformance,
                       response_schema_conformance]
        from tests.tokens import token_for
        self.tokens = {name: (token_for(db, settings, p) if p else None)
                       for name, p in principals(world).items()}
        self.known = known_values(world)
        self.report = Report(roles=len(self.tokens))

    def operations(self) -> list:
        return [r.ok() for r in self.schema.get_all_operations()]

    def _strategy(self, op):
        modes = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                modes.append(op.as_strategy(generation_mode=mode))
            except Exception:  # noqa: BLE001 - some operations have nothing to negate
                continue
        return st.one_of(*modes)

    def _pin(self, case, draw) -> None:
        """Half the time, point each path parameter at a real row."""
        for name in list(case.path_parameters or {}):
            if name in self.known and draw(st.booleans()):
                case.path_parameters[name] = draw(st.sampled_from(self.known[name]))

    def _send(self, op, role: str, case) -> None:
        headers = {}
        key = (case.headers or {}).get("Idempotency-Key")
        if isinstance(key, str) and 1 <= len(key) <= 96 and key.isascii() and key.isprintable():
            # the schema declares the key, so the case carries one; made unique, so that
            # Hypothesis' favourite values ("0") do not turn every write into a replay
            headers["Idempotency-Key"] = f"{key.strip() or 'k'}-{uuid.uuid4().hex}"
        if self.tokens[role]:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        response = case.call(headers=headers)
        r = self.report
        r.requests += 1
        r.with_key += "Idempotency-Key" in (case.headers or {})
        r.by_status[response.status_code] += 1
        if response.status_code >= 500:
            r.server_errors += 1
        why = problem_failure(response.status_code, response.headers, response.content)
        if why is None:
            try:
                case.validate_response(response, checks=self.checks, headers=headers)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - a check failed
                why = f"{type(exc).__name__}: {exc}"
        if why:
            r.add_failure(op.label, role, why, case)

    def run_operation(self, op, role: str, *, examples: int, seed: int) -> None:
        strategy = self._strategy(op)

        @hypothesis.seed(seed)
        @hypothesis.settings(max_examples=examples, database=None, deadline=None,
                             phases=[Phase.generate], suppress_health_check=list(HealthCheck),
                             derandomize=False)
        @given(data=st.data())
        def one(data) -> None:
            case = data.draw(strategy)
            self._pin(case, data.draw)
            self._send(op, role, case)

        one()

    def send_hostile(self, client, op, role: str) -> None:
        """A body nested far past the decoder's stack and one past the size limit, to every
        operation that takes a body: each must be a problem detail, never a 5xx."""
        if op.method.upper() not in ("POST", "PUT", "PATCH") or not op.definition.raw.get(
                "requestBody"):
            return
        path = op.path
        for name in [p.name for p in op.path_parameters]:
            value = (self.known.get(name) or [1])[0]
            path = path.replace("{" + name + "}", str(value))
        headers = {"content-type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        if self.tokens[role]:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        for body in (b'{"a": ' * HOSTILE_DEPTH + b"1" + b"}" * HOSTILE_DEPTH,
                     b'{"a": "' + b"x" * HOSTILE_BYTES + b'"}'):
            response = client.request(op.method.upper(), path, content=body, headers=headers)
            self.report.requests += 1
            self.report.hostile += 1
            self.report.by_status[response.status_code] += 1
            if response.status_code >= 500:
                self.report.server_errors += 1
            why = problem_failure(response.status_code, response.headers, response.content)
            if why:
                self.report.kinds[(op.label, "hostile body: " + why[:80])] += 1
                if len(self.report.failures) < MAX_FAILURES_KEPT:
                    self.report.failures.append({"operation": op.label, "role": role,
                                                 "why": "hostile body: " + why,
                                                 "curl": f"{op.method.upper()} {path}"})

    def run(self, *, examples: int, seed: int = 0, roles: list[str] | None = None,
            until: float | None = None, only: str | None = None) -> Report:
        from litestar.testing import TestClient
        started = time.monotonic()
        ops = [op for op in self.operations() if not only or only in op.label]
        self.report.operations = len(ops)
        # Not entered: the app started already (schemathesis' own client runs its lifespan).
        client = TestClient(self.app, base_url="http://testserver.local")
        for op in ops:
            for role in roles or list(self.tokens):
                if until is not None and time.monotonic() > until:
                    break
                t0 = time.monotonic()
                self.run_operation(op, role, examples=examples, seed=seed)
                self.send_hostile(client, op, role)
                self.report.slowest[op.label] += time.monotonic() - t0
        self.report.seconds += time.monotonic() - started
        return self.report


def quiet_access_log() -> None:
    """Keep warnings and errors (a 5xx logs its traceback); drop the line per request."""
    import logging

    import structlog
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=25, help="examples per operation and role")
    ap.add_argument("--seconds", type=float, default=600, help="stop starting rounds after this")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--database-url", default=None, help="a scratch database (default SQLite)")
    ap.add_argument("--only", default=None, help="operations whose label contains this")
    args = ap.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="jifen-fuzz-"))
    db = scratch_db(args.database_url, data_dir)
    app, settings, world = build(db, data_dir)
    quiet_access_log()
    fuzzer = Fuzzer(app, db, settings, world)
    deadline = time.monotonic() + args.seconds
    rounds = 0
    seed = args.seed if args.seed is not None else int(time.time())
    while time.monotonic() < deadline:
        fuzzer.run(examples=args.examples, seed=seed + rounds, until=deadline, only=args.only)
        rounds += 1
        print(json.dumps({"round": rounds, **fuzzer.report.summary()}), flush=True)
    from ledger.journal import service
    audit = service.audit(db)
    out = {**fuzzer.report.summary(), "rounds": rounds, "seed": seed, "audit_ok": audit["ok"]}
    print(json.dumps(out, ensure_ascii=False))
    for (op, why), n in fuzzer.report.kinds.most_common():
        print(f"{n:6d}  {op}  {why}")
    for f in fuzzer.report.failures[:10]:
        print(json.dumps(f, ensure_ascii=False))
    db.dispose()
    raise SystemExit(0 if not fuzzer.report.failures and audit["ok"] else 1)


if __name__ == "__main__":
    main()
