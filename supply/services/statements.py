"""Statements: per farm and period, what was taken at the farm gate (by day, product and grade), what
was rejected and why, at which price, the amount due; and the payout file for the bank transfer.

Amounts are integers in fen. Rounding rule (rounding_rule): a line's amount is quantity x price for a price
per unit (exact), or quantity x unit weight (kg) x price for a price per kg, rounded half up to the
fen once per line (farm x day x product x grade); a statement's total is the sum of its lines; the
payout of a farm is its statement's total. So the payout file matches the statements to the fen.

Collected quantities come from the farm-gate records written when a stop is collected, the same
moment the stock ledger records the units leaving the farm (tests reconcile the two).
"""
from __future__ import annotations

import csv
import io
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from babel.dates import format_date
from babel.numbers import format_currency
from sqlalchemy import select
from sqlalchemy.orm import Session

from supply import i18n
from supply.db.farmside import FarmGateRecord
from supply.db.models import Cooperative, Farm, Product
from supply.domain.errors import InvalidInput, NotFound
from supply.services.prices import Price, PriceBook



def rounding_rule(locale: str = "en") -> str:
    """The rounding rule, as statements state it."""
    _ = i18n.gettext_for(locale, "farms")
    return _("Each line's amount is quantity x price (for a price per kg: quantity x unit weight x price), "
             "rounded half up to the fen once per line; the total is the sum of the lines.")


MAX_PERIOD_DAYS = 366


def line_amount_fen(quantity: int, price: Price, unit_weight_kg: float) -> int:
    """The amount of one statement line, in fen (see rounding_rule)."""
    if price.basis == "unit":
        return quantity * price.price_fen
    exact = Decimal(quantity) * Decimal(str(unit_weight_kg)) * Decimal(price.price_fen)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _check_period(date_from: date, date_to: date) -> None:
    if date_to < date_from:
        raise InvalidInput("the period ends before it starts", fields={"date_to": ["must not be before date_from"]})
    if (date_to - date_from).days >= MAX_PERIOD_DAYS:
        raise InvalidInput("a statement covers at most a year",
                           fields={"date_to": [f"at most {MAX_PERIOD_DAYS} days after date_from"]})


def build_statements(session: Session, cooperative_id: int, date_from: date, date_to: date, *,
                     farm_id: int | None = None) -> list[dict]:
    """One statement per farm with anything taken or rejected in the period (pickup days, inclusive)."""
    _check_period(date_from, date_to)
    query = (select(FarmGateRecord).where(FarmGateRecord.cooperative_id == cooperative_id,
                                          FarmGateRecord.day >= date_from, FarmGateRecord.day <= date_to)
             .order_by(FarmGateRecord.farm_id, FarmGateRecord.day, FarmGateRecord.product_id, FarmGateRecord.id))
    if farm_id is not None:
        farm = session.get(Farm, farm_id)
        if farm is None or farm.cooperative_id != cooperative_id:
            raise NotFound(f"farm {farm_id} does not exist")
        query = query.where(FarmGateRecord.farm_id == farm_id)
    records = session.execute(query).scalars().all()
    coop = session.get(Cooperative, cooperative_id)
    book = PriceBook(session, cooperative_id)
    products = {p.id: p for p in session.execute(
        select(Product).where(Product.cooperative_id == cooperative_id)).scalars()}
    by_farm: dict[int, list[FarmGateRecord]] = {}
    for record in records:
        by_farm.setdefault(record.farm_id, []).append(record)
    farms = {f.id: f for f in session.execute(select(Farm).where(Farm.id.in_(list(by_farm) or [0]))).scalars()}
    return [_statement(coop, farms[fid], products, book, recs, date_from, date_to) for fid, recs in by_farm.items()]


def _statement(coop: Cooperative, farm: Farm, products: dict, book: PriceBook, records: list[FarmGateRecord],
               date_from: date, date_to: date) -> dict:
    taken: dict[tuple, int] = {}
    refused: dict[tuple, int] = {}
    for r in records:
        if r.outcome == "accepted":
            key = (r.day, r.product_id, r.grade or "")
            taken[key] = taken.get(key, 0) + r.quantity
        else:
            key = (r.day, r.product_id, r.reason, r.grade or "")
            refused[key] = refused.get(key, 0) + r.quantity
    lines = []
    for (day, product_id, grade), quantity in sorted(taken.items()):
        product = products[product_id]
        price = book.price_on(product_id, grade, day)
        amount = line_amount_fen(quantity, price, product.unit_weight_kg) if price else 0
        lines.append({"day": day, "sku": product.sku, "product_name": product.name, "unit": product.unit,
                      "grade": grade or None, "quantity": quantity,
                      "price_fen": price.price_fen if price else None, "basis": price.basis if price else None,
                      "amount_fen": amount, "priced": price is not None})
    rejects = [{"day": day, "sku": products[pid].sku, "product_name": products[pid].name,
                "unit": products[pid].unit, "reason": reason, "grade": grade or None, "quantity": quantity}
               for (day, pid, reason, grade), quantity in sorted(refused.items())]
    return {"cooperative_name": coop.name, "farm_id": farm.id, "farm_name": farm.name, "phone": farm.phone,
            "date_from": date_from, "date_to": date_to, "lines": lines, "rejects": rejects,
            "total_quantity": sum(line["quantity"] for line in lines),
            "total_rejected": sum(r["quantity"] for r in rejects),
            "unpriced_quantity": sum(line["quantity"] for line in lines if not line["priced"]),
            "total_fen": sum(line["amount_fen"] for line in lines), "rounding": rounding_rule("en")}


