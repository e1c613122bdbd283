"""merge: the hardening, farms' side, platform links, pages and plan-search branches made side by side

Each of 0005-0009 revises 0004 and touches its own tables and columns; this revision joins them so
the schema has one head again (`coop db current` then names one revision).

Revision ID: 0010
Revises: 0005, 0006, 0007, 0008, 0009
Create Date: 2026-11-29 16:50:00
"""
from __future__ import annotations

revision = '0010'
down_revision = ('0005', '0006', '0007', '0008', '0009')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
