"""The manager's console in a real browser (desktop size): pickups confirmed, routes planned twice,
versions compared side by side, one published; the driver's page then shows the route."""
from __future__ import annotations

from tests.web.browser import DESKTOP
from tests.web.conftest import DAY, build_day


def test_a_manager_confirms_pickups_plans_compares_and_publishes(client, tokens, served, browser):
    day = build_day(client, tokens, publish=False)
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.goto(f"{served}/signin")
    page.fill("input[name=token]", tokens["manager"])
    page.click("button[type=submit]")
    assert page.url.endswith("/m/")
    page.goto(f"{served}/m/pickups?date={DAY}")
    for pickup in day["pickups"]:
        page.locator(f"tr[data-pickup-id='{pickup['id']}'] button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator(f"tr[data-pickup-id='{pickup['id']}'] .status").inner_text().strip() == "已确认"
    for _ in range(2):
        page.goto(f"{served}/m/plans?date={DAY}")
        page.fill("input[name=time_limit_s]", "1")
        page.click("form.card button[type=submit]")
        page.locator(".job-status[data-status=finished]").wait_for(timeout=60000)
    page.goto(f"{served}/m/plans?date={DAY}")
    rows = page.locator("table.versions tbody tr")
    assert rows.count() == 2
    assert all(float(rows.nth(i).locator("td.num").first.inner_text()) > 0 for i in range(2))
    first = rows.nth(1).get_attribute("data-plan-id")
    rows.nth(1).locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(f"tr[data-plan-id='{first}']").get_attribute("class") == "published"
    assert page.locator("table.versions button[type=submit]").count() == 1  # the other draft may still be
    page.goto(f"{served}/m/plans/{first}")
    assert page.locator("svg.plan-map g.route").count() >= 1
    context.close()


def test_a_manager_closes_a_road_by_clicking_the_map(client, tokens, served, browser):
    build_day(client, tokens, publish=False)
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.goto(f"{served}/signin")
    page.fill("input[name=token]", tokens["manager"])
    page.click("button[type=submit]")
    page.goto(f"{served}/m/closures")
    svg = page.locator("figure.pick svg")
    svg.click(position={"x": 200, "y": 150})
    lat, lon = float(page.input_value("input[name=lat]")), float(page.input_value("input[name=lon]"))
    west, east = float(svg.get_attribute("data-west")), float(svg.get_attribute("data-east"))
    south, north = float(svg.get_attribute("data-south")), float(svg.get_attribute("data-north"))
    assert west < lon < east and south < lat < north
    page.fill("input[name=starts_at]", "2026-11-30T06:00")
    page.fill("input[name=reason]", "塌方")
    page.locator("form.card button[type=submit]").click()
    page.wait_for_load_state()
    assert "道路已封闭" in page.locator(".flash").inner_text()
    assert page.locator("figure.pick svg g.closure").count() == 1
    context.close()


def test_no_console_page_is_wider_than_a_phone(client, tokens, served, browser):
    """On a phone the pages fit the screen: the plan versions show as cards, wide tables scroll
    inside their box, never the page sideways."""
    from tests.web.browser import PHONE

    build_day(client, tokens)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{served}/signin")
    page.fill("input[name=token]", tokens["manager"])
    page.click("button[type=submit]")
    for path in ("/m/", f"/m/pickups?date={DAY}", f"/m/plans?date={DAY}", "/m/farms", "/m/products",
                 "/m/vehicles", "/m/drivers", "/m/closures"):
        page.goto(f"{served}{path}")
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (path, width)
    page.goto(f"{served}/m/plans?date={DAY}")
    assert page.locator("table.versions thead").is_hidden()
    assert page.locator("table.versions tbody tr td.status").first.evaluate(
        "td => getComputedStyle(td, '::before').content").startswith('"状态')
    context.close()
