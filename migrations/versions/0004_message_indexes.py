"""platform messages: the index by order leads with the order id; the indexes by order and by status are partial

With (cooperative_id, platform, external_order_id), a look-up of a message by its own id could be
planned on this index instead of the unique one whenever the table's statistics were those of an empty
table, as they are in the first minute of a spike; it then read every message of the platform once per
key. Leading with the order id leaves each index the only good one for its own look-up. Messages are
looked up by order only for the newest version settled, so the index holds only messages with a
version.

The index by status now holds only the messages a manager must find (unmapped, needs_order_detail,
invalid, stale): the usual ones are listed by id, and indexing them cost every push a write per message.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


VERSIONED = "version IS NOT NULL"
ATTENTION = "status NOT IN ('applied', 'duplicate_order', 'rejected', 'recorded')"


def upgrade() -> None:
    op.drop_index('ix_platform_messages_order', table_name='platform_messages')
    op.create_index('ix_platform_messages_order', 'platform_messages',
                    ['cooperative_id', 'external_order_id', 'platform'], unique=False,
                    postgresql_where=sa.text(VERSIONED), sqlite_where=sa.text(VERSIONED))
    op.drop_index('ix_platform_messages_status', table_name='platform_messages')
    op.create_index('ix_platform_messages_attention', 'platform_messages', ['cooperative_id', 'status'],
                    unique=False, postgresql_where=sa.text(ATTENTION), sqlite_where=sa.text(ATTENTION))


def downgrade() -> None:
    op.drop_index('ix_platform_messages_attention', table_name='platform_messages')
    op.create_index('ix_platform_messages_status', 'platform_messages', ['cooperative_id', 'status'], unique=False)
    op.drop_index('ix_platform_messages_order', table_name='platform_messages')
    op.create_index('ix_platform_messages_order', 'platform_messages',
                    ['cooperative_id', 'platform', 'external_order_id'], unique=False)
