"""Integer query parameters are read one way: ASCII digits (a '-' before them only where negatives are
allowed). marshmallow's Integer reads text with int(), which also took "+1", " 1", "1_0" (as 10),
full-width and Arabic-Indic digits, so one page or id had many spellings. And a query refused for its
filters names its page's faults too, not only the filters'."""
from __future__ import annotations

from urllib.parse import quote

import pytest
from marshmallow import Schema, ValidationError

from supply.api.schemas import QueryInt
from tests.helpers import make_farm, stocked_farm
from tests.service.test_hostile_lists import list_operations

# Spellings int() reads as a number and ASCII digits do not write.
LENIENT = ["+1", "1_0", " 1", "1 ", "\t1", "\uff11", "\u0661", "\u06f1", "\u0967", "-0", "0_1"]


@pytest.fixture
def world(client, manager):
    farm = stocked_farm(client, manager, 10)   # farm 1 holds NOODLE-500: the ledger and the trace have rows
    make_farm(client, manager, name="second farm")
    return farm


def get(client, headers, path: str, *queries: str):
    return client.get(f"{path}?{'&'.join(q for q in queries if q)}", headers=headers)


def named(response, *fields: str, code: str = "validation_error") -> bool:
    body = response.get_json()
    error = body.get("error", {}) if isinstance(body, dict) else {}
    return (response.status_code == 422 and set(body) == {"error"} and error.get("code") == code
            and bool(error.get("message")) and set(fields) <= set(error.get("fields", {}))
            and "X-Pagination" not in response.headers)


def test_every_list_refuses_a_page_or_size_not_written_in_ascii_digits(client, manager, world):
    failures = []
    lists = list_operations(client)
    assert len(lists) >= 15, sorted(lists)
    for path, required in lists.items():
        assert get(client, manager, path, required, "page=1", "page_size=10").status_code == 200, path
        for name in ("page", "page_size"):
            for spelling in LENIENT:
                response = get(client, manager, path, required, f"{name}={quote(spelling)}")
                if not named(response, name):
                    failures.append(f"GET {path}?{name}={spelling!r} -> {response.status_code} {response.get_json()}")
    assert not failures, "\n".join(failures[:20])


def test_ascii_digits_are_read_as_before(client, manager, world):
    # leading zeros are still ASCII digits: the same page as "1"
    one = client.get("/api/v1/farms?page=1&page_size=1", headers=manager)
    padded = client.get("/api/v1/farms?page=001&page_size=01", headers=manager)
    assert one.status_code == padded.status_code == 200
    assert one.get_json() == padded.get_json() and len(one.get_json()) == 1
    second = client.get("/api/v1/farms?page=2&page_size=1", headers=manager).get_json()
    assert len(second) == 1 and second != one.get_json()


@pytest.mark.parametrize("path, name, good", [
    ("/api/v1/stock/ledger", "farm_id", "1"),
    ("/api/v1/stock/ledger", "before_id", "1000"),
    ("/api/v1/platform-messages", "before_id", "1000"),
    ("/api/v1/pickups", "farm_id", "1"),
    ("/api/v1/products/NOODLE-500/availability", "stream_id", None),
    ("/api/v1/statements?date_from=2026-11-01&date_to=2026-11-30", "farm_id", "1"),
    ("/api/v1/trace/farm-units?sku=NOODLE-500&date_from=2026-11-01&date_to=2026-11-30", "farm_id", "1"),
])
def test_other_integer_query_parameters_take_ascii_digits_only(client, manager, world, path, name, good):
    joiner = "&" if "?" in path else "?"
    if good is not None:
        assert client.get(f"{path}{joiner}{name}={good}", headers=manager).status_code == 200
    for spelling in LENIENT + ["-1", "1.0", "1e3", ""]:
        response = client.get(f"{path}{joiner}{name}={quote(spelling)}", headers=manager)
        assert named(response, name), (spelling, response.status_code, response.get_json())


def test_a_negative_is_read_only_where_the_field_allows_one():
    class Signed(Schema):
        n = QueryInt(-10, 10)

    class Unsigned(Schema):
        n = QueryInt(0, 10)

    assert Signed().load({"n": "-7"}) == {"n": -7} and Signed().load({"n": "7"}) == {"n": 7}
    assert Unsigned().load({"n": "0"}) == {"n": 0} and Unsigned().load({"n": "10"}) == {"n": 10}
    for schema, bad in ((Signed(), "+7"), (Signed(), "--7"), (Signed(), "-"), (Signed(), "- 7"), (Signed(), "-\u0667"),
                        (Signed(), "-11"), (Unsigned(), "-0"), (Unsigned(), "-1"), (Unsigned(), "11"),
                        (Unsigned(), True), (Unsigned(), 1.0), (Unsigned(), "1" * 5000)):
        with pytest.raises(ValidationError) as refused:
            schema.load({"n": bad})
        assert set(refused.value.messages) == {"n"}, (bad, refused.value.messages)


@pytest.mark.parametrize("path", ["/api/v1/statements", "/api/v1/payouts"])
def test_a_query_refused_for_its_filters_names_its_page_too(client, manager, world, path):
    assert named(get(client, manager, path, "page=0"), "date_from", "date_to", "page")
    assert named(get(client, manager, path, "page_size=1_0", "farm_id=%2B1"), "date_from", "date_to", "farm_id",
                 "page_size")
    response = get(client, manager, path, "date_from=2026-11-30", "date_to=2026-11-01", "page=x", "page_size=0")
    assert named(response, "date_to", "page", "page_size")
    # a good page adds nothing to the filters' refusal
    assert set(get(client, manager, path, "page=2").get_json()["error"]["fields"]) == {"date_from", "date_to"}


def test_rules_of_the_domain_keep_their_codes_and_name_their_field(client, manager, world):
    # the request's shape is right; a rule of the domain refuses it (a statement covers at most a year)
    wide = get(client, manager, "/api/v1/payouts", "date_from=0001-01-01", "date_to=9999-12-31")
    assert named(wide, "date_to", code="invalid_input")
    # the page is read before any rule of the domain: a bad page is named as such
    assert named(get(client, manager, "/api/v1/payouts", "date_from=0001-01-01", "date_to=9999-12-31", "page=0"),
                 "page")
    unknown = get(client, manager, "/api/v1/trace/farm-units", f"farm_id={world['id']}", "sku=NOPE-1",
                  "date_from=2026-11-01", "date_to=2026-11-30")
    assert named(unknown, "sku", code="unknown_sku")


@pytest.mark.parametrize("digit", ["\u0661", "\uff11", "\u0967"])
def test_an_id_in_the_path_is_written_in_ascii_digits(client, manager, world, digit):
    assert client.get("/api/v1/farms/1", headers=manager).status_code == 200
    response = client.get(f"/api/v1/farms/{quote(digit)}", headers=manager)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
