"""Tables. The schema is made only by the Alembic migrations in migrations/; these mappings mirror them.

Figures that must never go negative or be promised twice carry CHECK constraints, so the database
itself refuses an oversell even if a code path forgot a guard.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Date, DateTime, Float, ForeignKey, Index, Integer,
    String, Text, Time, TypeDecorator, UniqueConstraint, text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger would break it.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator):
    """Aware datetimes in and out on every database: stored as UTC (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Cooperative(Base):
    __tablename__ = "cooperatives"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Driver(Base):
    __tablename__ = "drivers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    __table_args__ = (
        CheckConstraint("role in ('manager', 'host', 'driver')", name="ck_token_role"),
        CheckConstraint("(role = 'driver') = (driver_id IS NOT NULL)", name="ck_token_driver"),
    )


class Farm(Base):
    __tablename__ = "farms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(40))
    window_start: Mapped[time | None] = mapped_column(Time)
    window_end: Mapped[time | None] = mapped_column(Time)
    node_id: Mapped[int | None] = mapped_column(BigInteger)
    snap_distance_m: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (   # migration 0005
        CheckConstraint("(window_start IS NULL AND window_end IS NULL) OR (window_start IS NOT NULL AND "
                        "window_end IS NOT NULL AND window_end > window_start)", name="ck_farm_window_ordered"),
    )


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32))
    unit_weight_kg: Mapped[float] = mapped_column(Float)
    unit_volume_l: Mapped[float] = mapped_column(Float)
    cold_chain: Mapped[bool] = mapped_column(Boolean, default=False)
    shelf_life_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    balance: Mapped["ProductBalance"] = relationship(uselist=False, lazy="raise")
    __table_args__ = (UniqueConstraint("cooperative_id", "sku", name="uq_product_sku"),)


class ProductBalance(Base):
    """The product-wide figures that reservations and holds work against (the hot row)."""

    __tablename__ = "product_balances"
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    declared: Mapped[int] = mapped_column(BigInteger, default=0)
    confirmed: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    # Reserved units no longer backed by confirmed stock (a farm came up short and no other farm had
    # stock): the orders concerned are known through order_lines.backordered.
    backordered: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (
        CheckConstraint("declared >= 0", name="ck_balance_declared"),
        CheckConstraint("confirmed >= 0", name="ck_balance_confirmed"),
        CheckConstraint("reserved >= 0", name="ck_balance_reserved"),
        CheckConstraint("held >= 0", name="ck_balance_held"),
        CheckConstraint("confirmed - reserved + backordered - held >= 0", name="ck_balance_not_oversold"),
        CheckConstraint("backordered >= 0 AND backordered <= reserved", name="ck_balance_backordered"),
    )


