"""A lane for the request a spike is made of: POST /api/v1/orders with a plainly valid order.

Flask's machinery around a request (contexts, routing, hooks, flask-smorest's wrappers) cost about as
much CPU as recording the order itself, and on a small machine that CPU is the limit. This WSGI
middleware answers only the requests it can answer exactly as the Flask view would:

- POST /api/v1/orders with Content-Type application/json and a Content-Length within the body limit;
- a bearer token this process has already verified as a manager's (supply.api.auth's cache), from an
  address the failed-authentication limit (`auth_guard`, given by create_app) is not refusing;
- a body `plain_order` accepts (the schema-checked view accepts it too and reads it the same way).

It records the order through the same combiner as the view (`combiner`, given by create_app;
supply.api.combiner) and answers with the same shapes (`order_out`, the error shape). Every other
request, including any body it declines after reading, goes on to the Flask app untouched. tests/service/test_order_fast_lane.py holds the two ways to the same answers.
"""
from __future__ import annotations

import io
from http import HTTPStatus

import orjson
from flask import Flask

from supply.api.auth import cached_principal
from supply.api.combiner import OrderCombiner
from supply.api.errors import domain_error_body, status_for
from supply.api.limits import FailedAuthentications
from supply.api.observability import PRINCIPAL_KEY, ROUTE_KEY
from supply.api.order_shape import order_out
from supply.api.plain_orders import plain_order
from supply.domain.errors import DomainError

ORDERS_PATH = "/api/v1/orders"
_JSON_HEADERS = [("Content-Type", "application/json")]


class OrderFastLane:
    def __init__(self, app: Flask, next_app, *, combiner: OrderCombiner,
                 auth_guard: FailedAuthentications | None = None):
        self.app = app
        self.next_app = next_app
        self.combiner = combiner
        self.auth_guard = auth_guard

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == ORDERS_PATH and environ.get("REQUEST_METHOD") == "POST":
            answer = self._answer(environ)
            if answer is not None:
                status, body, *extra = answer
                start_response(status, _JSON_HEADERS + [("Content-Length", str(len(body)))] + (extra[0] if extra else []))
                return [body]
        return self.next_app(environ, start_response)

    def _answer(self, environ) -> tuple | None:
        if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != "application/json" \
                or "HTTP_TRANSFER_ENCODING" in environ:
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if not 0 < length <= self.app.config["MAX_CONTENT_LENGTH"]:
            return None
        principal = cached_principal(environ.get("HTTP_AUTHORIZATION", ""))
        if principal is None or principal.role != "manager":
            return None
        guard = self.auth_guard
        if guard is not None and guard.refusing(environ.get("REMOTE_ADDR") or "unknown"):
            return None
        raw = environ["wsgi.input"].read(length)
        order = None
        if len(raw) == length:
            try:
                order = plain_order(orjson.loads(raw))
            except orjson.JSONDecodeError:
                pass
        if order is None:
            environ["wsgi.input"] = io.BytesIO(raw)   # the Flask app reads the same body
            environ["CONTENT_LENGTH"] = str(len(raw))
            return None
        try:
            outcome = self.combiner.record(principal.cooperative_id, order)
        except Exception:  # noqa: BLE001
            # Nothing was acknowledged, and recording is idempotent by (platform, external_id): the app
            # records the order again and words whatever error there is, as for any request.
            environ["wsgi.input"] = io.BytesIO(raw)
            return None
        environ[ROUTE_KEY] = ORDERS_PATH
        environ[PRINCIPAL_KEY] = principal
        if outcome.error is not None:
            return _error(outcome.error)
        if outcome.kind == "created":
            body = order_out(outcome.order)
            return _status(201), _dump(body), [("Location", f"{ORDERS_PATH}/{body['id']}")]
        return _status(200), _dump(order_out(outcome.order))


def _status(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase.upper()}"   # as werkzeug words it


def _error(exc: DomainError) -> tuple[str, bytes]:
    """An order refused (409) or naming what does not exist (422)."""
    return _status(status_for(exc)), _dump(domain_error_body(exc))


def _dump(body: dict) -> bytes:
    return orjson.dumps(body) + b"\n"
