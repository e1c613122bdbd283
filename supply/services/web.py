"""What the pages need beyond the API's use cases: sign-in links and web sessions, the driver's
idempotent marks, releasing a hold, the host's stream figures and the manager's day at a glance.

No Flask here: the pages in supply/web are thin doors onto these functions.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from supply.db.models import (
    ApiToken, Driver, Order, OrderLine, PlatformMessage, Product, ProductBalance, Stream, StreamHold, StopMark,
    WebLink, WebSecret, WebSession,
)
from supply.db.session import insert_ignore
from supply.domain.errors import Conflict, InvalidInput, NotFound, Unauthorized
from supply.domain.rules import available_to_promise
from supply.services.auth import Principal, authenticate, hash_token
from supply.services.stock import get_product

LINK_PREFIX = "link_"
DRIVER_LINK_TTL = timedelta(days=3)
ONE_TIME_LINK_TTL = timedelta(minutes=30)
SESSION_TTL = timedelta(hours=12)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def secret_key(session: Session) -> str:
    """The key that signs session cookies: made once per database, so every worker process shares it."""
    insert_ignore(session, WebSecret, name="session", value=secrets.token_urlsafe(48))
    return session.execute(select(WebSecret.value).where(WebSecret.name == "session")).scalar_one()


# --- sign-in links and sessions -------------------------------------------------------------------


def create_link(session: Session, cooperative_id: int, *, role: str, driver_id: int | None = None,
                ttl: timedelta | None = None, label: str | None = None) -> dict:
    """A sign-in link's secret (shown once) and its row. A driver's link is reusable until it expires
    (the QR code on a sheet is scanned more than once); a manager's or host's works once."""
    if role not in ("manager", "host", "driver"):
        raise InvalidInput("role must be manager, host or driver", fields={"role": ["unknown role"]})
    if (role == "driver") != (driver_id is not None):
        raise InvalidInput("a driver link needs a driver, and only a driver link takes one",
                           fields={"driver_id": ["required for role driver only"]})
    if driver_id is not None:
        driver = session.get(Driver, driver_id)
        if driver is None or driver.cooperative_id != cooperative_id:
            raise NotFound(f"driver {driver_id} does not exist", fields={"driver_id": ["unknown driver"]})
    ttl = ttl or (DRIVER_LINK_TTL if role == "driver" else ONE_TIME_LINK_TTL)
    if ttl <= timedelta(0) or ttl > timedelta(days=31):
        raise InvalidInput("a link lives between a minute and 31 days", fields={"ttl": ["out of range"]})
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    link = WebLink(cooperative_id=cooperative_id, role=role, driver_id=driver_id, token_hash=hash_token(token),
                   single_use=role != "driver", label=label, created_at=_now(), expires_at=_now() + ttl)
    session.add(link)
    session.flush()
    return {"token": token, **serialize_link(link)}


def serialize_link(link: WebLink) -> dict:
    return {"id": link.id, "role": link.role, "driver_id": link.driver_id, "label": link.label,
            "created_at": link.created_at, "expires_at": link.expires_at, "used_at": link.used_at,
            "revoked_at": link.revoked_at, "single_use": link.single_use}


def list_links(session: Session, cooperative_id: int) -> list[dict]:
    rows = session.execute(select(WebLink).where(WebLink.cooperative_id == cooperative_id)
                           .order_by(WebLink.id.desc()).limit(200)).scalars()
    return [serialize_link(link) for link in rows]


def revoke_link(session: Session, cooperative_id: int, link_id: int) -> dict:
    """The link no longer signs anyone in, and every session it opened ends now."""
    link = session.execute(select(WebLink).where(WebLink.id == link_id, WebLink.cooperative_id == cooperative_id)
                           .with_for_update()).scalar()
    if link is None:
        raise NotFound(f"link {link_id} does not exist")
    now = _now()
    link.revoked_at = link.revoked_at or now
    session.execute(update(WebSession).where(WebSession.link_id == link.id, WebSession.revoked_at.is_(None))
                    .values(revoked_at=now))
    session.flush()
    return serialize_link(link)


def _open_session(session: Session, *, cooperative_id: int, role: str, driver_id: int | None,
                  link_id: int | None = None, token_id: int | None = None,
                  expires_at: datetime | None = None) -> str:
    sid = secrets.token_urlsafe(32)
    expires = min(expires_at, _now() + SESSION_TTL) if expires_at and role != "driver" else \
        (expires_at or _now() + SESSION_TTL)
    session.add(WebSession(session_hash=hash_token(sid), cooperative_id=cooperative_id, role=role,
                           driver_id=driver_id, link_id=link_id, token_id=token_id, created_at=_now(),
                           expires_at=expires))
    session.flush()
    return sid


def sign_in_with_link(session: Session, token: str) -> tuple[str, Principal]:
    """A session for the holder of a valid link (a one-time link is spent)."""
    link = session.execute(select(WebLink).where(WebLink.token_hash == hash_token(token.strip()))
                           .with_for_update()).scalar()
    now = _now()
    if link is None or link.revoked_at is not None or link.expires_at <= now or (link.single_use and link.used_at):
        raise Unauthorized("this link is not valid (expired, used or revoked)")
    link.used_at = link.used_at or now
    sid = _open_session(session, cooperative_id=link.cooperative_id, role=link.role, driver_id=link.driver_id,
                        link_id=link.id, expires_at=link.expires_at)
    return sid, Principal(role=link.role, cooperative_id=link.cooperative_id, driver_id=link.driver_id)


def sign_in_with_token(session: Session, token: str) -> tuple[str, Principal]:
    """A session for the holder of an API token (the token is checked as the API checks it)."""
    principal = authenticate(session, token.strip())
    sid = _open_session(session, cooperative_id=principal.cooperative_id, role=principal.role,
                        driver_id=principal.driver_id, token_id=principal.token_id)
    return sid, principal


def session_principal(session: Session, sid: str) -> Principal:
    row = session.execute(select(WebSession).where(WebSession.session_hash == hash_token(sid))).scalar()
    if row is None or row.revoked_at is not None or row.expires_at <= _now():
        raise Unauthorized("the session has ended; sign in again")
    if row.token_id is not None:
        token = session.get(ApiToken, row.token_id)
        if token is None or token.revoked_at is not None:
            raise Unauthorized("the token this session was opened with was revoked")
    return Principal(role=row.role, cooperative_id=row.cooperative_id, driver_id=row.driver_id,
                     token_id=row.token_id)


def end_session(session: Session, sid: str) -> None:
    session.execute(update(WebSession).where(WebSession.session_hash == hash_token(sid),
                                             WebSession.revoked_at.is_(None)).values(revoked_at=_now()))


# --- the driver's marks ---------------------------------------------------------------------------


def mark_stop(session: Session, principal: Principal, stop_id: int, *, key: str, quantities: dict[str, int],
              reason: str | None = None, rejects: dict[str, list[dict]] | None = None) -> tuple[dict, bool]:
    """Mark a stop collected once per idempotency key: `(answer, replayed)`. A mark sent again with the
    same key (a phone that lost the first answer) gets the first answer and changes nothing."""
    from supply.services.collection import collect_stop

    key = (key or "").strip()
    if not 8 <= len(key) <= 80:
        raise InvalidInput("a mark needs an idempotency key of 8 to 80 characters",
                           fields={"idempotency_key": ["8 to 80 characters"]})
    actor = principal.actor
    # A concurrent resend waits here for the first to commit, then finds its row.
    insert_ignore(session, StopMark, cooperative_id=principal.cooperative_id, idempotency_key=key, actor=actor,
                  stop_id=stop_id, created_at=_now())
    mark = session.execute(select(StopMark).where(StopMark.cooperative_id == principal.cooperative_id,
                                                  StopMark.idempotency_key == key)).scalar_one()
    if mark.response is not None:
        if mark.actor != actor or mark.stop_id != stop_id:
            raise Conflict("this idempotency key was used for another mark", code="idempotency_key_reused")
        return mark.response, True
    answer = collect_stop(session, principal, stop_id, quantities, rejects or {})
    answer = {"stop_id": answer["stop_id"], "status": answer["status"], "collected": answer["collected"],
              "rejected": answer.get("rejected", {})}
    mark.reason = (reason or "").strip()[:500] or None
    mark.status_code = 200
    mark.response = answer
    session.flush()
    return answer, False


# --- the host's stream ----------------------------------------------------------------------------


def stream_stock(session: Session, cooperative_id: int, stream_id: int) -> dict:
    """Each active product with what may be promised, what is held for this stream and what it sold.
    No buyer and no farm appears here: it is what a host may see."""
    stream = session.execute(select(Stream).where(Stream.id == stream_id,
                                                  Stream.cooperative_id == cooperative_id)).scalar()
    if stream is None:
        raise NotFound(f"stream {stream_id} does not exist")
    held = dict(session.execute(select(StreamHold.product_id, StreamHold.remaining)
                                .where(StreamHold.stream_id == stream_id)).all())
    sold = dict(session.execute(
        select(OrderLine.product_id, func.sum(OrderLine.quantity)).join(Order, Order.id == OrderLine.order_id)
        .where(Order.stream_id == stream_id, Order.status == "reserved").group_by(OrderLine.product_id)).all())
    rows = session.execute(select(Product, ProductBalance).join(ProductBalance, ProductBalance.product_id == Product.id)
                           .where(Product.cooperative_id == cooperative_id).order_by(Product.sku)).all()
    products = []
    for product, balance in rows:
        if not getattr(product, "active", True) and product.id not in held and product.id not in sold:
            continue
        available = available_to_promise(balance.confirmed, balance.reserved - balance.backordered, balance.held)
        products.append({"sku": product.sku, "name": product.name, "unit": product.unit, "available": available,
                         "held": int(held.get(product.id, 0)), "sold": int(sold.get(product.id, 0))})
    return {"stream": {"id": stream.id, "title": stream.title, "host": stream.host, "platform": stream.platform},
            "products": products}


def list_streams(session: Session, cooperative_id: int, limit: int = 50) -> list[dict]:
    rows = session.execute(select(Stream).where(Stream.cooperative_id == cooperative_id)
                           .order_by(Stream.starts_at.desc(), Stream.id.desc()).limit(limit)).scalars()
    return [{"id": s.id, "title": s.title, "host": s.host, "platform": s.platform, "starts_at": s.starts_at}
            for s in rows]


def release_hold(session: Session, cooperative_id: int, stream_id: int, *, sku: str, quantity: int) -> dict:
    """Give `quantity` of what is still held for the stream back to available-to-promise."""
    if quantity <= 0:
        raise InvalidInput("quantity must be positive", fields={"quantity": ["must be at least 1"]})
    stream = session.execute(select(Stream).where(Stream.id == stream_id,
                                                  Stream.cooperative_id == cooperative_id)).scalar()
    if stream is None:
        raise NotFound(f"stream {stream_id} does not exist")
    product = get_product(session, cooperative_id, sku, field="sku")
    hold = session.execute(select(StreamHold).where(StreamHold.stream_id == stream_id,
                                                    StreamHold.product_id == product.id).with_for_update()
                           .execution_options(populate_existing=True)).scalar()
    remaining = hold.remaining if hold else 0
    if quantity > remaining:
        raise InvalidInput(f"only {remaining} are still held for this stream",
                           fields={"quantity": [f"at most {remaining}"]})
    balance = session.execute(select(ProductBalance).where(ProductBalance.product_id == product.id)
                              .with_for_update().execution_options(populate_existing=True)).scalar_one()
    hold.remaining -= quantity
    hold.quantity -= quantity
    balance.held -= quantity
    session.flush()
    return {"stream_id": stream_id, "sku": sku, "quantity": hold.quantity, "remaining": hold.remaining}


# --- the manager's day at a glance ----------------------------------------------------------------


def day_at_a_glance(session: Session, cooperative_id: int, *, now: datetime | None = None) -> dict:
    now = now or _now()
    since = now - timedelta(minutes=10)
    recent = session.execute(select(func.count()).select_from(Order)
                             .where(Order.cooperative_id == cooperative_id, Order.created_at >= since)).scalar_one()
    counts = dict(session.execute(select(Order.status, func.count()).where(Order.cooperative_id == cooperative_id)
                                  .group_by(Order.status)).all())
    waiting = session.execute(select(func.count()).select_from(PlatformMessage).where(
        PlatformMessage.cooperative_id == cooperative_id,
        PlatformMessage.status.in_(("unmapped", "needs_order_detail")))).scalar_one()
    return {"orders_per_minute": round(recent / 10, 1), "reserved": counts.get("reserved", 0),
            "refused": counts.get("rejected", 0), "cancelled": counts.get("cancelled", 0),
            "messages_waiting": waiting}


def messages_waiting(session: Session, cooperative_id: int, limit: int = 50) -> list[dict]:
    rows = session.execute(select(PlatformMessage).where(
        PlatformMessage.cooperative_id == cooperative_id,
        PlatformMessage.status.in_(("unmapped", "needs_order_detail"))).order_by(PlatformMessage.id).limit(limit))
    return [{"id": m.id, "platform": m.platform, "external_order_id": m.external_order_id, "status": m.status,
             "kind": m.kind} for m in rows.scalars()]


# --- the driver's day -----------------------------------------------------------------------------


def driver_routes(session: Session, principal: Principal, *, since) -> list[dict]:
    """The driver's routes in published plans from `since` (a date) on, earliest first."""
    from supply.db.models import DispatchPlan, Route

    rows = session.execute(select(Route, DispatchPlan).join(DispatchPlan, DispatchPlan.id == Route.plan_id)
                           .where(DispatchPlan.cooperative_id == principal.cooperative_id,
                                  DispatchPlan.status == "published", DispatchPlan.date >= since,
                                  Route.driver_id == principal.driver_id)
                           .order_by(DispatchPlan.date, Route.departure_at)).all()
    return [{"id": r.id, "date": p.date, "departure_at": r.departure_at, "stops": len(r.stops)} for r, p in rows]