class FarmStock(Base):
    """Per farm and product: declared on hand, confirmed by the manager, allocated to pickups."""

    __tablename__ = "farm_stock"
    farm_id: Mapped[int] = mapped_column(ForeignKey("farms.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    declared: Mapped[int] = mapped_column(BigInteger, default=0)
    confirmed: Mapped[int] = mapped_column(BigInteger, default=0)
    allocated: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (
        CheckConstraint("declared >= 0", name="ck_farm_stock_declared"),
        CheckConstraint("confirmed >= 0", name="ck_farm_stock_confirmed"),
        CheckConstraint("confirmed <= declared", name="ck_farm_stock_confirmed_le_declared"),
        CheckConstraint("allocated >= 0", name="ck_farm_stock_allocated"),
        CheckConstraint("allocated <= confirmed", name="ck_farm_stock_allocated_le_confirmed"),
    )


class StockLedgerEntry(Base):
    """Every change of a farm's figures. The figures in farm_stock are the sums of these per kind."""

    __tablename__ = "stock_ledger"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    farm_id: Mapped[int] = mapped_column(ForeignKey("farms.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[str] = mapped_column(String(16))
    delta: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(100))
    ref: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (
        CheckConstraint("kind in ('declared', 'confirmed', 'allocated', 'collected')", name="ck_ledger_kind"),
        Index("ix_ledger_farm_product", "farm_id", "product_id"),
    )


class Stream(Base):
    __tablename__ = "streams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    platform: Mapped[str] = mapped_column(String(40))
    host: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(300))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (   # migration 0005
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ck_stream_ends_after_start"),
    )


class StreamHold(Base):
    """A quantity of a product set aside for one stream. `remaining` is what orders may still draw."""

    __tablename__ = "stream_holds"
    stream_id: Mapped[int] = mapped_column(ForeignKey("streams.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    remaining: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (
        CheckConstraint("remaining >= 0", name="ck_hold_remaining"),
        CheckConstraint("remaining <= quantity", name="ck_hold_remaining_le_quantity"),
    )


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    platform: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(128))
    stream_id: Mapped[int | None] = mapped_column(ForeignKey("streams.id"))
    status: Mapped[str] = mapped_column(String(16))
    request_hash: Mapped[str] = mapped_column(String(64))
    # For a rejected order: the short lines, as first answered.
    rejection: Mapped[dict | None] = mapped_column(JSON)
    # Buyers' personal data, seen only by managers.
    buyer: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order", order_by="OrderLine.id",
                                                     lazy="selectin")
    __table_args__ = (
        UniqueConstraint("cooperative_id", "platform", "external_id", name="uq_order_external"),
        CheckConstraint("status in ('reserved', 'rejected', 'cancelled')", name="ck_order_status"),
    )


class OrderLine(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    # Of quantity, how much came from the stream's hold (given back to the hold on cancel).
    from_hold: Mapped[int] = mapped_column(BigInteger, default=0)
    # Units currently held against stock (0 once cancelled, or for a rejected order).
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    # Of reserved: units assigned to farm pickups, and units no farm could supply.
    allocated: Mapped[int] = mapped_column(BigInteger, default=0)
    backordered: Mapped[int] = mapped_column(BigInteger, default=0)
    # Units picked up from farms: no longer reserved against stock, on their way to the buyer.
    collected: Mapped[int] = mapped_column(BigInteger, default=0)
    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship(lazy="selectin")
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_line_quantity"),
        CheckConstraint("reserved >= 0 AND reserved <= quantity", name="ck_line_reserved"),
        CheckConstraint("allocated >= 0 AND backordered >= 0 AND allocated + backordered <= reserved",
                        name="ck_line_allocated"),
        CheckConstraint("collected >= 0 AND reserved + collected <= quantity", name="ck_line_collected"),
        CheckConstraint("from_hold >= 0 AND from_hold <= quantity", name="ck_line_from_hold"),
    )


# Messages in these statuses need no one: the index by status leaves them out.
ATTENTION_SQL = "status NOT IN ('applied', 'duplicate_order', 'rejected', 'recorded')"


class PlatformMessage(Base):
    """Every webhook event accepted from a platform, once (de-duplicated by its message id)."""

    __tablename__ = "platform_messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    platform: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    external_order_id: Mapped[str | None] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(BigInteger)
    # applied, duplicate_order, rejected, invalid, unmapped, needs_order_detail, stale, recorded
    status: Mapped[str] = mapped_column(String(24))
    payload: Mapped[dict | None] = mapped_column(JSON)
    result: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (
        UniqueConstraint("cooperative_id", "platform", "message_id", name="uq_platform_message"),
        # Only messages with a version are looked up by order (for the newest version settled).
        Index("ix_platform_messages_order", "cooperative_id", "external_order_id", "platform",
              postgresql_where=text("version IS NOT NULL"), sqlite_where=text("version IS NOT NULL")),
        # Only the messages a manager must find (unmapped, needs_order_detail, invalid, stale): the
        # usual ones are found by id, and indexing them too cost every push a write per message.
        Index("ix_platform_messages_attention", "cooperative_id", "status",
              postgresql_where=text(ATTENTION_SQL), sqlite_where=text(ATTENTION_SQL)),
    )


class PlatformProduct(Base):
    """The manager's mapping of a platform's product id to one of our SKUs."""

    __tablename__ = "platform_products"
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), primary_key=True)
    platform: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_ref: Mapped[str] = mapped_column(String(128), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))


# --- dispatch: hubs, vehicles, pickups, jobs, plans ---------------------------------------------


