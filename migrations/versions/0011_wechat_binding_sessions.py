"""WeChat web authorization: openids bound to volunteers, with binding and unbinding on record;
volunteers' long sessions (refresh tokens, rotated on use)

Revision ID: 0011
Revises: 0004
Create Date: 2026-12-06 10:00:00
"""
import sqlalchemy as sa
from alembic import op

import ledger.timeutil

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

LIVE = sa.text("unbound_at IS NULL")


def upgrade() -> None:
    op.create_table(
        'wechat_binding',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('app_id', sa.String(length=32), nullable=False),
        sa.Column('openid', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  nullable=False),
        sa.Column('nickname', sa.String(length=64), nullable=False),
        sa.Column('bound_at', ledger.timeutil.UTCDateTime(), nullable=False),
        sa.Column('unbound_at', ledger.timeutil.UTCDateTime(), nullable=True),
        sa.Column('unbound_by', sa.BigInteger(), nullable=True),
        sa.Column('unbind_reason', sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'],
                                name=op.f('fk_wechat_binding_user_id_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_binding')),
    )
    op.create_index('ix_wechat_binding_user', 'wechat_binding', ['user_id'])
    op.create_index('uq_wechat_binding_openid_live', 'wechat_binding', ['app_id', 'openid'],
                    unique=True, sqlite_where=LIVE, postgresql_where=LIVE)
    op.create_index('uq_wechat_binding_user_live', 'wechat_binding', ['app_id', 'user_id'],
                    unique=True, sqlite_where=LIVE, postgresql_where=LIVE)
    op.create_table(
        'refresh_token',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  nullable=False),
        sa.Column('family', sa.String(length=32), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('started_at', ledger.timeutil.UTCDateTime(), nullable=False),
        sa.Column('created_at', ledger.timeutil.UTCDateTime(), nullable=False),
        sa.Column('expires_at', ledger.timeutil.UTCDateTime(), nullable=False),
        sa.Column('used_at', ledger.timeutil.UTCDateTime(), nullable=True),
        sa.Column('revoked_at', ledger.timeutil.UTCDateTime(), nullable=True),
        sa.Column('revoke_reason', sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'],
                                name=op.f('fk_refresh_token_user_id_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_token')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_refresh_token_token_hash')),
    )
    op.create_index('ix_refresh_token_user', 'refresh_token', ['user_id', 'started_at'])
    op.create_index('ix_refresh_token_family', 'refresh_token', ['family'])


def downgrade() -> None:
    op.drop_index('ix_refresh_token_family', table_name='refresh_token')
    op.drop_index('ix_refresh_token_user', table_name='refresh_token')
    op.drop_table('refresh_token')
    op.drop_index('uq_wechat_binding_user_live', table_name='wechat_binding')
    op.drop_index('uq_wechat_binding_openid_live', table_name='wechat_binding')
    op.drop_index('ix_wechat_binding_user', table_name='wechat_binding')
    op.drop_table('wechat_binding')
