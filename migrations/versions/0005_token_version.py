"""app_user.token_version: the version every token carries, bumped to end a user's tokens

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 09:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as t:
        t.add_column(sa.Column("token_version", sa.Integer(), nullable=False,
                               server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("app_user") as t:
        t.drop_column("token_version")
