"""Hostile HTTP through a real `coop serve` (granian, the app behind BodyGuard's RSGI door), over raw
sockets: broken framing, bodies cut short, unescaped and percent-encoded paths and queries, headers
sent twice or too long, and the client's address on IPv4 and IPv6 as the failed-authentication limit
counts it. Each is answered in the error shape or refused by granian's HTTP layer with the connection
closed; none reaches the app half-read, none is a 500, and the server goes on serving.

What granian's HTTP layer (hyper) refuses before any Python runs is answered without a body: a
Content-Length that is not one number (400), a header block of a megabyte (431), a raw byte that is not
UTF-8 in the request target (400). Those tests hold the status and the closed connection."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests.conftest import ROOT, auth, free_port
from tests.helpers import FARM

FARM_JSON = json.dumps(FARM).encode()


def exchange(base: str, raw: bytes, *, source: str | None = None, half_close: bool = False,
             timeout_s: float = 10.0) -> tuple[int, dict, bytes, bool]:
    """Send `raw`, read the one answer: (status, headers, body, whether the server then closed)."""
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    if source:
        sock.bind((source, 0))
    sock.connect((host.strip("[]"), int(port)))
    try:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed without an answer to {raw[:80]!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers: dict = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        length = int(headers.get("content-length", ["0"])[0])
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "the answer's body was cut short"
            body += chunk
        closed = False
        sock.settimeout(0.5 if "close" in headers.get("connection", []) else 0.2)
        try:
            closed = sock.recv(1) == b""
        except (TimeoutError, ConnectionResetError):
            closed = "close" in headers.get("connection", [])
        return int(lines[0].split(" ")[1]), headers, body[:length], closed
    finally:
        sock.close()


def error_of(status: int, body: bytes) -> dict:
    """The project's error shape, or fail."""
    error = json.loads(body)["error"]
    assert set(error) <= {"code", "message", "fields"} and error["code"] and error["message"], (status, error)
    return error


def still_serving(base: str, headers: dict) -> None:
    assert requests.get(base + "/healthz", timeout=5).status_code == 200
    assert requests.get(base + "/api/v1/farms", headers=headers, timeout=5).status_code == 200


def farms(base: str, headers: dict) -> list:
    return requests.get(base + "/api/v1/farms", headers=headers, timeout=5).json()


def request(method: str, target: str, headers: dict | list = (), body: bytes = b"") -> bytes:
    pairs = headers.items() if isinstance(headers, dict) else headers
    head = f"{method} {target} HTTP/1.1\r\nHost: test\r\n" + "".join(f"{k}: {v}\r\n" for k, v in pairs)
    return head.encode("utf-8") + b"\r\n" + body


def test_a_content_length_not_one_number_is_refused_before_the_app_and_the_server_goes_on(live_server, manager):
    json_manager = {**manager, "Content-Type": "application/json"}
    for declared in ("-5", "abc", "99999999999999999999999", "+2", "1_0", "2, 2"):
        raw = request("POST", "/api/v1/orders", {**json_manager, "Content-Length": declared}, b"{}")
        status, _, body, closed = exchange(live_server, raw)
        assert (status, body, closed) == (400, b"", True), declared
    two = request("POST", "/api/v1/orders", [*json_manager.items(), ("Content-Length", "2"),
                                             ("Content-Length", "5")], b"{}")
    assert exchange(live_server, two)[0::3] == (400, True)
    huge = request("POST", "/api/v1/farms", {**json_manager, "Content-Length": str(10**9)})
    status, _, body, closed = exchange(live_server, huge)
    assert status == 413 and error_of(status, body)["code"] == "body_too_large" and closed
    still_serving(live_server, manager)


def test_a_chunked_body_reaches_the_app_whole(live_server, manager):
    """werkzeug reads nothing of a request naming Transfer-Encoding unless told the stream ends: every
    chunked body reached the views empty until the guard stopped passing that header on."""
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (FARM_JSON[:10], FARM_JSON[10:]))
    raw = request("POST", "/api/v1/farms", {**manager, "Content-Type": "application/json",
                                            "Transfer-Encoding": "chunked"}, chunks + b"0\r\n\r\n")
    status, headers, body, _ = exchange(live_server, raw)
    assert status == 201 and json.loads(body)["name"] == FARM["name"], body


