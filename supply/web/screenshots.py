"""Screenshots of every page at a phone's and a desktop's size, so a reviewer can look without running
a browser: `coop screenshots --out DIR` (after `coop demo`, or against any database).

The app is served by a thread on a loopback port and Debian's Chromium is driven by Playwright (a
test dependency). Each person signs in through a link made for the occasion (revoked afterwards).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

SIZES = {
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
              "has_touch": True},
    "desktop": {"viewport": {"width": 1366, "height": 900}},
}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _targets(db) -> tuple[dict, list]:
    """Links to sign in with, and the pages each person sees: [(role, name, path)]."""
    from sqlalchemy import select

    from supply.db.models import DispatchPlan, Route, Stream
    from supply.services.web import create_link

    with db.transaction() as session:
        links = {"manager": create_link(session, 1, role="manager"), "host": create_link(session, 1, role="host")}
        plan = session.execute(select(DispatchPlan).where(DispatchPlan.cooperative_id == 1)
                               .order_by(DispatchPlan.status != "published", DispatchPlan.id.desc())).scalars().first()
        route = session.execute(select(Route).join(DispatchPlan).where(
            DispatchPlan.status == "published", Route.driver_id.is_not(None)).order_by(Route.id)).scalars().first()
        stream = session.execute(select(Stream).order_by(Stream.id.desc())).scalars().first()
        day = plan.date.isoformat() if plan else None
        pages = [("manager", "console-today", "/m/"),
                 ("manager", "console-pickups", f"/m/pickups?date={day}" if day else "/m/pickups"),
                 ("manager", "console-plans", f"/m/plans?date={day}" if day else "/m/plans"),
                 ("manager", "console-drivers", "/m/drivers"), ("manager", "console-farms", "/m/farms"),
                 ("manager", "console-products", "/m/products"), ("manager", "console-vehicles", "/m/vehicles"),
                 ("manager", "console-closures", "/m/closures"), ("host", "host-streams", "/h/")]
        if plan:
            pages.append(("manager", "console-plan", f"/m/plans/{plan.id}"))
        if stream:
            pages.append(("host", "host-stream", f"/h/streams/{stream.id}"))
        if route:
            links["driver"] = create_link(session, 1, role="driver", driver_id=route.driver_id)
            pages.append(("driver", "driver-route", f"/d/routes/{route.id}"))
    return links, pages


def take_screenshots(app, out_dir: str | Path, *, chromium: str | None = None) -> list[Path]:
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from supply.services.web import revoke_link

    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    db = app.extensions["coop"].db
    links, pages = _targets(db)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    written: list[Path] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium or os.environ.get("COOP_CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS)
            for size, options in SIZES.items():
                anonymous = browser.new_context(locale="zh-CN", **options).new_page()
                anonymous.goto(f"{base}/signin")
                written.append(out / f"signin-{size}.png")
                anonymous.screenshot(path=str(written[-1]), full_page=True)
                for role, link in links.items():
                    context = browser.new_context(locale="zh-CN", **options)
                    page = context.new_page()
                    # One-time links are spent by the first size: later sizes sign in with new ones.
                    page.goto(f"{base}/s/{link['token']}")
                    for who, name, path in pages:
                        if who != role:
                            continue
                        page.goto(base + path)
                        page.wait_for_load_state("load")
                        written.append(out / f"{name}-{size}.png")
                        page.screenshot(path=str(written[-1]), full_page=True)
                    context.close()
                links = {role: _fresh(db, role, link) for role, link in links.items()}
            browser.close()
    finally:
        server.shutdown()
        with db.transaction() as session:
            for link in links.values():
                revoke_link(session, 1, link["id"])
    return written


def _fresh(db, role: str, link: dict) -> dict:
    from supply.services.web import create_link, revoke_link

    with db.transaction() as session:
        revoke_link(session, 1, link["id"])
        return create_link(session, 1, role=role, driver_id=link["driver_id"])
