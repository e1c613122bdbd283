"""Lists answer one way: flask-smorest's pagination (page, page_size; X-Pagination with the totals),
whether the page is cut from a list built whole (farms) or read from the database (the ledger)."""
from __future__ import annotations

import json

from tests.helpers import make_farm, make_product, stock


def pages(client, headers, path: str, page_size: int) -> tuple[list[dict], list[dict]]:
    """Every page of a list: the items in order, and each page's X-Pagination."""
    items, metas, page = [], [], 1
    while True:
        response = client.get(path, headers=headers, query_string={"page": page, "page_size": page_size})
        assert response.status_code == 200, response.get_json()
        meta = json.loads(response.headers["X-Pagination"])
        items += response.get_json()
        metas.append(meta)
        if "next_page" not in meta:
            return items, metas
        page = meta["next_page"]


def test_a_list_built_whole_answers_page_by_page_with_its_totals(client, manager):
    names = [f"农场 {i}" for i in range(5)]
    for name in names:
        make_farm(client, manager, name=name)
    whole = client.get("/api/v1/farms", headers=manager)
    assert json.loads(whole.headers["X-Pagination"]) == {"total": 5, "total_pages": 1, "first_page": 1,
                                                         "last_page": 1, "page": 1}

    items, metas = pages(client, manager, "/api/v1/farms", 2)

    assert [f["name"] for f in items] == [f["name"] for f in whole.get_json()] and len(items) == 5
    assert [m["page"] for m in metas] == [1, 2, 3] and {m["total"] for m in metas} == {5}
    assert metas[1] == {"total": 5, "total_pages": 3, "first_page": 1, "last_page": 3, "page": 2,
                        "previous_page": 1, "next_page": 3}
    past = client.get("/api/v1/farms?page=4&page_size=2", headers=manager)
    assert past.status_code == 200 and past.get_json() == []
    assert json.loads(past.headers["X-Pagination"])["total"] == 5


def test_the_ledger_is_read_one_page_at_a_time_newest_first_and_before_id_still_narrows_it(client, manager):
    farm = make_farm(client, manager)
    make_product(client, manager)
    for quantity in (1, 2, 3, 4):
        stock(client, manager, farm["id"], "NOODLE-500", quantity)   # two entries each
    whole = client.get("/api/v1/stock/ledger", headers=manager).get_json()
    assert len(whole) == 8 and [e["id"] for e in whole] == sorted((e["id"] for e in whole), reverse=True)

    items, metas = pages(client, manager, "/api/v1/stock/ledger", 3)

    assert items == whole and len(metas) == 3 and {m["total"] for m in metas} == {8}
    older = client.get(f"/api/v1/stock/ledger?before_id={whole[2]['id']}&page_size=2&page=2", headers=manager)
    assert older.get_json() == whole[5:7]
    assert json.loads(older.headers["X-Pagination"])["total"] == 5


def test_pickups_count_what_their_filters_keep(client, manager):
    response = client.get("/api/v1/pickups?date=2026-11-24&page_size=5", headers=manager)
    assert response.status_code == 200 and response.get_json() == []
    assert json.loads(response.headers["X-Pagination"]) == {"total": 0, "total_pages": 0}


def test_every_list_in_the_openapi_document_takes_page_and_page_size_and_answers_x_pagination(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    lists = {path: op for path, ops in spec["paths"].items() for method, op in ops.items()
             if method == "get" and op["responses"].get("200", {}).get("content", {})
             .get("application/json", {}).get("schema", {}).get("type") == "array"}
    assert {"/api/v1/farms", "/api/v1/products", "/api/v1/pickups", "/api/v1/stock/ledger",
            "/api/v1/notices"} <= set(lists)
    for path, op in lists.items():
        assert {"page", "page_size"} <= {p["name"] for p in op.get("parameters", [])}, path
        assert "X-Pagination" in op["responses"]["200"].get("headers", {}), path
        assert op["responses"]["422"] == {"$ref": "#/components/responses/Error422"}, path


def test_platform_messages_page_by_page_and_by_before_id_agree(client, manager):
    from tests.service.test_webhooks import paid, setup, signed

    setup(client, manager, quantity=100)
    raw, headers = signed({"events": [paid(f"p-{i}", 1) for i in range(7)]})
    assert client.post("/api/v1/webhooks/testshop", data=raw, headers=headers).status_code == 200
    whole = client.get("/api/v1/platform-messages", headers=manager).get_json()
    assert len(whole) == 7

    items, metas = pages(client, manager, "/api/v1/platform-messages", 3)

    assert items == whole and len(metas) == 3 and {m["total"] for m in metas} == {7}
    older = client.get(f"/api/v1/platform-messages?before_id={whole[2]['id']}&page_size=3", headers=manager)
    assert older.get_json() == whole[3:6]
    assert json.loads(older.headers["X-Pagination"]) == {"total": 4, "total_pages": 2, "first_page": 1,
                                                         "last_page": 2, "page": 1, "next_page": 2}
