"""Recording in bulk (SQLite, which holds the database's write lock for the whole transaction): the
figures are read first, every order decided against them, and everything written after, in a few
set-based statements."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import bindparam, delete, insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from supply.db.models import Order, OrderLine, ProductBalance, StreamHold
from supply.domain.rules import OrderRequest
from supply.services.orders.lookups import hold_keys, read_holds
from supply.services.orders.outcomes import OrderOutcome, finish, sort_out
from supply.services.orders.reservation import Decision, Figures, Hold, decide, taken


def record_in_bulk(session: Session, cooperative_id: int, requests: list[OrderRequest], products: dict,
                   figures: dict[int, Figures], streams: set[int],
                   existing: dict[tuple[str, str], Order]) -> list[OrderOutcome] | None:
    """Every order decided against the figures read and written; None (nothing written) when another
    connection stored one of the same orders meanwhile."""
    holds = read_holds(session, hold_keys(requests, products, streams))
    outcomes, fresh = sort_out(requests, products, streams, existing)
    decided = decide(requests, fresh, products, figures, holds)
    now = datetime.now(timezone.utc)
    order_ids: list[int] = []
    if decided:
        order_ids = _insert_orders(session, [_order_row(cooperative_id, requests[d.index], d, now) for d in decided])
        if order_ids is None:
            return None
        insert_lines(session, [dict(row, order_id=order_id)
                               for d, order_id in zip(decided, order_ids) for row in d.rows])
        _write_figures(session, figures, holds)
    return finish(requests, outcomes, decided, order_ids, now)


def _order_row(cooperative_id: int, request: OrderRequest, decision: Decision, now: datetime) -> dict:
    return {"cooperative_id": cooperative_id, "platform": request.platform, "external_id": request.external_id,
            "stream_id": request.stream_id, "status": decision.status, "request_hash": request.fingerprint(),
            "rejection": decision.short, "buyer": request.buyer, "created_at": now, "updated_at": now}


def _insert_orders(session: Session, rows: list[dict]) -> list[int] | None:
    """Insert these orders; their ids, in the same order. None, with nothing inserted, when one of
    them is stored already (another connection got it first)."""
    stored = session.execute(
        sqlite_insert(Order).on_conflict_do_nothing(index_elements=["cooperative_id", "platform", "external_id"])
        .returning(Order.id, Order.platform, Order.external_id), rows).all()
    ids = {(platform, external_id): order_id for order_id, platform, external_id in stored}
    if len(ids) < len(rows):
        if ids:
            session.execute(delete(Order).where(Order.id.in_(list(ids.values()))))
        return None
    return [ids[(row["platform"], row["external_id"])] for row in rows]


def insert_lines(session: Session, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(OrderLine), rows)


def _write_figures(session: Session, figures: dict[int, Figures], holds: dict[tuple[int, int], Hold]) -> None:
    """Apply what the decisions took, as deltas on the locked rows."""
    changed, drawn = taken(figures, holds)
    if changed:
        table = ProductBalance.__table__
        session.execute(table.update().where(table.c.product_id == bindparam("pid"))
                        .values(reserved=table.c.reserved + bindparam("d_reserved"),
                                held=table.c.held + bindparam("d_held")), changed)
    if drawn:
        table = StreamHold.__table__
        session.execute(table.update().where(table.c.stream_id == bindparam("sid"),
                                             table.c.product_id == bindparam("pid"))
                        .values(remaining=table.c.remaining - bindparam("taken")), drawn)
