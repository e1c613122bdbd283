"""Platform webhook events -> orders. Each event is stored once (by its message id) in the same
transaction as what it changes, so an acknowledged event is never lost and a re-delivery changes nothing.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supply.db.models import PlatformMessage, PlatformProduct, Product
from supply.domain.errors import NotFound
from supply.domain.rules import OrderLineRequest, OrderRequest
from supply.platforms import PlatformEvent
from supply.services.orders import OrderOutcome, cancel_order_by_external_id, lock_products, record_order


def apply_platform_events(session: Session, cooperative_id: int, events: list[PlatformEvent], *,
                          refs_are_skus: bool) -> list[dict]:
    """One result per event, in order. `refs_are_skus` for our own format, whose lines name SKUs."""
    skus: set[str] = set()
    for event in events:
        if event.lines and event.kind in ("paid", "cancelled", "refunded"):
            lines, _ = _map_lines(session, cooperative_id, event, refs_are_skus)
            skus.update(line.sku for line in lines)
    lock_products(session, cooperative_id, skus)
    return [_apply(session, cooperative_id, event, refs_are_skus) for event in events]


def _apply(session: Session, cooperative_id: int, event: PlatformEvent, refs_are_skus: bool) -> dict:
    base = {"message_id": event.message_id, "kind": event.kind, "external_order_id": event.external_order_id}
    if event.kind == "ping":
        return {**base, "status": "ping"}
    previous = session.execute(select(PlatformMessage).where(
        PlatformMessage.cooperative_id == cooperative_id, PlatformMessage.platform == event.platform,
        PlatformMessage.message_id == event.message_id)).scalar()
    if previous is not None:
        return {**base, "status": "duplicate_message", "first_result": previous.result}
    message = PlatformMessage(cooperative_id=cooperative_id, platform=event.platform, message_id=event.message_id,
                              kind=event.kind, external_order_id=event.external_order_id, version=event.version,
                              status="recorded", payload=_jsonable(event.raw))
    savepoint = session.begin_nested()
    try:
        session.add(message)
        session.flush()
    except IntegrityError:
        savepoint.rollback()
        return {**base, "status": "duplicate_message"}
    savepoint.commit()
    status, result = _act(session, cooperative_id, event, refs_are_skus)
    message.status = status
    message.result = _jsonable(result)
    session.flush()
    return {**base, "status": status, **result}


def _act(session: Session, cooperative_id: int, event: PlatformEvent, refs_are_skus: bool) -> tuple[str, dict]:
    if event.external_order_id is None or event.kind in ("other", "created"):
        # An unpaid order reserves nothing; it is kept for the record.
        return "recorded", {}
    if _is_stale(session, cooperative_id, event):
        return "stale", {"reason": "a newer event for this order was already applied"}
    if event.kind in ("cancelled", "refunded"):
        order = cancel_order_by_external_id(session, cooperative_id, event.platform, event.external_order_id)
        return "applied", {"order_id": order["id"], "order_status": order["status"]}
    if not event.lines:
        return "needs_order_detail", {"reason": "the event names the order but not its lines"}
    lines, unmapped = _map_lines(session, cooperative_id, event, refs_are_skus)
    if unmapped:
        return "unmapped", {"reason": "products not mapped to a sku", "product_refs": unmapped}
    stream_id = (event.raw.get("order") or {}).get("stream_id") if refs_are_skus else None
    request = OrderRequest(platform=event.platform, external_id=event.external_order_id, lines=tuple(lines),
                           stream_id=stream_id if isinstance(stream_id, int) else None, buyer=event.buyer)
    outcome = record_order(session, cooperative_id, request)
    return _outcome_status(outcome), _outcome_body(outcome)


def _is_stale(session: Session, cooperative_id: int, event: PlatformEvent) -> bool:
    if event.version is None:
        return False
    newest = session.execute(select(func.max(PlatformMessage.version)).where(
        PlatformMessage.cooperative_id == cooperative_id, PlatformMessage.platform == event.platform,
        PlatformMessage.external_order_id == event.external_order_id,
        PlatformMessage.message_id != event.message_id,
        PlatformMessage.status.in_(("applied", "rejected")))).scalar()
    return newest is not None and newest > event.version


def _map_lines(session: Session, cooperative_id: int, event: PlatformEvent, refs_are_skus: bool):
    if refs_are_skus:
        return [OrderLineRequest(line.product_ref, line.quantity) for line in event.lines], []
    refs = {line.product_ref for line in event.lines}
    mapped = dict(session.execute(
        select(PlatformProduct.product_ref, Product.sku).join(Product, Product.id == PlatformProduct.product_id)
        .where(PlatformProduct.cooperative_id == cooperative_id, PlatformProduct.platform == event.platform,
               PlatformProduct.product_ref.in_(refs))).all())
    unmapped = sorted(refs - set(mapped))
    return [OrderLineRequest(mapped[line.product_ref], line.quantity) for line in event.lines
            if line.product_ref in mapped], unmapped


def _outcome_status(outcome: OrderOutcome) -> str:
    return {"created": "applied", "duplicate": "duplicate_order", "rejected": "rejected"}.get(outcome.kind,
                                                                                               "invalid")


def _outcome_body(outcome: OrderOutcome) -> dict:
    if outcome.error is not None:
        return {"error": {"code": outcome.error.code, "message": outcome.error.message,
                          **({"fields": outcome.error.fields} if outcome.error.fields else {})},
                "order_id": (outcome.order or {}).get("id")}
    return {"order_id": outcome.order["id"], "order_status": outcome.order["status"]}


def map_platform_product(session: Session, cooperative_id: int, *, platform: str, product_ref: str,
                         sku: str) -> dict:
    product = session.execute(select(Product).where(Product.cooperative_id == cooperative_id,
                                                    Product.sku == sku)).scalar()
    if product is None:
        raise NotFound(f"no product with sku {sku!r}", fields={"sku": ["unknown sku"]})
    row = session.get(PlatformProduct, (cooperative_id, platform, product_ref))
    if row is None:
        session.add(PlatformProduct(cooperative_id=cooperative_id, platform=platform, product_ref=product_ref,
                                    product_id=product.id))
    else:
        row.product_id = product.id
    session.flush()
    return {"platform": platform, "product_ref": product_ref, "sku": sku}


def list_platform_messages(session: Session, cooperative_id: int, *, status: str | None = None,
                           limit: int = 100) -> list[dict]:
    query = select(PlatformMessage).where(PlatformMessage.cooperative_id == cooperative_id)
    if status:
        query = query.where(PlatformMessage.status == status)
    rows = session.execute(query.order_by(PlatformMessage.id.desc()).limit(limit)).scalars()
    return [{"id": m.id, "platform": m.platform, "message_id": m.message_id, "kind": m.kind,
             "external_order_id": m.external_order_id, "version": m.version, "status": m.status,
             "result": m.result, "created_at": m.created_at} for m in rows]


def _jsonable(value):
    import json

    return json.loads(json.dumps(value, default=str, ensure_ascii=False))
