"""Command line: ``python -m routing solve FILE`` and ``python -m routing network FILE``."""

from __future__ import annotations

import argparse
import json
import sys

from routing.readers import FORMATS, guess_format, read
from routing.solver import ENGINES, solve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m routing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("solve", help="solve a problem file and print the plan as JSON")
    p.add_argument("file")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="file format (guessed from the suffix when omitted)")
    p.add_argument("--time-limit", type=float, default=5.0,
                   help="seconds (default 5; 0 with --max-iterations: no clock, a repeatable plan)")
    p.add_argument("--max-iterations", type=int, default=None,
                   help="bound the search by its iterations (PyVRP) or solutions (OR-Tools)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", choices=ENGINES, default="auto")
    p.add_argument("--details", action="store_true",
                   help="include per-visit times, loads and distances")
    n = sub.add_parser("network", help="print a road network's statistics as JSON")
    n.add_argument("file")
    return parser


def _solve(args) -> dict:
    instance = read(args.file, args.format)
    plan = solve(instance.problem, time_limit_s=args.time_limit or None, seed=args.seed,
                 engine=args.engine, max_iterations=args.max_iterations)
    if (args.format or guess_format(args.file)) == "json":
        cost = plan.cost
    else:
        cost = round(instance.cost(plan), 1 if instance.distance_scale == 10 else 3)
        cost = int(cost) if instance.distance_scale == 1 else cost
    out = {
        "name": instance.name,
        "cost": cost,
        "routes": [list(r.stop_ids) for r in plan.routes],
        "unassigned": [{"stop_id": u.stop_id, "reason": u.reason, "detail": u.detail}
                       for u in plan.unassigned],
        "vehicles": [r.vehicle_id for r in plan.routes],
        "distance_m": plan.distance_m,
        "engine": plan.engine,
        "solve_time_s": round(plan.solve_time_s, 3),
        "search": plan.search,
    }
    if args.details:
        out["plan"] = plan.to_dict()
    return out


def _network(args) -> dict:
    from routing.stats import network_stats
    from routing.store import load_network

    return network_stats(load_network(args.file))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        out = _solve(args) if args.command == "solve" else _network(args)
    except (OSError, ValueError, ImportError, RuntimeError) as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    print(json.dumps(out, ensure_ascii=False, indent=None, default=str))
    return 0
