"""Tables. The schema is made only by the Alembic migrations in migrations/; these mappings mirror them.

Figures that must never go negative or be promised twice carry CHECK constraints, so the database
itself refuses an oversell even if a code path forgot a guard.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Date, DateTime, Float, ForeignKey, Index, Integer,
    String, Text, Time, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger would break it.
BigId = BigInteger().with_variant(Integer(), "sqlite")


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Driver(Base):
    __tablename__ = "drivers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
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
    __table_args__ = (
        CheckConstraint("declared >= 0", name="ck_balance_declared"),
        CheckConstraint("confirmed >= 0", name="ck_balance_confirmed"),
        CheckConstraint("reserved >= 0", name="ck_balance_reserved"),
        CheckConstraint("held >= 0", name="ck_balance_held"),
        CheckConstraint("confirmed - reserved - held >= 0", name="ck_balance_not_oversold"),
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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
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
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
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
    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship(lazy="joined")
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_line_quantity"),
        CheckConstraint("reserved >= 0 AND reserved <= quantity", name="ck_line_reserved"),
        CheckConstraint("from_hold >= 0 AND from_hold <= quantity", name="ck_line_from_hold"),
    )


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (
        UniqueConstraint("cooperative_id", "platform", "message_id", name="uq_platform_message"),
        Index("ix_platform_messages_order", "cooperative_id", "platform", "external_order_id"),
        Index("ix_platform_messages_status", "cooperative_id", "status"),
    )


class PlatformProduct(Base):
    """The manager's mapping of a platform's product id to one of our SKUs."""

    __tablename__ = "platform_products"
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), primary_key=True)
    platform: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_ref: Mapped[str] = mapped_column(String(128), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
