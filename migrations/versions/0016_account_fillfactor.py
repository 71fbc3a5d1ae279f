"""account's pages filled to 70 %: a posting's update of its accounts finds room on the same
page (a HOT update, no index entries written) (PostgreSQL only)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 18:30:00

Only the setting: rows already on full pages move to pages filled this way when next updated
(no table rewrite, no lock held beyond the ALTER's own).
"""
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE account SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE account RESET (fillfactor)")
