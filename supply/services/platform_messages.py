"""Platform webhook events -> orders. Each event is stored once (by its message id) in the same
transaction as what it changes, so an acknowledged event is never lost and a re-delivery changes nothing.

A push is handled as a set: one read for the product mapping, one for the messages already stored and
one for the newest versions applied, then the events in push order, consecutive paid events decided
together by `record_orders`, and one insert of every new message with its outcome.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

import orjson
from sqlalchemy import and_, bindparam, func, or_, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from supply.db.models import PlatformMessage, PlatformProduct, Product
from supply.domain.errors import Conflict, NotFound, ServiceUnavailable
from supply.domain.rules import OrderLineRequest, OrderRequest
from supply.db.session import is_connection_error
from supply.platforms import InvalidPayload, PlatformEvent
from supply.platforms.base import refused_event
from supply.services.group_commit import GroupCommit
from supply.services.orders import (
    OrderOutcome,
    cancel_order_by_external_id,
    lock_products,
    record_orders,
)

_ORDER_KINDS = ("paid", "cancelled", "refunded")
# A paid event in one of these states names an order the service could not record by itself.
AWAITING_MANAGER = ("needs_order_detail", "unmapped")
# A message in one of these states fixes its order at its version: an older event is stale after it.
_SETTLED = ("applied", "rejected")


log = logging.getLogger(__name__)


def apply_push(db, cooperative_id: int, events: list[PlatformEvent], *, refs_are_skus: bool) -> list[dict]:
    """`apply_platform_events` in one transaction (run again by `db.run` on a deadlock).

    Every value is checked against its column before it gets here (the adapters' `check_event`); should
    the database still refuse the push for a value nothing checked, each event is applied in its own
    transaction and one the database refuses is stored as refused with the reason: one event never
    costs the others, and nothing of a refused event is half-written.
    """
    def apply(chosen: list[PlatformEvent]) -> list[dict]:
        return db.run(lambda session: apply_platform_events(session, cooperative_id, chosen,
                                                            refs_are_skus=refs_are_skus))
    try:
        return apply(events)
    except _REFUSED_BY_DATABASE as exc:
        if isinstance(exc, StatementError) and is_connection_error(exc):
            raise
        log.warning("a push of %d events was refused by the database; applying its events one by one",
                    len(events), exc_info=True)
    results = []
    for event in events:
        try:
            results.extend(apply([event]))
        except _REFUSED_BY_DATABASE as exc:
            if isinstance(exc, StatementError) and is_connection_error(exc):
                raise
            log.warning("an event of platform %s was refused by the database", event.platform, exc_info=True)
            problem = InvalidPayload("event", f"the database refused a value of it ({type(exc).__name__})")
            results.extend(apply([refused_event(event.platform, event.raw, problem)]))
    return results


# What a value beyond a column's limits raises on its way in (DataError and the like, an encoder's error).
_REFUSED_BY_DATABASE = (StatementError, TypeError, ValueError, OverflowError)


def apply_platform_events(session: Session, cooperative_id: int, events: list[PlatformEvent], *,
                          refs_are_skus: bool) -> list[dict]:
    """One result per event, in order. `refs_are_skus` for our own format, whose lines name SKUs.

    Each new message is stored once, with its outcome, in one insert that skips any stored already:
    for the usual push (paid events only, decided together) as soon as its orders are written and
    before the figures are locked, so that the lock is held for little more than the figures' update;
    otherwise at the end. The first attempt does not look for stored messages first (a push is seldom
    delivered twice, and the look cost a tenth of the database's work on a push): if one of its
    messages turns out to be stored already, the push is undone to its savepoint and done again, now
    looking first, and answers that message as a duplicate. A message is never applied twice.
    """
    mapping = {} if refs_are_skus else _map_refs(session, cooperative_id, events)
    for attempt in range(_ATTEMPTS):
        savepoint = session.begin_nested()
        push = _Push(session, cooperative_id, events, mapping, refs_are_skus, savepoint=savepoint)
        try:
            push.find_stored(look=attempt > 0)
            push.read_versions()
            push.early = not push.acts_more_than_once()
            if not push.early:
                # Every product of the push locked first, in product order: two pushes that each lock
                # several times cannot deadlock. The usual push locks once, inside `record_orders`,
                # after its orders (and messages) are written.
                lock_products(session, cooperative_id, _skus(events, mapping, refs_are_skus))
            push.act()
            push.store_messages()
        except _StoredMeanwhile:
            savepoint.rollback()
            continue
        return push.answers()
    raise ServiceUnavailable("the push's messages kept arriving on another connection at the same time; retry")


def _skus(events: list[PlatformEvent], mapping: dict[tuple[str, str], str], refs_are_skus: bool) -> set[str]:
    skus: set[str] = set()
    for event in events:
        if event.lines and event.kind in _ORDER_KINDS:
            lines, _ = _map_lines(event, mapping, refs_are_skus)
            skus.update(line.sku for line in lines)
    return skus


class _StoredMeanwhile(Exception):
    """One of the push's messages was stored already: the push is to be done again."""


_ATTEMPTS = 3


@dataclass
class _Push:
    """The events of one push on their way through; `results[i]` is event i's answer once decided."""

    session: Session
    cooperative_id: int
    events: list[PlatformEvent]
    mapping: dict[tuple[str, str], str]
    refs_are_skus: bool
    results: list[dict | None] = field(default_factory=list)
    new: list[int] = field(default_factory=list)                   # the new messages' event indexes, in push order
    outcomes: dict[int, tuple[str, dict]] = field(default_factory=dict)   # event index -> (status, result)
    first_of: dict[int, int] = field(default_factory=dict)         # a repeat within the push -> first index
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    batch: list[tuple[int, OrderRequest]] = field(default_factory=list)
    batch_orders: set[tuple[str, str]] = field(default_factory=set)
    early: bool = False     # the messages are stored with the paid events' outcomes, before the lock
    stored: bool = False    # the messages are stored
    savepoint: object = None   # undoes the push when a message turns out to be stored already

    def find_stored(self, *, look: bool) -> None:
        """Which messages are new (all of them unless `look`): the others (stored before) are answered
        as duplicates with the result they had."""
        self.results = [None] * len(self.events)
        first: dict[tuple[str, str], int] = {}
        for index, event in enumerate(self.events):
            if event.kind == "ping":
                self.results[index] = {**_base(event), "status": "ping"}
                continue
            key = (event.platform, event.message_id)
            if key in first:
                self.first_of[index] = first[key]
            else:
                first[key] = index
        stored = _stored_results(self.session, self.cooperative_id, set(first)) if look else {}
        for key, index in first.items():
            if key in stored:
                self.results[index] = {**_base(self.events[index]), "status": "duplicate_message",
                                       "first_result": stored[key]}
            else:
                self.new.append(index)
        # Repeats within the push of a message stored before get its result; repeats of the new ones
        # are answered in `answers`, once their first is decided.
        for index, first_index in self.first_of.items():
            if first_index not in self.new:
                event = self.events[index]
                self.results[index] = {**_base(event), "status": "duplicate_message",
                                       "first_result": stored.get((event.platform, event.message_id))}

    def read_versions(self) -> None:
        """The newest version already settled for each order the new messages may act on."""
        new = [self.events[index] for index in self.new]
        orders = {(event.platform, event.external_order_id) for event in new
                  if event.version is not None and event.external_order_id is not None and event.kind in _ORDER_KINDS}
        self.versions = _settled_versions(self.session, self.cooperative_id, orders)

    def acts_more_than_once(self) -> bool:
        """Whether `act` will lock figures more than once: a cancel, or an order paid twice."""
        paid: set[tuple[str, str]] = set()
        for index in self.new:
            event = self.events[index]
            if event.external_order_id is None or event.kind not in _ORDER_KINDS:
                continue
            if event.kind != "paid":
                return True
            order = (event.platform, event.external_order_id)
            if order in paid:
                return True
            paid.add(order)
        return False

    def act(self) -> None:
        """Each new message in push order; paid events gather into one `record_orders` call until an
        event needs to see what they did."""
        for index in self.new:
            event = self.events[index]
            if event.kind == "refused":   # unreadable, or beyond a column's limits: kept for the manager
                self._decide(index, "refused", _refusal(event))
                continue
            if event.external_order_id is None or event.kind in ("other", "created"):
                # An unpaid order reserves nothing; it is kept for the record.
                self._decide(index, "recorded", {})
                continue
            order = (event.platform, event.external_order_id)
            if order in self.batch_orders:
                self._record_batch()
            if event.version is not None and self.versions.get(order, event.version) > event.version:
                self._decide(index, "stale", {"reason": "a newer event for this order was already applied"})
            elif event.kind in ("cancelled", "refunded"):
                self._record_batch()   # a cancel releases stock the paid events before it may have taken
                cancelled = cancel_order_by_external_id(self.session, self.cooperative_id, event.platform,
                                                        event.external_order_id)
                self._decide(index, "applied", {"order_id": cancelled["id"], "order_status": cancelled["status"]})
            elif event.needs_order_detail:   # paid, naming the order but not its lines
                self._decide(index, "needs_order_detail", {"reason": "the event names the order but not its lines"})
            else:
                lines, unmapped = _map_lines(event, self.mapping, self.refs_are_skus)
                if unmapped:
                    self._decide(index, "unmapped", {"reason": "products not mapped to a sku",
                                                     "product_refs": unmapped})
                else:
                    self.batch.append((index, _order_request(event, lines, self.refs_are_skus)))
                    self.batch_orders.add(order)
        self._record_batch()

    def _record_batch(self) -> None:
        if not self.batch:
            return
        batch, self.batch, self.batch_orders = self.batch, [], set()
        early = self.early and not self.stored   # the push's only batch, after every other event
        stored_with: list = []   # the outcomes the messages were stored with

        def store_early(outcomes: list[OrderOutcome]) -> None:
            for (index, _), outcome in zip(batch, outcomes):
                self._decide(index, _outcome_status(outcome), _outcome_body(outcome))
            self.store_messages()
            stored_with.append(outcomes)

        outcomes = record_orders(self.session, self.cooperative_id, [request for _, request in batch],
                                 before_lock=store_early if early else None)
        if stored_with and outcomes is stored_with[0]:
            return   # nothing was decided again under the lock: every outcome is as stored
        changed = []
        for (index, _), outcome in zip(batch, outcomes):
            status, result = _outcome_status(outcome), _outcome_body(outcome)
            if early and self.outcomes[index] != (status, result):
                changed.append(index)
            self._decide(index, status, result)
        if changed:   # decided again under the lock: the stored outcome follows
            _correct_messages(self.session, [
                _message_row(self.cooperative_id, self.events[index], *self.outcomes[index]) for index in changed])

    def _decide(self, index: int, status: str, result: dict) -> None:
        event = self.events[index]
        self.outcomes[index] = (status, result)
        self.results[index] = {**_base(event), "status": status, **result}
        if status in _SETTLED and event.version is not None:
            order = (event.platform, event.external_order_id)
            self.versions[order] = max(self.versions.get(order, event.version), event.version)

    def store_messages(self) -> None:
        """Store every new message with its outcome (once); raises _StoredMeanwhile when one of them
        was stored already."""
        if self.stored:
            return
        rows = [_message_row(self.cooperative_id, self.events[index], *self.outcomes[index]) for index in self.new]
        if _insert_messages(self.session, rows) < len(rows):
            raise _StoredMeanwhile()
        self.stored = True
        if self.savepoint is not None:
            self.savepoint.commit()   # no longer needed (for the usual push, released before the lock)

    def answers(self) -> list[dict]:
        for index, first_index in self.first_of.items():
            if first_index in self.outcomes:
                self.results[index] = {**_base(self.events[index]), "status": "duplicate_message",
                                       "first_result": _jsonable(self.outcomes[first_index][1])}
        return self.results


def _refusal(event: PlatformEvent) -> dict:
    problem = event.refusal or {"field": "event", "reason": "could not be read"}
    return {"reason": f"{problem['field']}: {problem['reason']}",
            "error": {"code": "invalid_event", "message": "the event could not be read; nothing of it was applied",
                      "fields": {problem["field"]: [problem["reason"]]}}}


def _base(event: PlatformEvent) -> dict:
    return {"message_id": event.message_id, "kind": event.kind, "external_order_id": event.external_order_id}


def _per_platform(platform_column, value_column, keys: set[tuple[str, str]]):
    """(platform, value) IN keys, spelled per platform so that each part is an index range."""
    values: dict[str, set[str]] = {}
    for platform, value in keys:
        values.setdefault(platform, set()).add(value)
    return or_(*(and_(platform_column == platform, value_column.in_(sorted(chosen)))
                 for platform, chosen in sorted(values.items())))


def _stored_results(session: Session, cooperative_id: int, keys: set[tuple[str, str]]) -> dict:
    """(platform, message_id) -> the stored result, for the messages among `keys` stored already."""
    if not keys:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(_STORED_RESULTS_PG, {"cooperative_id": cooperative_id, "keys": _key_rows(keys)})
    else:
        rows = session.execute(select(PlatformMessage.platform, PlatformMessage.message_id, PlatformMessage.result)
                               .where(PlatformMessage.cooperative_id == cooperative_id,
                                      _per_platform(PlatformMessage.platform, PlatformMessage.message_id, keys)))
    return {(platform, message_id): result for platform, message_id, result in rows}


def _key_rows(keys: set[tuple[str, str]]) -> str:
    return _json_text([{"platform": platform, "value": value} for platform, value in sorted(keys)])


# One index probe per key, whatever the statistics say: in the first minute of a spike they still
# describe an empty table, and the planner then reads every message of the table once per push.
_STORED_RESULTS_PG = text("""
    SELECT m.platform, m.message_id, m.result
    FROM json_to_recordset(CAST(:keys AS json)) AS k(platform varchar, value varchar)
    CROSS JOIN LATERAL (
        SELECT platform, message_id, result FROM platform_messages
        WHERE cooperative_id = :cooperative_id AND platform = k.platform AND message_id = k.value
        LIMIT 1) AS m""")

_SETTLED_VERSIONS_PG = text("""
    SELECT k.platform, k.value, v.newest
    FROM json_to_recordset(CAST(:keys AS json)) AS k(platform varchar, value varchar)
    CROSS JOIN LATERAL (
        SELECT max(version) AS newest FROM platform_messages
        WHERE cooperative_id = :cooperative_id AND external_order_id = k.value AND platform = k.platform
          AND version IS NOT NULL AND status IN ('applied', 'rejected')) AS v""")


def _message_row(cooperative_id: int, event: PlatformEvent, status: str, result: dict) -> dict:
    return {"cooperative_id": cooperative_id, "platform": event.platform, "message_id": event.message_id,
            "kind": event.kind, "external_order_id": event.external_order_id, "version": event.version,
            "status": status, "payload": event.raw, "result": result}


def _insert_messages(session: Session, rows: list[dict]) -> int:
    """Insert these messages, skipping any stored already; how many were inserted."""
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        # One statement of constant text for any size of push; the order of the push is kept in ids.
        for n, row in enumerate(rows):
            row["n"] = n
        return session.execute(_INSERT_MESSAGES_PG, {"now": datetime.now(timezone.utc),
                                                     "rows": _json_text(rows)}).rowcount
    from sqlalchemy.dialects.sqlite import insert

    for row in rows:
        row["payload"], row["result"] = _jsonable(row["payload"]), _jsonable(row["result"])
    statement = (insert(PlatformMessage)
                 .on_conflict_do_nothing(index_elements=["cooperative_id", "platform", "message_id"])
                 .returning(PlatformMessage.id))
    return len(session.execute(statement, rows).all())


_INSERT_MESSAGES_PG = text("""
    INSERT INTO platform_messages (cooperative_id, platform, message_id, kind, external_order_id, version, status,
                                   payload, result, created_at)
    SELECT r.cooperative_id, r.platform, r.message_id, r.kind, r.external_order_id, r.version, r.status, r.payload,
           r.result, :now
    FROM json_to_recordset(CAST(:rows AS json))
         AS r(cooperative_id integer, platform varchar, message_id varchar, kind varchar, external_order_id varchar,
              version bigint, status varchar, payload json, result json, n bigint)
    ORDER BY r.n
    ON CONFLICT (cooperative_id, platform, message_id) DO NOTHING""")


def _correct_messages(session: Session, rows: list[dict]) -> None:
    """The outcome of these stored messages, decided again under the lock (when a product ran out
    between the read and the lock, most of a push's messages)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_CORRECT_MESSAGES_PG, {"rows": _json_text(
            [{key: row[key] for key in ("cooperative_id", "platform", "message_id", "status", "result")}
             for row in rows])})
        return
    table = PlatformMessage.__table__
    session.execute(table.update().where(table.c.cooperative_id == bindparam("b_cooperative_id"),
                                         table.c.platform == bindparam("b_platform"),
                                         table.c.message_id == bindparam("b_message_id"))
                    .values(status=bindparam("b_status"), result=bindparam("b_result")),
                    [{f"b_{key}": row[key] for key in ("cooperative_id", "platform", "message_id", "status")}
                     | {"b_result": _jsonable(row["result"])} for row in rows])


_CORRECT_MESSAGES_PG = text("""
    UPDATE platform_messages AS m SET status = x.status, result = x.result
    FROM json_to_recordset(CAST(:rows AS json))
         AS x(cooperative_id integer, platform varchar, message_id varchar, status varchar, result json)
    WHERE m.cooperative_id = x.cooperative_id AND m.platform = x.platform AND m.message_id = x.message_id""")


def _json_text(value) -> str:
    """JSON for a statement's parameter; what JSON cannot hold is written as text, as `_jsonable` does."""
    return orjson.dumps(value, default=str).decode()


def _settled_versions(session: Session, cooperative_id: int, orders: set[tuple[str, str]]) -> dict:
    """(platform, external order id) -> the newest version of a message that settled it (applied or
    rejected), for those of `orders` that have one."""
    if not orders:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(_SETTLED_VERSIONS_PG, {"cooperative_id": cooperative_id, "keys": _key_rows(orders)})
    else:
        rows = session.execute(
            select(PlatformMessage.platform, PlatformMessage.external_order_id, func.max(PlatformMessage.version))
            .where(PlatformMessage.cooperative_id == cooperative_id, PlatformMessage.status.in_(_SETTLED),
                   PlatformMessage.version.is_not(None),
                   _per_platform(PlatformMessage.platform, PlatformMessage.external_order_id, orders))
            .group_by(PlatformMessage.platform, PlatformMessage.external_order_id))
    return {(platform, order): newest for platform, order, newest in rows if newest is not None}


def _map_refs(session: Session, cooperative_id: int, events: list[PlatformEvent]) -> dict[tuple[str, str], str]:
    """(platform, product_ref) -> our SKU, for every product the push's order events name."""
    return skus_of_refs(session, cooperative_id, {(event.platform, line.product_ref) for event in events
                                                  if event.kind in _ORDER_KINDS for line in event.lines})


def skus_of_refs(session: Session, cooperative_id: int, refs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(platform, product_ref) -> our SKU, for those of `refs` a manager or a linked listing mapped."""
    if not refs:
        return {}
    rows = session.execute(
        select(PlatformProduct.platform, PlatformProduct.product_ref, Product.sku)
        .join(Product, Product.id == PlatformProduct.product_id)
        .where(PlatformProduct.cooperative_id == cooperative_id,
               _per_platform(PlatformProduct.platform, PlatformProduct.product_ref, refs)))
    return {(platform, ref): sku for platform, ref, sku in rows}


def _map_lines(event: PlatformEvent, mapping: dict[tuple[str, str], str], refs_are_skus: bool):
    if refs_are_skus:
        return [OrderLineRequest(line.product_ref, line.quantity) for line in event.lines], []
    unmapped = sorted({line.product_ref for line in event.lines if (event.platform, line.product_ref) not in mapping})
    return [OrderLineRequest(mapping[(event.platform, line.product_ref)], line.quantity) for line in event.lines
            if (event.platform, line.product_ref) in mapping], unmapped


def _order_request(event: PlatformEvent, lines: list[OrderLineRequest], refs_are_skus: bool) -> OrderRequest:
    stream_id = (event.raw.get("order") or {}).get("stream_id") if refs_are_skus else None
    return OrderRequest(platform=event.platform, external_id=event.external_order_id, lines=tuple(lines),
                        stream_id=stream_id if isinstance(stream_id, int) else None, buyer=event.buyer)


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
                           limit: int = 100, offset: int = 0, before_id: int | None = None) -> list[dict]:
    """The newest messages first, `limit` at a time from `offset`; `before_id` keeps those older than a
    message (the last id of a page gives the next: pages that stay put while pushes come in)."""
    query = _messages_where(select(PlatformMessage), cooperative_id, status, before_id)
    rows = session.execute(query.order_by(PlatformMessage.id.desc()).limit(limit).offset(offset)).scalars()
    return [_message_out(m) for m in rows]


def count_platform_messages(session: Session, cooperative_id: int, *, status: str | None = None,
                            before_id: int | None = None) -> int:
    """How many messages `list_platform_messages` pages through with the same filters."""
    return session.execute(_messages_where(select(func.count(PlatformMessage.id)), cooperative_id, status,
                                           before_id)).scalar_one()


def _messages_where(query, cooperative_id: int, status: str | None, before_id: int | None):
    query = query.where(PlatformMessage.cooperative_id == cooperative_id)
    if status:
        query = query.where(PlatformMessage.status == status)
    if before_id is not None:
        query = query.where(PlatformMessage.id < before_id)
    return query


def complete_platform_message(session: Session, cooperative_id: int, message_pk: int, *,
                              lines: tuple[OrderLineRequest, ...], stream_id: int | None = None,
                              buyer: dict | None = None) -> dict:
    """A paid event the service could not turn into an order by itself (its push named the order but
    not its lines, as Douyin's and Kuaishou's never do, or named products not mapped to a SKU),
    completed by a manager with the order's lines in our SKUs, as read in the platform's back office.

    The order is recorded as the event would have recorded it (all or nothing, against the figures),
    and the message settles with the outcome: applied, rejected for stock, duplicate_order when the
    order exists already (recorded another way, or cancelled before it was paid), or stale when a
    newer event for the order was applied meanwhile. Lines naming what does not exist, or an order
    already recorded with other lines, are refused and change nothing. The message is locked while it
    is completed: two managers cannot complete it twice.
    """
    message = session.execute(select(PlatformMessage).where(PlatformMessage.id == message_pk,
                                                            PlatformMessage.cooperative_id == cooperative_id)
                              .with_for_update()).scalar()
    if message is None:
        raise NotFound(f"platform message {message_pk} does not exist")
    if message.status not in AWAITING_MANAGER or message.kind != "paid" or message.external_order_id is None:
        raise Conflict(f"platform message {message_pk} is a {message.kind} event, {message.status}: only paid "
                       f"events awaiting their order's lines or a product mapping are completed by hand",
                       code="not_awaiting_lines")
    order = (message.platform, message.external_order_id)
    newest = _settled_versions(session, cooperative_id, {order}).get(order)
    if message.version is not None and newest is not None and newest > message.version:
        status, result = "stale", {"reason": "a newer event for this order was already applied"}
    else:
        outcome = record_orders(session, cooperative_id, [OrderRequest(
            platform=message.platform, external_id=message.external_order_id, lines=lines,
            stream_id=stream_id, buyer=buyer)])[0]
        if outcome.kind in ("invalid", "conflict"):
            raise outcome.error
        status, result = _outcome_status(outcome), _outcome_body(outcome)
    message.status, message.result = status, _jsonable(result)
    session.flush()
    return _message_out(message)


def _message_out(m: PlatformMessage) -> dict:
    return {"id": m.id, "platform": m.platform, "message_id": m.message_id, "kind": m.kind,
            "external_order_id": m.external_order_id, "version": m.version, "status": m.status,
            "result": m.result, "created_at": m.created_at,
            # a refused event could not be read: the manager sees it as it came
            "raw": m.payload if m.status == "refused" else None}


def _jsonable(value):
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


# -- pushes arriving together ------------------------------------------------------------------------

class PushCombiner(GroupCommit):
    """Groups the pushes that arrive together in one process into one transaction (`GroupCommit`).

    Under a spike each push would otherwise cost its own transaction: a connection check, a savepoint,
    a read of the settled versions, an insert and a commit, several round trips for a single message.
    Here a request queues its push's events (verified and read already) and waits; the group's thread
    applies what is queued for a cooperative with `apply_push` as one push (each event still decided
    as it would be alone, in arrival order), commits, and only then hands each request its results.
    `after_commit(cooperative_id, platform, results)`, when given, runs in that thread after the
    commit, once per platform of the group with the results of its pushes (the order-detail job of
    every push in the group), before the requests are answered.
    """

    thread_name = "push-combiner"

    def __init__(self, database, *, max_events: int = 500, idle_s: float = 10.0, after_commit=None):
        super().__init__(max_size=max_events, idle_s=idle_s)
        self.database = database
        self.after_commit = after_commit

    def apply(self, cooperative_id: int, platform: str, events: list[PlatformEvent], *,
              refs_are_skus: bool) -> list[dict]:
        """`apply_push(...)` of this push (from `platform`'s address), committed with the others queued
        meanwhile."""
        return self.submit((cooperative_id, refs_are_skus), (events, platform))

    def size(self, item) -> int:
        return len(item[0])

    def commit(self, key: tuple[int, bool], items: list) -> list[list[dict]]:
        cooperative_id, refs_are_skus = key
        results = apply_push(self.database, cooperative_id, [e for events, _ in items for e in events],
                             refs_are_skus=refs_are_skus)
        per_push, per_platform, start = [], {}, 0
        for events, platform in items:
            per_push.append(results[start:start + len(events)])
            per_platform.setdefault(platform, []).extend(per_push[-1])
            start += len(events)
        if self.after_commit is not None:
            for platform, platform_results in per_platform.items():
                try:
                    self.after_commit(cooperative_id, platform, platform_results)
                except Exception:  # the pushes are stored; what follows them is the sweep's to retry
                    log.exception("what follows %d stored %s pushes failed", len(items), platform)
        return per_push
