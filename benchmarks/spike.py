"""Spike to dispatch: time from the last order of a livestream spike to published plans.

Runs the main job (`supply.demo.run_demo`: 300 farms, 20 vehicles, orders through the HTTP stack)
on the embedded default (SQLite, jobs inline) and on PostgreSQL with rq workers on Redis, and prints
the time from the last acknowledged order to the published plan (allocation, confirmation,
planning with the solver's time limit, publishing) against the 60 s target, plus the memory peak.

    python benchmarks/spike.py                    # both setups, 27,500 orders
    python benchmarks/spike.py --smoke            # 500 orders, 40 farms, 2 s solver: a quick check
    python benchmarks/spike.py --only sqlite
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_S = 60.0


def run(setup: str, args) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"spike-{setup}-"))
    env = dict(os.environ)
    workers = []
    database_url = redis_url = None
    if setup == "postgres":
        db = f"coop_spike_{os.getpid()}"
        admin = args.postgres_admin
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", admin, "-c",
                        f"DROP DATABASE IF EXISTS {db}", "-c", f"CREATE DATABASE {db}"], check=True)
        database_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
        redis_url = args.redis_url
        import migrations
        migrations.upgrade(database_url)
        env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, COOP_RQ_QUEUE=f"spike-{os.getpid()}",
                   COOP_LOG_LEVEL="WARNING")
        os.environ["COOP_RQ_QUEUE"] = env["COOP_RQ_QUEUE"]
        for _ in range(args.workers):
            workers.append(subprocess.Popen([sys.executable, "-m", "supply.cli", "worker", "--sweep-interval", "5"],
                                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    from supply.demo import run_demo

    started = time.monotonic()
    try:
        code = run_demo(out_dir=str(out), n_orders=args.orders, seed=args.seed, n_farms=args.farms,
                        database_url=database_url, redis_url=redis_url, time_limit_s=args.time_limit,
                        sheets=False)
    finally:
        for w in workers:
            w.terminate()
            w.wait(10)
        if setup == "postgres":
            subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", args.postgres_admin, "-c",
                            f"DROP DATABASE IF EXISTS {db}"], check=False)
    if code != 0:
        raise SystemExit(f"{setup}: the run failed")
    summary = json.loads((out / "summary.json").read_text())
    peak_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"setup": setup, "orders": summary["orders_sent"], "reserved": summary["orders_reserved"],
            "pickups": summary["pickups"], "planned": summary["planned_pickups"],
            "unplanned": len(summary["unplanned_pickups"]), "routes": summary["plan"]["routes"],
            "to_published_s": summary["seconds_from_last_order_to_published_plan"],
            "solver_limit_s": summary["solver_time_limit_s"], "total_s": round(time.monotonic() - started, 1),
            "peak_rss_mb": round(peak_kb / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=27_500)
    parser.add_argument("--farms", type=int, default=300)
    parser.add_argument("--time-limit", type=float, default=20.0, help="the solver's time limit (s)")
    parser.add_argument("--workers", type=int, default=2, help="rq workers for the PostgreSQL run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13")
    parser.add_argument("--postgres-admin", default="postgres", help="database to connect to for CREATE DATABASE")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.orders, args.farms, args.time_limit = 500, 40, 2.0
    setups = [args.only] if args.only else ["sqlite", "postgres"]
    rows = [run(setup, args) for setup in setups]
    print(f"\n{'setup':9} {'orders':>7} {'reserved':>8} {'pickups':>7} {'planned':>7} {'unplanned':>9} {'routes':>6} "
          f"{'last order->published':>22} {'solver limit':>12} {'peak RSS':>9}")
    for r in rows:
        verdict = "ok" if r["to_published_s"] <= TARGET_S else "MISSED"
        print(f"{r['setup']:9} {r['orders']:>7} {r['reserved']:>8} {r['pickups']:>7} {r['planned']:>7} "
              f"{r['unplanned']:>9} {r['routes']:>6} {r['to_published_s']:>20.1f} s {r['solver_limit_s']:>10.0f} s "
              f"{r['peak_rss_mb']:>6.0f} MB  target <= {TARGET_S:.0f} s: {verdict}")


if __name__ == "__main__":
    main()
