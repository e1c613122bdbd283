"""The OpenAPI document completed from the views themselves: every operation gets an operationId,
the roles that may call it (`x-roles`, and a line in its description) and its error answers, each
with the one error shape.

flask-smorest builds the document from the schemas; what it cannot know (the roles given to
`supply.api.auth.requires`, which errors a door can give) is added when the document is written, so
no view repeats it.
"""
from __future__ import annotations

import re

from flask import Flask

_METHODS = ("get", "post", "put", "patch", "delete")
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_DESCRIPTIONS = {
    "400": "the body is not JSON, or too deep or too large to read",
    "401": "no valid bearer token (or, for a push, no valid signature)",
    "403": "the token's role may not do this",
    "404": "what the path names does not exist in the caller's cooperative",
    "409": "the request conflicts with the current state (stock, a duplicate, a version)",
    "422": "a field is invalid: `fields` names each with its reason",
    "429": "rate limited: `Retry-After` says when to try again",
    "503": "the database is unavailable: try again after `Retry-After`",
}


def openapi_path(rule: str) -> str:
    """`/api/v1/farms/<int:farm_id>` -> `/api/v1/farms/{farm_id}`."""
    return _CONVERTER.sub(r"{\1}", rule)


def _operation_name(endpoint: str, method: str) -> str:
    blueprint, _, view = endpoint.rpartition(".")
    return method + re.sub(r"[^A-Za-z0-9]", "", view[:1].upper() + view[1:])


def annotate(spec: dict, app: Flask) -> dict:
    """Add operationId, roles and error answers to every operation of `spec` (a dict, changed in place)."""
    paths = spec.get("paths", {})
    seen: set[str] = set()
    for rule in app.url_map.iter_rules():
        operations = paths.get(openapi_path(rule.rule))
        if not operations:
            continue
        view_class = getattr(app.view_functions.get(rule.endpoint), "view_class", None)
        for method in _METHODS:
            operation = operations.get(method)
            if operation is None or "operationId" in operation:
                continue
            name = _operation_name(rule.endpoint, method)
            if name in seen:
                name = rule.endpoint.replace(".", "_") + "_" + method
            seen.add(name)
            operation["operationId"] = name
            handler = getattr(view_class, method, None) if view_class is not None else None
            roles = list(getattr(handler, "_roles", ()) or ())
            responses = operation.setdefault("responses", {})
            codes = ["400", "429", "503"]
            if roles:
                operation["x-roles"] = roles
                line = "Roles: " + ", ".join(roles) + "."
                operation["description"] = (operation.get("description", "") + "\n\n" + line).strip()
                codes += ["401", "403"]
            elif operation.get("security") == []:
                codes += ["401"]
            if "<" in rule.rule:
                codes.append("404")
            if method != "get" or operation.get("parameters"):
                codes.append("422")
            if method in ("post", "put", "patch", "delete"):
                codes.append("409")
            for code in sorted(set(codes)):
                responses.setdefault(code, {"$ref": f"#/components/responses/Error{code}"})
    components = spec.setdefault("components", {}).setdefault("responses", {})
    for code, description in _DESCRIPTIONS.items():
        components[f"Error{code}"] = {"description": description, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return spec


def install(api, app: Flask) -> None:
    """Complete the document each time it is written (after every blueprint is registered)."""
    spec = api.spec
    to_dict = spec.to_dict

    def completed() -> dict:
        return annotate(to_dict(), app)

    spec.to_dict = completed
