"""Notices to farms: for a day's published plan, each farm with a pickup stop is told what to have
ready, how much, and about when the truck comes (the stop's ETA, rounded to 10 minutes, and the farm's
window), in Chinese, with the cooperative's name, one SMS long where it fits (longer texts are split
as SMS does, 67 characters a part).

Sent through an SMS gateway (supply.sms) when one is configured, else written out: a printable slip
per farm (PDF) and a call list (CSV). Run again after a re-plan, only the farms whose notice changed
hear again (a correction, or a cancellation when they no longer have a pickup that day); unchanged
farms hear nothing. Each notice is recorded with its delivery status; a phone number that is not a
mainland mobile number is recorded as invalid_number and reported, never sent to. Per-number limits
(a minimum interval and a daily cap, as the gateways enforce too) are checked before each send.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_skeleton
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supply import i18n
from supply.db.farmside import FarmNotice
from supply.db.models import Cooperative, DispatchPlan, Farm, Pickup, Product, Route, Stop, StopItem
from supply.services.statements import table_row, unit_name
from supply.sms import SmsConfig, SmsGateway, mainland_mobile, sms_parts

DELIVERED = ("sent", "written")
RETRY = ("pending", "failed", "rate_limited")


@dataclass(frozen=True)
class Draft:
    farm_id: int
    farm_name: str
    phone: str | None
    plan_id: int
    items: tuple[tuple[str, str, int, str], ...]  # (sku, product name, quantity, unit)
    eta: str  # HH:MM local, rounded to 10 minutes
    window: tuple[str | None, str | None]

    def digest(self) -> str:
        content = {"items": [[sku, q] for sku, _, q, _ in self.items], "eta": self.eta, "window": list(self.window)}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _round_10(moment: datetime) -> str:
    minutes = (moment.hour * 60 + moment.minute + 5) // 10 * 10
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def day_drafts(session: Session, cooperative_id: int, day: date) -> dict[int, Draft]:
    """What each farm with a pickup stop in the day's published plans is to be told."""
    coop = session.get(Cooperative, cooperative_id)
    local = ZoneInfo(coop.timezone or "Asia/Shanghai")
    rows = session.execute(
        select(Stop, StopItem, Pickup, Product, DispatchPlan.id)
        .join(Route, Route.id == Stop.route_id).join(DispatchPlan, DispatchPlan.id == Route.plan_id)
        .join(StopItem, StopItem.stop_id == Stop.id).join(Pickup, Pickup.id == StopItem.pickup_id)
        .join(Product, Product.id == Pickup.product_id)
        .where(DispatchPlan.cooperative_id == cooperative_id, DispatchPlan.date == day,
               DispatchPlan.status == "published", Stop.kind == "pickup", StopItem.quantity > 0)
        .order_by(Stop.farm_id, Stop.arrival_at, Product.sku)).all()
    per_farm: dict[int, dict] = {}
    for stop, item, pickup, product, plan_id in rows:
        entry = per_farm.setdefault(stop.farm_id, {"eta": stop.arrival_at, "items": {}, "plan_id": plan_id})
        entry["eta"] = min(entry["eta"], stop.arrival_at)
        sku_items = entry["items"].setdefault(product.sku, [product.name, 0, product.unit])
        sku_items[1] += item.quantity
    farms = {f.id: f for f in session.execute(select(Farm).where(Farm.id.in_(list(per_farm) or [0]))).scalars()}
    drafts = {}
    for farm_id, entry in per_farm.items():
        farm = farms[farm_id]
        window = (farm.window_start.strftime("%H:%M") if farm.window_start else None,
                  farm.window_end.strftime("%H:%M") if farm.window_end else None)
        drafts[farm_id] = Draft(farm_id, farm.name, farm.phone, entry["plan_id"],
                                tuple((sku, v[0], v[1], v[2]) for sku, v in sorted(entry["items"].items())),
                                _round_10(entry["eta"].astimezone(local)), window)
    return drafts


