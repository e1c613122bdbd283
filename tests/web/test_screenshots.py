"""`coop screenshots` writes every page at a phone's and a desktop's size."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT, auth
from tests.web.conftest import build_day


def test_every_page_is_written_at_phone_and_desktop_size(app, client, tokens, tmp_path, database_url):
    build_day(client, tokens)
    client.post("/api/v1/streams", headers=auth(tokens["manager"]), json={
        "platform": "douyin", "host": "小芳", "title": "苦荞面专场", "starts_at": "2026-11-29T19:00:00+08:00"})
    # Its own process, as a person runs it (and clear of this session's browser).
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run([sys.executable, "-m", "supply.cli", "screenshots", "--out", str(tmp_path)],
                          env={**env, "DATABASE_URL": database_url, "COOP_LOG_LEVEL": "WARNING"}, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    names = {p.name for p in tmp_path.glob("*.png")}
    pages = ["signin", "console-today", "console-pickups", "console-plans", "console-plan", "console-drivers",
             "console-farms", "console-products", "console-vehicles", "console-closures", "host-streams",
             "host-stream", "driver-route"]
    assert names == {f"{page}-{size}.png" for page in pages for size in ("phone", "desktop")}
    for path in tmp_path.glob("*.png"):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    # The links made for the occasion are revoked: none signs anyone in afterwards.
    from supply.db.models import WebLink

    with app.extensions["coop"].db.transaction() as session:
        assert all(link.revoked_at is not None for link in session.query(WebLink))
