"""Every list in the OpenAPI document, as every role, with hostile `page` and `page_size`: a role kept out
of a list is kept out whatever the query says (401/403); a role let in gets a 422 in the error shape
naming the field for a page or size out of range, not a number, beyond 64 bits or given twice, and
an empty page (with the list's true total) for a page far past the end. Never a 500.

The lists and their required query parameters are read from the OpenAPI document, so a list added
tomorrow is held to the same answers."""
from __future__ import annotations

import json

import pytest

from config import Settings
from tests.conftest import auth
from tests.helpers import make_farm, stocked_farm

MAX_PAGE = 2**63 - 1

# (query, the field the 422 names)
REFUSED = [
    ("page=0", "page"), ("page=-1", "page"), ("page=abc", "page"), ("page=", "page"), ("page=1.5", "page"),
    ("page=1e3", "page"), ("page=0x1", "page"), (f"page={MAX_PAGE + 1}", "page"), (f"page={10**40}", "page"),
    ("page_size=0", "page_size"), ("page_size=-1", "page_size"), ("page_size=100000", "page_size"),
    ("page_size=abc", "page_size"), ("page_size=", "page_size"),
    ("page=1&page=2", "page"), ("page=1&page=1", "page"), ("page_size=1&page_size=abc", "page_size"),
    ("page_size=5&page_size=5", "page_size"),
]
VALUE_BY_FORMAT = {"date": "2026-11-29", "date-time": "2026-11-29T08:00:00+08:00"}


def list_operations(client) -> dict[str, str]:
    """Each list's path -> a query giving its required parameters (valid values by their type)."""
    spec = client.get("/api/v1/openapi.json").get_json()
    lists = {}
    for path, ops in spec["paths"].items():
        op = ops.get("get")
        schema = (op or {}).get("responses", {}).get("200", {}).get("content", {}) \
            .get("application/json", {}).get("schema", {})
        if schema.get("type") != "array":
            continue
        assert "{" not in path, f"{path}: a list under a path parameter needs a value here"
        required = []
        for parameter in op.get("parameters", []):
            if parameter.get("in") == "query" and parameter.get("required"):
                kind = parameter.get("schema", {})
                value = VALUE_BY_FORMAT.get(kind.get("format")) or ("1" if kind.get("type") == "integer"
                                                                    else "NOODLE-500")
                required.append(f"{parameter['name']}={value}")
        lists[path] = "&".join(required)
    return lists


@pytest.fixture
def settings(database_url) -> Settings:
    # hundreds of requests without a token from one address: the failed-authentication limit is not tested here
    return Settings(database_url=database_url, platform_secrets={"generic": "test-secret"},
                    rate_limit_unauthenticated="0")


@pytest.fixture
def world(client, manager):
    stocked_farm(client, manager, 10)   # farm 1 holds NOODLE-500: the ledger and the trace have rows
    make_farm(client, manager, name="second farm")


def roles(tokens) -> dict[str, dict]:
    return {"manager": auth(tokens["manager"]), "host": auth(tokens["host"]),
            "driver": auth(tokens["driver"]), "nobody": {}}


def test_the_document_lists_the_paginated_lists(client):
    lists = list_operations(client)
    assert {"/api/v1/farms", "/api/v1/pickups", "/api/v1/stock/ledger", "/api/v1/statements",
            "/api/v1/notices", "/api/v1/trace/farm-units"} <= set(lists)
    assert "date_from=" in lists["/api/v1/statements"] and "date=" in lists["/api/v1/notices"]