def notice_text(coop_name: str, day: date, draft: Draft | None, kind: str, locale: str = "zh") -> tuple[str, dict]:
    """The text a farm reads, and the template parameters the gateway fills its template with."""
    _ = i18n.gettext_for(locale, "farms")
    day_text = format_skeleton("MMMd", day, locale=i18n.babel_locale(locale))
    if kind == "cancellation" or draft is None:
        params = {"day": day_text}
        return _("[%(coop)s] %(day)s: no pickup from you after all; the earlier notice no longer holds.") % {
            "coop": coop_name, **params}, params
    separator = _(", ")
    items = separator.join(_("%(product)s %(quantity)s %(unit)s") % {"product": name, "quantity": q,
                                                                     "unit": unit_name(unit, locale)}
                           for _sku, name, q, unit in draft.items)
    start, end = draft.window
    window = f"{start or ''}-{end or ''}" if (start or end) else _("any time")
    params = {"day": day_text, "eta": draft.eta, "window": window, "items": items}
    if kind == "correction":
        text = _("[%(coop)s] Correction: %(day)s the truck comes about %(eta)s (your window %(window)s). "
                 "Please have ready: %(items)s.")
    else:
        text = _("[%(coop)s] %(day)s the truck comes about %(eta)s (your window %(window)s). "
                 "Please have ready: %(items)s.")
    return text % {"coop": coop_name, **params}, params


def prepare_notices(session: Session, cooperative_id: int, day: date, *, channel: str, gateway: str | None,
                    locale: str = "zh") -> dict:
    """Record the notices the day needs now (new, corrected, cancelled); farms whose notice did not
    change get none. SMS notices start `pending` (or `invalid_number`); slips are `written`."""
    # One preparation at a time per cooperative: two managers pressing the button at once must not
    # record (and send) every notice twice.
    coop = session.execute(select(Cooperative).where(Cooperative.id == cooperative_id).with_for_update()).scalar_one()
    drafts = day_drafts(session, cooperative_id, day)
    latest = _latest(session, cooperative_id, day)
    counts = {"notice": 0, "correction": 0, "cancellation": 0, "unchanged": 0, "retried": 0}
    for farm_id in sorted(set(drafts) | set(latest)):
        draft, before = drafts.get(farm_id), latest.get(farm_id)
        if draft is None:
            if before is None or before.kind == "cancellation" or before.status not in DELIVERED:
                continue
            kind, digest = "cancellation", "cancelled"
            farm = session.get(Farm, farm_id)
            name_phone = (farm.phone, None)
        else:
            digest = draft.digest()
            if before is not None and before.digest == digest:
                if before.status in RETRY and channel == "sms":
                    before.status = "pending"  # sent again below, as the same notice
                    counts["retried"] += 1
                else:
                    counts["unchanged"] += 1
                continue
            kind = "correction" if before is not None and before.status in DELIVERED \
                and before.kind != "cancellation" else "notice"
            name_phone = (draft.phone, draft.plan_id)
        body, params = notice_text(coop.name, day, draft, kind, locale)
        phone, plan_id = name_phone
        status = "written" if channel == "slip" else ("pending" if mainland_mobile(phone) else "invalid_number")
        session.add(FarmNotice(cooperative_id=cooperative_id, farm_id=farm_id, day=day, plan_id=plan_id, kind=kind,
                               body=body, digest=digest, params=params, phone=phone, channel=channel,
                               gateway=gateway, status=status, segments=sms_parts(body),
                               error="not a mainland mobile number" if status == "invalid_number" else None))
        counts[kind] += 1
    session.flush()
    return counts


def _latest(session: Session, cooperative_id: int, day: date) -> dict[int, FarmNotice]:
    newest = (select(func.max(FarmNotice.id)).where(FarmNotice.cooperative_id == cooperative_id,
                                                    FarmNotice.day == day).group_by(FarmNotice.farm_id))
    rows = session.execute(select(FarmNotice).where(FarmNotice.id.in_(newest))).scalars()
    return {n.farm_id: n for n in rows}


