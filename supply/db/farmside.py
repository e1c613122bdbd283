"""Tables of the farms' side: what was taken or rejected at the farm gate, farm-gate prices, notices to
farms, recalls and the log of exports that carry buyers' personal data.

Made by migration 0006; imported at the end of supply.db.models so that one metadata holds every table.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supply.db.models import Base, BigId, UtcDateTime, utcnow

REJECT_REASONS = ("damaged", "underweight", "spoiled", "wrong_product")


class FarmGateRecord(Base):
    """What happened to a pickup's units at the farm gate: accepted onto the truck, or rejected with a
    reason. Accepted units are what the farm is paid for; rejected ones are a shortfall."""

    __tablename__ = "farm_gate_records"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    farm_id: Mapped[int] = mapped_column(ForeignKey("farms.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    pickup_id: Mapped[int] = mapped_column(ForeignKey("pickups.id"), index=True)
    stop_id: Mapped[int | None] = mapped_column(ForeignKey("stops.id"))
    day: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(BigInteger)
    grade: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (
        CheckConstraint("outcome in ('accepted', 'rejected')", name="ck_gate_outcome"),
        CheckConstraint("quantity > 0", name="ck_gate_quantity"),
        CheckConstraint("(outcome = 'rejected') = (reason IS NOT NULL)", name="ck_gate_reason"),
        CheckConstraint("reason IS NULL OR reason in ('damaged', 'underweight', 'spoiled', 'wrong_product')",
                        name="ck_gate_reason_known"),
        Index("ix_gate_farm_day", "cooperative_id", "farm_id", "day"),
    )


class FarmGatePrice(Base):
    """What the cooperative pays a farm per unit of a product (and grade; '' for any grade) from a date.
    Never edited: a new price is a new row from a later (or earlier) date."""

    __tablename__ = "farm_gate_prices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    grade: Mapped[str] = mapped_column(String(16), default="")
    valid_from: Mapped[date] = mapped_column(Date)
    # fen per unit of the product, or per kg of it (amounts then rounded: see services.statements)
    price_fen: Mapped[int] = mapped_column(BigInteger)
    basis: Mapped[str] = mapped_column(String(8), default="unit")
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (
        UniqueConstraint("product_id", "grade", "valid_from", name="uq_price_product_grade_from"),
        CheckConstraint("price_fen >= 0", name="ck_price_fen"),
        CheckConstraint("basis in ('unit', 'kg')", name="ck_price_basis"),
    )


class FarmNotice(Base):
    """One message to a farm about a day: what to have ready and when; a correction or a cancellation
    after a re-plan. Its delivery status follows the gateway's answer."""

    __tablename__ = "farm_notices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    farm_id: Mapped[int] = mapped_column(ForeignKey("farms.id"))
    day: Mapped[date] = mapped_column(Date)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("dispatch_plans.id"))
    # notice, correction, cancellation
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    # The content the notice says (items, window), so a re-plan re-sends only what changed.
    digest: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict | None] = mapped_column(JSON)
    phone: Mapped[str | None] = mapped_column(String(40))
    # sms or slip (printed sheet and call list)
    channel: Mapped[str] = mapped_column(String(16))
    gateway: Mapped[str | None] = mapped_column(String(16))
    # pending, sent, failed, invalid_number, rate_limited, written
    status: Mapped[str] = mapped_column(String(16))
    segments: Mapped[int] = mapped_column(Integer, default=1)
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    __table_args__ = (
        CheckConstraint("kind in ('notice', 'correction', 'cancellation')", name="ck_notice_kind"),
        CheckConstraint("status in ('pending', 'sent', 'failed', 'invalid_number', 'rate_limited', 'written')",
                        name="ck_notice_status"),
        Index("ix_notices_farm_day", "cooperative_id", "day", "farm_id"),
        Index("ix_notices_phone_sent", "phone", "sent_at"),
    )


class Recall(Base):
    __tablename__ = "recalls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    farm_id: Mapped[int] = mapped_column(ForeignKey("farms.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    date_from: Mapped[date] = mapped_column(Date)
    date_to: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (CheckConstraint("date_from <= date_to", name="ck_recall_dates"),)


class RecallLine(Base):
    """An order line that received recalled units (the trace link), and how many of them are still at
    the hub and held from dispatch."""

    __tablename__ = "recall_lines"
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"), primary_key=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), primary_key=True)
    pickup_id: Mapped[int] = mapped_column(ForeignKey("pickups.id"), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    held_at_hub: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_recall_line_quantity"),
        CheckConstraint("held_at_hub >= 0 AND held_at_hub <= quantity", name="ck_recall_line_held"),
    )


class PersonalDataExport(Base):
    """Every export that carried buyers' personal data: who, when, what, how many rows."""

    __tablename__ = "personal_data_exports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    actor: Mapped[str] = mapped_column(String(100))
    what: Mapped[str] = mapped_column(String(100))
    recall_id: Mapped[int | None] = mapped_column(ForeignKey("recalls.id"))
    rows: Mapped[int] = mapped_column(Integer)
    with_buyers: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
