"""The README's main command, small: a county, a spike, a fleet -> published plans and sheets on disk."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

from tests.conftest import ROOT


def test_coop_demo_writes_plans_and_sheets_whose_numbers_add_up(tmp_path):
    out = tmp_path / "demo"
    env_free = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COOP_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "supply.cli", "demo", "--out", str(out), "--orders", "600",
                           "--farms", "40", "--time-limit", "3"], cwd=ROOT, env=env_free, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["orders_sent"] == 600
    assert summary["orders_reserved"] + summary["orders_rejected"] == 600
    assert summary["orders_reserved"] > 0
    # Every pickup with goods ready is either on a route or unplanned with a reason (never both, never lost).
    unplanned = {u["pickup_id"] for u in summary["unplanned_pickups"]}
    assert summary["planned_pickups"] + len(unplanned) == summary["pickups_ready"]
    assert all(u["reason"] for u in summary["unplanned_pickups"])
    assert summary["routes"], "a published plan with routes"
    assert "OpenStreetMap" in summary["attribution"]
    # The host's stream had noodles held for it before the spike, and its own orders drew on the hold.
    assert summary["stream"]["held"] == 600 // 50
    assert 0 <= summary["stream"]["left_in_hold"] < summary["stream"]["held"]
    for route in summary["routes"]:
        html = (out / route["sheet_html"]).read_text(encoding="utf-8")
        assert "OpenStreetMap" in html and "<script" not in html
        assert (out / route["sheet_pdf"]).read_bytes().startswith(b"%PDF")
        assert (out / route["map_png"]).read_bytes().startswith(b"\x89PNG")
        assert "<svg" in (out / route["map_svg"]).read_text(encoding="utf-8")
    # The farms' side: every farm with a pickup stop is notified and has its statement; the payout
    # file adds up to the statements to the fen.
    farm_side = summary["farm_side"]
    stops = sum(route["stops"] for route in summary["routes"])
    assert 0 < farm_side["farms_notified"] <= stops and farm_side["statements"] == farm_side["farms_notified"]
    calls = (out / f"farms/call-list-{summary['date']}.csv").read_text(encoding="utf-8").splitlines()
    assert len(calls) - 1 == farm_side["farms_notified"]
    payout = list(csv.reader((out / f"farms/payout-{summary['date']}.csv").open(encoding="utf-8")))[1:]
    assert sum(int(row[3]) for row in payout) == farm_side["amount_due_fen"] > 0
    assert (out / f"farms/statements-{summary['date']}.pdf").read_bytes().startswith(b"%PDF")
    # A recall of one farm's products of the day names exactly the order lines its units went to.
    assert farm_side["recall"]["matches_collection"] and farm_side["recall"]["orders"] > 0


def test_coop_demo_counts_douyin_and_kuaishou_pushes_among_the_reserved_orders(tmp_path):
    out = tmp_path / "demo"
    env_free = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COOP_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "supply.cli", "demo", "--out", str(out), "--orders", "400",
                           "--farms", "30", "--time-limit", "2"], cwd=ROOT, env=env_free, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    pushed = summary["platform_pushes"]
    assert pushed["douyin_orders"] > 0 and pushed["kuaishou_orders"] > 0
    assert pushed["settled"] == pushed["douyin_orders"] + pushed["kuaishou_orders"]   # none left to a manager
    assert pushed["order_detail_calls"] == pushed["settled"]
    assert 0 < pushed["reserved"] <= summary["orders_reserved"]
    assert summary["orders_reserved"] + summary["orders_rejected"] == 400
