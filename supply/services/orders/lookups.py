"""The reads every way of recording shares: the products and their figures, the streams' holds, the
streams and the orders already stored."""
from __future__ import annotations

import orjson
from sqlalchemy import String, and_, any_, bindparam, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from supply.db.models import Order, Product, ProductBalance, Stream, StreamHold
from supply.domain.rules import OrderRequest
from supply.services.orders.reservation import Figures, Hold


def read_products(session: Session, cooperative_id: int, skus: set[str], *,
                  lock: bool = True) -> tuple[dict, dict[int, Figures]]:
    """The products named (sku -> row with .id) and their figures, in one read; locked (unless `lock`
    is false) in product order, so there are no deadlocks.

    Backordered units are reserved without stock behind them, so they count on the confirmed side
    (only reserved and held are written back). SQLite has no row locks; there every write transaction
    begins IMMEDIATE, so it holds the database's write lock already.
    """
    if not skus:
        return {}, {}
    if session.get_bind().dialect.name == "postgresql":
        query = _PRODUCTS_LOCKED_PG if lock else _PRODUCTS_PG
    else:
        query = _PRODUCTS
    products, figures = {}, {}
    # On the connection itself: the ORM's handling of a statement of columns cost more than the read.
    for row in session.connection().execute(query, {"cooperative_id": cooperative_id, "skus": sorted(skus)}):
        products[row.sku] = row
        figures[row.id] = Figures(row.confirmed + row.backordered, row.reserved, row.held, row.reserved, row.held)
    return products, figures


# Built once: a single order's transaction reads these twice, and building the statement each time
# cost more CPU than the rest of recording the order.
_FIGURES = (select(Product.id, Product.sku, ProductBalance.confirmed, ProductBalance.backordered,
                   ProductBalance.reserved, ProductBalance.held)
            .join(ProductBalance, ProductBalance.product_id == Product.id)
            .where(Product.cooperative_id == bindparam("cooperative_id"))
            .order_by(Product.id))
_PRODUCTS = _FIGURES.where(Product.sku.in_(bindparam("skus", expanding=True)))
_PRODUCTS_PG = _FIGURES.where(Product.sku == any_(bindparam("skus", type_=ARRAY(String))))
_PRODUCTS_LOCKED_PG = _PRODUCTS_PG.with_for_update(of=ProductBalance)


def hold_keys(requests: list[OrderRequest], products: dict, streams: set[int]) -> list[tuple[int, int]]:
    """The (stream, product) holds these orders may draw on, in lock order."""
    return sorted({(r.stream_id, products[line.sku].id) for r in requests if r.stream_id in streams
                   for line in r.lines if line.sku in products})


def read_holds(session: Session, keys: list[tuple[int, int]], *, lock: bool = True) -> dict[tuple[int, int], Hold]:
    """Read (and lock, unless `lock` is false) the streams' holds concerned."""
    if not keys:
        return {}
    query = (select(StreamHold.stream_id, StreamHold.product_id, StreamHold.remaining)
             .where(tuple_(StreamHold.stream_id, StreamHold.product_id).in_(keys))
             .order_by(StreamHold.stream_id, StreamHold.product_id))
    if lock and session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    return {(sid, pid): Hold(remaining) for sid, pid, remaining in session.execute(query)}


def known_streams(session: Session, cooperative_id: int, stream_ids: set[int]) -> set[int]:
    if not stream_ids:
        return set()
    return set(session.execute(select(Stream.id).where(and_(Stream.cooperative_id == cooperative_id,
                                                             Stream.id.in_(stream_ids)))).scalars())


def find_many(session: Session, cooperative_id: int, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Order]:
    """The orders already stored under these keys (usually none: only resends find any)."""
    if not keys:
        return {}
    by_platform: dict[str, list[str]] = {}
    for platform, external_id in keys:
        by_platform.setdefault(platform, []).append(external_id)
    postgres = session.get_bind().dialect.name == "postgresql"
    found_ids: list[int] = []
    for platform, external_ids in by_platform.items():
        if postgres:
            # The ids as one JSON document: a statement of constant text, however many keys.
            found_ids += session.execute(_FIND_PG, {"cooperative_id": cooperative_id, "platform": platform,
                                                    "ids": orjson.dumps(external_ids).decode()}).scalars()
        else:
            found_ids += session.execute(select(Order.id).where(
                Order.cooperative_id == cooperative_id, Order.platform == platform,
                Order.external_id.in_(external_ids))).scalars()
    if not found_ids:
        return {}
    found = session.execute(select(Order).where(Order.id.in_(found_ids)))
    return {(o.platform, o.external_id): o for o in found.scalars()}


# One index look-up per key, whatever the statistics say: in the first minute of a spike they still
# describe an empty table, and a join planned on them read every order of the platform per call.
_FIND_PG = text("""
    SELECT o.id FROM json_array_elements_text(CAST(:ids AS json)) AS k(external_id)
    CROSS JOIN LATERAL (
        SELECT id FROM orders WHERE cooperative_id = :cooperative_id AND platform = :platform
                                AND external_id = k.external_id
        LIMIT 1) AS o""")


def find(session: Session, cooperative_id: int, platform: str, external_id: str) -> Order | None:
    return session.execute(select(Order).where(Order.cooperative_id == cooperative_id,
                                               Order.platform == platform,
                                               Order.external_id == external_id)).scalar()
