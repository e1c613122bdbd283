"""Each cooperative's shops on the platforms: accounts (credentials in, never out), its own webhook
address, shop authorisation, listings whose stock follows ours, and waybills told back."""
from __future__ import annotations

import csv
import io

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from supply.api.auth import requires
from supply.api.context import services
from supply.api.pages import paginated
from supply.api.schemas import Text
from supply.api.util import coop_id
from supply.domain.errors import InvalidInput, NotFound
from supply.api.webhooks import receive_push
from supply.services import platform_links as links

blp = Blueprint("platform_links", __name__, url_prefix="/api/v1",
                description="Cooperatives' platform shops: accounts, webhook addresses, listing stock, shipments")

PLATFORM = validate.OneOf(sorted(("douyin", "kuaishou", "youzan")))


@blp.route("/webhooks/<string:platform>/<string:path_token>")
class CooperativeWebhook(MethodView):
    @blp.response(200, description="the platform's own acknowledgement")
    @blp.doc(security=[], requestBody={"content": {"application/json": {"schema": {"type": "object"}}}})
    def post(self, platform, path_token):
        """A push addressed to one cooperative (the address names its account): verified with that
        cooperative's credentials, stored in that cooperative."""
        svc = services()
        found = links.webhook_account(svc, platform, path_token)
        if found is None:
            raise NotFound("no such webhook address")
        cooperative_id, adapter = found
        return receive_push(svc, adapter, cooperative_id, platform)


class AccountIn(Schema):
    platform = fields.String(required=True, validate=PLATFORM)
    credentials = fields.Dict(keys=fields.String(), values=fields.String(), load_default=None,
                              metadata={"description": "the platform's keys (as in COOP_PLATFORM_SECRETS, with "
                                                       "the open API's: kuaishou app_secret and sign_secret); "
                                                       "stored encrypted, never returned"})
    shop_id = Text(64, load_default=None)


class AccountOut(Schema):
    platform = fields.String()
    shop_id = fields.String(allow_none=True)
    webhook_path = fields.String()
    has_credentials = fields.Boolean()
    has_token = fields.Boolean()
    token_expires_at = fields.DateTime(allow_none=True)


class AuthorizationIn(Schema):
    code = Text(500, load_default=None, metadata={"description": "the authorisation code; none for a shop's own app"})


@blp.route("/platform-accounts")
class PlatformAccounts(MethodView):
    @requires("manager")
    @blp.response(200, AccountOut(many=True))
    @paginated(blp)
    def get(self):
        with services().db.transaction() as session:
            return links.list_accounts(session, coop_id())

    @requires("manager")
    @blp.arguments(AccountIn)
    @blp.response(201, AccountOut)
    def post(self, data):
        """Connect (or update) the cooperative's shop on a platform; the answer names its webhook address."""
        svc = services()
        with svc.db.transaction() as session:
            account = links.connect_account(session, links.vault(svc), coop_id(), **data)
        links.forget_accounts(svc)
        return account


@blp.route("/platform-accounts/<string:platform>/authorization")
class PlatformAuthorization(MethodView):
    @requires("manager")
    @blp.arguments(AuthorizationIn)
    @blp.response(200, AccountOut)
    def post(self, data, platform):
        """Exchange the shop's authorisation code for its access token (stored encrypted)."""
        return links.authorize_shop(services(), coop_id(), platform, data["code"])


class ListingIn(Schema):
    platform = fields.String(required=True, validate=PLATFORM)
    product_ref = Text(128, required=True, metadata={"description": "the platform's SKU id"})
    item_ref = Text(128, load_default=None, metadata={"description": "the platform's product/item id"})
    sku = fields.String(required=True, validate=validate.Length(1, 64))


class ListingOut(Schema):
    platform = fields.String()
    product_ref = fields.String()
    item_ref = fields.String(allow_none=True)
    sku = fields.String()
    sent_quantity = fields.Integer(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    error = fields.Dict(allow_none=True)


@blp.route("/platform-listings")
class PlatformListings(MethodView):
    @requires("manager")
    @blp.response(200, ListingOut(many=True))
    @paginated(blp)
    def get(self):
        with services().db.transaction() as session:
            return links.list_listings(session, coop_id())

    @requires("manager")
    @blp.arguments(ListingIn)
    @blp.response(201, ListingOut)
    def post(self, data):
        """A platform SKU whose stock follows ours (also maps it to our SKU for its orders)."""
        with services().db.transaction() as session:
            return links.link_listing(session, coop_id(), **data)


class ShipmentIn(Schema):
    carrier_code = Text(40, required=True)
    waybill = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9\-]{4,64}$"))


class ShipmentOut(Schema):
    order_id = fields.Integer()
    platform = fields.String()
    external_order_id = fields.String()
    carrier_code = fields.String()
    waybill = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    error = fields.Dict(allow_none=True)
    confirmed_at = fields.DateTime(allow_none=True)


@blp.route("/orders/<int(max=9223372036854775807):order_id>/shipment")
class OrderShipment(MethodView):
    @requires("manager")
    @blp.response(200, ShipmentOut)
    def get(self, order_id):
        with services().db.transaction() as session:
            return links.get_shipment(session, coop_id(), order_id)

    @requires("manager")
    @blp.arguments(ShipmentIn)
    @blp.response(200, ShipmentOut)
    def put(self, data, order_id):
        """The waybill of an order: the platform is told (once; the same waybill again changes nothing)."""
        return _ship([{"order_id": order_id, **data}])[0]


class CarrierFileIn(Schema):
    csv = fields.String(required=True, validate=validate.Length(1, 2_000_000),
                        metadata={"description": "the carrier's file: a header platform,external_order_id,"
                                                 "carrier_code,waybill and one row per order"})


@blp.route("/shipments")
class Shipments(MethodView):
    @requires("manager")
    @blp.arguments(CarrierFileIn)
    @blp.response(200, ShipmentOut(many=True))
    def post(self, data):
        """A carrier's file of waybills: each order's platform is told."""
        rows = list(csv.DictReader(io.StringIO(data["csv"])))
        needed = ("platform", "external_order_id", "carrier_code", "waybill")
        errors = {f"csv[{i}]": ["needs " + ", ".join(needed)] for i, row in enumerate(rows)
                  if any(not (row.get(k) or "").strip() for k in needed)}
        if not rows or errors:
            raise InvalidInput("the file needs one row per order with " + ", ".join(needed),
                               fields=errors or {"csv": ["no rows"]})
        return _ship([{k: row[k].strip() for k in needed} for row in rows])


def _ship(entries: list[dict]) -> list[dict]:
    svc = services()
    with svc.db.transaction() as session:
        links.record_shipments(session, coop_id(), entries)
        order_ids = [_order_id(session, entry) for entry in entries]
    links.request_shipments(svc, coop_id(), order_ids)
    with svc.db.transaction() as session:
        return [links.get_shipment(session, coop_id(), order_id) for order_id in order_ids]


def _order_id(session, entry: dict) -> int:
    if entry.get("order_id") is not None:
        return entry["order_id"]
    return links._order_of(session, coop_id(), entry, 0).id
