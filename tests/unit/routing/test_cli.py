"""The command line, run as a separate process."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data"


def run(*args):
    return subprocess.run([sys.executable, "-m", "routing", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_solve_prints_a_json_plan_in_the_files_numbering_and_cost_convention():
    out = run("solve", str(DATA / "C101_25.txt"), "--format", "solomon", "--time-limit", "1")
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert sorted(s for r in plan["routes"] for s in r) == list(range(1, 26))
    assert plan["unassigned"] == []
    assert plan["cost"] == plan["distance_m"] / 10


def test_solve_reads_vrplib_and_reports_integer_cost():
    out = run("solve", str(DATA / "small_cvrp.vrp"), "--format", "vrplib", "--time-limit", "1",
              "--engine", "ortools")
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert sorted(s for r in plan["routes"] for s in r) == [2, 3, 4, 5, 6, 7, 8]
    assert plan["cost"] == plan["distance_m"] and isinstance(plan["cost"], int)


def test_a_bad_file_gives_a_clear_error_and_a_non_zero_exit():
    out = run("solve", str(DATA / "missing.txt"), "--time-limit", "1")
    assert out.returncode == 2
    assert "error" in json.loads(out.stderr)


def test_the_gap_benchmark_smoke_run_checks_every_plan():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "routing_gap.py"), "--smoke",
                          "--solvers", "ours,vroom"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "C101.25" in out.stdout and "INFEASIBLE" not in out.stdout


ROADS = SHARED / "data" / "roads" / "beatty-nv-2017.osm.pbf"


@pytest.mark.skipif(not ROADS.exists(), reason="shared road extracts not present")
def test_network_prints_the_statistics_of_a_road_extract():
    out = run("network", str(ROADS))
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert stats["nodes"] > 0 and stats["road_km"] > 0


def test_the_cooperative_workload_benchmark_smoke_run_checks_every_plan_and_the_best_known():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "coop_routing.py"), "--smoke"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("demo-300-cut60"))
    # km, routes, unplanned and the gap to the best known, for both engines
    assert row.count(" km ") == 3 and row.count("%") == 2
    assert "INFEASIBLE" not in out.stdout and "NO PLAN" not in out.stdout


def test_solve_with_an_iteration_budget_and_no_clock_prints_the_same_plan_twice():
    args = ("solve", str(DATA / "C101_25.txt"), "--time-limit", "0", "--max-iterations", "50",
            "--seed", "3")
    first, again = run(*args), run(*args)
    assert first.returncode == 0, first.stderr
    plans = [json.loads(out.stdout) for out in (first, again)]
    assert plans[0]["routes"] == plans[1]["routes"]
    assert plans[0]["search"]["stopped_by"] == "iterations"
    assert plans[0]["search"]["seed"] == 3