class Hub(Base):
    """The county warehouse / express collection point trucks bring pickups to."""

    __tablename__ = "hubs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    node_id: Mapped[int | None] = mapped_column(BigInteger)
    snap_distance_m: Mapped[float | None] = mapped_column(Float)
    opens_at: Mapped[time] = mapped_column(Time)
    # The carriers' trucks leave at cut-off: every pickup must be at the hub by then.
    cutoff_at: Mapped[time] = mapped_column(Time)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (CheckConstraint("cutoff_at > opens_at", name="ck_hub_cutoff_after_opening"),)   # 0005


class Vehicle(Base):
    __tablename__ = "vehicles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"))
    name: Mapped[str] = mapped_column(String(200))
    plate: Mapped[str | None] = mapped_column(String(40))
    capacity_kg: Mapped[float] = mapped_column(Float)
    capacity_l: Mapped[float] = mapped_column(Float)
    refrigerated: Mapped[bool] = mapped_column(Boolean, default=False)
    shift_start: Mapped[time] = mapped_column(Time)
    shift_end: Mapped[time] = mapped_column(Time)
    max_duration_s: Mapped[int | None] = mapped_column(Integer)
    cost_per_km: Mapped[float] = mapped_column(Float, default=0)
    cost_per_use: Mapped[float] = mapped_column(Float, default=0)
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (CheckConstraint("shift_end > shift_start", name="ck_vehicle_shift_ordered"),)   # 0005