def test_hostile_pages_are_refused_naming_the_field_as_each_role_or_kept_out(client, tokens, world):
    failures = []
    for path, required in list_operations(client).items():
        for role, headers in roles(tokens).items():
            base = client.get(f"{path}?{required}", headers=headers)
            assert base.status_code in (200, 401, 403), (path, role, base.status_code, base.get_json())
            for query, field in REFUSED:
                response = client.get(f"{path}?{'&'.join(q for q in (required, query) if q)}", headers=headers)
                body = response.get_json()
                error = body.get("error", {}) if isinstance(body, dict) else {}
                if base.status_code != 200:
                    # kept out whatever the query: the same refusal, never a hint about the parameters
                    ok = response.status_code == base.status_code and error.get("code") and "fields" not in error
                else:
                    ok = (response.status_code == 422 and error.get("code") == "validation_error"
                          and error.get("message") and field in error.get("fields", {})
                          and "X-Pagination" not in response.headers)
                if not ok:
                    failures.append(f"{role} GET {path}?{query} -> {response.status_code} {body}")
    assert not failures, "\n".join(failures[:20])


def test_a_page_far_past_the_end_is_empty_with_the_true_total(client, manager, world):
    for path, required in list_operations(client).items():
        prefix = f"{path}?{required + '&' if required else ''}"
        whole = client.get(prefix + "page_size=10000", headers=manager)
        assert whole.status_code == 200, (path, whole.get_json())
        total = json.loads(whole.headers["X-Pagination"])["total"]
        assert total == len(whole.get_json()), path
        for page in (10**6, MAX_PAGE):
            response = client.get(f"{prefix}page={page}&page_size=1", headers=manager)
            assert response.status_code == 200 and response.get_json() == [], (path, page, response.get_json())
            meta = json.loads(response.headers["X-Pagination"])
            assert meta["total"] == total and "page" not in meta and "next_page" not in meta, (path, meta)


def test_the_largest_page_size_answers_and_one_more_is_refused(client, manager, world):
    farms = client.get("/api/v1/farms?page_size=10000", headers=manager)
    assert farms.status_code == 200 and len(farms.get_json()) == 2
    refused = client.get("/api/v1/farms?page_size=10001", headers=manager)
    assert refused.status_code == 422 and "page_size" in refused.get_json()["error"]["fields"]


def test_a_repeated_page_is_refused_not_silently_read_as_the_first(client, manager, world):
    first = client.get("/api/v1/farms?page=1&page_size=1", headers=manager)
    assert first.status_code == 200 and len(first.get_json()) == 1
    twice = client.get("/api/v1/farms?page=2&page=1&page_size=1", headers=manager)
    assert twice.status_code == 422
    assert twice.get_json()["error"]["fields"] == {"page": ["given more than once"]}


def test_a_nul_character_in_any_path_or_query_parameter_is_refused_before_the_database(client, manager):
    """PostgreSQL's text cannot hold NUL: GET /api/v1/jobs/%00, /stock/ledger?sku=%00,
    /platform-messages?status=%00, /products/%00/availability and POST /webhooks/%00/%00 were 500s there.
    Every operation of the OpenAPI document with a string parameter, in the path or the query."""
    spec = client.get("/api/v1/openapi.json").get_json()
    checked, failures = 0, []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            parameters = [*ops.get("parameters", []), *op.get("parameters", [])]
            strings = [p for p in parameters if p.get("schema", {}).get("type") == "string"]
            for parameter in strings:
                if parameter["in"] == "path":
                    target, expected = path.replace("{" + parameter["name"] + "}", "a%00b"), 404
                elif parameter["in"] == "query":
                    target, expected = f"{path}?{parameter['name']}=a%00b", 422
                else:
                    continue
                target = target.replace("{", "").replace("}", "")   # other path parameters: their own names
                response = getattr(client, method)(target, headers={**manager, "Content-Type": "application/json"},
                                                   data=b"{}" if method in ("post", "put", "patch") else None)
                body = response.get_json(silent=True) or {}
                error = body.get("error", {}) if isinstance(body, dict) else {}
                checked += 1
                if response.status_code != expected or not error.get("message") or (
                        expected == 422 and parameter["name"] not in error.get("fields", {})):
                    failures.append(f"{method.upper()} {target} -> {response.status_code} {body}")
    assert checked >= 5 and not failures, "\n".join(failures)
