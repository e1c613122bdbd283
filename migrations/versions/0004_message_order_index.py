"""platform messages: the index by order leads with the order id

With (cooperative_id, platform, external_order_id), a look-up of a message by its own id could be
planned on this index instead of the unique one whenever the table's statistics were those of an empty
table, as they are in the first minute of a spike; it then read every message of the platform once per
key. Leading with the order id leaves each index the only good one for its own look-up.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:50:00
"""
from __future__ import annotations

from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_platform_messages_order', table_name='platform_messages')
    op.create_index('ix_platform_messages_order', 'platform_messages',
                    ['cooperative_id', 'external_order_id', 'platform'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_platform_messages_order', table_name='platform_messages')
    op.create_index('ix_platform_messages_order', 'platform_messages',
                    ['cooperative_id', 'platform', 'external_order_id'], unique=False)
