"""The farms' side of `coop demo`, through the HTTP API once the plan is published: farm-gate prices,
notices to every farm with a pickup (slips and a call list: the demo has no SMS gateway), the stops
collected as drivers would (a few units rejected at the farm gate), and the day's statements, payout
file and their totals."""
from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

import click
import requests

# sku -> (fen, basis, grade A's fen or None): noodles and honey by the unit, apples and walnuts by the kg
PRICES = {"NOODLE-500": (600, "unit", 680), "HONEY-1": (4500, "unit", None), "WALNUT-1": (1850, "kg", None),
          "APPLE-5": (355, "kg", None), "YOGURT-1": (1200, "unit", None)}
REASONS = ("damaged", "underweight", "spoiled", "wrong_product")


def _ok(response: requests.Response) -> requests.Response:
    if response.status_code not in (200, 201):
        raise click.ClickException(f"{response.request.method} {response.url}: {response.status_code} "
                                   f"{response.text[:300]}")
    return response


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
    notices = _ok(http.post(f"{base}/notices", json={"date": day})).json()
    (folder / f"notices-{day}.pdf").write_bytes(_ok(http.get(f"{base}/notices/slips.pdf", params={"date": day})).content)
    (folder / f"call-list-{day}.csv").write_bytes(
        _ok(http.get(f"{base}/notices/call-list.csv", params={"date": day})).content)
    say(f"notices written for {notices['farms']} farms (slips and a call list)")

    rejected, by_reason = 0, {}
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
            _ok(http.post(f"{base}/stops/{stop['id']}/collected", json=body))
    say(f"stops collected; {rejected} units rejected at the farm gate")

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
            "amount_due_yuan": f"{due // 100}.{due % 100:02d}", "payout_rows": len(payout),
            "files": sorted(str(p.relative_to(out)) for p in folder.iterdir())}
