"""Farm-gate prices (never edited in place), statements per farm and period, the payout file; the
statements reconcile with the stock ledger, summed both ways."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import select

from tests.conftest import auth
from tests.farmside import DAY, SKU, build, post

PERIOD = {"date_from": (DAY - timedelta(days=6)).isoformat(), "date_to": DAY.isoformat()}


def collect_all(client, tokens, world, rejects=None):
    """Every stop collected; `rejects` {farm_id: (quantity, reason)} refused at those farms."""
    for farm_id, stop_id in world["stops"].items():
        asked = world["quantities"][farm_id]
        refused = (rejects or {}).get(farm_id)
        body = {"quantities": [{"sku": SKU, "quantity": asked - (refused[0] if refused else 0)}]}
        if refused:
            body["rejects"] = [{"sku": SKU, "quantity": refused[0], "reason": refused[1]}]
        post(client, f"/api/v1/stops/{stop_id}/collected", auth(tokens["driver"]), body, 200)


def test_a_price_is_never_edited_in_place_a_new_one_holds_from_its_date_and_the_history_is_kept(client, manager, db,
                                                                                                  tokens):
    build(client, manager, db, tokens)
    post(client, "/api/v1/farm-gate-prices", manager, {"sku": SKU, "valid_from": "2026-11-01", "price_fen": 300})
    again = client.post("/api/v1/farm-gate-prices", headers=manager,
                        json={"sku": SKU, "valid_from": "2026-11-01", "price_fen": 350})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "price_exists"
    post(client, "/api/v1/farm-gate-prices", manager, {"sku": SKU, "valid_from": "2026-11-30", "price_fen": 320})
    post(client, "/api/v1/farm-gate-prices", manager, {"sku": SKU, "grade": "A", "valid_from": "2026-11-15",
                                                         "price_fen": 400})
    history = client.get(f"/api/v1/farm-gate-prices?sku={SKU}", headers=manager).get_json()
    assert [(p["grade"], p["valid_from"], p["price_fen"]) for p in history] == [
        (None, "2026-11-01", 300), (None, "2026-11-30", 320), ("A", "2026-11-15", 400)]
    on = client.get(f"/api/v1/farm-gate-prices?on=2026-11-29", headers=manager).get_json()
    assert sorted((p["grade"] or "", p["price_fen"]) for p in on) == [("", 300), ("A", 400)]
    bad = client.post("/api/v1/farm-gate-prices", headers=manager,
                      json={"sku": SKU, "valid_from": "2026-11-02", "price_fen": -1, "basis": "jin"})
    assert bad.status_code == 422 and set(bad.get_json()["error"]["fields"]) == {"price_fen", "basis"}
    assert len(client.get("/api/v1/farm-gate-prices", headers=manager).get_json()) == 3


def test_amounts_are_whole_fen_rounded_half_up_once_per_line():
    from supply.services.prices import Price
    from supply.services.statements import line_amount_fen, yuan

    per_unit = Price(price_fen=333, basis="unit", valid_from=DAY, grade="")
    per_kg = Price(price_fen=333, basis="kg", valid_from=DAY, grade="")
    assert line_amount_fen(7, per_unit, 0.5) == 2331  # exact
    assert line_amount_fen(3, per_kg, 0.5) == 500  # 499.5 -> 500 (half up)
    assert line_amount_fen(1, Price(100, "kg", DAY, ""), 0.333) == 33  # 33.3 -> 33
    assert line_amount_fen(1, Price(1, "kg", DAY, ""), 0.5) == 1  # 0.5 -> 1, not banker's 0
    assert line_amount_fen(5, Price(1, "kg", DAY, ""), 0.1) == 1  # 0.1 is decimal here, not float 0.1000...1
    assert (yuan(12345), yuan(5), yuan(0)) == ("123.45", "0.05", "0.00")


def test_the_statements_reconcile_with_the_stock_ledger_summed_both_ways_and_the_payout_matches_to_the_fen(
        client, manager, db, tokens):
    from supply.db.models import Pickup, StockLedgerEntry, Stop, StopItem

    world = build(client, manager, db, tokens)
    post(client, "/api/v1/farm-gate-prices", manager, {"sku": SKU, "valid_from": "2026-11-01", "price_fen": 375,
                                                         "basis": "kg"})
    first, second = world["farms"][0], world["farms"][1]
    collect_all(client, tokens, world, rejects={first: (1, "damaged"), second: (2, "spoiled")})
    found = client.get("/api/v1/statements", query_string=PERIOD, headers=manager).get_json()
    payout = client.get("/api/v1/payouts", query_string=PERIOD, headers=manager).get_json()
    # From the ledger: what left each farm on a truck, by farm and pickup day, valued at the day's price.
    with db.transaction() as s:
        rows = s.execute(select(StockLedgerEntry.farm_id, StockLedgerEntry.delta, StockLedgerEntry.ref,
                                StockLedgerEntry.product_id)
                         .where(StockLedgerEntry.kind == "declared",
                                StockLedgerEntry.reason.like("collected on pickup %"))).all()
        ledger: dict[tuple[int, str], int] = {}
        for farm_id, delta, ref, product_id in rows:
            stop_id = int(ref.split(":")[1])
            day = s.execute(select(Pickup.date).join(StopItem, StopItem.pickup_id == Pickup.id)
                            .where(StopItem.stop_id == stop_id, Pickup.product_id == product_id)).scalar_one()
            ledger[(farm_id, day.isoformat())] = ledger.get((farm_id, day.isoformat()), 0) - delta
        assert s.execute(select(Stop).where(Stop.status != "collected")).first() is None
    stated = {}
    for statement in found:
        for line in statement["lines"]:
            stated[(statement["farm_id"], line["day"])] = stated.get((statement["farm_id"], line["day"]), 0) \
                + line["quantity"]
    assert stated == ledger  # quantities, both ways
    value_from_ledger = sum(round(q * 0.5 * 375 + 1e-9) for q in ledger.values())  # per line, half up
    assert sum(s["total_fen"] for s in found) == value_from_ledger
    assert {p["farm_id"]: p["amount_fen"] for p in payout} == {s["farm_id"]: s["total_fen"] for s in found}
    assert sum(p["amount_fen"] for p in payout) == sum(s["total_fen"] for s in found)
    by_farm = {s["farm_id"]: s for s in found}
    assert by_farm[first]["total_rejected"] == 1 and by_farm[first]["rejects"][0]["reason"] == "damaged"
    assert by_farm[second]["total_quantity"] == world["quantities"][second] - 2
    # Rejected units are not paid: the amount is the taken quantity's alone.
    assert by_farm[second]["total_fen"] == round((world["quantities"][second] - 2) * 0.5 * 375 + 1e-9)


def test_statement_files_in_chinese_csv_xlsx_pdf_and_the_payout_csv(client, manager, db, tokens):
    from openpyxl import load_workbook
    from pypdf import PdfReader

    world = build(client, manager, db, tokens)
    post(client, "/api/v1/farm-gate-prices", manager, {"sku": SKU, "valid_from": "2026-11-01", "price_fen": 250})
    collect_all(client, tokens, world, rejects={world["farms"][0]: (1, "underweight")})
    found = client.get("/api/v1/statements", query_string=PERIOD, headers=manager).get_json()
    total = sum(s["total_fen"] for s in found)

    text = client.get("/api/v1/statements/export", query_string={**PERIOD, "format": "csv"}, headers=manager)
    assert text.status_code == 200 and text.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(text.get_data(as_text=True))))
    assert rows[0][:2] == ["农户", "日期"]
    assert sum(int(r[10]) for r in rows[1:] if r[3] == "合计") == total
    assert any(r[7] == "分量不足" and r[9] == "不付款" for r in rows[1:])

    book = load_workbook(io.BytesIO(client.get("/api/v1/statements/export", query_string={**PERIOD, "format": "xlsx"},
                                               headers=manager).data))
    summary = book.worksheets[0]
    assert summary.title == "汇总"
    assert sum(row[4] for row in summary.iter_rows(min_row=2, values_only=True) if isinstance(row[4], int)) == total

    pdf = client.get("/api/v1/statements/export", query_string={**PERIOD, "format": "pdf"}, headers=manager)
    assert pdf.mimetype == "application/pdf"
    # The embedded CJK font's text comes out with NULs and spaces between glyphs: squash them.
    pages = re.sub(r"[\s\x00]+", "", "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages))
    assert "收购结算单" in pages and "马家Ma" in pages and "李家Li" in pages and "质量不合格" in pages

    english = client.get("/api/v1/statements/export", query_string={**PERIOD, "format": "csv", "lang": "en"},
                         headers=manager).get_data(as_text=True)
    assert english.startswith("Farm,Day,SKU")

    payout = client.get("/api/v1/payouts.csv", query_string=PERIOD, headers=manager)
    lines = list(csv.reader(io.StringIO(payout.get_data(as_text=True))))
    assert lines[0][3] == "金额（分）" and sum(int(r[3]) for r in lines[1:]) == total
    assert all(r[4] == f"{int(r[3]) // 100}.{int(r[3]) % 100:02d}" for r in lines[1:])


def test_a_period_that_ends_before_it_starts_is_refused(client, manager, db, tokens):
    response = client.get("/api/v1/statements", query_string={"date_from": "2026-11-30", "date_to": "2026-11-01"},
                          headers=manager)
    assert response.status_code == 422 and response.get_json()["error"]["fields"] == {
        "date_to": ["must not be before date_from"]}
    response = client.get("/api/v1/statements", query_string={"date_from": "2025-01-01", "date_to": "2026-11-01"},
                          headers=manager)
    assert response.status_code == 422 and "date_to" in response.get_json()["error"]["fields"]


def test_each_line_is_the_exact_amount_rounded_half_up_and_totals_are_sums_of_lines():
    from fractions import Fraction

    from hypothesis import given, settings, strategies as st

    from supply.services.prices import Price
    from supply.services.statements import line_amount_fen

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(quantity=st.integers(0, 100_000), fen=st.integers(0, 100_000), basis=st.sampled_from(["unit", "kg"]),
           weight=st.decimals(min_value="0.001", max_value="50", places=3))
    def check(quantity, fen, basis, weight):
        exact = Fraction(quantity * fen) * (Fraction(str(weight)) if basis == "kg" else 1)
        floor = exact.numerator // exact.denominator
        expected = floor + (1 if exact - floor >= Fraction(1, 2) else 0)
        assert line_amount_fen(quantity, Price(fen, basis, DAY, ""), float(weight)) == expected

    check()


def test_a_new_price_cannot_rewrite_a_day_already_collected_and_priced_but_may_price_a_day_never_priced(
        client, manager, db, tokens):
    world = build(client, manager, db, tokens)
    collect_all(client, tokens, world)
    # Collected before any price: a first price may still be set for that day.
    post(client, "/api/v1/farm-gate-prices", manager, {"sku": SKU, "valid_from": "2026-11-01", "price_fen": 300})
    before = client.get("/api/v1/statements", query_string=PERIOD, headers=manager).get_json()
    assert sum(s["total_fen"] for s in before) == 12 * 300
    for valid_from in ("2026-11-15", DAY.isoformat()):
        again = client.post("/api/v1/farm-gate-prices", headers=manager,
                            json={"sku": SKU, "valid_from": valid_from, "price_fen": 100})
        assert again.status_code == 409 and again.get_json()["error"]["code"] == "price_in_the_past"
    post(client, "/api/v1/farm-gate-prices", manager, {"sku": SKU, "valid_from": (DAY + timedelta(days=1)).isoformat(),
                                                         "price_fen": 100})
    after = client.get("/api/v1/statements", query_string=PERIOD, headers=manager).get_json()
    assert after == before
