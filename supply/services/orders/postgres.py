"""Recording on PostgreSQL: write the orders, then lock the figures, check, correct, settle.

The orders and their lines are written before the figures are locked, on a decision made against the
figures as read: only the figures' update and the commit wait behind the lock, so concurrent calls
overlap their writes. Under the lock the orders are decided again unless they are bound to come out
the same, and the few whose outcome changed are corrected before the commit. Every statement's text
is the same for any number of orders: the rows travel as JSON documents, which PostgreSQL reads faster
than the driver can spell out arrays.
"""
from __future__ import annotations

from datetime import datetime, timezone

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from supply.domain.errors import ServiceUnavailable
from supply.domain.rules import OrderRequest
from supply.services.orders.lookups import find_many, hold_keys, known_streams, read_holds, read_products
from supply.services.orders.outcomes import OrderOutcome, OutcomeRef, finish, key, replay, sort_out
from supply.services.orders.reservation import Decision, Figures, Hold, decide, taken


def record_on_postgres(session: Session, cooperative_id: int, requests: list[OrderRequest],
                       before_lock) -> list[OrderOutcome]:
    streams = known_streams(session, cooperative_id, {r.stream_id for r in requests if r.stream_id})
    skus = {line.sku for r in requests for line in r.lines}
    products, seen = read_products(session, cooperative_id, skus, lock=False)
    keys = hold_keys(requests, products, streams)
    seen_holds = read_holds(session, keys, lock=False)
    outcomes, fresh = sort_out(requests, products, streams, {})
    figures = {pid: f.copy() for pid, f in seen.items()}
    holds = {hold_key: h.copy() for hold_key, h in seen_holds.items()}
    decided = decide(requests, fresh, products, figures, holds)
    now = datetime.now(timezone.utc)
    inserted = _insert_orders_pg(session, cooperative_id, requests, decided, now) if decided else {}

    # The orders another connection had stored already get their first answer (repeats included).
    stored = {key(requests[d.index]): d.index for d in decided if key(requests[d.index]) not in inserted}
    if stored:
        existing = find_many(session, cooperative_id, set(stored))
        if len(existing) < len(stored):   # skipped on insert, yet not found: cannot happen, or retry
            raise ServiceUnavailable("an order changed while it was recorded; retry")
        for index, request in enumerate(requests):
            request_key = key(request)
            if request_key in stored and (index == stored[request_key] or isinstance(outcomes[index], OutcomeRef)):
                outcomes[index] = replay(existing[request_key], request)
        decided = [d for d in decided if key(requests[d.index]) in inserted]

    order_ids = [inserted[key(requests[d.index])] for d in decided]
    answered = finish(requests, list(outcomes), decided, order_ids, now)
    if before_lock is not None:
        before_lock(answered)
    if not decided:
        return answered   # nothing takes from the figures

    # Under the lock, as little as can be: decide again unless the decisions are bound to come out the
    # same, correct the orders whose outcome changed, and settle the figures.
    _, locked = read_products(session, cooperative_id, skus)
    locked_holds = read_holds(session, keys)
    corrected: list[Decision] = []
    if not _still_holds(decided, stored, seen, figures, locked, seen_holds, locked_holds):
        figures, holds = locked, locked_holds
        again = decide(requests, [d.index for d in decided], products, figures, holds)
        corrected = [new for old, new in zip(decided, again)
                     if (old.status, old.rows, old.short) != (new.status, new.rows, new.short)]
        decided = again
    _settle_pg(session, [(inserted[key(requests[d.index])], d) for d in corrected], figures, holds)
    if corrected:
        answered = finish(requests, outcomes, decided, order_ids, now)
    return answered


def _still_holds(decided: list[Decision], stored: dict, seen: dict[int, Figures], after: dict[int, Figures],
                 locked: dict[int, Figures], seen_holds: dict[tuple[int, int], Hold],
                 locked_holds: dict[tuple[int, int], Hold]) -> bool:
    """Whether deciding again on the locked figures would give exactly the decisions made on the
    figures as read (`seen`, which the decisions turned into `after`).

    So when nothing moved; and also when every order was reserved, no order was found stored, the
    holds did not move, and each product still has room, after what others took meanwhile, for all
    that this call takes from it: then every order, in turn, still fits, drawing the same from the
    holds. In a spike other calls reserve between the read and the lock nearly every time, and this
    spares deciding a second time.
    """
    if stored or locked_holds != seen_holds:
        return False
    if all(locked[pid].counts() == seen[pid].counts() for pid in seen):
        return True
    if any(d.status != "reserved" for d in decided):
        return False
    for pid, figures in after.items():
        # reserved, less drawn from holds
        took = (figures.reserved - seen[pid].reserved) - (seen[pid].held - figures.held)
        if locked[pid].available < took:
            return False
    return True


