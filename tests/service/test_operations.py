"""What the service tells its operators: request ids, one JSON log line per request (without secrets
or buyers' data), Prometheus figures, readiness, and the operators' commands."""
from __future__ import annotations

import json
import logging
import re

import pytest
from click.testing import CliRunner

from config import Settings
from tests.helpers import order, stocked_farm

BUYER_PHONE = "13912345678"


@pytest.fixture
def access_lines(caplog):
    """The access log's JSON lines (the logger does not propagate; its records are taken here)."""
    logger = logging.getLogger("supply.access")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="supply.access")
    yield lambda: [json.loads(r.getMessage()) for r in caplog.records if r.name == "supply.access"]
    logger.removeHandler(caplog.handler)


def _get(client, path, **kwargs):
    response = client.get(path, **kwargs)
    response.close()   # servers close every answer; the log line is written then
    return response


def test_a_well_formed_request_id_is_kept_and_any_other_is_replaced(client):
    assert _get(client, "/healthz", headers={"X-Request-ID": "edge-42.a"}).headers["X-Request-ID"] == "edge-42.a"
    replaced = _get(client, "/healthz", headers={"X-Request-ID": "no spaces <allowed>"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)
    assert _get(client, "/healthz").headers["X-Request-ID"] != _get(client, "/healthz").headers["X-Request-ID"]


def test_each_request_logs_one_json_line_with_its_route_role_and_cooperative(client, manager, access_lines):
    stocked_farm(client, manager, 5)
    before = len(access_lines())
    response = client.post("/api/v1/orders", json=order(lines=[("NOODLE-500", 2)]), headers={**manager, "X-Request-ID": "r-1"})
    response.close()
    assert response.status_code == 201
    lines = access_lines()[before:]
    assert len(lines) == 1
    line = lines[0]
    assert set(line) == {"time", "request_id", "method", "route", "status", "duration_ms", "role", "cooperative"}
    assert (line["request_id"], line["method"], line["route"], line["status"]) == ("r-1", "POST", "/api/v1/orders", 201)
    assert (line["role"], line["cooperative"]) == ("manager", 1)
    assert line["duration_ms"] >= 0
    refused = _get(client, "/api/v1/farms/7")
    assert refused.status_code == 401
    assert access_lines()[-1]["route"] == "/api/v1/farms/<int:farm_id>"
    assert access_lines()[-1]["role"] is None


def test_tokens_secrets_and_buyers_data_never_reach_the_log(client, manager, tokens, access_lines, caplog):
    stocked_farm(client, manager, 5)
    body = order(external_id="secret-order-9", lines=[("NOODLE-500", 1)])
    body["buyer"] = {"name": "王小明", "phone": BUYER_PHONE, "address": "昭苏县 幸福路 8 号"}
    client.post("/api/v1/orders?signature=sig-abc", json=body, headers=manager).close()
    _get(client, "/api/v1/orders?token=" + tokens["manager"], headers=manager)
    client.post("/api/v1/webhooks/generic", data=b'{"events": []}',
                headers={"X-Signature": "deadbeef", "Content-Type": "application/json"}).close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert access_lines(), "the requests were logged"
    for secret in (tokens["manager"], manager["Authorization"], "sig-abc", "deadbeef", BUYER_PHONE, "王小明",
                   "幸福路", "secret-order-9"):
        assert secret not in logged


def test_figures_count_requests_and_orders_and_need_a_manager(client, manager, host):
    stocked_farm(client, manager, 3)
    for i in range(4):
        client.post("/api/v1/orders", json=order(external_id=f"m-{i}", lines=[("NOODLE-500", 1)]), headers=manager).close()
    assert _get(client, "/metrics").status_code == 401
    assert _get(client, "/metrics", headers=host).status_code == 403
    response = _get(client, "/metrics", headers=manager)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)

    def value(pattern):
        found = re.search(pattern + r" (\d+(?:\.\d+)?)", text)
        return float(found.group(1)) if found else 0.0

    assert value(r'coop_orders_total\{outcome="reserved"\}') >= 3
    assert value(r'coop_orders_total\{outcome="rejected"\}') >= 1
    assert value(r'coop_http_requests_total\{method="POST",route="/api/v1/orders",status="201"\}') >= 3
    assert 'coop_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/api/v1/orders"}' in text
    assert "coop_job_queue_depth" in text


def test_readiness_checks_the_database_and_redis_while_liveness_checks_nothing(database_url):
    from supply.app import create_app

    ready = create_app(Settings(database_url=database_url)).test_client()
    assert ready.get("/readyz").get_json() == {"status": "ready", "checks": {"database": "ok"}}
    # Nothing listens on port 1: the database and Redis are unreachable.
    down = create_app(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none",
                               redis_url="redis://127.0.0.1:1/0")).test_client()
    answer = down.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {"status": "not_ready", "checks": {"database": "unavailable", "redis": "unavailable"}}
    assert down.get("/healthz").status_code == 200


