"""`coop farms ...`: the farms' side from the command line (notices, statements and payout, prices)."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from config import Settings


def _coop_id(session, code: str) -> int:
    from sqlalchemy import select

    from supply.db.models import Cooperative

    found = session.execute(select(Cooperative.id).where(Cooperative.code == code)).scalar()
    if found is None:
        raise click.ClickException(f"no cooperative {code!r}")
    return found


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


@click.group()
def farms() -> None:
    """Notices to farms, statements and the payout file, farm-gate prices."""


@farms.command("notify")
@click.option("--date", "day", required=True, help="the day of the published plan (YYYY-MM-DD)")
@click.option("--cooperative", default="default", show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="also write the slips (PDF) and the call list (CSV) here")
def notify(day: str, cooperative: str, lang: str, out_dir: str | None) -> None:
    """Tell every farm with a pickup what to have ready and when (SMS through COOP_SMS, else slips)."""
    from supply.db.session import Database
    from supply.services.notices import call_list_csv, notify_farms, slips_pdf
    from supply.sms import SmsConfig, gateway_for

    settings = Settings.from_env()
    on = _day(day)
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            coop = _coop_id(session, cooperative)
        config = SmsConfig.from_dict(settings.sms)
        summary = notify_farms(db, coop, on, gateway=gateway_for(config), config=config, locale=lang)
        if out_dir:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            with db.transaction() as session:
                (out / f"notices-{on}.pdf").write_bytes(slips_pdf(session, coop, on, lang))
                (out / f"call-list-{on}.csv").write_text(call_list_csv(session, coop, on, lang), encoding="utf-8")
    finally:
        db.dispose()
    click.echo(json.dumps(summary, ensure_ascii=False, default=str, indent=1))


@farms.command("statements")
@click.option("--from", "date_from", required=True, help="first pickup day (YYYY-MM-DD)")
@click.option("--to", "date_to", required=True, help="last pickup day (YYYY-MM-DD)")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--cooperative", default="default", show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def statements_command(date_from: str, date_to: str, out_dir: str, cooperative: str, lang: str) -> None:
    """Write the period's statements (JSON, CSV, XLSX, PDF) and the payout file (CSV)."""
    from supply.db.session import Database
    from supply.domain.errors import DomainError
    from supply.services import statements

    start, end = _day(date_from), _day(date_to)
    db = Database(Settings.from_env().database_url)
    try:
        with db.transaction() as session:
            found = statements.build_statements(session, _coop_id(session, cooperative), start, end)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.dispose()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{start}-{end}"
    (out / f"statements-{stem}.json").write_text(json.dumps(found, ensure_ascii=False, default=str, indent=1),
                                                encoding="utf-8")
    (out / f"statements-{stem}.csv").write_text(statements.statements_csv(found, lang), encoding="utf-8")
    (out / f"statements-{stem}.xlsx").write_bytes(statements.statements_xlsx(found, lang))
    (out / f"statements-{stem}.pdf").write_bytes(statements.statements_pdf(found, lang))
    (out / f"payout-{stem}.csv").write_text(statements.payout_csv(found, lang), encoding="utf-8")
    total = sum(s["total_fen"] for s in found)
    click.echo(f"{len(found)} statements, {statements.yuan(total)} yuan due, written to {out}")


@farms.command("price")
@click.option("--sku", required=True)
@click.option("--from", "valid_from", required=True, help="the first day the price holds (YYYY-MM-DD)")
@click.option("--fen", "price_fen", required=True, type=click.IntRange(min=0))
@click.option("--grade", default=None)
@click.option("--basis", type=click.Choice(["unit", "kg"]), default="unit", show_default=True)
@click.option("--cooperative", default="default", show_default=True)
def price(sku: str, valid_from: str, price_fen: int, grade: str | None, basis: str, cooperative: str) -> None:
    """Set a farm-gate price from a date (prices are never edited: a new one from another date)."""
    from supply.db.session import Database
    from supply.domain.errors import DomainError
    from supply.services.prices import set_price

    db = Database(Settings.from_env().database_url)
    try:
        with db.transaction() as session:
            made = set_price(session, _coop_id(session, cooperative), sku=sku, valid_from=_day(valid_from),
                             price_fen=price_fen, grade=grade, basis=basis, actor="cli")
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.dispose()
    click.echo(json.dumps(made, ensure_ascii=False, default=str))