def payout_rows(statements: list[dict]) -> list[dict]:
    """One row per farm due money: the statement's total, in fen and in yuan."""
    return [{"farm_id": s["farm_id"], "farm_name": s["farm_name"], "phone": s["phone"], "amount_fen": s["total_fen"],
             "amount_yuan": yuan(s["total_fen"]), "period": f"{s['date_from'].isoformat()}/{s['date_to'].isoformat()}"}
            for s in statements if s["total_fen"] > 0]


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals, exactly (no float)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


# --- renderings: CSV, XLSX, PDF (text through the `farms` catalog) ------------------------------------


def unit_name(unit: str, locale: str) -> str:
    """A product's unit as a farmer reads it (the usual units; any other as it was registered)."""
    _ = i18n.gettext_for(locale, "farms")
    names = {"bag": _("bag"), "jar": _("jar"), "box": _("box"), "tub": _("tub"), "kg": _("kg"),
             "piece": _("piece"), "bottle": _("bottle"), "crate": _("crate")}
    return names.get(unit, unit)


def _money(fen: int, locale: str) -> str:
    return format_currency(Decimal(fen) / 100, "CNY", locale=i18n.babel_locale(locale))


def _day(day: date, locale: str) -> str:
    return format_date(day, "medium", locale=i18n.babel_locale(locale))


def _price_text(line: dict, locale: str) -> str:
    _ = i18n.gettext_for(locale, "farms")
    if not line["priced"]:
        return _("no price set")
    per = _("per kg") if line["basis"] == "kg" else _("per %(unit)s") % {"unit": unit_name(line["unit"], locale)}
    return f"{_money(line['price_fen'], locale)} {per}"


def _reason(reason: str, locale: str) -> str:
    _ = i18n.gettext_for(locale, "farms")
    return {"damaged": _("damaged"), "underweight": _("underweight"), "spoiled": _("spoiled"),
            "wrong_product": _("wrong product")}[reason]


def _rows(statement: dict, locale: str) -> tuple[list[str], list[list]]:
    _ = i18n.gettext_for(locale, "farms")
    header = [_("Farm"), _("Day"), _("SKU"), _("Product"), _("Grade"), _("Collected"), _("Rejected"), _("Reason"),
              _("Price (fen)"), _("Price basis"), _("Amount (fen)"), _("Amount (yuan)")]
    rows = []
    for line in statement["lines"]:
        rows.append([statement["farm_name"], line["day"].isoformat(), line["sku"], line["product_name"],
                     line["grade"] or "", line["quantity"], 0, "",
                     "" if line["price_fen"] is None else line["price_fen"],
                     {"unit": _("per unit"), "kg": _("per kg")}.get(line["basis"], _("no price set")),
                     line["amount_fen"], yuan(line["amount_fen"])])
    for r in statement["rejects"]:
        rows.append([statement["farm_name"], r["day"].isoformat(), r["sku"], r["product_name"], r["grade"] or "",
                     0, r["quantity"], _reason(r["reason"], locale), "", _("not paid"), 0, yuan(0)])
    rows.append([statement["farm_name"], "", "", _("Total"), "", statement["total_quantity"],
                 statement["total_rejected"], "", "", "", statement["total_fen"], yuan(statement["total_fen"])])
    return header, rows


def statements_csv(statements: list[dict], locale: str = i18n.DEFAULT_LOCALE) -> str:
    """Every statement's lines, rejects and total, one row each (UTF-8; opened by spreadsheets)."""
    out = io.StringIO()
    writer = csv.writer(out)
    header = None
    for statement in statements:
        header, rows = _rows(statement, locale)
        if out.tell() == 0:
            writer.writerow(header)
        writer.writerows(rows)
    if out.tell() == 0:
        writer.writerow(_rows({"farm_name": "", "lines": [], "rejects": [], "total_quantity": 0,
                               "total_rejected": 0, "total_fen": 0}, locale)[0])
    return out.getvalue()


