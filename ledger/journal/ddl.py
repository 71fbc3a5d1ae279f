"""Database objects the ORM does not describe: the append-only guards on the journal and the
hash function the guarded UPDATE calls. Applied by the migrations (each revision its own list;
`statements` gives them all, in order)."""

APPEND_ONLY_TABLES = ("journal_entry", "posting")

POSTGRES_UP = [
    """CREATE OR REPLACE FUNCTION jifen_sha256(t text) RETURNS text
       LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
       AS $$ SELECT encode(sha256(convert_to(t, 'UTF8')), 'hex') $$""",  # STABLE since 0015
    """CREATE OR REPLACE FUNCTION jifen_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
           MESSAGE = 'journal is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused';
       END $$""",
] + [
    f"""CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {t}
        FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change()"""
    for t in APPEND_ONLY_TABLES
]

POSTGRES_DOWN = [f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}" for t in APPEND_ONLY_TABLES] + [
    "DROP FUNCTION IF EXISTS jifen_refuse_change()",
    "DROP FUNCTION IF EXISTS jifen_sha256(text)",
]

# Revision 0004: the autocommit one-statement posting (`oneshot.py`, removed in 0010: awards
# post in a transaction, rules/direct.py) ended with this check. Raising aborts
# the whole statement, so the UPDATEs that did apply are undone with the rest.
POSTGRES_UP_0004 = [
    """CREATE OR REPLACE FUNCTION jifen_oneshot_check(applied boolean, key_new boolean)
       RETURNS integer LANGUAGE plpgsql AS $$
       BEGIN
         IF NOT applied THEN
           RAISE EXCEPTION USING ERRCODE = 'JF001', MESSAGE = 'jifen: a posting was refused';
         END IF;
         IF NOT key_new THEN
           RAISE EXCEPTION USING ERRCODE = 'JF002', MESSAGE = 'jifen: idempotency key taken';
         END IF;
         RETURN 1;
       END $$""",
]
POSTGRES_DOWN_0004 = ["DROP FUNCTION IF EXISTS jifen_oneshot_check(boolean, boolean)"]
# Revision 0010: the check goes with the one-statement posting.
POSTGRES_UP_0010, POSTGRES_DOWN_0010 = POSTGRES_DOWN_0004, POSTGRES_UP_0004

# Revision 0015: the hash function is STABLE, which PostgreSQL inlines into the statement that
# calls it. Declared IMMUTABLE over `convert_to` (itself STABLE) it was not inlined, so each of
# an entry's guarded UPDATEs ran it as a SQL function, its body parsed again on every
# execution: 53 µs of server CPU for four calls (docs/ledger.md, "Morning of 2026-12-07
# (second)"). Same body, same hashes.
_SHA256 = """CREATE OR REPLACE FUNCTION jifen_sha256(t text) RETURNS text
       LANGUAGE sql {volatility} STRICT PARALLEL SAFE
       AS $$ SELECT encode(sha256(convert_to(t, 'UTF8')), 'hex') $$"""
POSTGRES_UP_0015 = [_SHA256.format(volatility="STABLE")]
POSTGRES_DOWN_0015 = [_SHA256.format(volatility="IMMUTABLE")]

SQLITE_UP = [
    f"""CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t}
        BEGIN SELECT RAISE(ABORT, 'journal is append-only: {op} on {t} refused'); END"""
    for t in APPEND_ONLY_TABLES for op in ("UPDATE", "DELETE")
]

SQLITE_DOWN = [f"DROP TRIGGER IF EXISTS {t}_no_{op.lower()}"
               for t in APPEND_ONLY_TABLES for op in ("UPDATE", "DELETE")]


def statements(dialect: str, up: bool = True, revision: str | None = None) -> list[str]:
    """The statements of one revision ("0001", "0004", "0010", "0015"), or of all of them (for a schema
    built with `create_all`, as tests and benchmarks do)."""
    if dialect == "postgresql":
        by_rev = {"0001": (POSTGRES_UP, POSTGRES_DOWN),
                  "0004": (POSTGRES_UP_0004, POSTGRES_DOWN_0004),
                  "0010": (POSTGRES_UP_0010, POSTGRES_DOWN_0010),
                  "0015": (POSTGRES_UP_0015, POSTGRES_DOWN_0015)}
    else:
        by_rev = {"0001": (SQLITE_UP, SQLITE_DOWN), "0004": ([], []), "0010": ([], []),
                  "0015": ([], [])}
    revs = [revision] if revision else sorted(by_rev, reverse=not up)
    return [stmt for rev in revs for stmt in by_rev[rev][0 if up else 1]]
