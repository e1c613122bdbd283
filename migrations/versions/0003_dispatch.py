"""dispatch

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:11:14.197102
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hubs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('node_id', sa.BigInteger(), nullable=True),
    sa.Column('snap_distance_m', sa.Float(), nullable=True),
    sa.Column('opens_at', sa.Time(), nullable=False),
    sa.Column('cutoff_at', sa.Time(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('hubs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hubs_cooperative_id'), ['cooperative_id'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status in ('queued', 'running', 'finished', 'failed')", name='ck_job_status'),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_status', ['status'], unique=False)

    op.create_table('road_closures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('edge_id', sa.BigInteger(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('dispatch_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('hub_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('needs_replan', sa.Boolean(), nullable=False),
    sa.Column('replan_reason', sa.String(length=500), nullable=True),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('engine', sa.String(length=32), nullable=True),
    sa.Column('cost', sa.Float(), nullable=True),
    sa.Column('distance_m', sa.BigInteger(), nullable=False),
    sa.Column('duration_s', sa.BigInteger(), nullable=False),
    sa.Column('unplanned', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status in ('draft', 'published', 'superseded')", name='ck_plan_status'),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hub_id', 'date', 'version', name='uq_plan_version'),
    sa.UniqueConstraint('job_id', name='uq_plan_job')
    )
    op.create_table('pickups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('farm_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('quantity_ready', sa.BigInteger(), nullable=True),
    sa.Column('quantity_collected', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status in ('proposed', 'confirmed', 'short', 'collected', 'cancelled')", name='ck_pickup_status'),
    sa.CheckConstraint('quantity >= 0', name='ck_pickup_quantity'),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ),
    sa.ForeignKeyConstraint(['farm_id'], ['farms.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('farm_id', 'product_id', 'date', name='uq_pickup_farm_product_date')
    )
    with op.batch_alter_table('pickups', schema=None) as batch_op:
        batch_op.create_index('ix_pickups_coop_date', ['cooperative_id', 'date'], unique=False)

    op.create_table('vehicles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('hub_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('plate', sa.String(length=40), nullable=True),
    sa.Column('capacity_kg', sa.Float(), nullable=False),
    sa.Column('capacity_l', sa.Float(), nullable=False),
    sa.Column('refrigerated', sa.Boolean(), nullable=False),
    sa.Column('shift_start', sa.Time(), nullable=False),
    sa.Column('shift_end', sa.Time(), nullable=False),
    sa.Column('max_duration_s', sa.Integer(), nullable=True),
    sa.Column('cost_per_km', sa.Float(), nullable=False),
    sa.Column('cost_per_use', sa.Float(), nullable=False),
    sa.Column('driver_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ),
    sa.ForeignKeyConstraint(['driver_id'], ['drivers.id'], ),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('vehicles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vehicles_cooperative_id'), ['cooperative_id'], unique=False)

    op.create_table('routes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('driver_id', sa.Integer(), nullable=True),
    sa.Column('departure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('return_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('distance_m', sa.BigInteger(), nullable=False),
    sa.Column('duration_s', sa.BigInteger(), nullable=False),
    sa.Column('trips', sa.Integer(), nullable=False),
    sa.Column('path', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['driver_id'], ['drivers.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['dispatch_plans.id'], ),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routes_plan_id'), ['plan_id'], unique=False)

    op.create_table('line_allocations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('pickup_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('collected', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('quantity > 0', name='ck_allocation_quantity'),
    sa.CheckConstraint('collected >= 0 AND collected <= quantity', name='ck_allocation_collected'),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], ),
    sa.ForeignKeyConstraint(['pickup_id'], ['pickups.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('line_allocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_line_allocations_order_line_id'), ['order_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_line_allocations_pickup_id'), ['pickup_id'], unique=False)

    op.create_table('stops',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('route_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('farm_id', sa.Integer(), nullable=True),
    sa.Column('arrival_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('departure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('load_after_kg', sa.Float(), nullable=False),
    sa.Column('load_after_l', sa.Float(), nullable=False),
    sa.Column('legs', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('collected_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['farm_id'], ['farms.id'], ),
    sa.ForeignKeyConstraint(['route_id'], ['routes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stops_route_id'), ['route_id'], unique=False)

    op.create_table('stop_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('stop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('pickup_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('quantity_collected', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['pickup_id'], ['pickups.id'], ),
    sa.ForeignKeyConstraint(['stop_id'], ['stops.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stop_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stop_items_pickup_id'), ['pickup_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stop_items_stop_id'), ['stop_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('stop_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stop_items_stop_id'))
        batch_op.drop_index(batch_op.f('ix_stop_items_pickup_id'))

    op.drop_table('stop_items')
    with op.batch_alter_table('stops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stops_route_id'))

    op.drop_table('stops')
    with op.batch_alter_table('line_allocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_line_allocations_pickup_id'))
        batch_op.drop_index(batch_op.f('ix_line_allocations_order_line_id'))

    op.drop_table('line_allocations')
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routes_plan_id'))

    op.drop_table('routes')
    with op.batch_alter_table('vehicles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vehicles_cooperative_id'))

    op.drop_table('vehicles')
    with op.batch_alter_table('pickups', schema=None) as batch_op:
        batch_op.drop_index('ix_pickups_coop_date')

    op.drop_table('pickups')
    op.drop_table('dispatch_plans')
    op.drop_table('road_closures')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_status')

    op.drop_table('jobs')
    with op.batch_alter_table('hubs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hubs_cooperative_id'))

    op.drop_table('hubs')