def route_for_page(session: Session, principal: Principal, route_id: int) -> dict:
    """A route as its driver (or a manager) reads it, with each farm's coordinates and the marks made."""
    from supply.db.models import Farm, Hub
    from supply.services.plans import get_route_for, serialize_route

    route = get_route_for(session, principal, route_id)
    data = serialize_route(session, route)
    farm_ids = {s["farm_id"] for s in data["stops"] if s["farm_id"]}
    farms = {f.id: f for f in session.execute(select(Farm).where(Farm.id.in_(farm_ids))).scalars()} if farm_ids else {}
    hub = session.get(Hub, route.plan.hub_id)
    reasons = dict(session.execute(select(StopMark.stop_id, StopMark.reason)
                                   .where(StopMark.stop_id.in_([s["id"] for s in data["stops"]]))).all())
    for stop in data["stops"]:
        place = farms.get(stop["farm_id"]) or hub
        stop["lat"], stop["lon"] = place.lat, place.lon
        stop["place_name"] = stop["farm_name"] if stop["farm_id"] else hub.name
        stop["reason"] = reasons.get(stop["id"])
    data["date"] = route.plan.date
    data["hub_name"] = hub.name
    return data


def stop_route_id(session: Session, principal: Principal, stop_id: int) -> int:
    from supply.db.models import Stop
    from supply.services.plans import get_route_for

    stop = session.get(Stop, stop_id)
    if stop is None:
        raise NotFound(f"stop {stop_id} does not exist")
    return get_route_for(session, principal, stop.route_id).id


