"""the farms' side: farm-gate records (accepted and rejected units), farm-gate prices, notices to farms,
recalls with their order lines, the log of exports carrying buyers' personal data

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-29 16:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'farm_gate_records',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('cooperative_id', sa.Integer(), sa.ForeignKey('cooperatives.id'), nullable=False),
        sa.Column('farm_id', sa.Integer(), sa.ForeignKey('farms.id'), nullable=False),
        sa.Column('product_id', sa.Integer(), sa.ForeignKey('products.id'), nullable=False),
        sa.Column('pickup_id', BigId, sa.ForeignKey('pickups.id'), nullable=False),
        sa.Column('stop_id', BigId, sa.ForeignKey('stops.id'), nullable=True),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('outcome', sa.String(16), nullable=False),
        sa.Column('quantity', sa.BigInteger(), nullable=False),
        sa.Column('grade', sa.String(16), nullable=True),
        sa.Column('reason', sa.String(24), nullable=True),
        sa.Column('note', sa.String(500), nullable=True),
        sa.Column('actor', sa.String(100), nullable=False),
        sa.Column('created_at', AT, nullable=False),
        sa.CheckConstraint("outcome in ('accepted', 'rejected')", name='ck_gate_outcome'),
        sa.CheckConstraint('quantity > 0', name='ck_gate_quantity'),
        sa.CheckConstraint("(outcome = 'rejected') = (reason IS NOT NULL)", name='ck_gate_reason'),
        sa.CheckConstraint("reason IS NULL OR reason in ('damaged', 'underweight', 'spoiled', 'wrong_product')",
                           name='ck_gate_reason_known'),
    )
    op.create_index('ix_farm_gate_records_pickup_id', 'farm_gate_records', ['pickup_id'])
    op.create_index('ix_gate_farm_day', 'farm_gate_records', ['cooperative_id', 'farm_id', 'day'])

    op.create_table(
        'farm_gate_prices',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('cooperative_id', sa.Integer(), sa.ForeignKey('cooperatives.id'), nullable=False),
        sa.Column('product_id', sa.Integer(), sa.ForeignKey('products.id'), nullable=False),
        sa.Column('grade', sa.String(16), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('price_fen', sa.BigInteger(), nullable=False),
        sa.Column('basis', sa.String(8), nullable=False),
        sa.Column('actor', sa.String(100), nullable=False),
        sa.Column('note', sa.String(500), nullable=True),
        sa.Column('created_at', AT, nullable=False),
        sa.UniqueConstraint('product_id', 'grade', 'valid_from', name='uq_price_product_grade_from'),
        sa.CheckConstraint('price_fen >= 0', name='ck_price_fen'),
        sa.CheckConstraint("basis in ('unit', 'kg')", name='ck_price_basis'),
    )

    op.create_table(
        'farm_notices',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('cooperative_id', sa.Integer(), sa.ForeignKey('cooperatives.id'), nullable=False),
        sa.Column('farm_id', sa.Integer(), sa.ForeignKey('farms.id'), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('plan_id', sa.Integer(), sa.ForeignKey('dispatch_plans.id'), nullable=True),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('digest', sa.String(64), nullable=False),
        sa.Column('params', sa.JSON(), nullable=True),
        sa.Column('phone', sa.String(40), nullable=True),
        sa.Column('channel', sa.String(16), nullable=False),
        sa.Column('gateway', sa.String(16), nullable=True),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('segments', sa.Integer(), nullable=False),
        sa.Column('provider_ref', sa.String(100), nullable=True),
        sa.Column('error', sa.String(500), nullable=True),
        sa.Column('created_at', AT, nullable=False),
        sa.Column('sent_at', AT, nullable=True),
        sa.CheckConstraint("kind in ('notice', 'correction', 'cancellation')", name='ck_notice_kind'),
        sa.CheckConstraint("status in ('pending', 'sent', 'failed', 'invalid_number', 'rate_limited', 'written')",
                           name='ck_notice_status'),
    )
    op.create_index('ix_notices_farm_day', 'farm_notices', ['cooperative_id', 'day', 'farm_id'])
    op.create_index('ix_notices_phone_sent', 'farm_notices', ['phone', 'sent_at'])

    op.create_table(
        'recalls',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('cooperative_id', sa.Integer(), sa.ForeignKey('cooperatives.id'), nullable=False),
        sa.Column('farm_id', sa.Integer(), sa.ForeignKey('farms.id'), nullable=False),
        sa.Column('product_id', sa.Integer(), sa.ForeignKey('products.id'), nullable=False),
        sa.Column('date_from', sa.Date(), nullable=False),
        sa.Column('date_to', sa.Date(), nullable=False),
        sa.Column('reason', sa.String(500), nullable=False),
        sa.Column('actor', sa.String(100), nullable=False),
        sa.Column('created_at', AT, nullable=False),
        sa.CheckConstraint('date_from <= date_to', name='ck_recall_dates'),
    )
    op.create_table(
        'recall_lines',
        sa.Column('recall_id', sa.Integer(), sa.ForeignKey('recalls.id'), primary_key=True),
        sa.Column('order_line_id', BigId, sa.ForeignKey('order_lines.id'), primary_key=True),
        sa.Column('pickup_id', BigId, sa.ForeignKey('pickups.id'), primary_key=True),
        sa.Column('order_id', BigId, sa.ForeignKey('orders.id'), nullable=False),
        sa.Column('quantity', sa.BigInteger(), nullable=False),
        sa.Column('held_at_hub', sa.BigInteger(), nullable=False),
        sa.CheckConstraint('quantity > 0', name='ck_recall_line_quantity'),
        sa.CheckConstraint('held_at_hub >= 0 AND held_at_hub <= quantity', name='ck_recall_line_held'),
    )
    op.create_index('ix_recall_lines_order_id', 'recall_lines', ['order_id'])

    op.create_table(
        'personal_data_exports',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('cooperative_id', sa.Integer(), sa.ForeignKey('cooperatives.id'), nullable=False),
        sa.Column('actor', sa.String(100), nullable=False),
        sa.Column('what', sa.String(100), nullable=False),
        sa.Column('recall_id', sa.Integer(), sa.ForeignKey('recalls.id'), nullable=True),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('with_buyers', sa.Boolean(), nullable=False),
        sa.Column('created_at', AT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table('personal_data_exports')
    op.drop_index('ix_recall_lines_order_id', table_name='recall_lines')
    op.drop_table('recall_lines')
    op.drop_table('recalls')
    op.drop_index('ix_notices_phone_sent', table_name='farm_notices')
    op.drop_index('ix_notices_farm_day', table_name='farm_notices')
    op.drop_table('farm_notices')
    op.drop_table('farm_gate_prices')
    op.drop_index('ix_gate_farm_day', table_name='farm_gate_records')
    op.drop_index('ix_farm_gate_records_pickup_id', table_name='farm_gate_records')
    op.drop_table('farm_gate_records')
