"""honor lists go on public notice (公示) before publication: notice_until, objections;
a person who died or moved away is marked so (person.left, person.left_at)

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-06 10:00:00
"""
import sqlalchemy as sa
from alembic import op

from ledger.timeutil import UTCDateTime

revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('left', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('left_at', UTCDateTime(), nullable=True))
    with op.batch_alter_table('honor_list', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_until', UTCDateTime(), nullable=True))
    op.create_table('honor_objection',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('list_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('holder_id', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('decided_by', sa.BigInteger(), nullable=True),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.Column('decision_note', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['honor_list.id'], name=op.f('fk_honor_objection_list_id_honor_list')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_honor_objection'))
    )
    with op.batch_alter_table('honor_objection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_honor_objection_list_id'), ['list_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('honor_objection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_honor_objection_list_id'))
    op.drop_table('honor_objection')
    with op.batch_alter_table('honor_list', schema=None) as batch_op:
        batch_op.drop_column('notice_until')
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('left_at')
        batch_op.drop_column('left')
