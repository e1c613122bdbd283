"""The Flask application factory. Kept out of supply/__init__ so workers and the domain import without Flask."""
from __future__ import annotations

import logging
from datetime import date, datetime

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Api
from werkzeug.routing import IntegerConverter

from config import Settings
from supply.api.schemas import ErrorSchema
from supply.api.errors import http_error_response, register_error_handlers
from supply.wiring import Services, build_services


class _DatabaseId(IntegerConverter):
    """`<int:...>` in every route: ASCII digits only (werkzeug's `\\d` takes any Unicode digit, so
    `/farms/١` was farm 1), and within the 32-bit keys."""

    regex = r"[0-9]+"

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


class _IsoJson(DefaultJSONProvider):
    """Dates and times as ISO 8601 everywhere, as the schemas write them (Flask's own is an HTTP date)."""

    @staticmethod
    def default(o):
        if isinstance(o, (datetime, date)):
            return o.isoformat()
        return DefaultJSONProvider.default(o)


class CoopApi(Api):
    """flask-smorest with the project's single error shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return http_error_response(error)


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    settings = settings or (services.settings if services else Settings.from_env())
    services = services or build_services(settings)
    logging.basicConfig(level=settings.log_level)

    app = Flask("supply")
    app.json = _IsoJson(app)
    # An id in a path larger than its key column names nothing: 404, not an overflow.
    app.url_map.converters["int"] = _DatabaseId
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE="Cooperative dispatch API",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False  # Chinese names stay readable in responses
    app.extensions["coop"] = services

    api = CoopApi(app, spec_kwargs={"info": {"description": "Livestream orders to farm pickups to routes."}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]
    register_error_handlers(app)

    from supply.api import dispatch, farms, jobs, orders, products, stock, streams, webhooks

    for module in (farms, products, stock, streams, orders, webhooks, jobs, dispatch):
        api.register_blueprint(module.blp)
    from supply.api import platform_links

    api.register_blueprint(platform_links.blp)
    from supply.api import farmside

    api.register_blueprint(farmside.blp)  # prices, statements, recalls, notices (managers only)

    from supply.web import init_web

    init_web(app)  # the pages (supply/web): sign-in, driver, host, console

    from supply.api.openapi import install as complete_openapi

    complete_openapi(api, app)

    from supply.api.limits import init_rate_limits

    auth_guard = init_rate_limits(app, settings)

    from supply.api.combiner import order_combiner_of
    from supply.api.fastlane import OrderFastLane

    app.wsgi_app = OrderFastLane(app, app.wsgi_app, combiner=order_combiner_of(services), auth_guard=auth_guard)

    from supply.api.observability import RequestObserver, init_observability

    init_observability(app, services)
    # Outside the fast lane, so that every request is logged and counted once however it is answered.
    app.wsgi_app = RequestObserver(app.wsgi_app)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Outermost, so that the fast lane and the rate limits see the client's address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies)

    return app
