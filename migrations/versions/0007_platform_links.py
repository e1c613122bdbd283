"""platform links: shop accounts (credentials and tokens stored encrypted, a webhook address per
cooperative), listing stock told to the platforms, waybills told back

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-29 16:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'platform_accounts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cooperative_id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=40), nullable=False),
        sa.Column('path_token', sa.String(length=64), nullable=False),
        sa.Column('shop_id', sa.String(length=64), nullable=True),
        sa.Column('secrets_enc', sa.Text(), nullable=True),
        sa.Column('access_token_enc', sa.Text(), nullable=True),
        sa.Column('refresh_token_enc', sa.Text(), nullable=True),
        sa.Column('token_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('cooperative_id', 'platform', name='uq_platform_account'),
        sa.UniqueConstraint('path_token', name='uq_platform_account_path'),
    )
    op.create_table(
        'platform_listings',
        sa.Column('cooperative_id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=40), nullable=False),
        sa.Column('product_ref', sa.String(length=128), nullable=False),
        sa.Column('item_ref', sa.String(length=128), nullable=True),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('sent_seq', sa.BigInteger(), nullable=False),
        sa.Column('sent_quantity', sa.BigInteger(), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('error', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id']),
        sa.ForeignKeyConstraint(['product_id'], ['products.id']),
        sa.PrimaryKeyConstraint('cooperative_id', 'platform', 'product_ref'),
    )
    op.create_table(
        'platform_shipments',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('cooperative_id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('carrier_code', sa.String(length=40), nullable=False),
        sa.Column('waybill', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status in ('pending', 'confirmed', 'failed')", name='ck_shipment_status'),
        sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id']),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('order_id', name='uq_platform_shipment_order'),
    )


def downgrade() -> None:
    op.drop_table('platform_shipments')
    op.drop_table('platform_listings')
    op.drop_table('platform_accounts')