def _insert_orders_pg(session: Session, cooperative_id: int, requests: list[OrderRequest],
                      decided: list[Decision], now: datetime) -> dict[tuple[str, str], int]:
    """Insert the decided orders with their lines, skipping those stored already (by another
    connection): (platform, external id) -> id of each order inserted.

    Rows go in key order, so two calls inserting some of the same orders take their keys in the same
    order and cannot deadlock on them; and nothing is locked yet that another call could wait for.
    """
    ordered = sorted(decided, key=lambda d: key(requests[d.index]))
    order_rows, line_rows = [], []
    for n, decision in enumerate(ordered):
        request = requests[decision.index]
        order_rows.append({"platform": request.platform, "external_id": request.external_id,
                           "stream_id": request.stream_id, "status": decision.status,
                           "request_hash": request.fingerprint(), "rejection": decision.short,
                           "buyer": request.buyer, "n": n})
        for row in decision.rows:
            line_rows.append({"platform": request.platform, "external_id": request.external_id,
                              "product_id": row["product_id"], "quantity": row["quantity"],
                              "from_hold": row["from_hold"], "reserved": row["reserved"], "n": len(line_rows)})
    stored = session.connection().execute(_INSERT_PG, {"cooperative_id": cooperative_id, "now": now,
                                          "orders": orjson.dumps(order_rows).decode(),
                                          "lines": orjson.dumps(line_rows).decode()}).all()
    return {(platform, external_id): order_id for order_id, platform, external_id in stored}


def _settle_pg(session: Session, corrected: list[tuple[int, Decision]], figures: dict[int, Figures],
               holds: dict[tuple[int, int], Hold]) -> None:
    """Under the lock: the corrected orders (status, short lines and lines) and the figures, in one
    statement."""
    changed, drawn = taken(figures, holds)
    if not (changed or drawn or corrected):
        return
    fixes = [{"id": order_id, "status": d.status, "rejection": d.short} for order_id, d in corrected]
    lines = [{"order_id": order_id, "product_id": row["product_id"], "quantity": row["quantity"],
              "from_hold": row["from_hold"], "reserved": row["reserved"]}
             for order_id, d in corrected for row in d.rows]
    for n, row in enumerate(lines):
        row["n"] = n
    session.connection().execute(_SETTLE_PG, {
        "fixes": orjson.dumps(fixes).decode(), "lines": orjson.dumps(lines).decode(),
        "balances": orjson.dumps(changed).decode(), "holds": orjson.dumps(drawn).decode()})


_INSERT_PG = text("""
    WITH o AS (
        INSERT INTO orders (cooperative_id, platform, external_id, stream_id, status, request_hash, rejection,
                            buyer, created_at, updated_at)
        SELECT :cooperative_id, u.platform, u.external_id, u.stream_id, u.status, u.request_hash, u.rejection,
               u.buyer, :now, :now
        FROM json_to_recordset(CAST(:orders AS json))
             AS u(platform varchar, external_id varchar, stream_id integer, status varchar,
                  request_hash varchar, rejection json, buyer json, n bigint)
        ORDER BY u.n
        ON CONFLICT (cooperative_id, platform, external_id) DO NOTHING
        RETURNING id, platform, external_id
    ), l AS (
        INSERT INTO order_lines (order_id, product_id, quantity, from_hold, reserved, allocated, backordered,
                                 collected)
        SELECT o.id, v.product_id, v.quantity, v.from_hold, v.reserved, 0, 0, 0
        FROM json_to_recordset(CAST(:lines AS json))
             AS v(platform varchar, external_id varchar, product_id integer, quantity bigint, from_hold bigint,
                  reserved bigint, n bigint)
        JOIN o ON o.platform = v.platform AND o.external_id = v.external_id
        ORDER BY v.n
    )
    SELECT id, platform, external_id FROM o""")

# A corrected order's lines are written again (in their order, so they keep it by id); it is new, so
# nothing refers to them yet.
_SETTLE_PG = text("""
    WITH f AS (
        UPDATE orders SET status = x.status, rejection = x.rejection
        FROM json_to_recordset(CAST(:fixes AS json)) AS x(id bigint, status varchar, rejection json)
        WHERE orders.id = x.id
    ), gone AS (
        DELETE FROM order_lines WHERE order_id IN (
            SELECT x.id FROM json_to_recordset(CAST(:fixes AS json)) AS x(id bigint))
    ), l AS (
        INSERT INTO order_lines (order_id, product_id, quantity, from_hold, reserved, allocated, backordered,
                                 collected)
        SELECT v.order_id, v.product_id, v.quantity, v.from_hold, v.reserved, 0, 0, 0
        FROM json_to_recordset(CAST(:lines AS json))
             AS v(order_id bigint, product_id integer, quantity bigint, from_hold bigint, reserved bigint, n bigint)
        ORDER BY v.n
    ), b AS (
        UPDATE product_balances SET reserved = product_balances.reserved + d.d_reserved,
                                    held = product_balances.held + d.d_held
        FROM json_to_recordset(CAST(:balances AS json)) AS d(pid integer, d_reserved bigint, d_held bigint)
        WHERE product_balances.product_id = d.pid
    )
    UPDATE stream_holds SET remaining = stream_holds.remaining - d.taken
    FROM json_to_recordset(CAST(:holds AS json)) AS d(sid integer, pid integer, taken bigint)
    WHERE stream_holds.stream_id = d.sid AND stream_holds.product_id = d.pid""")
