"""Exports a manager hands on: pickups per farm (for calling the farms), a plan's stops, the stock
ledger; as CSV (UTF-8 with a byte-order mark, so spreadsheet programs read Chinese) or XLSX (openpyxl)."""
from __future__ import annotations

import csv
import io

from flask import Response, g

from supply.api.context import services
from supply.web.console import _day, bp
from supply.web.i18n import _, when
from supply.web.pages import signed_in

MIMETYPES = {"csv": "text/csv; charset=utf-8",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _safe_cell(value):
    # A cell starting with = + - @ would run as a formula in a spreadsheet: a farm's name is not one.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def table_response(name: str, fmt: str, header: list[str], rows: list[list]) -> Response:
    rows = [[_safe_cell(v) for v in row] for row in rows]
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = name[:31]
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        body = buffer.getvalue()
    else:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(rows)
        body = ("\ufeff" + text.getvalue()).encode("utf-8")
    return Response(body, mimetype=MIMETYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


def _fmt(fmt: str) -> str:
    if fmt not in MIMETYPES:
        from supply.domain.errors import NotFound

        raise NotFound("exports are csv or xlsx")
    return fmt


@bp.get("/exports/pickups.<fmt>")
@signed_in("manager")
def export_pickups(fmt: str):
    from supply.db.models import Farm
    from supply.services.pickups import list_pickups

    day = _day()
    with services().db.transaction() as db:
        rows = list_pickups(db, g.principal.cooperative_id, on=day, limit=100_000)
        phones = {f.id: f.phone for f in db.query(Farm).filter(Farm.cooperative_id == g.principal.cooperative_id)}
    header = [_("Farm"), _("Phone"), "SKU", _("Product"), _("Asked"), _("Ready"), _("Collected"), _("Status")]
    body = [[p["farm_name"], phones.get(p["farm_id"]) or "", p["sku"], p["product_name"], p["quantity"],
             p["quantity_ready"], p["quantity_collected"], p["status"]]
            for p in sorted(rows, key=lambda p: (p["farm_name"], p["sku"]))]
    return table_response(f"pickups-{day.isoformat()}", _fmt(fmt), header, body)


@bp.get("/exports/plans/<int:plan_id>.<fmt>")
@signed_in("manager")
def export_plan(plan_id: int, fmt: str):
    from supply.services.plans import get_plan, serialize_plan

    with services().db.transaction() as db:
        plan = serialize_plan(db, get_plan(db, g.principal.cooperative_id, plan_id))
    header = [_("Route"), _("Vehicle"), _("Stop"), _("Farm"), _("Phone"), _("Arrival"), "SKU", _("Product"),
              _("Quantity")]
    body = []
    for route in plan["routes"]:
        for stop in route["stops"]:
            for item in stop["items"] or [{}]:
                body.append([route["id"], route["vehicle_name"], stop["sequence"], stop["farm_name"] or "",
                             stop["phone"] or "", when(stop["arrival_at"]), item.get("sku", ""),
                             item.get("product_name", ""), item.get("quantity", "")])
    return table_response(f"plan-{plan_id}-v{plan['version']}", _fmt(fmt), header, body)


@bp.get("/exports/ledger.<fmt>")
@signed_in("manager")
def export_ledger(fmt: str):
    from supply.services.web import ledger_rows

    with services().db.transaction() as db:
        rows = ledger_rows(db, g.principal.cooperative_id)
    header = ["#", _("When"), _("Farm"), "SKU", _("Kind"), _("Change"), _("Reason"), _("By"), _("Reference")]
    body = [[r["id"], when(r["at"]), r["farm"], r["sku"], r["kind"], r["delta"], r["reason"], r["actor"],
             r["ref"] or ""] for r in rows]
    return table_response("stock-ledger", _fmt(fmt), header, body)


__all__ = ["export_ledger", "export_pickups", "export_plan"]