# --- the manager's console ------------------------------------------------------------------------


def list_plans(session: Session, cooperative_id: int, *, on=None, limit: int = 50) -> list[dict]:
    """Plan versions side by side: km, hours, routes, stops, unplanned, status."""
    from supply.db.models import DispatchPlan, Hub

    query = (select(DispatchPlan, Hub.name).join(Hub, Hub.id == DispatchPlan.hub_id)
             .where(DispatchPlan.cooperative_id == cooperative_id))
    if on is not None:
        query = query.where(DispatchPlan.date == on)
    rows = session.execute(query.order_by(DispatchPlan.date.desc(), DispatchPlan.hub_id,
                                          DispatchPlan.version.desc()).limit(limit)).all()
    return [{"id": p.id, "hub_id": p.hub_id, "hub_name": hub, "date": p.date, "version": p.version,
             "status": p.status, "needs_replan": p.needs_replan, "engine": p.engine,
             "km": round(p.distance_m / 1000, 1), "hours": round(p.duration_s / 3600, 1), "routes": len(p.routes),
             "stops": sum(1 for r in p.routes for s in r.stops if s.kind == "pickup"),
             "unplanned": len(p.unplanned or []), "created_at": p.created_at} for p, hub in rows]


def list_drivers(session: Session, cooperative_id: int) -> list[dict]:
    rows = session.execute(select(Driver).where(Driver.cooperative_id == cooperative_id).order_by(Driver.id))
    return [{"id": d.id, "name": d.name, "phone": d.phone} for d in rows.scalars()]


