"""The one shape of an order in answers: `OrderOut` documents and dumps it; `order_out` is its fast
dumper, for the paths where marshmallow's dump would cost more than recording the order (the fast
lane, /orders/batch). Both take what the services return (supply.services.orders.reads.order_body);
tests/service/test_order_plain_path.py holds `order_out` equal to `OrderOut().dump`."""
from __future__ import annotations

from marshmallow import Schema, fields


class LineOut(Schema):
    sku = fields.String()
    quantity = fields.Integer()
    from_hold = fields.Integer(metadata={"description": "units drawn from the stream's hold"})
    reserved = fields.Integer(metadata={"description": "units currently reserved"})


class ShortLine(Schema):
    line = fields.Integer()
    sku = fields.String()
    requested = fields.Integer()
    available = fields.Integer()
    short_by = fields.Integer()


class OrderOut(Schema):
    id = fields.Integer()
    platform = fields.String()
    external_id = fields.String()
    stream_id = fields.Integer(allow_none=True)
    status = fields.String(metadata={"description": "reserved, rejected or cancelled"})
    created_at = fields.DateTime()
    lines = fields.List(fields.Nested(LineOut))
    short_lines = fields.List(fields.Nested(ShortLine))


def order_out(order: dict) -> dict:
    """An order as OrderOut dumps it, ready for JSON."""
    out = {"id": order["id"], "platform": order["platform"], "external_id": order["external_id"],
           "stream_id": order["stream_id"], "status": order["status"],
           "created_at": order["created_at"].isoformat(),
           "lines": [{"sku": line["sku"], "quantity": line["quantity"], "from_hold": line["from_hold"],
                      "reserved": line["reserved"]} for line in order["lines"]]}
    if "short_lines" in order:
        out["short_lines"] = order["short_lines"]
    return out