def payout_csv(statements: list[dict], locale: str = i18n.DEFAULT_LOCALE) -> str:
    _ = i18n.gettext_for(locale, "farms")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("Farm ID"), _("Farm"), _("Phone"), _("Amount (fen)"), _("Amount (yuan)"), _("Period")])
    for row in payout_rows(statements):
        writer.writerow([row["farm_id"], row["farm_name"], row["phone"] or "", row["amount_fen"], row["amount_yuan"],
                         row["period"]])
    return out.getvalue()


def statements_xlsx(statements: list[dict], locale: str = i18n.DEFAULT_LOCALE) -> bytes:
    """A workbook: a summary sheet (one row per farm, as the payout) and the lines of every statement."""
    from openpyxl import Workbook

    _ = i18n.gettext_for(locale, "farms")
    book = Workbook()
    summary = book.active
    summary.title = _("Summary")[:31]
    summary.append([_("Farm ID"), _("Farm"), _("Collected"), _("Rejected"), _("Amount (fen)"), _("Amount (yuan)")])
    for s in statements:
        summary.append([s["farm_id"], s["farm_name"], s["total_quantity"], s["total_rejected"], s["total_fen"],
                        yuan(s["total_fen"])])
    summary.append([rounding_rule(locale)])
    lines = book.create_sheet(_("Lines")[:31])
    for i, s in enumerate(statements):
        header, rows = _rows(s, locale)
        if i == 0:
            lines.append(header)
        for row in rows:
            lines.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def statements_pdf(statements: list[dict], locale: str = i18n.DEFAULT_LOCALE) -> bytes:
    """Each farm's statement on its own page(s), A4, the CJK font of the route sheets embedded."""
    from fpdf import FPDF

    from supply.sheets.typeface import font_path

    _ = i18n.gettext_for(locale, "farms")
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_font("farms", fname=str(font_path()))
    pdf.set_lang("zh-Hans" if i18n.normalize_locale(locale) == "zh" else "en")
    pdf.set_title(_("Farm-gate statement"))
    if not statements:
        pdf.add_page()
        pdf.set_font("farms", size=12)
        pdf.cell(0, 8, _("Nothing was collected in this period."))
    for s in statements:
        pdf.add_page()
        pdf.set_font("farms", size=16)
        pdf.cell(0, 9, f"{s['cooperative_name']} · {_('Farm-gate statement')}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("farms", size=11)
        pdf.cell(0, 7, f"{_('Farm')}: {s['farm_name']}    {_('Phone')}: {s['phone'] or '-'}",
                 new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 7, f"{_('Period')}: {_day(s['date_from'], locale)} - {_day(s['date_to'], locale)}",
                 new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_font("farms", size=9)
        widths, aligns = (30, 50, 14, 24, 32, 30), ("L", "L", "C", "R", "R", "R")
        table_row(pdf, widths, aligns, [_("Day"), _("Product"), _("Grade"), _("Collected"), _("Price"), _("Amount")],
             fill=True)
        for line in s["lines"]:
            table_row(pdf, widths, aligns, [_day(line["day"], locale), line["product_name"], line["grade"] or "-",
                                       f"{line['quantity']} {unit_name(line['unit'], locale)}",
                                       _price_text(line, locale), _money(line["amount_fen"], locale)])
        pdf.ln(2)
        pdf.set_font("farms", size=12)
        pdf.cell(0, 8, f"{_('Total due')}: {_money(s['total_fen'], locale)}", new_x="LMARGIN", new_y="NEXT")
        if s["rejects"]:
            pdf.ln(2)
            pdf.set_font("farms", size=11)
            pdf.cell(0, 7, _("Rejected at the farm gate (not paid)"), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("farms", size=9)
            widths, aligns = (30, 60, 20, 30, 40), ("L", "L", "C", "R", "L")
            table_row(pdf, widths, aligns, [_("Day"), _("Product"), _("Grade"), _("Rejected"), _("Reason")], fill=True)
            for r in s["rejects"]:
                table_row(pdf, widths, aligns, [_day(r["day"], locale), r["product_name"], r["grade"] or "-",
                                           f"{r['quantity']} {unit_name(r['unit'], locale)}",
                                           _reason(r["reason"], locale)])
        pdf.ln(3)
        pdf.set_font("farms", size=8)
        pdf.multi_cell(0, 4.5, rounding_rule(locale))
    return bytes(pdf.output())


def table_row(pdf, widths, aligns, values, *, fill: bool = False, height: float = 6.5) -> None:
    """One table row of plain cells (fpdf2's table() is several times slower for hundreds of farms);
    text too wide for its cell is cut with an ellipsis."""
    if fill:
        pdf.set_fill_color(230, 230, 230)
    for width, align, value in zip(widths, aligns, values):
        text = str(value)
        if pdf.get_string_width(text) > width - 2:
            while text and pdf.get_string_width(text + "…") > width - 2:
                text = text[:-1]
            text += "…"
        pdf.cell(width, height, text, border=1, align=align, fill=fill)
    pdf.ln(height)