def list_closures(session: Session, cooperative_id: int, limit: int = 100) -> list[dict]:
    from supply.db.models import RoadClosure

    rows = session.execute(select(RoadClosure).where(RoadClosure.cooperative_id == cooperative_id)
                           .order_by(RoadClosure.id.desc()).limit(limit)).scalars()
    return [{"id": c.id, "edge_id": c.edge_id, "lat": c.lat, "lon": c.lon, "starts_at": c.starts_at,
             "ends_at": c.ends_at, "reason": c.reason} for c in rows]


def plan_map(session: Session, network, cooperative_id: int, plan_id: int) -> dict:
    """What the plan's map draws (WGS-84 lon/lat): each route's roads and stops, the unplanned
    pickups at their farms with the reason, closures, and the county's roads around them."""
    from supply.db.models import Farm, Hub
    from supply.services.plans import get_plan

    plan = get_plan(session, cooperative_id, plan_id)
    hub = session.get(Hub, plan.hub_id)
    farm_ids = {s.farm_id for r in plan.routes for s in r.stops if s.farm_id}
    farm_ids |= {u.get("farm_id") for u in plan.unplanned or [] if u.get("farm_id")}
    farms = {f.id: f for f in session.execute(select(Farm).where(Farm.id.in_(farm_ids))).scalars()} if farm_ids else {}
    routes = []
    for route in plan.routes:
        hops = [[tuple(p) for p in hop] for hop in (route.path or {}).get("hops", [])]
        stops = [{"sequence": s.sequence, "lon": farms[s.farm_id].lon, "lat": farms[s.farm_id].lat,
                  "name": farms[s.farm_id].name, "status": s.status}
                 for s in route.stops if s.farm_id in farms]
        routes.append({"id": route.id, "driver_id": route.driver_id, "lines": hops, "stops": stops,
                       "km": round(route.distance_m / 1000, 1)})
    unplanned = [{"lon": farms[u["farm_id"]].lon, "lat": farms[u["farm_id"]].lat, "name": farms[u["farm_id"]].name,
                  "reason": u.get("reason", ""), "detail": u.get("detail", ""), "quantity": u.get("quantity")}
                 for u in plan.unplanned or [] if u.get("farm_id") in farms]
    points = [(hub.lon, hub.lat)] + [(s["lon"], s["lat"]) for r in routes for s in r["stops"]] + \
        [(u["lon"], u["lat"]) for u in unplanned] + [p for r in routes for hop in r["lines"] for p in hop]
    margin = 0.01
    bbox = (min(p[0] for p in points) - margin, min(p[1] for p in points) - margin,
            max(p[0] for p in points) + margin, max(p[1] for p in points) + margin)
    background = [line.coords for line in network.edge_polylines(bbox=bbox, tolerance_m=25.0)] if network else []
    return {"plan_id": plan.id, "version": plan.version, "hub": {"lon": hub.lon, "lat": hub.lat, "name": hub.name},
            "routes": routes, "unplanned": unplanned, "bbox": bbox, "background": background,
            "attribution": getattr(network, "attribution", None),
            "closures": [c for c in list_closures(session, cooperative_id) if c["lat"] is not None]}