def send_pending(db, cooperative_id: int, day: date, gateway: SmsGateway, config: SmsConfig) -> dict:
    """Send the day's pending SMS notices one by one, each outcome committed as it comes."""
    with db.transaction() as session:
        pending = [n.id for n in session.execute(select(FarmNotice).where(
            FarmNotice.cooperative_id == cooperative_id, FarmNotice.day == day, FarmNotice.status == "pending",
            FarmNotice.channel == "sms").order_by(FarmNotice.id)).scalars()]
    for notice_id in pending:
        with db.transaction() as session:
            # Claimed under its row lock: a notice another run is sending (or sent) is skipped.
            notice = session.execute(select(FarmNotice).where(FarmNotice.id == notice_id).with_for_update()
                                     .execution_options(populate_existing=True)).scalar_one()
            if notice.status != "pending":
                continue
            phone = mainland_mobile(notice.phone)
            limited = _over_limit(session, phone, config)
            if limited:
                notice.status, notice.error = "rate_limited", limited
                continue
            template = (config.templates or {}).get(notice.kind)
            if not template:
                notice.status, notice.error = "failed", f"no SMS template configured for {notice.kind}"
                continue
            result = gateway.send(phone, template, dict(notice.params or {}))
            notice.gateway = gateway.name
            if result.ok:
                notice.status, notice.provider_ref, notice.error = "sent", result.provider_ref, None
                notice.sent_at = datetime.now(timezone.utc)
            else:
                notice.status = "invalid_number" if result.invalid_number else \
                    "rate_limited" if result.rate_limited else "failed"
                notice.error = f"{result.code}: {result.message}"[:500]
    return {"pending": len(pending)}


def _over_limit(session: Session, phone: str, config: SmsConfig) -> str | None:
    """Per-number limits, counted from what this service sent (all notices to the number)."""
    numbers = [n for n in session.execute(select(FarmNotice.phone, FarmNotice.sent_at).where(
        FarmNotice.status == "sent", FarmNotice.sent_at >= datetime.now(timezone.utc) - timedelta(days=1))).all()
        if mainland_mobile(n[0]) == phone]
    now = datetime.now(timezone.utc)
    if any(now - sent_at < timedelta(seconds=config.min_interval_s) for _, sent_at in numbers):
        return f"at most one SMS every {config.min_interval_s} s to one number"
    if len(numbers) >= config.per_day:
        return f"at most {config.per_day} SMS a day to one number"
    return None


def notify_farms(db, cooperative_id: int, day: date, *, gateway: SmsGateway | None = None,
                 config: SmsConfig | None = None, locale: str = "zh") -> dict:
    """Prepare the day's notices and send them (SMS) or write them (slips). The summary counts them
    and lists the farms whose number cannot take an SMS."""
    channel = "sms" if gateway is not None else "slip"
    with db.transaction() as session:
        counts = prepare_notices(session, cooperative_id, day, channel=channel,
                                 gateway=gateway.name if gateway else None, locale=locale)
    if gateway is not None:
        send_pending(db, cooperative_id, day, gateway, config)
    with db.transaction() as session:
        notices = list_notices(session, cooperative_id, day)
    latest: dict[int, dict] = {}
    for n in notices:
        latest[n["farm_id"]] = n
    by_status: dict[str, int] = {}
    for n in latest.values():
        by_status[n["status"]] = by_status.get(n["status"], 0) + 1
    return {"date": day, "channel": channel, **counts, "farms": len(latest), "by_status": by_status,
            "invalid_numbers": [{"farm_id": n["farm_id"], "farm_name": n["farm_name"], "phone": n["phone"]}
                                for n in latest.values() if n["status"] == "invalid_number"]}


def list_notices(session: Session, cooperative_id: int, day: date, *, farm_id: int | None = None,
                 status: str | None = None) -> list[dict]:
    query = (select(FarmNotice, Farm.name).join(Farm, Farm.id == FarmNotice.farm_id)
             .where(FarmNotice.cooperative_id == cooperative_id, FarmNotice.day == day).order_by(FarmNotice.id))
    if farm_id is not None:
        query = query.where(FarmNotice.farm_id == farm_id)
    if status is not None:
        query = query.where(FarmNotice.status == status)
    return [{"id": n.id, "farm_id": n.farm_id, "farm_name": name, "day": n.day, "plan_id": n.plan_id, "kind": n.kind,
             "body": n.body, "phone": n.phone, "channel": n.channel, "gateway": n.gateway, "status": n.status,
             "segments": n.segments, "provider_ref": n.provider_ref, "error": n.error, "created_at": n.created_at,
             "sent_at": n.sent_at} for n, name in session.execute(query).all()]


# --- without a gateway: slips to print and a list to call -----------------------------------------------


def _current(session: Session, cooperative_id: int, day: date) -> list[FarmNotice]:
    return sorted(_latest(session, cooperative_id, day).values(), key=lambda n: n.farm_id)


