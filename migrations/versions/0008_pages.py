"""pages: sign-in links (a driver's QR link, a one-time link for a manager or host), web sessions kept
server-side (so revoking a link ends its sessions), the driver's marks with their idempotency keys, and
the key that signs the session cookie when none is configured.

Revision ID: 0008
Revises: 0004
Create Date: 2026-11-29 16:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'web_links',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('cooperative_id', sa.Integer(), sa.ForeignKey('cooperatives.id'), nullable=False),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('driver_id', sa.Integer(), sa.ForeignKey('drivers.id'), nullable=True),
        sa.Column('token_hash', sa.String(64), nullable=False, unique=True),
        sa.Column('single_use', sa.Boolean(), nullable=False),
        sa.Column('label', sa.String(200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role in ('manager', 'host', 'driver')", name='ck_web_link_role'),
        sa.CheckConstraint("(role = 'driver') = (driver_id IS NOT NULL)", name='ck_web_link_driver'),
    )
    op.create_index('ix_web_links_cooperative_id', 'web_links', ['cooperative_id'])
    op.create_table(
        'web_sessions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('session_hash', sa.String(64), nullable=False, unique=True),
        sa.Column('cooperative_id', sa.Integer(), sa.ForeignKey('cooperatives.id'), nullable=False),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('driver_id', sa.Integer(), sa.ForeignKey('drivers.id'), nullable=True),
        sa.Column('link_id', sa.Integer(), sa.ForeignKey('web_links.id'), nullable=True),
        sa.Column('token_id', sa.Integer(), sa.ForeignKey('api_tokens.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_web_sessions_link_id', 'web_sessions', ['link_id'])
    op.create_table(
        'stop_marks',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('cooperative_id', sa.Integer(), sa.ForeignKey('cooperatives.id'), nullable=False),
        sa.Column('idempotency_key', sa.String(80), nullable=False),
        sa.Column('actor', sa.String(64), nullable=False),
        sa.Column('stop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), sa.ForeignKey('stops.id'),
                  nullable=False),
        sa.Column('reason', sa.String(500), nullable=True),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('response', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('cooperative_id', 'idempotency_key', name='uq_stop_marks_key'),
    )
    op.create_index('ix_stop_marks_stop_id', 'stop_marks', ['stop_id'])
    op.create_table(
        'web_secrets',
        sa.Column('name', sa.String(40), primary_key=True),
        sa.Column('value', sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('web_secrets')
    op.drop_index('ix_stop_marks_stop_id', table_name='stop_marks')
    op.drop_table('stop_marks')
    op.drop_index('ix_web_sessions_link_id', table_name='web_sessions')
    op.drop_table('web_sessions')
    op.drop_index('ix_web_links_cooperative_id', table_name='web_links')
    op.drop_table('web_links')
