"""the hash function is STABLE, so PostgreSQL inlines it into each guarded UPDATE (PostgreSQL
only)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 07:00:00
"""
from alembic import op

from ledger.journal import ddl

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for stmt in ddl.statements(op.get_bind().dialect.name, up=True, revision="0015"):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in ddl.statements(op.get_bind().dialect.name, up=False, revision="0015"):
        op.execute(stmt)