def call_list_csv(session: Session, cooperative_id: int, day: date, locale: str = "zh") -> str:
    """One row per farm to call: the farm, the number, whether it takes an SMS, what to say."""
    _ = i18n.gettext_for(locale, "farms")
    farms = {f.id: f for f in session.execute(select(Farm).where(Farm.cooperative_id == cooperative_id)).scalars()}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("Farm ID"), _("Farm"), _("Phone"), _("Mobile"), _("Notice"), _("Message"), _("Status")])
    kinds = {"notice": _("notice"), "correction": _("correction"), "cancellation": _("cancellation")}
    for n in _current(session, cooperative_id, day):
        mobile = _("yes") if mainland_mobile(n.phone) else _("no")
        writer.writerow([n.farm_id, farms[n.farm_id].name, n.phone or "", mobile,
                         kinds[n.kind], n.body, n.status])
    return out.getvalue()


def slips_pdf(session: Session, cooperative_id: int, day: date, locale: str = "zh") -> bytes:
    """A slip per farm to print and hand over (three to an A4 page, cut along the dashes)."""
    from fpdf import FPDF

    from supply.sheets.typeface import font_path

    _ = i18n.gettext_for(locale, "farms")
    coop = session.get(Cooperative, cooperative_id)
    drafts = day_drafts(session, cooperative_id, day)
    notices = _current(session, cooperative_id, day)
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(15, 12, 15)
    pdf.set_auto_page_break(False)
    pdf.add_font("farms", fname=str(font_path()))
    pdf.set_lang("zh-Hans" if i18n.normalize_locale(locale) == "zh" else "en")
    pdf.set_title(_("Pickup notice"))
    slot_h = 91.0
    day_text = format_date(day, "long", locale=i18n.babel_locale(locale))
    titles = {"notice": _("Pickup notice"), "correction": _("Pickup notice (correction)"),
              "cancellation": _("Pickup cancelled")}
    if not notices:
        pdf.add_page()
        pdf.set_font("farms", size=12)
        pdf.cell(0, 8, _("No farm has a pickup on this day."))
    for index, notice in enumerate(notices):
        if index % 3 == 0:
            pdf.add_page()
        top = 12 + (index % 3) * slot_h
        if index % 3:
            pdf.set_dash_pattern(dash=1.5, gap=1.5)
            pdf.line(10, top - 3, 200, top - 3)
            pdf.set_dash_pattern()
        pdf.set_xy(15, top)
        pdf.set_font("farms", size=14)
        pdf.cell(0, 8, f"{coop.name} · {titles[notice.kind]}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("farms", size=11)
        draft = drafts.get(notice.farm_id)
        farm = session.get(Farm, notice.farm_id)
        pdf.cell(0, 6.5, f"{_('Farm')}: {farm.name}    {_('Phone')}: {farm.phone or '-'}", new_x="LMARGIN",
                 new_y="NEXT")
        if draft is not None and notice.kind != "cancellation":
            window = f"{draft.window[0] or ''}-{draft.window[1] or ''}" if any(draft.window) else _("any time")
            pdf.cell(0, 6.5, f"{_('Day')}: {day_text}    {_('Truck comes about')}: {draft.eta}    "
                             f"{_('Your window')}: {window}", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
            pdf.set_font("farms", size=10)
            widths, aligns = (100, 40, 40), ("L", "R", "L")
            table_row(pdf, widths, aligns, [_("Have ready"), _("Quantity"), _("Unit")], fill=True, height=6)
            for _sku, name, quantity, unit in draft.items[:6]:
                table_row(pdf, widths, aligns, [name, str(quantity), unit_name(unit, locale)], height=6)
            if len(draft.items) > 6:
                pdf.cell(0, 5, _("and %(n)s more products: see the message below") % {"n": len(draft.items) - 6},
                         new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
        pdf.set_font("farms", size=9)
        pdf.multi_cell(180, 4.8, notice.body)
    return bytes(pdf.output())


def run_notice_job(services, job_id: str, params: dict, progress) -> dict:
    """Job `notify_farms`: params {cooperative_id, date, lang?}. Running it twice sends nothing twice:
    the second run finds every notice unchanged (or claims only what is still pending)."""
    from supply.sms import gateway_for

    config = SmsConfig.from_dict(services.settings.sms)
    progress(10, "preparing the day's notices")
    result = notify_farms(services.db, params["cooperative_id"], date.fromisoformat(params["date"]),
                          gateway=gateway_for(config), config=config, locale=params.get("lang") or "zh")
    progress(100, f"{result['farms']} farms told ({result['channel']})")
    return {**result, "date": result["date"].isoformat()}
