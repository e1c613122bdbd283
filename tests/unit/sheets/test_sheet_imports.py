from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_rendering_sheets_pulls_in_no_web_or_database_code():
    code = (
        "import sys\n"
        "import supply.sheets\n"
        "from supply.sheets.sample import sample_sheet\n"
        "supply.sheets.render_html(sample_sheet())\n"
        "bad = [m for m in ('flask', 'sqlalchemy', 'rq', 'redis', 'supply.db', 'supply.api')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
