"""The farms' side of `coop demo`, through the HTTP API once the plan is published: farm-gate prices,
notices to every farm with a pickup (slips and a call list: the demo has no SMS gateway), the stops
collected as drivers would (a few units rejected at the farm gate), and the day's statements, payout
file and their totals."""
from __future__ import annotations

import json
import random
import time
from datetime import date, timedelta
from pathlib import Path

import click
import requests

# sku -> (fen, basis, grade A's fen or None): noodles and honey by the unit, apples and walnuts by the kg
PRICES = {"NOODLE-500": (600, "unit", 680), "HONEY-1": (4500, "unit", None), "WALNUT-1": (1850, "kg", None),
          "APPLE-5": (355, "kg", None), "YOGURT-1": (1200, "unit", None)}
REASONS = ("damaged", "underweight", "spoiled", "wrong_product")


def _ok(response: requests.Response) -> requests.Response:
    if response.status_code not in (200, 201, 202):
        raise click.ClickException(f"{response.request.method} {response.url}: {response.status_code} "
                                   f"{response.text[:300]}")
    return response


def _finished(http: requests.Session, base: str, job: dict, timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while job["status"] not in ("finished", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = _ok(http.get(f"{base}/jobs/{job['id']}")).json()
    if job["status"] != "finished":
        raise click.ClickException(f"job {job['id']} ({job['kind']}): {job['status']} {job.get('error') or ''}")
    return job["result"]


def run_farm_side(http: requests.Session, base: str, on: date, plan: dict, out: Path, rng: random.Random,
                  say) -> dict:
    folder = out / "farms"
    folder.mkdir(exist_ok=True)
    skus = {p["sku"] for p in _ok(http.get(f"{base}/products")).json()}
    valid_from = (on - timedelta(days=30)).isoformat()
    for sku, (fen, basis, grade_a) in PRICES.items():
        if sku in skus:
            _ok(http.post(f"{base}/farm-gate-prices", json={"sku": sku, "valid_from": valid_from, "price_fen": fen,
                                                           "basis": basis}))
            if grade_a:
                _ok(http.post(f"{base}/farm-gate-prices", json={"sku": sku, "grade": "A", "valid_from": valid_from,
                                                               "price_fen": grade_a, "basis": basis}))
    day = on.isoformat()
    notices = _finished(http, base, _ok(http.post(f"{base}/notices", json={"date": day})).json())
    (folder / f"notices-{day}.pdf").write_bytes(
        _ok(http.get(f"{base}/notices/slips.pdf", params={"date": day})).content)
    (folder / f"call-list-{day}.csv").write_bytes(
        _ok(http.get(f"{base}/notices/call-list.csv", params={"date": day})).content)
    say(f"notices written for {notices['farms']} farms (slips and a call list)")

    rejected, by_reason, received = 0, {}, {}
    for route in plan["routes"]:
        for stop in route["stops"]:
            if stop["kind"] != "pickup":
                continue
            body = {"quantities": [], "rejects": []}
            for item in stop["items"]:
                quantity, refused = item["quantity"], 0
                if quantity >= 4 and rng.random() < 0.06:  # a few bags fail the check at the gate
                    refused = rng.randint(1, max(1, quantity // 10))
                    reason = rng.choice(REASONS)
                    body["rejects"].append({"sku": item["sku"], "quantity": refused, "reason": reason})
                    rejected += refused
                    by_reason[reason] = by_reason.get(reason, 0) + refused
                line = {"sku": item["sku"], "quantity": quantity - refused}
                if item["sku"] == "NOODLE-500" and rng.random() < 0.3:
                    line["grade"] = "A"
                body["quantities"].append(line)
            answer = _ok(http.post(f"{base}/stops/{stop['id']}/collected", json=body)).json()
            if not body["rejects"] and answer["orders"]:
                received.setdefault(stop["farm_id"], (stop, answer["orders"]))
    say(f"stops collected; {rejected} units rejected at the farm gate")
    recall = _recall_one_farm(http, base, on, received, out / "farms")

    period = {"date_from": day, "date_to": day}
    statements = _ok(http.get(f"{base}/statements", params=period)).json()
    (folder / f"statements-{day}.json").write_text(json.dumps(statements, ensure_ascii=False, indent=1),
                                                   encoding="utf-8")
    for kind in ("csv", "xlsx", "pdf"):
        (folder / f"statements-{day}.{kind}").write_bytes(
            _ok(http.get(f"{base}/statements/export", params={**period, "format": kind})).content)
    (folder / f"payout-{day}.csv").write_bytes(_ok(http.get(f"{base}/payouts.csv", params=period)).content)
    payout = _ok(http.get(f"{base}/payouts", params=period)).json()
    due = sum(s["total_fen"] for s in statements)
    if due != sum(p["amount_fen"] for p in payout):
        raise click.ClickException("the payout file does not match the statements")
    say(f"{len(statements)} statements, {due / 100:.2f} yuan due to farms, written to {folder}")
    return {"farms_notified": notices["by_status"].get("written", 0) + notices["by_status"].get("sent", 0),
            "notices": notices["by_status"], "invalid_numbers": len(notices["invalid_numbers"]),
            "units_collected": sum(s["total_quantity"] for s in statements), "units_rejected": rejected,
            "rejected_by_reason": by_reason, "statements": len(statements), "amount_due_fen": due,
            "amount_due_yuan": f"{due // 100}.{due % 100:02d}", "payout_rows": len(payout), "recall": recall,
            "files": sorted(str(p.relative_to(out)) for p in folder.iterdir())}


def _recall_one_farm(http, base, on: date, received: dict, folder: Path) -> dict:
    """Recall one farm's products of the day and check the recall names exactly the order lines that
    the collection said received its units (the CSV for after-sales written beside)."""
    if not received:
        return {}
    farm_id = min(received)
    stop, moved = received[farm_id]
    day = on.isoformat()
    lines, recalls = set(), []
    for sku in sorted({item["sku"] for item in stop["items"]}):
        recall = _ok(http.post(f"{base}/recalls", json={"farm_id": farm_id, "sku": sku, "date_from": day,
                                                          "date_to": day, "reason": "演示：抽检不合格"})).json()
        recalls.append(recall["id"])
        lines |= {(line["order_id"], line["order_line_id"], line["quantity"]) for line in recall["lines"]}
        (folder / f"recall-{recall['id']}-orders.csv").write_bytes(
            _ok(http.get(f"{base}/recalls/{recall['id']}/orders.csv")).content)
    expected = {(m["order_id"], m["order_line_id"], m["quantity"]) for m in moved}
    if lines != expected:
        raise click.ClickException(f"the recall of farm {farm_id} does not name exactly the orders it supplied")
    return {"farm_id": farm_id, "farm_name": stop["farm_name"], "recalls": recalls,
            "orders": len({order for order, _, _ in lines}), "units": sum(q for _, _, q in lines),
            "matches_collection": True}
