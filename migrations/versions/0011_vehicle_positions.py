"""vehicle positions: where a driver's phone said the vehicle was, for re-plans from where it is

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 04:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'vehicle_positions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), primary_key=True, autoincrement=True),
        sa.Column('cooperative_id', sa.Integer(), sa.ForeignKey('cooperatives.id'), nullable=False),
        sa.Column('vehicle_id', sa.Integer(), sa.ForeignKey('vehicles.id'), nullable=False),
        sa.Column('route_id', sa.Integer(), sa.ForeignKey('routes.id'), nullable=False),
        sa.Column('actor', sa.String(64), nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lon', sa.Float(), nullable=False),
        sa.Column('accuracy_m', sa.Float(), nullable=True),
        sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('vehicle_id', 'reported_at', name='uq_vehicle_positions_report'),
        sa.CheckConstraint('lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180', name='ck_vehicle_position_range'),
    )


def downgrade() -> None:
    op.drop_table('vehicle_positions')
