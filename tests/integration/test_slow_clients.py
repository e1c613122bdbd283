"""Slow clients cannot starve the service: through `coop serve` (granian, the app behind BodyGuard),
200 clients sending webhook bodies slowly from 20 addresses stay connected while normal requests keep
answering; a client too slow is answered 408, and one address holding too many bodies open is
answered 429, in the error shape. The strict latency figure (p99 < 100 ms) is judged by
benchmarks/slow_clients.py by hand; here the bound is loose enough to hold on a loaded 2-core machine,
yet far below what the same load cost before (every request waited until the senders hung up)."""
from __future__ import annotations

import json
import os
import socket
import time

from benchmarks.slow_clients import SlowSenders, answer_of, percentile, timed_gets
from tests.conftest import auth

SENDERS = 200
LOOSE_P99_MS = 1000


def test_two_hundred_slow_senders_leave_normal_requests_answering(live_server, tokens):
    host, port = live_server.split("//", 1)[1].split(":")
    slow = SlowSenders(host, int(port), SENDERS)
    try:
        time.sleep(1)
        latencies, errors = timed_gets(live_server, 6.0, headers=auth(tokens["manager"]))
        waiting = slow.still_sending()
    finally:
        slow.close()
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    print(f"\n{SENDERS} slow senders, {waiting} still sending; {len(latencies)} normal requests, errors {errors}, "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms; load {os.getloadavg()[0]:.2f}")
    assert waiting == SENDERS   # none was refused or cut: slow but within the rate is allowed
    assert errors == 0
    assert p99 < LOOSE_P99_MS


def test_a_body_sent_a_byte_a_second_is_answered_408_in_the_error_shape(live_server):
    host, port = live_server.split("//", 1)[1].split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /api/v1/webhooks/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    started = time.monotonic()
    for _ in range(3):
        time.sleep(1)
        try:
            sock.send(b" ")
        except OSError:
            break
    answer = answer_of(sock, 10)
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["error"]["code"] == "body_too_slow"
    assert time.monotonic() - started < 10


def test_one_address_holding_many_bodies_open_is_refused_429_beyond_its_share(live_server):
    host, port = live_server.split("//", 1)[1].split(":")
    held = []
    try:
        for _ in range(80):   # 2 workers x 32 per address may read at once
            sock = socket.socket()
            sock.bind(("127.0.3.1", 0))
            sock.connect((host, int(port)))
            sock.sendall(b"POST /api/v1/webhooks/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
            held.append(sock)
        time.sleep(0.5)
        answers = [answer_of(sock, 0.01) for sock in held]
    finally:
        for sock in held:
            sock.close()
    refused = [a for a in answers if a.startswith(b"HTTP/1.1 429")]
    assert len(refused) >= 80 - 64
    assert json.loads(refused[0].partition(b"\r\n\r\n")[2])["error"]["code"] == "rate_limited"
