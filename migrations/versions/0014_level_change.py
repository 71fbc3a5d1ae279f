"""level changes: a holder's level under a catalog's levels moving up or down, or an admin's
selection for a level, with who, why, when

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 13:00:00
"""
import sqlalchemy as sa
from alembic import op

import ledger.timeutil

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('level_change',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('holder_type', sa.String(length=16), nullable=False),
    sa.Column('holder_id', sa.BigInteger(), nullable=False),
    sa.Column('catalog', sa.String(length=32), nullable=False),
    sa.Column('change', sa.String(length=12), nullable=False),
    sa.Column('level', sa.String(length=32), nullable=True),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('at', ledger.timeutil.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_level_change'))
    )
    with op.batch_alter_table('level_change', schema=None) as batch_op:
        batch_op.create_index('ix_level_change_holder', ['holder_type', 'holder_id', 'id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('level_change', schema=None) as batch_op:
        batch_op.drop_index('ix_level_change_holder')
    op.drop_table('level_change')
