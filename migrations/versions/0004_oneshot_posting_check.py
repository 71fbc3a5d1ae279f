"""the check that ends a one-statement posting (PostgreSQL only)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 02:00:00
"""
from alembic import op

from ledger.journal import ddl

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for stmt in ddl.statements(op.get_bind().dialect.name, up=True, revision="0004"):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in ddl.statements(op.get_bind().dialect.name, up=False, revision="0004"):
        op.execute(stmt)
