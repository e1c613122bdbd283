"""dispatch plans record how they were searched: the engine's figures, the seed and the budget

Revision ID: 0009
Revises: 0004
Create Date: 2026-11-29 16:25:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dispatch_plans') as batch:
        batch.add_column(sa.Column('search', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dispatch_plans') as batch:
        batch.drop_column('search')
