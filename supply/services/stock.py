"""Stock: the ledger of what farms declare and managers confirm, and available-to-promise."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supply.db.session import insert_ignore
from supply.db.models import Farm, FarmStock, Product, ProductBalance, StockLedgerEntry, StreamHold
from supply.domain.errors import BelowReserved, NotFound
from supply.domain.rules import available_to_promise, check_adjustment


def adjust_stock(session: Session, cooperative_id: int, *, farm_id: int, sku: str, delta: int, kind: str,
                 reason: str, actor: str) -> dict:
    """Append a ledger entry and apply it to the farm's and the product's figures, or refuse (409)."""
    farm = session.execute(select(Farm).where(Farm.id == farm_id, Farm.cooperative_id == cooperative_id)).scalar()
    if farm is None:
        raise NotFound(f"farm {farm_id} does not exist", fields={"farm_id": ["unknown farm"]})
    product = get_product(session, cooperative_id, sku, field="sku")
    stock = lock_farm_stock(session, farm_id, product.id)
    balance = session.execute(select(ProductBalance).where(ProductBalance.product_id == product.id)
                              .with_for_update().execution_options(populate_existing=True)).scalar_one()
    refusal = check_adjustment(kind, delta, declared=stock.declared, confirmed=stock.confirmed,
                               allocated=stock.allocated, product_confirmed=balance.confirmed,
                               product_reserved=_backed(balance), product_held=balance.held)
    if refusal:
        raise BelowReserved(refusal, fields={"delta": [refusal]})
    setattr(stock, kind, getattr(stock, kind) + delta)
    setattr(balance, kind, getattr(balance, kind) + delta)
    entry = StockLedgerEntry(cooperative_id=cooperative_id, farm_id=farm_id, product_id=product.id, kind=kind,
                             delta=delta, reason=reason, actor=actor)
    session.add(entry)
    session.flush()
    return {"entry_id": entry.id, "farm_id": farm_id, "sku": sku, "kind": kind, "delta": delta,
            "reason": reason, "declared": stock.declared, "confirmed": stock.confirmed,
            "allocated": stock.allocated, "created_at": entry.created_at}


def lock_farm_stock(session: Session, farm_id: int, product_id: int) -> FarmStock:
    insert_ignore(session, FarmStock, farm_id=farm_id, product_id=product_id, declared=0, confirmed=0, allocated=0)
    return session.execute(select(FarmStock).where(FarmStock.farm_id == farm_id,
                                                   FarmStock.product_id == product_id)
                           .with_for_update().execution_options(populate_existing=True)).scalar_one()


def get_product(session: Session, cooperative_id: int, sku: str, *, field: str | None = None) -> Product:
    product = session.execute(select(Product).where(Product.cooperative_id == cooperative_id,
                                                    Product.sku == sku)).scalar()
    if product is None:
        raise NotFound(f"no product with sku {sku!r}", fields={field: ["unknown sku"]} if field else None)
    return product


def get_availability(session: Session, cooperative_id: int, sku: str, *, farm_names: bool,
                     stream_id: int | None = None) -> dict:
    """ATP now for a product, by farm, and what each stream holds (flow 1 of the design)."""
    product = get_product(session, cooperative_id, sku)
    balance = session.get(ProductBalance, product.id)
    farms = session.execute(
        select(Farm.id, Farm.name, FarmStock.declared, FarmStock.confirmed, FarmStock.allocated)
        .join(FarmStock, FarmStock.farm_id == Farm.id)
        .where(FarmStock.product_id == product.id)
        .order_by(FarmStock.confirmed.desc(), Farm.id)).all()
    by_farm = []
    for farm_id, name, declared, confirmed, allocated in farms:
        row = {"declared": declared, "confirmed": confirmed, "allocated": allocated}
        if farm_names:
            row = {"farm_id": farm_id, "farm_name": name, **row}
        by_farm.append(row)
    holds = session.execute(select(StreamHold.stream_id, StreamHold.quantity, StreamHold.remaining)
                            .where(StreamHold.product_id == product.id, StreamHold.remaining > 0)
                            .order_by(StreamHold.stream_id)).all()
    body = {
        "sku": product.sku,
        "name": product.name,
        "unit": product.unit,
        "available": available_to_promise(balance.confirmed, _backed(balance), balance.held),
        "confirmed": balance.confirmed,
        "declared": balance.declared,
        "reserved": balance.reserved,
        "held": balance.held,
        "backordered": balance.backordered,
        "by_farm": by_farm,
        "holds": [{"stream_id": s, "quantity": q, "remaining": r} for s, q, r in holds],
    }
    if stream_id is not None:
        body["held_for_stream"] = sum(r for s, _q, r in holds if s == stream_id)
        body["available_for_stream"] = body["available"] + body["held_for_stream"]
    return body


def _backed(balance: ProductBalance) -> int:
    """Reserved units that confirmed stock must cover: backordered ones were already found missing
    (a farm came up short and no other farm had them), so no stock stands behind them."""
    return balance.reserved - balance.backordered


def ledger_totals(session: Session, farm_id: int, product_id: int) -> dict[str, int]:
    """The ledger summed per kind (what the figures in farm_stock must equal)."""
    rows = session.execute(select(StockLedgerEntry.kind, func.sum(StockLedgerEntry.delta))
                           .where(StockLedgerEntry.farm_id == farm_id, StockLedgerEntry.product_id == product_id)
                           .group_by(StockLedgerEntry.kind)).all()
    return {kind: int(total) for kind, total in rows}


def list_ledger(session: Session, cooperative_id: int, *, farm_id: int | None = None, sku: str | None = None,
                limit: int = 100, offset: int = 0, before_id: int | None = None) -> list[dict]:
    """The newest entries first; `before_id` keeps those older than an entry (a page that stays put
    while new entries come in)."""
    query = _ledger_where(select(StockLedgerEntry, Product.sku), cooperative_id, farm_id, sku, before_id)
    rows = session.execute(query.order_by(StockLedgerEntry.id.desc()).limit(limit).offset(offset)).all()
    return [{"id": e.id, "farm_id": e.farm_id, "sku": s, "kind": e.kind, "delta": e.delta, "reason": e.reason,
             "actor": e.actor, "ref": e.ref, "created_at": e.created_at} for e, s in rows]


def count_ledger(session: Session, cooperative_id: int, *, farm_id: int | None = None, sku: str | None = None,
                 before_id: int | None = None) -> int:
    """How many entries `list_ledger` pages through with the same filters."""
    return session.execute(_ledger_where(select(func.count(StockLedgerEntry.id)), cooperative_id, farm_id, sku,
                                         before_id)).scalar_one()


def _ledger_where(query, cooperative_id: int, farm_id: int | None, sku: str | None, before_id: int | None):
    query = (query.join(Product, Product.id == StockLedgerEntry.product_id)
             .where(StockLedgerEntry.cooperative_id == cooperative_id))
    if farm_id is not None:
        query = query.where(StockLedgerEntry.farm_id == farm_id)
    if sku is not None:
        query = query.where(Product.sku == sku)
    if before_id is not None:
        query = query.where(StockLedgerEntry.id < before_id)
    return query