def county_map(session: Session, network, cooperative_id: int) -> dict | None:
    """The county's roads around the cooperative's hubs and farms, with the closures placed on them:
    the map a manager clicks to close a road. None before any hub or farm exists."""
    from supply.db.models import Farm, Hub

    points = [(h.lon, h.lat) for h in session.execute(select(Hub).where(Hub.cooperative_id == cooperative_id)).scalars()]
    points += [(f.lon, f.lat) for f in session.execute(select(Farm).where(Farm.cooperative_id == cooperative_id))
               .scalars()]
    if not points:
        return None
    margin = 0.01
    bbox = (min(p[0] for p in points) - margin, min(p[1] for p in points) - margin,
            max(p[0] for p in points) + margin, max(p[1] for p in points) + margin)
    background = [line.coords for line in network.edge_polylines(bbox=bbox, tolerance_m=25.0)] if network else []
    return {"plan_id": 0, "hub": None, "routes": [], "unplanned": [], "bbox": bbox, "background": background,
            "attribution": getattr(network, "attribution", None),
            "closures": [c for c in list_closures(session, cooperative_id) if c["lat"] is not None]}


def ledger_rows(session: Session, cooperative_id: int, limit: int = 100_000) -> list[dict]:
    from supply.db.models import Farm, StockLedgerEntry

    rows = session.execute(
        select(StockLedgerEntry, Farm.name, Product.sku).join(Farm, Farm.id == StockLedgerEntry.farm_id)
        .join(Product, Product.id == StockLedgerEntry.product_id)
        .where(StockLedgerEntry.cooperative_id == cooperative_id).order_by(StockLedgerEntry.id).limit(limit)).all()
    return [{"id": e.id, "at": e.created_at, "farm": farm, "sku": sku, "kind": e.kind, "delta": e.delta,
             "reason": e.reason, "actor": e.actor, "ref": e.ref} for e, farm, sku in rows]


