"""outbox: a dedupe key, so a burst of commits queues one pending row of a task (the rollups'
catch-up); unique among the rows that carry one (a row gives its key up when it starts)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=64), nullable=True))
        batch_op.create_index('ux_outbox_dedupe_key', ['dedupe_key'], unique=True,
                              postgresql_where=sa.text('dedupe_key IS NOT NULL'),
                              sqlite_where=sa.text('dedupe_key IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ux_outbox_dedupe_key',
                            postgresql_where=sa.text('dedupe_key IS NOT NULL'),
                            sqlite_where=sa.text('dedupe_key IS NOT NULL'))
        batch_op.drop_column('dedupe_key')