def test_content_length_with_chunked_is_read_as_chunked_and_nothing_is_smuggled(live_server, manager):
    chunked = f"{len(FARM_JSON):x}\r\n".encode() + FARM_JSON + b"\r\n0\r\n\r\n"
    smuggled = request("DELETE", "/api/v1/farms/1", manager)
    raw = request("POST", "/api/v1/farms", {**manager, "Content-Type": "application/json",
                                            "Content-Length": "4", "Transfer-Encoding": "chunked"},
                  chunked + smuggled)
    status, headers, body, closed = exchange(live_server, raw)
    assert status == 201 and json.loads(body)["name"] == FARM["name"]
    assert closed   # RFC 9112: a request framed both ways closes its connection, so nothing follows it
    assert [f["name"] for f in farms(live_server, manager)] == [FARM["name"]]


def test_a_chunked_body_over_the_limit_is_refused_413(live_server, manager):
    chunk = b"x" * 0x100000
    raw = request("POST", "/api/v1/orders", {**manager, "Content-Type": "application/json",
                                             "Transfer-Encoding": "chunked"})
    host, port = live_server.split("//", 1)[1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    try:
        sock.sendall(raw)
        for _ in range(4):   # 4 MiB against the 2 MiB limit; the server may stop reading midway
            try:
                sock.sendall(b"100000\r\n" + chunk + b"\r\n")
            except OSError:
                break
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"\n"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and error_of(413, body)["code"] == "body_too_large"
    still_serving(live_server, manager)


def test_a_body_cut_short_never_reaches_the_app(live_server, manager):
    json_manager = {**manager, "Content-Type": "application/json"}
    host, port = live_server.split("//", 1)[1].rsplit(":", 1)
    # The whole farm sent as a first chunk, and then the client hangs up before the last chunk: granian's
    # stream ended such a body as if whole, and the farm was created.
    for framing, sent in (({"Transfer-Encoding": "chunked"}, f"{len(FARM_JSON):x}\r\n".encode() + FARM_JSON + b"\r\n"),
                          ({"Content-Length": str(len(FARM_JSON) + 10)}, FARM_JSON)):
        sock = socket.create_connection((host, int(port)))
        sock.sendall(request("POST", "/api/v1/farms", {**json_manager, **framing}, sent))
        time.sleep(0.3)
        sock.close()
    # Half-closed (still listening): told why; a broken chunk size is the same fault.
    answers = [
        exchange(live_server, request("POST", "/api/v1/farms", {**json_manager, "Transfer-Encoding": "chunked"},
                                      f"{len(FARM_JSON):x}\r\n".encode() + FARM_JSON + b"\r\n"), half_close=True),
        exchange(live_server, request("POST", "/api/v1/farms", {**json_manager, "Content-Length": "1000"},
                                      FARM_JSON), half_close=True),
        exchange(live_server, request("POST", "/api/v1/farms", {**json_manager, "Transfer-Encoding": "chunked"},
                                      f"{len(FARM_JSON):x}\r\n".encode() + FARM_JSON + b"XX0\r\n\r\n")),
        exchange(live_server, request("POST", "/api/v1/farms", {**json_manager, "Transfer-Encoding": "chunked"},
                                      b"zz\r\n" + FARM_JSON + b"\r\n0\r\n\r\n")),
    ]
    for status, _, body, closed in answers:
        assert status == 400 and error_of(status, body)["code"] == "body_incomplete" and closed, body
    time.sleep(0.5)
    assert farms(live_server, manager) == []
    still_serving(live_server, manager)


def test_paths_and_queries_unescaped_percent_encoded_or_not_utf8(live_server, manager, client):
    cases = {
        "/api/v1/%66arms": 200,                          # percent-encoded letters name the same route
        "/api/v1/farms/%31": 404,                         # farm 1, which does not exist
        "/api/v1/farms/%E4%B8%AD": 404,
        "/api/v1/farms/%FF": 404,
        "/api/v1/farms/%00": 404,
        "/api/v1/farms?page=%FF": 422,
        "/api/v1/farms?page=%00": 422,
        "/api/v1/farms?%FF=1": 200,
        "/api/v1/pickups?date=%FF": 422,
        "/api/v1/pickups?date=中": 422,                   # sent unescaped, as UTF-8: was a 500
        "/api/v1/pickups?date=%E4%B8%AD": 422,
    }
    for target, expected in cases.items():
        status, _, body, _ = exchange(live_server, request("GET", target, manager))
        assert status == expected, (target, status, body)
        if status >= 400:
            error = error_of(status, body)
            if status == 422:
                assert set(error["fields"]) <= {"page", "date"}, (target, error)
        in_process = client.get(target, headers=manager)   # the test client sends UTF-8 for 中
        assert in_process.status_code == expected, (target, in_process.get_json())
    for raw_target in (b"/api/v1/\xff\xfe", b"/api/v1/farms?page=\xff"):
        raw = b"GET " + raw_target + b" HTTP/1.1\r\nHost: test\r\n\r\n"
        assert exchange(live_server, raw)[0::3] == (400, True)   # refused by granian before the app
    still_serving(live_server, manager)


def test_headers_sent_twice_or_too_long(live_server, tokens, manager):
    host_token = auth(tokens["host"])["Authorization"]
    status, headers, body, _ = exchange(live_server, request("GET", "/api/v1/farms", [
        *manager.items(), ("X-Request-ID", "first-id"), ("X-Request-ID", "second-id")]))
    # one request id, never the two joined (nor either, since neither alone was the request's id)
    assert status == 200 and len(headers["x-request-id"]) == 1
    assert headers["x-request-id"][0] not in ("first-id", "second-id", "first-id,second-id")
    for twice in ([*manager.items(), ("Authorization", host_token)], [("Authorization", host_token), *manager.items()],
                  [*manager.items(), *manager.items()]):
        status, headers, body, _ = exchange(live_server, request("GET", "/api/v1/farms", twice))
        assert status == 401 and error_of(status, body)["code"] == "unauthorized"   # which one? neither
    status, _, body, _ = exchange(live_server, request("GET", "/api/v1/farms", [
        *manager.items(), ("Cookie", "a=1"), ("Cookie", "b=2")]))
    assert status == 200 and json.loads(body) == []
    status, _, body, _ = exchange(live_server, request("GET", "/api/v1/farms", {**manager, "X-Long": "a" * 8000}))
    assert status == 200
    assert exchange(live_server, request("GET", "/api/v1/farms", {**manager, "X-Long": "a" * 1_000_000}))[0::3] \
        == (431, True)   # granian's bound on the header block
    status, _, body, _ = exchange(live_server, request("GET", "/api/v1/farms",
                                                       {"Authorization": "Bearer " + "x" * 10_000}))
    assert status == 401 and error_of(status, body)["code"] == "unauthorized"
    still_serving(live_server, manager)


def test_an_empty_json_body_on_orders_answers_as_the_app_does_in_process(live_server, manager, client):
    json_manager = {**manager, "Content-Type": "application/json"}
    in_process = client.post("/api/v1/orders", data=b"", headers=json_manager)
    assert in_process.status_code == 422
    expected = in_process.get_json()
    assert set(expected["error"]["fields"]) == {"platform", "external_id", "lines"}
    for framing in ({"Content-Length": "0"}, {}, {"Transfer-Encoding": "chunked"}):
        body = b"0\r\n\r\n" if "Transfer-Encoding" in framing else b""
        status, _, answer, _ = exchange(live_server, request("POST", "/api/v1/orders", {**json_manager, **framing},
                                                             body))
        assert (status, json.loads(answer)) == (422, expected), framing
    assert requests.get(live_server + "/api/v1/orders/1", headers=manager, timeout=5).status_code == 404


@pytest.fixture
def strict_server(db, database_url, tmp_path):
    """`coop serve` with a failed-authentication limit of 3 a minute, on IPv4 and IPv6 loopback."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    servers, logs = [], []
    env = dict(os.environ, DATABASE_URL=database_url, COOP_LOG_LEVEL="WARNING",
               COOP_RATE_LIMIT_UNAUTHENTICATED="3 per minute", COOP_RATE_LIMIT_KEY_PREFIX=f"h{uuid.uuid4().hex[:8]}")
    for host in ("127.0.0.1", "[::1]"):
        bind = f"{host}:{free_port()}"
        log = tmp_path / f"server-{len(servers)}.log"
        proc = subprocess.Popen([sys.executable, "-m", "supply.cli", "serve", "--bind", bind, "--workers", "1",
                                 "--threads", "4"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT)
        servers.append((proc, f"http://{bind}"))
        logs.append(log)
    try:
        for proc, base in servers:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline and proc.poll() is None, \
                    "server did not start: " + "".join(p.read_text() for p in logs)
                time.sleep(0.1)
        yield [base for _, base in servers], logs
    finally:
        for proc, _ in servers:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_the_client_address_reaches_the_failed_authentication_limit_on_ipv4_and_ipv6(strict_server, manager):
    (v4, v6), logs = strict_server
    wrong = {"Authorization": "Bearer coop_not-a-token"}
    for base, source, other in ((v4, "127.0.0.7", "127.0.0.8"), (v6, None, None)):
        answers = [exchange(base, request("GET", "/api/v1/farms", wrong), source=source)[0] for _ in range(4)]
        assert answers == [401, 401, 401, 429], base
        status, headers, body, _ = exchange(base, request("GET", "/api/v1/farms", manager), source=source)
        assert status == 429 and error_of(status, body)["code"] == "rate_limited" and headers["retry-after"]
        if other:   # another address is not held to that address's failures
            assert exchange(base, request("GET", "/api/v1/farms", manager), source=other)[0] == 200
    time.sleep(0.3)
    v4_log, v6_log = (log.read_text() for log in logs)
    assert "refusing 127.0.0.7 until" in v4_log and "127.0.0.8" not in v4_log
    assert "refusing ::1 until" in v6_log   # the address alone: no port, no brackets


@pytest.mark.parametrize("door", ["rsgi", "asgi"])
def test_an_error_outside_the_apps_handlers_is_answered_in_the_error_shape(door):
    """What the Flask app's own handlers cannot word (a middleware failing, an environ werkzeug cannot
    read) was granian's bare 500; the guard words it."""
    from supply.server import BodyGuard
    from tests.service.test_body_guard import call

    def broken(environ, start_response):
        raise UnicodeEncodeError("latin-1", "中", 0, 1, "ordinal not in range(256)")

    guard = BodyGuard(broken, threads=1, max_body=1000)
    status, _, body = call(guard, "GET", "/api/v1/farms", door=door)
    assert status == 500 and error_of(status, body) == {"code": "internal_error",
                                                        "message": "an unexpected error occurred"}


