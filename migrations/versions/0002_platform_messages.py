"""platform messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:08:48.183352
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('platform_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=40), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('external_order_id', sa.String(length=128), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cooperative_id', 'platform', 'message_id', name='uq_platform_message')
    )
    with op.batch_alter_table('platform_messages', schema=None) as batch_op:
        batch_op.create_index('ix_platform_messages_order', ['cooperative_id', 'platform', 'external_order_id'], unique=False)
        batch_op.create_index('ix_platform_messages_status', ['cooperative_id', 'status'], unique=False)

    op.create_table('platform_products',
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=40), nullable=False),
    sa.Column('product_ref', sa.String(length=128), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], ),
    sa.PrimaryKeyConstraint('cooperative_id', 'platform', 'product_ref')
    )


def downgrade() -> None:
    op.drop_table('platform_products')
    with op.batch_alter_table('platform_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_platform_messages_status')
        batch_op.drop_index('ix_platform_messages_order')

    op.drop_table('platform_messages')
