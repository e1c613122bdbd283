"""One error shape for everything (API.md): {"error": {"code", "message", "fields"?}}.

A 422 is `validation_error` when the request's shape is at fault (what the schemas refuse, every field
named, the page's with the filters'), or the code of the domain rule that refused a well-formed request
(`invalid_input`, `unknown_sku`, ...: supply.domain.errors)."""
from __future__ import annotations

import json
import logging

from flask import Flask, jsonify, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from supply.api.pages import page_faults_of_this_request
from supply.db.session import is_connection_error
from supply.platforms.base import MAX_JSON_DEPTH, nested_too_deeply
from supply.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR = [
    (InvalidInput, 422), (NotFound, 404), (Conflict, 409), (Unauthorized, 401), (Forbidden, 403),
    (ServiceUnavailable, 503),
]

CODE_BY_STATUS = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "body_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited", 500: "internal_error", 503: "service_unavailable",
}


def error_body(code: str, message: str, fields: dict | None = None, **extra) -> dict:
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    error.update({k: v for k, v in extra.items() if v is not None})
    return {"error": error}


def status_for(exc: DomainError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def domain_error_body(exc: DomainError) -> dict:
    return error_body(exc.code, exc.message, exc.fields, **(exc.details or {}))


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages -> {"lines[0].sku": ["..."]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            elif key == "_schema":
                # marshmallow's name for "this object as a whole": the fault is the parent's
                name = prefix
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, (dict,)):
                flat.update(flatten_messages(value, name))
            elif isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
                for item in value:
                    flat.update(flatten_messages(item, name))
            else:
                flat.setdefault(name or "_body", []).extend(value if isinstance(value, list) else [str(value)])
    elif isinstance(messages, list):
        flat.setdefault(prefix or "_body", []).extend(str(m) for m in messages)
    return flat


BODY_NOT_AN_OBJECT = "the body must be a JSON object"


def http_error_response(error: HTTPException):
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if isinstance(getattr(error, "exc", None), (json.JSONDecodeError, UnicodeDecodeError)):
        return _respond(400, error_body("malformed_json", "the body is not valid UTF-8 JSON"))
    fields = None
    if "messages" in data:
        messages = data["messages"]
        # webargs nests by location ("json", "query", ...); the field names matter, not the location.
        if isinstance(messages, dict) and set(messages) <= {"json", "query", "view_args", "form", "headers",
                                                             "files", "path"}:
            merged: dict = {}
            for value in messages.values():
                merged.update(flatten_messages(value))
            fields = merged
        else:
            fields = flatten_messages(messages)
        if status == 422:
            # A query refused by its filters before its page was read names the page's faults too.
            for name, reasons in page_faults_of_this_request().items():
                fields.setdefault(name, reasons)
    code = CODE_BY_STATUS.get(status, "error")
    message = error.description or error.name
    if status == 422:
        message = "the request has invalid fields"
        if fields and "_body" in fields:
            # The body as a whole is at fault (a list, a string, null, a rule across fields): no field is.
            reasons = fields.pop("_body")
            if not fields:
                message = BODY_NOT_AN_OBJECT if reasons == ["Invalid input type."] else "; ".join(reasons)
    elif status == 400 and "json" in str(message).lower():
        code = "malformed_json"
    response = _respond(status, error_body(code, message, fields))
    for key, value in (getattr(error, "get_headers", lambda: [])() or []):
        if key.lower() not in ("content-type", "content-length"):
            response.headers[key] = value
    if status == 503:
        response.headers["Retry-After"] = "2"
    return response


def _respond(status: int, body: dict):
    response = jsonify(body)
    response.status_code = status
    return response


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def refuse_non_json_body():
    """A body in another format would be read as "no fields at all"; say what is wrong instead (415).

    Webhooks are exempt: each platform adapter checks its own raw, signed body; so are the pages
    (supply/web), whose forms are posted form-encoded.
    """
    if request.method not in ("POST", "PUT", "PATCH") or request.path.startswith("/api/v1/webhooks/") \
            or not request.path.startswith("/api/"):
        return None
    if not request.content_length and not request.headers.get("Transfer-Encoding"):
        return None
    if _is_json(request.mimetype):
        return None
    return _respond(415, error_body("unsupported_media_type",
                                    "send the body as JSON with Content-Type: application/json"))


def refuse_deep_json():
    """A JSON body nested deeper than any of ours is refused (400) before any parser recurses into it:
    ten thousand levels once cost a 500 on every JSON route (the standard library's reader runs out of
    stack). Judged on the raw bytes at C speed; a body with few brackets is not even scanned."""
    if request.method not in ("POST", "PUT", "PATCH") or not _is_json(request.mimetype):
        return None
    raw = request.get_data(cache=True)
    if raw and nested_too_deeply(raw):
        return _respond(400, error_body("too_deep", f"the body nests deeper than {MAX_JSON_DEPTH} levels"))
    return None


NUL_IN_QUERY = "must not contain a NUL character"


def refuse_nul_in_address():
    """PostgreSQL's text cannot hold a NUL character (0x00): a path or query parameter holding one
    failed in the database (a 500) on every route that looks a string up (a job id, a SKU, a webhook
    address, a status filter). Nothing is named so: 404 for a path, 422 naming the query parameter.
    Bodies are checked by their schemas."""
    if "\x00" in request.path:
        return _respond(404, error_body("not_found", "no resource is named with a NUL character"))
    if b"%00" in request.query_string:
        fields = {name: [NUL_IN_QUERY] for name, value in request.args.items(multi=True)
                  if "\x00" in name or "\x00" in value}
        if fields:
            return _respond(422, error_body("validation_error", "the request has invalid fields", fields))
    return None


def register_error_handlers(app: Flask) -> None:
    app.before_request(refuse_nul_in_address)
    app.before_request(refuse_non_json_body)
    app.before_request(refuse_deep_json)

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        status = status_for(exc)
        response = jsonify(domain_error_body(exc))
        response.status_code = status
        if status == 503:
            response.headers["Retry-After"] = "2"
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.errorhandler(DBAPIError)
    def _database(exc: DBAPIError):
        if is_connection_error(exc):
            log.warning("database unavailable: %s", exc.__class__.__name__)
            response = jsonify(error_body("service_unavailable", "the database is unavailable; retry shortly"))
            response.status_code = 503
            response.headers["Retry-After"] = "2"
            return response
        log.exception("database error")
        response = jsonify(error_body("internal_error", "an unexpected error occurred"))
        response.status_code = 500
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error_response(exc)
        log.exception("unexpected error")
        response = jsonify(error_body("internal_error", "an unexpected error occurred"))
        response.status_code = 500
        return response
