"""Tables of the platforms' side of a cooperative: its shop accounts (credentials and access tokens,
stored encrypted), the listing stock told to each platform SKU, and the waybills told back.

Made by migration 0007; these mappings mirror it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supply.db.models import Base, BigId, UtcDateTime, utcnow


class PlatformAccount(Base):
    """One cooperative's shop on one platform. Secrets and tokens are Fernet tokens (COOP_CREDENTIALS_KEY);
    `path_token` names the cooperative's own webhook address for this platform."""

    __tablename__ = "platform_accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    platform: Mapped[str] = mapped_column(String(40))
    path_token: Mapped[str] = mapped_column(String(64), unique=True)
    shop_id: Mapped[str | None] = mapped_column(String(64))
    secrets_enc: Mapped[str | None] = mapped_column(Text)
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("cooperative_id", "platform", name="uq_platform_account"),)


class PlatformListing(Base):
    """A platform SKU whose sellable stock follows ours. `seq` counts the figures decided for it; a
    figure is written as sent only over an older one (`sent_seq` < its seq), so an older figure never
    overwrites a newer one."""

    __tablename__ = "platform_listings"
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), primary_key=True)
    platform: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_ref: Mapped[str] = mapped_column(String(128), primary_key=True)
    item_ref: Mapped[str | None] = mapped_column(String(128))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    sent_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    sent_quantity: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[dict | None] = mapped_column(JSON)


class PlatformShipment(Base):
    """A waybill given for an order, told to the order's platform once (`confirmed`)."""

    __tablename__ = "platform_shipments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"))
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"), unique=True)
    carrier_code: Mapped[str] = mapped_column(String(40))
    waybill: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    __table_args__ = (
        CheckConstraint("status in ('pending', 'confirmed', 'failed')", name="ck_shipment_status"),
    )
