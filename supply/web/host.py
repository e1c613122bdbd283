"""The host's phone: her stream's products with what may still be promised, what is held for the
stream and what it sold, following a spike live (ETag polling); place and release a hold. Never a
buyer's data, never a farm's name."""
from __future__ import annotations

import hashlib
import json

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from supply.api.context import services
from supply.domain.errors import InvalidInput
from supply.services.streams import place_hold
from supply.services.web import list_streams, release_hold, stream_stock
from supply.web.i18n import _
from supply.web.pages import protect_forms, signed_in

bp = Blueprint("host", __name__, url_prefix="/h", template_folder="templates")
protect_forms(bp)
POLL_MS = 500  # the page asks twice a second: a 304 costs a few bytes, the lag stays well under 2 s


@bp.get("/")
@signed_in("host", "manager")
def streams():
    with services().db.transaction() as db:
        rows = list_streams(db, g.principal.cooperative_id)
    return render_template("host_streams.html", streams=rows)


@bp.get("/streams/<int:stream_id>")
@signed_in("host", "manager")
def stream(stream_id: int):
    with services().db.transaction() as db:
        data = stream_stock(db, g.principal.cooperative_id, stream_id)
    return render_template("host_stream.html", data=data, poll_ms=POLL_MS)


@bp.get("/streams/<int:stream_id>/stock.json")
@signed_in("host", "manager")
def stock(stream_id: int):
    """The figures, answered 304 when they did not change since the page last asked (ETag)."""
    with services().db.transaction() as db:
        data = stream_stock(db, g.principal.cooperative_id, stream_id)
    body = json.dumps(data["products"], ensure_ascii=False, separators=(",", ":"))
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    if etag in request.if_none_match:
        return "", 304, {"ETag": f'"{etag}"', "Cache-Control": "no-cache"}
    return body, 200, {"Content-Type": "application/json", "ETag": f'"{etag}"', "Cache-Control": "no-cache"}


def _quantity() -> int:
    try:
        quantity = int(request.form.get("quantity", ""))
    except ValueError:
        raise InvalidInput("quantity must be a whole number", fields={"quantity": ["a whole number"]}) from None
    if not 1 <= quantity <= 10_000_000:
        raise InvalidInput("quantity must be between 1 and 10,000,000", fields={"quantity": ["1 to 10,000,000"]})
    return quantity


@bp.post("/streams/<int:stream_id>/hold")
@signed_in("host", "manager")
def hold(stream_id: int):
    sku, quantity = request.form.get("sku", ""), _quantity()
    with services().db.transaction() as db:
        place_hold(db, g.principal.cooperative_id, stream_id, sku=sku, quantity=quantity)
    flash(_("Held."), "ok")
    return redirect(url_for("host.stream", stream_id=stream_id))


@bp.post("/streams/<int:stream_id>/release")
@signed_in("host", "manager")
def release(stream_id: int):
    sku, quantity = request.form.get("sku", ""), _quantity()
    with services().db.transaction() as db:
        release_hold(db, g.principal.cooperative_id, stream_id, sku=sku, quantity=quantity)
    flash(_("Released."), "ok")
    return redirect(url_for("host.stream", stream_id=stream_id))
