"""The manager's console: the day at a glance, pickups to confirm, allocation and planning, plans and
publishing, drivers' sign-in links, farms, products, vehicles and drivers, exports."""
from __future__ import annotations

from flask import Blueprint, g, render_template

from supply.api.context import services
from supply.services.web import day_at_a_glance, messages_waiting
from supply.web.pages import protect_forms, signed_in

bp = Blueprint("console", __name__, url_prefix="/m", template_folder="templates")
protect_forms(bp)


@bp.get("/")
@signed_in("manager")
def dashboard():
    with services().db.transaction() as db:
        figures = day_at_a_glance(db, g.principal.cooperative_id)
        waiting = messages_waiting(db, g.principal.cooperative_id)
    return render_template("console_dashboard.html", figures=figures, waiting=waiting)


NAV = []  # (endpoint, label msgid), filled as views register below


def console_nav():
    from supply.web.i18n import _

    return [(endpoint, _(label)) for endpoint, label in NAV]


@bp.record_once
def _nav_global(state):
    state.app.jinja_env.globals["console_nav"] = console_nav


@bp.post("/messages/<int:message_id>/order")
@signed_in("manager")
def complete_message(message_id: int):
    """Complete a platform message that carried no usable lines with one line (SKU, quantity)."""
    from flask import flash, redirect, request, url_for

    from supply.api.orders import LineIn
    from supply.services.intake import complete_platform_message
    from supply.domain.rules import OrderLineRequest
    from supply.web.forms import load_form
    from supply.web.i18n import _

    line = load_form(LineIn(), request.form)
    services().db.run(lambda db: complete_platform_message(
        db, g.principal.cooperative_id, message_id, lines=(OrderLineRequest(line["sku"], line["quantity"]),),
        stream_id=None, buyer=None))
    flash(_("The order was recorded."), "ok")
    return redirect(url_for("console.dashboard"))
