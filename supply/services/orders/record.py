"""Recording orders: every line reserved against available-to-promise atomically, or the order refused.

All orders of one call share one transaction and a handful of statements, so a batch costs about what
one order costs while every order stays all-or-nothing. Balance rows are locked in product order, so
concurrent calls cannot deadlock on them; on PostgreSQL they are locked only once the orders are
written, so a spike's calls for one hot SKU queue behind each other for little more than the commit.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from supply.domain.rules import OrderRequest
from supply.metrics import count_orders
from supply.services.orders.bulk import record_in_bulk
from supply.services.orders.lookups import find_many, known_streams, read_products
from supply.services.orders.one_by_one import record_one
from supply.services.orders.outcomes import OrderOutcome
from supply.services.orders.postgres import record_on_postgres


def record_orders(session: Session, cooperative_id: int, requests: list[OrderRequest], *,
                  before_lock=None) -> list[OrderOutcome]:
    """Reserve each order or refuse it; one outcome per request, in order.

    `before_lock`, if given, is called with the outcomes as decided so far, once the orders are
    written and before the figures are locked: a caller can write what follows from them without
    holding the lock. The outcomes returned are final: the very list given to `before_lock` when
    none changed (on PostgreSQL a few may, when the figures moved before the lock).

    Each order is decided in memory, in turn, all-or-nothing, against the figures of its products (and
    stream holds) by the rule in `reservation`, and everything decided is written in a few set-based
    statements. The figures are locked in product order, so concurrent calls cannot deadlock on them.

    On PostgreSQL (`postgres`) the orders and their lines are written before the figures are locked,
    on a decision made against the figures as read: only the figures' update and the commit wait
    behind the lock, so concurrent calls overlap their writes. Under the lock the orders are decided
    again unless they are bound to come out the same, and the few whose outcome changed are corrected
    before the commit. Elsewhere (`bulk`: SQLite holds the database's write lock for the whole
    transaction) the figures are read first and everything is written after; only when another
    connection stored one of the same orders meanwhile does the call fall back to deciding order by
    order, each in its own savepoint (`one_by_one`).
    """
    if session.get_bind().dialect.name == "postgresql":
        outcomes = record_on_postgres(session, cooperative_id, requests, before_lock)
        count_orders(outcomes)
        return outcomes
    # Looked up before any lock is taken: an order stored by another connection after this point is
    # caught when the orders are inserted, which then gives way to deciding order by order.
    existing = find_many(session, cooperative_id, {(r.platform, r.external_id) for r in requests})
    streams = known_streams(session, cooperative_id, {r.stream_id for r in requests if r.stream_id})
    products, figures = read_products(session, cooperative_id, {line.sku for r in requests for line in r.lines})
    outcomes = record_in_bulk(session, cooperative_id, requests, products, figures, streams, existing)
    if outcomes is None:
        outcomes = [record_one(session, cooperative_id, request, products, streams) for request in requests]
    if before_lock is not None:
        before_lock(outcomes)
    count_orders(outcomes)
    return outcomes


def lock_products(session: Session, cooperative_id: int, skus: set[str]) -> None:
    """Lock these products' figures, in product order, for the rest of the transaction.

    A caller that will record several orders one after another in one transaction (a platform's
    push of many events) takes every lock first, so two such transactions cannot deadlock.
    """
    read_products(session, cooperative_id, skus)