def update_farm(session: Session, cooperative_id: int, farm_id: int, farm, snapper) -> dict:
    """Edit a farm (a `supply.services.catalog.FarmInput`): a new position is placed on the road network
    again, as when it was registered; plans made before keep theirs until the next planning."""
    from supply.db.models import Farm
    from supply.services.catalog import serialize_farm

    row = session.execute(select(Farm).where(Farm.id == farm_id, Farm.cooperative_id == cooperative_id)
                          .with_for_update()).scalar()
    if row is None:
        raise NotFound(f"farm {farm_id} does not exist")
    if (farm.lat, farm.lon) != (row.lat, row.lon) and snapper is not None:
        try:
            row.node_id, row.snap_distance_m = snapper(farm.lon, farm.lat)
        except ValueError as exc:
            raise InvalidInput(f"the farm cannot be placed on the road network: {exc}",
                               fields={"lat": [str(exc)], "lon": [str(exc)]}, code="unreachable_point") from exc
    row.name, row.lat, row.lon, row.phone = farm.name, farm.lat, farm.lon, farm.phone
    row.window_start, row.window_end = farm.window_start, farm.window_end
    session.flush()
    return serialize_farm(row)


def update_driver(session: Session, cooperative_id: int, driver_id: int, *, name: str, phone: str | None) -> dict:
    driver = session.get(Driver, driver_id)
    if driver is None or driver.cooperative_id != cooperative_id:
        raise NotFound(f"driver {driver_id} does not exist")
    driver.name, driver.phone = name, phone
    session.flush()
    return {"id": driver.id, "name": driver.name, "phone": driver.phone}


def update_product(session: Session, cooperative_id: int, sku: str, **fields) -> dict:
    """Edit a product's description (its SKU stays: orders and platforms name it)."""
    from supply.services.catalog import serialize_product

    product = get_product(session, cooperative_id, sku)
    for name in ("name", "unit", "unit_weight_kg", "unit_volume_l", "cold_chain", "shelf_life_days"):
        if name in fields:
            setattr(product, name, fields[name])
    session.flush()
    return serialize_product(product)


def update_vehicle(session: Session, cooperative_id: int, vehicle_id: int, **fields) -> dict:
    """Edit a vehicle; plans made before keep what it was until the next planning."""
    from supply.db.models import Vehicle
    from supply.services.fleet import get_hub, serialize_vehicle

    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None or vehicle.cooperative_id != cooperative_id:
        raise NotFound(f"vehicle {vehicle_id} does not exist")
    get_hub(session, cooperative_id, fields["hub_id"])
    driver_id = fields.get("driver_id")
    if driver_id is not None:
        driver = session.get(Driver, driver_id)
        if driver is None or driver.cooperative_id != cooperative_id:
            raise NotFound(f"driver {driver_id} does not exist", fields={"driver_id": ["unknown driver"]})
    for name, value in fields.items():
        setattr(vehicle, name, value)
    session.flush()
    return serialize_vehicle(vehicle)
