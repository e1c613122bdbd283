"""benchmarks/pages.py --smoke: the driver page's weight and the host page's lag are measured and printed."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_the_pages_benchmark_reports_the_driver_pages_weight_and_the_host_pages_lag():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    done = subprocess.run([sys.executable, "benchmarks/pages.py", "--smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["stops"] >= 3 and 0 < figures["driver_page_kb"] < 200
    assert figures["host_lag_max_s"] != float("inf") and figures["orders_per_s"] > 0
    assert "driver page:" in done.stdout and "host page lag:" in done.stdout
