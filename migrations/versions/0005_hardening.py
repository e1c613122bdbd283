"""everything with a start and an end is ordered: CHECK constraints on streams, farms' pickup windows,
hubs' hours, vehicles' shifts and road closures

The API refuses these already (422 naming the field); the database now refuses them from any path.
A stream or closure without an end stays allowed (open-ended); a farm's window is both ends or neither.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 16:30:00
"""
from __future__ import annotations

from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


# (table, constraint name, condition): the names are those of supply/db/models.py.
ORDERED = (
    ("streams", "ck_stream_ends_after_start", "ends_at IS NULL OR ends_at > starts_at"),
    ("road_closures", "ck_closure_ends_after_start", "ends_at IS NULL OR ends_at > starts_at"),
    ("farms", "ck_farm_window_ordered",
     "(window_start IS NULL AND window_end IS NULL) OR (window_start IS NOT NULL AND window_end IS NOT NULL "
     "AND window_end > window_start)"),
    ("hubs", "ck_hub_cutoff_after_opening", "cutoff_at > opens_at"),
    ("vehicles", "ck_vehicle_shift_ordered", "shift_end > shift_start"),
)


def upgrade() -> None:
    # batch mode: SQLite cannot add a constraint to a table, so the table is copied with it.
    for table, name, condition in ORDERED:
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(name, condition)


def downgrade() -> None:
    for table, name, _ in reversed(ORDERED):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="check")
