"""Bearer tokens: 401 without a valid one, 403 for the wrong role, only hashes stored."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from tests.conftest import ROOT, auth
from tests.helpers import order, stocked_farm

SKU = "NOODLE-500"

# Endpoints only a manager may use: (method, path, json body)
MANAGER_ONLY = [
    ("post", "/api/v1/farms", {"name": "f", "lat": 1, "lon": 1}),
    ("get", "/api/v1/farms", None),
    ("post", "/api/v1/products", {"sku": "X", "name": "x", "unit": "bag", "unit_weight_kg": 1, "unit_volume_l": 1}),
    ("post", "/api/v1/stock/adjustments", {"farm_id": 1, "sku": SKU, "delta": 1, "kind": "declared", "reason": "r"}),
    ("get", "/api/v1/stock/ledger", None),
    ("post", "/api/v1/orders", order()),
    ("post", "/api/v1/orders/batch", {"orders": [order()]}),
    ("get", "/api/v1/orders/1", None),
    ("post", "/api/v1/orders/1/cancel", None),
]

PROTECTED = MANAGER_ONLY + [("get", f"/api/v1/products/{SKU}/availability", None),
                            ("get", "/api/v1/products", None),
                            ("post", "/api/v1/streams", {"platform": "douyin", "host": "h",
                                                         "starts_at": "2026-11-23T20:00:00+08:00"})]

BAD_HEADERS = [
    ("no header", {}),
    ("empty header", {"Authorization": ""}),
    ("basic scheme", {"Authorization": "Basic bWFuYWdlcjpwYXNz"}),
    ("bearer without a token", {"Authorization": "Bearer "}),
    ("token without a scheme", {"Authorization": "coop_abcdef"}),
    ("unknown token", {"Authorization": "Bearer coop_" + "x" * 43}),
    ("token with a control character", {"Authorization": "Bearer coop_\tabc"}),
]


def call(client, method, path, body, headers):
    return getattr(client, method)(path, json=body, headers=headers)


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert "fields" not in error
    return error


@pytest.fixture
def seeded(client, manager):
    farm = stocked_farm(client, manager, 10)
    return farm


@pytest.mark.parametrize("headers", [h for _, h in BAD_HEADERS], ids=[name for name, _ in BAD_HEADERS])
@pytest.mark.parametrize("method,path,body", PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_a_missing_or_bad_token_is_401_in_the_error_shape(client, tokens, method, path, body, headers):
    response = call(client, method, path, body, headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_a_real_token_under_another_scheme_is_refused(client, tokens):
    assert_error(client.get("/api/v1/farms", headers={"Authorization": f"Token {tokens['manager']}"}),
                 401, "unauthorized")


@pytest.mark.parametrize("role", ["host", "driver"])
@pytest.mark.parametrize("method,path,body", MANAGER_ONLY, ids=[f"{m} {p}" for m, p, _ in MANAGER_ONLY])
def test_a_valid_token_with_the_wrong_role_is_403(client, tokens, db, seeded, role, method, path, body):
    before = _counts(db)
    assert_error(call(client, method, path, body, auth(tokens[role])), 403, "forbidden")
    assert _counts(db) == before


def test_a_driver_cannot_see_availability(client, tokens, seeded):
    assert_error(client.get(f"/api/v1/products/{SKU}/availability", headers=auth(tokens["driver"])),
                 403, "forbidden")


def test_a_host_sees_availability_without_farm_names(client, manager, host, seeded):
    for_host = client.get(f"/api/v1/products/{SKU}/availability", headers=host)
    assert for_host.status_code == 200
    body = for_host.get_json()
    assert (body["available"], body["confirmed"]) == (10, 10)
    assert body["by_farm"] and all("farm_name" not in row and "farm_id" not in row for row in body["by_farm"])
    assert seeded["name"] not in for_host.get_data(as_text=True)
    for_manager = client.get(f"/api/v1/products/{SKU}/availability", headers=manager).get_json()
    assert for_manager["by_farm"][0]["farm_name"] == seeded["name"]


def test_a_host_cannot_read_an_order_and_its_buyer(client, manager, host, seeded):
    body = order(lines=[(SKU, 1)])
    body["buyer"] = {"name": "张三", "phone": "13800000000"}
    created = client.post("/api/v1/orders", json=body, headers=manager).get_json()
    response = client.get(f"/api/v1/orders/{created['id']}", headers=host)
    assert_error(response, 403, "forbidden")
    assert "张三" not in response.get_data(as_text=True)


def test_tokens_are_stored_only_as_hashes(db, tokens):
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_tokens")).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert len(rows) == 4
    for role in ("manager", "host", "driver", "other_driver"):
        token = tokens[role]
        assert token not in stored
        assert token[len("coop_"):] not in stored


def test_a_revoked_token_is_refused(client, db, tokens):
    from supply.api.auth import clear_token_cache

    with db.engine.begin() as conn:
        conn.execute(text("UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP WHERE role = 'host'"))
    clear_token_cache()
    assert_error(client.get("/api/v1/products", headers=auth(tokens["host"])), 401, "unauthorized")


def test_the_cli_prints_a_host_token_that_works(client, db, database_url, seeded):
    env = dict(os.environ, DATABASE_URL=database_url)
    result = subprocess.run([sys.executable, "-m", "supply.cli", "tokens", "create", "--role", "host"],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("coop_") and len(token) > 40
    headers = auth(token)
    assert client.get(f"/api/v1/products/{SKU}/availability", headers=headers).status_code == 200
    assert_error(client.get("/api/v1/farms", headers=headers), 403, "forbidden")
    with db.engine.connect() as conn:
        roles = conn.execute(text("SELECT role, token_hash FROM api_tokens")).all()
    assert token not in str(roles)
    assert sum(1 for role, _ in roles if role == "host") == 2


def test_the_cli_refuses_an_unknown_role(database_url):
    env = dict(os.environ, DATABASE_URL=database_url)
    result = subprocess.run([sys.executable, "-m", "supply.cli", "tokens", "create", "--role", "admin"],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "coop_" not in result.stdout


def _counts(db) -> dict:
    from sqlalchemy import func, select

    from supply.db.models import Base

    with db.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in Base.metadata.sorted_tables}
