"""Streams and holds: a quantity set aside for one stream so two streams cannot sell the same bags."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from supply.db.models import Product, ProductBalance, Stream, StreamHold
from supply.db.session import insert_ignore
from supply.domain.errors import InsufficientStock, NotFound
from supply.domain.rules import available_to_promise
from supply.services.stock import get_product


def create_stream(session: Session, cooperative_id: int, *, platform: str, host: str, starts_at: datetime,
                  title: str | None = None, ends_at: datetime | None = None) -> dict:
    stream = Stream(cooperative_id=cooperative_id, platform=platform, host=host, title=title,
                    starts_at=starts_at, ends_at=ends_at)
    session.add(stream)
    session.flush()
    return serialize_stream(session, stream)


def get_stream(session: Session, cooperative_id: int, stream_id: int) -> Stream:
    stream = session.execute(select(Stream).where(Stream.id == stream_id,
                                                  Stream.cooperative_id == cooperative_id)).scalar()
    if stream is None:
        raise NotFound(f"stream {stream_id} does not exist")
    return stream


def place_hold(session: Session, cooperative_id: int, stream_id: int, *, sku: str, quantity: int) -> dict:
    """Take `quantity` from available-to-promise into the stream's hold, atomically, or refuse (409)."""
    stream = get_stream(session, cooperative_id, stream_id)
    product = get_product(session, cooperative_id, sku, field="sku")
    taken = session.execute(
        update(ProductBalance)
        .where(ProductBalance.product_id == product.id,
               # backordered units are reserved but not backed by stock (see ProductBalance)
               ProductBalance.confirmed - ProductBalance.reserved + ProductBalance.backordered
               - ProductBalance.held >= quantity)
        .values(held=ProductBalance.held + quantity)
        .execution_options(synchronize_session=False)).rowcount
    if taken != 1:
        balance = session.get(ProductBalance, product.id, populate_existing=True)
        available = available_to_promise(balance.confirmed, balance.reserved - balance.backordered, balance.held)
        raise InsufficientStock(f"only {available} units of {sku} are available to hold",
                                fields={"quantity": [f"{available} available, {quantity} requested"]},
                                details={"available": available})
    insert_ignore(session, StreamHold, stream_id=stream.id, product_id=product.id, quantity=0, remaining=0)
    hold = session.execute(select(StreamHold).where(StreamHold.stream_id == stream.id,
                                                    StreamHold.product_id == product.id)
                           .with_for_update().execution_options(populate_existing=True)).scalar_one()
    hold.quantity += quantity
    hold.remaining += quantity
    session.flush()
    return {"stream_id": stream.id, "sku": sku, "quantity": hold.quantity, "remaining": hold.remaining}


def serialize_stream(session: Session, stream: Stream) -> dict:
    holds = session.execute(select(StreamHold).where(StreamHold.stream_id == stream.id)).scalars()
    skus = dict(session.execute(select(Product.id, Product.sku)
                                .where(Product.cooperative_id == stream.cooperative_id)).all())
    return {"id": stream.id, "platform": stream.platform, "host": stream.host, "title": stream.title,
            "starts_at": stream.starts_at, "ends_at": stream.ends_at,
            "holds": [{"sku": skus[h.product_id], "quantity": h.quantity, "remaining": h.remaining}
                      for h in holds]}
