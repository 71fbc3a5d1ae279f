"""the one-statement posting's check goes with it (PostgreSQL only)

Revision ID: 0010
Revises: 0004
Create Date: 2026-12-06 10:30:00
"""
from alembic import op

from ledger.journal import ddl

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for stmt in ddl.statements(op.get_bind().dialect.name, up=True, revision="0010"):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in ddl.statements(op.get_bind().dialect.name, up=False, revision="0010"):
        op.execute(stmt)
