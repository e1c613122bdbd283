"""Signed pushes from livestream platforms. Verified on the raw body before anything is parsed or stored."""
from __future__ import annotations

import logging

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from supply.api.auth import requires
from supply.api.context import services
from supply.api.orders import BuyerIn, LineIn, buyer_of, order_lines
from supply.api.pages import paginated, window
from supply.api.schemas import Id, QueryInt, Text
from supply.api.util import coop_id, json_response
from supply.domain.errors import InvalidInput, NotFound, Unauthorized
from supply.domain.rules import MAX_LINES_PER_ORDER
from supply.platforms import GenericAdapter, InvalidPayload, InvalidSignature
from supply.services.group_commit import shared
from supply.services.platform_messages import (
    PushCombiner,
    apply_push,
    complete_platform_message,
    count_platform_messages,
    list_platform_messages,
    map_platform_product,
)

log = logging.getLogger(__name__)

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1", description="Platform pushes and product mappings")

# Platform pushes land in the default cooperative; one deployment serves one cooperative's shops.
WEBHOOK_COOPERATIVE_ID = 1


class WebhookResult(Schema):
    message_id = fields.String()
    kind = fields.String()
    external_order_id = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "applied, duplicate_order, duplicate_message, rejected, "
                                                    "invalid, unmapped, needs_order_detail, stale, recorded, ping"})
    order_id = fields.Integer(allow_none=True)
    order_status = fields.String()
    error = fields.Dict()
    reason = fields.String()


class WebhookOut(Schema):
    results = fields.List(fields.Nested(WebhookResult))


@blp.route("/webhooks/<string:platform>")
class Webhook(MethodView):
    @blp.response(200, WebhookOut, description="the platform's own acknowledgement (ours: one result per event)")
    @blp.doc(security=[], parameters=[{"in": "header", "name": "X-Signature", "schema": {"type": "string"},
                                       "description": "sha256=<hex HMAC-SHA256 of the raw body>"}],
             requestBody={"content": {"application/json": {"schema": {"type": "object"}}}})
    def post(self, platform):
        adapter = services().adapters.get(platform)
        if adapter is None:
            raise NotFound(f"no platform {platform!r} is configured")
        return receive_push(services(), adapter, WEBHOOK_COOPERATIVE_ID, platform)


def after_push(svc, cooperative_id: int, platform: str, results: list[dict]) -> None:
    """Once a push is committed: fetch the details of its paid events that carry no lines. The push is
    stored whatever happens here; a failure leaves its messages to the manager's list and the sweep."""
    from supply.services import platform_links

    try:
        platform_links.request_order_details(svc, cooperative_id, platform, results)
    except Exception:
        log.exception("order details of a %s push could not be requested; its messages await the sweep", platform)


def receive_push(svc, adapter, cooperative_id: int, platform: str):
    """Verify the push on its raw body, read its events, record them in the cooperative, and answer as
    the platform expects: the one way in for every webhook address."""
    raw = request.get_data(cache=True)
    try:
        adapter.verify(request.headers, raw)
    except InvalidSignature as exc:
        raise Unauthorized(f"the signature does not match: {exc.message}", code="bad_signature") from exc
    try:
        events = adapter.parse(raw)
    except InvalidPayload as exc:
        raise InvalidInput(exc.message, fields=exc.fields, code="invalid_payload") from exc
    refs_are_skus = isinstance(adapter, GenericAdapter)
    if any(event.lines for event in events):
        # A push carrying order lines records its orders against the figures in its own transaction,
        # as before; those without (Douyin's and Kuaishou's) are stored together with the others
        # arriving at the same time.
        results = apply_push(svc.db, cooperative_id, events, refs_are_skus=refs_are_skus)
        after_push(svc, cooperative_id, platform, results)
    else:
        combiner = push_combiner_of(svc)
        results = combiner.apply(cooperative_id, platform, events, refs_are_skus=refs_are_skus)
        if combiner.after_commit is None:
            after_push(svc, cooperative_id, platform, results)
    body, status = adapter.acknowledge(results)
    return json_response(body, status)


def push_combiner_of(svc) -> PushCombiner:
    """The push combiner of the app whose services are `svc` (created on first use): the pushes that
    arrive together are stored in one transaction. With Redis their order-detail job is asked once per
    group, from the combiner's thread; without, each request runs its own inline, as before."""
    def make() -> PushCombiner:
        follow = (lambda cooperative_id, platform, results: after_push(svc, cooperative_id, platform, results)) \
            if svc.settings.redis_url else None
        return PushCombiner(svc.db, after_commit=follow)

    return shared(svc, "push_combiner", make)


class MappingIn(Schema):
    platform = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_\-]{1,40}$"))
    product_ref = Text(128, required=True)
    sku = fields.String(required=True, validate=validate.Length(1, 64))


class MappingOut(Schema):
    platform = fields.String()
    product_ref = fields.String()
    sku = fields.String()


class MessagesQuery(Schema):
    status = fields.String(load_default=None, validate=validate.Length(max=24))
    before_id = QueryInt(1, load_default=None, metadata={"description": "only messages older than this id (the "
                                                                        "last id of a page: the next, stable while "
                                                                        "pushes come in)"})


class LinesIn(Schema):
    lines = fields.List(fields.Nested(LineIn), required=True, validate=validate.Length(1, MAX_LINES_PER_ORDER),
                        metadata={"description": "the order's lines in our SKUs"})
    stream_id = Id(load_default=None, allow_none=True)
    buyer = fields.Nested(BuyerIn, load_default=None, allow_none=True,
                          metadata={"description": "personal data: seen by managers only"})


class MessageOut(Schema):
    id = fields.Integer()
    platform = fields.String()
    message_id = fields.String()
    kind = fields.String()
    external_order_id = fields.String(allow_none=True)
    version = fields.Integer(allow_none=True)
    status = fields.String()
    result = fields.Dict(allow_none=True)
    raw = fields.Raw(allow_none=True, metadata={"description": "a refused event as it came (personal data "
                                                               "included: managers only)"})
    created_at = fields.DateTime()


@blp.route("/platform-products")
class PlatformProducts(MethodView):
    @requires("manager")
    @blp.arguments(MappingIn)
    @blp.response(201, MappingOut)
    def post(self, data):
        with services().db.transaction() as session:
            return map_platform_product(session, coop_id(), **data)


@blp.route("/platform-messages")
class PlatformMessages(MethodView):
    @requires("manager")
    @blp.arguments(MessagesQuery, location="query")
    @blp.response(200, MessageOut(many=True))
    @paginated(blp, in_query=True)
    def get(self, query, pagination_parameters):
        """Events stored from platforms, the newest first: the unmapped and needs_order_detail ones need
        a manager."""
        with services().db.transaction() as session:
            found = count_platform_messages(session, coop_id(), **query)
            return list_platform_messages(session, coop_id(), **query, **window(pagination_parameters, found))


@blp.route("/platform-messages/<int(max=9223372036854775807):message_pk>/order")
class PlatformMessageOrder(MethodView):
    @requires("manager")
    @blp.arguments(LinesIn)
    @blp.response(200, MessageOut)
    def post(self, data, message_pk):
        """Complete a paid event stored as needs_order_detail or unmapped with its order's lines: the
        order is recorded and the message settles (applied, rejected, duplicate_order or stale)."""
        lines, buyer = order_lines(data), buyer_of(data)
        return services().db.run(lambda session: complete_platform_message(
            session, coop_id(), message_pk, lines=lines, stream_id=data["stream_id"], buyer=buyer))
