#!/usr/bin/env bash
# Autogenerate the next migration from the models: scripts/new-migration.sh "message"
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf migrations/versions/__pycache__  # a stale .pyc of a removed revision confuses alembic
tmp=$(mktemp -d)
n=$(ls migrations/versions/*.py 2>/dev/null | wc -l)
rev=$(printf '%04d' $((n + 1)))
JIFEN_DATA_DIR="$tmp" JIFEN_DATABASE_URL="sqlite:///$tmp/gen.sqlite3" .venv/bin/alembic -c migrations/alembic.ini upgrade head
JIFEN_DATA_DIR="$tmp" JIFEN_DATABASE_URL="sqlite:///$tmp/gen.sqlite3" .venv/bin/alembic -c migrations/alembic.ini revision --autogenerate --rev-id "$rev" -m "$1"
rm -rf "$tmp"