def test_operators_commands_manage_cooperatives_tokens_and_drivers(db, database_url, monkeypatch, tmp_path):
    from supply.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()

    def coop(*args):
        return runner.invoke(main, list(args), catch_exceptions=False)

    assert re.fullmatch(r"coop, version \d+\.\d+\.\d+\n", coop("--version").output)
    assert coop("db", "current").output.splitlines()[-1] == "up to date"
    created = coop("cooperatives", "create", "--code", "zhaosu", "--name", "昭苏县合作社")
    assert created.exit_code == 0 and "zhaosu" in created.output
    again = coop("cooperatives", "create", "--code", "zhaosu", "--name", "again")
    assert again.exit_code != 0 and "exists already" in again.output
    assert coop("cooperatives", "create", "--code", "No Spaces", "--name", "x").exit_code != 0
    assert [line.split("\t")[1] for line in coop("cooperatives", "list").output.splitlines()] == ["default", "zhaosu"]
    driver_id = coop("drivers", "create", "--name", "马军", "--cooperative", "zhaosu").output.strip()
    assert coop("drivers", "create", "--name", "x", "--cooperative", "nowhere").exit_code != 0
    token = coop("tokens", "create", "--role", "driver", "--driver", driver_id, "--cooperative", "zhaosu").output.strip()
    listed = coop("tokens", "list", "--cooperative", "zhaosu").output
    assert token not in listed and "\tzhaosu\tdriver\t" in listed and listed.rstrip().endswith("active")
    token_id = listed.split("\t", 1)[0]
    assert coop("tokens", "revoke", token_id).exit_code == 0
    assert not coop("tokens", "list", "--cooperative", "zhaosu").output.rstrip().endswith("active")
    assert coop("tokens", "revoke", "999999").exit_code != 0


def test_a_dotenv_file_in_the_working_directory_is_read_without_overriding_the_environment(db, database_url,
                                                                                              monkeypatch, tmp_path):
    from supply.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "recorded, so that what .env sets is undone after the test")
    monkeypatch.delenv("DATABASE_URL")
    (tmp_path / ".env").write_text(f"DATABASE_URL={database_url}\n")
    listed = CliRunner().invoke(main, ["cooperatives", "list"], catch_exceptions=False)
    assert listed.output.split("\t")[1] == "default"
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "empty.sqlite3"))
    refused = CliRunner().invoke(main, ["cooperatives", "list"])
    assert refused.exit_code != 0   # the variable set in the environment wins: that database has no tables


def test_pushes_are_counted_by_platform_and_answer_and_strangers_share_one_label(client, manager):
    from tests.service.test_webhooks import paid, setup, signed

    setup(client, manager)
    raw, headers = signed({"events": [paid("w-1", 1)]})
    client.post("/api/v1/webhooks/testshop", data=raw, headers=headers).close()
    client.post("/api/v1/webhooks/testshop", data=raw, headers={**headers, "X-Signature": "sha256=00"}).close()
    client.post("/api/v1/webhooks/made-up-name", data=raw, headers=headers).close()
    text = _get(client, "/metrics", headers=manager).get_data(as_text=True)
    assert re.search(r'coop_platform_pushes_total\{platform="testshop",status="200"\} [1-9]', text)
    assert re.search(r'coop_platform_pushes_total\{platform="testshop",status="401"\} [1-9]', text)
    assert re.search(r'coop_platform_pushes_total\{platform="unknown",status="404"\} [1-9]', text)
    assert "made-up-name" not in text


def test_jobs_are_counted_by_kind_and_final_state_with_their_durations(app, client, manager):
    from supply import jobs, metrics

    def weigh(services, job_id, params, progress):
        if params.get("broken"):
            raise RuntimeError("the scale is broken")
        return {"kg": 3}

    services = app.extensions["coop"]
    services.job_handlers["weigh_for_figures"] = weigh

    def count(state):
        return metrics.JOBS.labels("weigh_for_figures", state)._value.get()

    before = (count("finished"), count("failed"))
    for broken in (False, False, True):
        with services.db.transaction() as session:
            job_id = jobs.create_job(session, 1, "weigh_for_figures", {"broken": broken})
        jobs.execute_job(services, job_id)
    assert (count("finished"), count("failed")) == (before[0] + 2, before[1] + 1)
    text = _get(client, "/metrics", headers=manager).get_data(as_text=True)
    assert re.search(r'coop_job_duration_seconds_count\{kind="weigh_for_figures"\} [3-9]', text)


