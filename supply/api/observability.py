"""What the service tells its operators: a request id, one JSON log line per request, figures for
Prometheus, and readiness.

`RequestObserver` is WSGI middleware outside the Flask app and the order fast lane, so every request
is seen once, however it is answered. The log line names the route's rule (`/api/v1/orders/<int:order_id>`),
never the path or the query string, and no header or body: tokens, signatures and buyers' data stay
out of the logs.
"""
from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from datetime import datetime, timezone

import orjson
from flask import Flask, Response, g, jsonify, request
from sqlalchemy import text

from supply import metrics
from supply.api.auth import requires
from supply.jobs import current_request_id

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's request id is kept when it looks like one (a UUID, a proxy's id); anything else is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
ROUTE_KEY = "coop.route"
PRINCIPAL_KEY = "coop.principal"
REQUEST_ID_KEY = "coop.request_id"
PLATFORM_KEY = "coop.platform"
UNMATCHED = "<unmatched>"

access_log = logging.getLogger("supply.access")


def request_id_of(environ) -> str:
    return environ.get(REQUEST_ID_KEY, "")


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


def configure_access_log(enabled: bool) -> None:
    """One JSON object per line on stderr, apart from the service's other log lines."""
    access_log.propagate = False
    access_log.setLevel(logging.INFO if enabled else logging.WARNING)
    if not any(getattr(h, "_coop_access", False) for h in access_log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonLines())
        handler._coop_access = True
        access_log.addHandler(handler)


class RequestObserver:
    """Gives each request an id (kept from `X-Request-ID` when well formed), returns it, logs one JSON
    line when the answer is done, and counts the request and its duration."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        given = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        environ[REQUEST_ID_KEY] = request_id
        token = current_request_id.set(request_id)
        answered: list[str] = []

        def observed_start_response(status, headers, exc_info=None):
            answered.append(status)
            headers = [h for h in headers if h[0].lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        try:
            body = self.wsgi_app(environ, observed_start_response)
        except BaseException:
            self._done(environ, "500", started)
            raise
        finally:
            current_request_id.reset(token)
        return _Closing(body, lambda: self._done(environ, answered[0] if answered else "500", started))

    @staticmethod
    def _done(environ, status_line: str, started: float) -> None:
        duration = time.perf_counter() - started
        status = status_line.split(" ", 1)[0]
        method = environ.get("REQUEST_METHOD", "")
        route = environ.get(ROUTE_KEY) or UNMATCHED
        metrics.REQUESTS.labels(method, route, status).inc()
        metrics.REQUEST_SECONDS.labels(method, route).observe(duration)
        platform = environ.get(PLATFORM_KEY)
        if platform is not None:
            metrics.PUSHES.labels(platform, status).inc()
        if access_log.isEnabledFor(logging.INFO):
            principal = environ.get(PRINCIPAL_KEY)
            access_log.info(orjson.dumps({
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "request_id": environ.get(REQUEST_ID_KEY),
                "method": method,
                "route": route,
                "status": int(status) if status.isdigit() else status,
                "duration_ms": round(duration * 1000, 2),
                "role": getattr(principal, "role", None),
                "cooperative": getattr(principal, "cooperative_id", None),
            }).decode())


class _Closing:
    """The body as the app gave it, with `on_close` run once when the server is done with it."""

    def __init__(self, body, on_close):
        self._body = body
        self._on_close = on_close

    def __iter__(self):
        return iter(self._body)

    def close(self):
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()


def init_observability(app: Flask, services) -> None:
    """Route names for the log and the figures; `/healthz`, `/readyz` and `/metrics`."""
    configure_access_log(services.settings.access_log)

    configured_platforms = frozenset(services.settings.platform_secrets)

    @app.before_request
    def _name_route():
        rule = request.url_rule
        request.environ[ROUTE_KEY] = rule.rule if rule is not None else UNMATCHED
        if rule is not None and rule.endpoint.endswith("Webhook") and request.method == "POST":
            # A push, counted by platform: a name not configured is "unknown" (no label per stranger).
            platform = (request.view_args or {}).get("platform")
            request.environ[PLATFORM_KEY] = platform if platform in configured_platforms else "unknown"

    @app.after_request
    def _name_principal(response):
        principal = g.get("principal")
        if principal is not None:
            request.environ[PRINCIPAL_KEY] = principal
        if response.status_code == 201 and "Location" not in response.headers:
            location = created_location(app, request.path, response)
            if location is not None:
                response.headers["Location"] = location
        return response

    @app.get("/healthz")
    def healthz():
        """Liveness: the process answers. It checks nothing else."""
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        """Readiness: the database answers, and Redis when one is configured. 503 otherwise."""
        checks = {"database": _check(lambda: _ping_database(services))}
        if services.settings.redis_url:
            checks["redis"] = _check(lambda: _ping_redis(services))
        ready = all(c == "ok" for c in checks.values())
        response = jsonify({"status": "ready" if ready else "not_ready", "checks": checks})
        response.status_code = 200 if ready else 503
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/metrics")
    @requires("manager")
    def metrics_view():
        """Figures in Prometheus' text format; a manager's bearer token is required."""
        body = metrics.exposition(queue_depth=lambda: _queue_depth(services))
        return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")


def created_location(app: Flask, collection: str, response) -> str | None:
    """Where a 201's new resource can be read: `<collection>/<id>` when that address answers GET."""
    body = response.get_json(silent=True) if response.is_json else None
    new_id = body.get("id") if isinstance(body, dict) else None
    if isinstance(new_id, bool) or not isinstance(new_id, (int, str)) or new_id == "":
        return None
    path = f"{collection.rstrip('/')}/{new_id}"
    try:
        app.url_map.bind("localhost").match(path, method="GET")
    except Exception:  # no GET there (NotFound, MethodNotAllowed, a redirect)
        return None
    return path


def _check(probe) -> str:
    try:
        probe()
    except Exception as exc:  # the kind of failure is enough; details go to the log
        logging.getLogger(__name__).warning("readiness check failed: %s", type(exc).__name__)
        return "unavailable"
    return "ok"


def _ping_database(services) -> None:
    with services.db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _ping_redis(services) -> None:
    from supply.jobs import redis_connection

    redis_connection(services).ping()


def _queue_depth(services) -> int:
    if not services.settings.redis_url:
        return 0
    from supply.jobs import rq_queue

    return rq_queue(services).count
