"""Database objects the ORM does not describe: the append-only guards on the journal and the
hash function the guarded UPDATE calls. Applied by the migrations."""

APPEND_ONLY_TABLES = ("journal_entry", "posting")

POSTGRES_UP = [
    """CREATE OR REPLACE FUNCTION jifen_sha256(t text) RETURNS text
       LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
       AS $$ SELECT encode(sha256(convert_to(t, 'UTF8')), 'hex') $$""",
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

SQLITE_UP = [
    f"""CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t}
        BEGIN SELECT RAISE(ABORT, 'journal is append-only: {op} on {t} refused'); END"""
    for t in APPEND_ONLY_TABLES for op in ("UPDATE", "DELETE")
]

SQLITE_DOWN = [f"DROP TRIGGER IF EXISTS {t}_no_{op.lower()}"
               for t in APPEND_ONLY_TABLES for op in ("UPDATE", "DELETE")]


def statements(dialect: str, up: bool = True) -> list[str]:
    if dialect == "postgresql":
        return POSTGRES_UP if up else POSTGRES_DOWN
    return SQLITE_UP if up else SQLITE_DOWN