class Pickup(Base):
    """What to collect: farm x day x product x quantity."""

    __tablename__ = "pickups"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    farm_id: Mapped[int] = mapped_column(ForeignKey("farms.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    date: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(BigInteger)
    quantity_ready: Mapped[int | None] = mapped_column(BigInteger)
    quantity_collected: Mapped[int] = mapped_column(BigInteger, default=0)
    # proposed -> confirmed (ready) -> collected; short when the farm had less than asked
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (
        UniqueConstraint("farm_id", "product_id", "date", name="uq_pickup_farm_product_date"),
        Index("ix_pickups_coop_date", "cooperative_id", "date"),
        CheckConstraint("quantity >= 0", name="ck_pickup_quantity"),
        CheckConstraint("status in ('proposed', 'confirmed', 'short', 'collected', 'cancelled')",
                        name="ck_pickup_status"),
    )


class LineAllocation(Base):
    """Which farm supplies which reserved units of an order line (through a pickup)."""

    __tablename__ = "line_allocations"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    pickup_id: Mapped[int] = mapped_column(ForeignKey("pickups.id"), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    # Of quantity, units a truck already took from the farm (the rest still waits there).
    collected: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_allocation_quantity"),
        CheckConstraint("collected >= 0 AND collected <= quantity", name="ck_allocation_collected"),
    )


class Job(Base):
    """The record of a background job: the database, not Redis, says what must run."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON)
    # queued, running, finished, failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(String(500))
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    __table_args__ = (
        Index("ix_jobs_status", "status"),
        CheckConstraint("status in ('queued', 'running', 'finished', 'failed')", name="ck_job_status"),
    )


class DispatchPlan(Base):
    """Routes for one hub and day. Re-planning makes a new version; drivers see the published one."""

    __tablename__ = "dispatch_plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"))
    date: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    # draft, published, superseded
    status: Mapped[str] = mapped_column(String(16), default="draft")
    needs_replan: Mapped[bool] = mapped_column(Boolean, default=False)
    replan_reason: Mapped[str | None] = mapped_column(String(500))
    job_id: Mapped[str | None] = mapped_column(String(36))
    engine: Mapped[str | None] = mapped_column(String(32))
    cost: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_s: Mapped[int] = mapped_column(BigInteger, default=0)
    unplanned: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # how the plan was searched: engine and why, seed, time limit, iteration budget, iterations done,
    # search time, what stopped it, objective (routing.Plan.search)
    search: Mapped[dict | None] = mapped_column(JSON)
    routes: Mapped[list["Route"]] = relationship(back_populates="plan", order_by="Route.id", lazy="selectin")
    __table_args__ = (
        UniqueConstraint("hub_id", "date", "version", name="uq_plan_version"),
        # Only one job's plan per (job): running a planning job twice makes one plan.
        UniqueConstraint("job_id", name="uq_plan_job"),
        CheckConstraint("status in ('draft', 'published', 'superseded')", name="ck_plan_status"),
    )


class Route(Base):
    __tablename__ = "routes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("dispatch_plans.id"), index=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    departure_at: Mapped[datetime] = mapped_column(UtcDateTime)
    return_at: Mapped[datetime] = mapped_column(UtcDateTime)
    distance_m: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[int] = mapped_column(BigInteger)
    trips: Mapped[int] = mapped_column(Integer, default=1)
    # The road geometry of the whole route: [[lon, lat], ...] per leg, for the map.
    path: Mapped[list | None] = mapped_column(JSON)
    plan: Mapped[DispatchPlan] = relationship(back_populates="routes")
    stops: Mapped[list["Stop"]] = relationship(back_populates="route", order_by="Stop.sequence", lazy="selectin")


class Stop(Base):
    __tablename__ = "stops"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    # pickup at a farm, or reload (back at the hub to unload between trips)
    kind: Mapped[str] = mapped_column(String(16))
    farm_id: Mapped[int | None] = mapped_column(ForeignKey("farms.id"))
    arrival_at: Mapped[datetime] = mapped_column(UtcDateTime)
    departure_at: Mapped[datetime] = mapped_column(UtcDateTime)
    load_after_kg: Mapped[float] = mapped_column(Float)
    load_after_l: Mapped[float] = mapped_column(Float)
    # Roads from the previous stop: [{"road", "distance_m", "duration_s"}]
    legs: Mapped[list | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    collected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    route: Mapped[Route] = relationship(back_populates="stops")
    items: Mapped[list["StopItem"]] = relationship(back_populates="stop", order_by="StopItem.id", lazy="selectin")


class StopItem(Base):
    __tablename__ = "stop_items"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stop_id: Mapped[int] = mapped_column(ForeignKey("stops.id"), index=True)
    pickup_id: Mapped[int] = mapped_column(ForeignKey("pickups.id"), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    quantity_collected: Mapped[int | None] = mapped_column(BigInteger)
    stop: Mapped[Stop] = relationship(back_populates="items")


class RoadClosure(Base):
    __tablename__ = "road_closures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    edge_id: Mapped[int] = mapped_column(BigInteger)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (   # migration 0005
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ck_closure_ends_after_start"),
    )



class VehiclePosition(Base):
    """Where a driver's phone said the vehicle was (migration 0011). A re-plan of the day starts the
    vehicle from its latest report when that is newer than its last collected stop. One row per
    vehicle and report time: a report sent again (a phone that lost the answer) is kept once."""
    __tablename__ = "vehicle_positions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id"))
    actor: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (
        UniqueConstraint("vehicle_id", "reported_at", name="uq_vehicle_positions_report"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="ck_vehicle_position_range"),
    )

# --- pages: sign-in links, web sessions, the driver's marks (migration 0008) ----------------------


class WebLink(Base):
    """A sign-in link: a driver's (QR, reusable until it expires) or a one-time one for a manager or host."""
    __tablename__ = "web_links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    single_use: Mapped[bool] = mapped_column(Boolean)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebSession(Base):
    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    role: Mapped[str] = mapped_column(String(16))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("web_links.id"), index=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class StopMark(Base):
    """A driver's mark on a stop, kept by its idempotency key: a resent mark gets the first answer."""
    __tablename__ = "stop_marks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    idempotency_key: Mapped[str] = mapped_column(String(80))
    actor: Mapped[str] = mapped_column(String(64))
    stop_id: Mapped[int] = mapped_column(ForeignKey("stops.id"), index=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("cooperative_id", "idempotency_key", name="uq_stop_marks_key"),)


class WebSecret(Base):
    """The key that signs session cookies when COOP_SECRET_KEY is not set, made once per database."""
    __tablename__ = "web_secrets"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


# The farms' side (farm-gate records, prices, notices, recalls): its own module, on this metadata.
from supply.db import farmside as _farmside  # noqa: E402,F401
# The platforms' side (shop accounts, listing stock told, waybills told back): its own module too.
from supply.db import platform_links as _platform_links  # noqa: E402,F401
