"""Each benchmark in its small form, so the scripts that print our figures cannot rot."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PG_URL, REDIS_URL, ROOT, SHARED


def run(*args: str, timeout: int = 600) -> str:
    env = dict(os.environ, COOP_LOG_LEVEL="WARNING")
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def test_ingest_smoke_reports_throughput_and_no_oversell():
    out = run("benchmarks/ingest.py", "--smoke")
    assert "orders/s" in out and "oversell" in out.lower()


@pytest.mark.parametrize("setup", ["sqlite", "postgres"])
def test_spike_smoke_reports_the_time_to_published_plans(setup):
    if setup == "postgres" and not (PG_URL and REDIS_URL):
        from tests.conftest import require_service

        require_service(False, "PostgreSQL and Redis")
    args = ["benchmarks/spike.py", "--smoke", "--only", setup]
    if REDIS_URL:
        args += ["--redis-url", REDIS_URL]
    out = run(*args)
    assert "last order->published" in out and "target <= 60 s" in out


def test_matrix_smoke_reports_its_time():
    if not (SHARED / "data" / "roads").exists():
        from tests.conftest import require_service

        require_service(False, "shared road extracts")
    out = run("benchmarks/matrix.py", "--smoke")
    assert out.strip()


def test_platform_links_smoke_reports_push_to_reserved_and_listing_lag():
    out = run("benchmarks/platform_links.py", "--smoke")
    assert "paid push -> order recorded: p50" in out and "listing stock lag" in out and "oversell 0" in out


def test_slow_clients_smoke_reports_latency_beside_the_target():
    out = run("benchmarks/slow_clients.py", "--smoke")
    assert "p99" in out and "target p99 < 100 ms" in out and "408" in out


def test_soak_smoke_reports_memory_errors_latency_and_planning_versions():
    args = ["benchmarks/soak.py", "--smoke"]
    args += ["--redis-url", REDIS_URL] if PG_URL and REDIS_URL else ["--sqlite"]
    out = run(*args)
    assert "RSS MB" in out and "p99 ms" in out and "consecutive True" in out and "errors 0;" in out
