"""`coop links create --driver ID` prints a link that signs the driver in; `coop links revoke` ends it."""
from __future__ import annotations

import re

from click.testing import CliRunner

from supply.cli import main


def test_a_driver_link_from_the_command_line_signs_the_driver_in_until_revoked(client, tokens, database_url,
                                                                               monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    made = runner.invoke(main, ["links", "create", "--driver", str(tokens["driver_id"]),
                                "--base-url", "https://coop.example"])
    assert made.exit_code == 0, made.output
    url = made.stdout.strip().splitlines()[0]
    assert re.fullmatch(r"https://coop\.example/s/link_[\w-]{40,}", url)
    assert client.get(url.removeprefix("https://coop.example")).status_code == 302
    assert client.get("/d/").status_code == 200
    link_id = re.search(r"link (\d+), expires", made.stderr).group(1)
    assert runner.invoke(main, ["links", "revoke", link_id]).exit_code == 0
    assert client.get("/d/").status_code == 302


def test_a_link_for_an_unknown_driver_is_refused(tokens, database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["links", "create", "--driver", "999999"])
    assert result.exit_code != 0 and "does not exist" in result.output
