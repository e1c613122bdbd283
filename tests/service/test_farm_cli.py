"""`coop farms`: prices, notices and statements from the command line."""
from __future__ import annotations

import json

from click.testing import CliRunner

from supply.cli import main
from tests.conftest import auth
from tests.farmside import DAY, SKU, build, post


def test_the_command_line_sets_a_price_tells_the_farms_and_writes_the_statements(client, manager, db, tokens,
                                                                                 database_url, tmp_path):
    world = build(client, manager, db, tokens)
    env = {"DATABASE_URL": database_url, "COOP_SMS": ""}
    runner = CliRunner()
    done = runner.invoke(main, ["farms", "price", "--sku", SKU, "--from", "2026-11-01", "--fen", "450"], env=env)
    assert done.exit_code == 0, done.output
    again = runner.invoke(main, ["farms", "price", "--sku", SKU, "--from", "2026-11-01", "--fen", "460"], env=env)
    assert again.exit_code != 0 and "never edited" in again.output
    told = runner.invoke(main, ["farms", "notify", "--date", DAY.isoformat(), "--out", str(tmp_path)], env=env)
    assert told.exit_code == 0, told.output
    assert json.loads(told.output)["by_status"] == {"written": 3}
    assert (tmp_path / f"notices-{DAY}.pdf").read_bytes().startswith(b"%PDF")
    for farm_id, stop_id in world["stops"].items():
        post(client, f"/api/v1/stops/{stop_id}/collected", auth(tokens["driver"]),
             {"quantities": [{"sku": SKU, "quantity": world["quantities"][farm_id]}]}, 200)
    wrote = runner.invoke(main, ["farms", "statements", "--from", DAY.isoformat(), "--to", DAY.isoformat(),
                                 "--out", str(tmp_path)], env=env)
    assert wrote.exit_code == 0, wrote.output
    assert f"3 statements, {12 * 450 // 100}.00 yuan due" in wrote.output
    payout = (tmp_path / f"payout-{DAY}-{DAY}.csv").read_text(encoding="utf-8").splitlines()
    assert len(payout) == 4 and sum(int(row.split(",")[3]) for row in payout[1:]) == 12 * 450
    bad = runner.invoke(main, ["farms", "statements", "--from", "2026-12-01", "--to", "2026-11-01", "--out",
                               str(tmp_path)], env=env)
    assert bad.exit_code != 0 and "ends before it starts" in bad.output