def test_every_operation_has_an_id_its_roles_and_its_error_answers_in_the_openapi_document(client):
    from tests.service.test_roles import TABLE

    spec = client.get("/api/v1/openapi.json").get_json()
    operations = {(method, path): op for path, ops in spec["paths"].items() for method, op in ops.items()
                  if method in ("get", "post", "put", "patch", "delete")}
    ids = [op["operationId"] for op in operations.values()]
    assert len(ids) == len(set(ids)) == len(operations)
    for method, path, _body, allowed in TABLE:
        op = operations[(method, path)]
        assert set(op.get("x-roles", ())) == allowed, (method, path)
        assert {"401", "403"} <= set(op["responses"]), (method, path)
        assert "Roles: " in op["description"]
    for (method, path), op in operations.items():
        assert {"400", "429", "503"} <= set(op["responses"]), (method, path)
        if "{" in path:
            assert "404" in op["responses"], (method, path)
    for code in ("400", "401", "403", "404", "409", "422", "429", "503"):
        answer = spec["components"]["responses"][f"Error{code}"]
        assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    push = operations[("post", "/api/v1/webhooks/{platform}")]
    assert "x-roles" not in push and "401" in push["responses"]


def test_polled_availability_answers_not_modified_until_the_figures_move(client, manager):
    stocked_farm(client, manager, 5)
    url = "/api/v1/products/NOODLE-500/availability"
    first = client.get(url, headers=manager)
    assert first.status_code == 200 and first.headers["ETag"]
    same = client.get(url, headers={**manager, "If-None-Match": first.headers["ETag"]})
    assert same.status_code == 304 and same.get_data() == b""
    client.post("/api/v1/orders", json=order(lines=[("NOODLE-500", 2)]), headers=manager)
    moved = client.get(url, headers={**manager, "If-None-Match": first.headers["ETag"]})
    assert moved.status_code == 200 and moved.get_json()["reserved"] == 2
    assert moved.headers["ETag"] != first.headers["ETag"]


def test_a_polled_job_answers_not_modified_while_it_has_not_moved(app, client, manager):
    from supply import jobs

    services = app.extensions["coop"]
    with services.db.transaction() as session:
        job_id = jobs.create_job(session, 1, "weigh_for_etags", {})
    first = client.get(f"/api/v1/jobs/{job_id}", headers=manager)
    assert first.status_code == 200 and first.get_json()["status"] == "queued"
    assert client.get(f"/api/v1/jobs/{job_id}", headers={**manager, "If-None-Match": first.headers["ETag"]}).status_code == 304
    services.job_handlers["weigh_for_etags"] = lambda services, job_id, params, progress: {"kg": 1}
    jobs.execute_job(services, job_id)
    done = client.get(f"/api/v1/jobs/{job_id}", headers={**manager, "If-None-Match": first.headers["ETag"]})
    assert done.status_code == 200 and done.get_json()["status"] == "finished"


def test_a_created_resource_that_can_be_read_is_answered_with_its_location(client, manager):
    farm = client.post("/api/v1/farms", json={"name": "马家", "lat": 42.5, "lon": 1.52}, headers=manager)
    assert farm.status_code == 201
    assert farm.headers["Location"] == f"/api/v1/farms/{farm.get_json()['id']}"
    assert client.get(farm.headers["Location"], headers=manager).get_json()["name"] == "马家"
    # a 201 whose resource has no address to read it at carries no Location
    driver = client.post("/api/v1/drivers", json={"name": "马军"}, headers=manager)
    assert driver.status_code == 201 and "Location" not in driver.headers


def test_a_request_id_is_carried_into_the_log_lines_of_the_job_it_starts(client, manager, caplog):
    caplog.set_level(logging.INFO, logger="supply.jobs")
    answer = client.post("/api/v1/allocations", json={"date": "2026-11-30"},
                         headers={**manager, "X-Request-ID": "req-alloc-77"})
    assert answer.status_code == 202
    job_id = answer.get_json()["id"]
    lines = [r.getMessage() for r in caplog.records if r.name == "supply.jobs" and job_id in r.getMessage()]
    assert any("created" in line and "[request req-alloc-77]" in line for line in lines), lines
    assert any("started" in line and "[request req-alloc-77]" in line for line in lines), lines


def test_a_job_handed_to_rq_carries_the_request_id_in_its_meta(app, database_url):
    from rq.job import Job as RqJob

    from supply import jobs
    from supply.wiring import build_services
    from tests.conftest import REDIS_URL, require_service

    require_service(bool(REDIS_URL), "Redis")
    services = build_services(Settings(database_url=database_url, redis_url=REDIS_URL, rq_queue="coop-ops-test"),
                              db=app.extensions["coop"].db)
    token = jobs.current_request_id.set("req-rq-5")
    try:
        with services.db.transaction() as session:
            job_id = jobs.create_job(session, 1, "weigh_for_meta", {})
        jobs.dispatch_job(services, job_id)
    finally:
        jobs.current_request_id.reset(token)
    connection = jobs.redis_connection(services)
    try:
        assert RqJob.fetch(job_id, connection=connection).meta["request_id"] == "req-rq-5"
    finally:
        jobs.rq_queue(services).empty()
