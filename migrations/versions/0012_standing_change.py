"""standing changes: a holder entering or leaving a state of standing, with who, why, when

Revision ID: 0012
Revises: 0004
Create Date: 2026-12-06 10:00:00
"""
import sqlalchemy as sa
from alembic import op

import ledger.timeutil

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('standing_change',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('holder_type', sa.String(length=16), nullable=False),
    sa.Column('holder_id', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('change', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('cause', sa.String(length=64), nullable=False),
    sa.Column('effects', sa.JSON(), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('at', ledger.timeutil.UTCDateTime(), nullable=False),
    sa.Column('until', ledger.timeutil.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_standing_change'))
    )
    with op.batch_alter_table('standing_change', schema=None) as batch_op:
        batch_op.create_index('ix_standing_change_holder', ['holder_type', 'holder_id', 'id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('standing_change', schema=None) as batch_op:
        batch_op.drop_index('ix_standing_change_holder')
    op.drop_table('standing_change')