def curl_http2() -> str:
    curl = shutil.which("curl")
    if curl is None or "HTTP2" not in subprocess.run([curl, "-V"], capture_output=True, text=True).stdout:
        pytest.skip("no curl with HTTP/2 here")
    return curl


def test_an_http2_body_without_content_length_reaches_the_app(live_server, manager):
    """HTTP/2 frames a body by its stream and needs no Content-Length: the guard took such a body for
    none, and the view saw an empty one (422 naming every field)."""
    curl = curl_http2()
    for name, upload in (("streamed", ["-T", "-"]), ("with its length", ["--data-binary", "@-"])):
        answer = subprocess.run(
            [curl, "-s", "--http2-prior-knowledge", "-X", "POST", *upload,
             "-H", f"Authorization: {manager['Authorization']}", "-H", "Content-Type: application/json",
             "-w", "\n%{http_version} %{http_code}", live_server + "/api/v1/farms"],
            input=json.dumps({**FARM, "name": name}).encode(), capture_output=True, timeout=30)
        body, _, status = answer.stdout.decode().rpartition("\n")
        assert status == "2 201", (name, status, body)
    assert sorted(f["name"] for f in farms(live_server, manager)) == ["streamed", "with its length"]


def test_bodies_held_open_are_counted_per_ipv6_64_and_per_ipv4_address_however_written():
    """One subscriber is given a whole IPv6 /64: counted per IPv6 address, it would have 2**64 shares
    of the per-address bound on bodies being sent. IPv4 written IPv4-mapped counts as itself."""
    import asyncio

    from supply.server import BodyGuard
    from tests.service.test_body_guard import _Proto, _Scope

    def ok(environ, start_response):
        start_response("200 OK", [])
        return [b""]

    def answered(clients: list[str]) -> list:
        guard = BodyGuard(ok, threads=2, max_body=1000, per_address=2)
        protos = [_Proto([b"x"] * 3, pause_s=0.2) for _ in clients]

        async def run():
            await asyncio.gather(*(guard.__rsgi__(_Scope("POST", "/", [("Content-Type", "text/plain"),
                                                                       ("Transfer-Encoding", "chunked")], b"",
                                                         (client, 5000)), proto)
                                   for client, proto in zip(clients, protos)))

        asyncio.run(run())
        return [proto.answer[0] for proto in protos]

    assert answered(["2001:db8::1", "2001:db8::2", "2001:db8::ffff:3"]) == [200, 200, 429]
    assert answered(["2001:db8::1", "2001:db8::2", "2001:db8:0:1::3"]) == [200, 200, 200]
    assert answered(["::ffff:10.0.0.1", "10.0.0.1", "10.0.0.1"]) == [200, 200, 429]
    assert answered(["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [200, 200, 200]
