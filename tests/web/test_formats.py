"""Numbers, dates and times on the pages: in the page's language, on the cooperative's clock."""
from __future__ import annotations

from datetime import date, datetime, time, timezone

from flask import g

from supply.web.i18n import clock, number, when


def test_numbers_dates_and_times_follow_the_language_and_the_cooperatives_time_zone(app):
    moment = datetime(2026, 11, 29, 23, 30, tzinfo=timezone.utc)
    with app.test_request_context("/m/"):
        g.coop_timezone = "Asia/Shanghai"
        assert number(1234567) == "1,234,567" and number(2.5, 1) == "2.5"
        assert clock(moment) == "07:30"  # the next morning in Shanghai
        assert when(moment).startswith("2026/11/30")
        assert when(date(2026, 11, 30)) == "2026年11月30日"
        assert clock(time(8, 5)) == "08:05"
    with app.test_request_context("/m/?lang=en"):
        g.coop_timezone = "Europe/Andorra"
        assert clock(moment) == "00:30"
        assert when(date(2026, 11, 30)) == "Nov 30, 2026"
