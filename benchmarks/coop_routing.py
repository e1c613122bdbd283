"""The cooperative's own routing problems: each engine beside the best-known plan.

Instances come from ``benchmarks/coop_instances.py`` (``benchmarks/coop/*.json.gz``; the large
one is rebuilt from its recipe). For each instance and time limit the script prints, per engine,
km, routes, pickups left out and the gap of the plan's cost to the best-known plan's cost
(``+k`` after the unplanned count: more left out than the best known). Every plan, and every
best-known plan as it is read, is checked by ``routing.check``. The machine's load is printed
with each row: under load, compare engines at equal limits within one run.

    python benchmarks/coop_routing.py --time-limits 15,60
    python benchmarks/coop_routing.py --instances demo-300 --time-limits 15 --engines pyvrp,ortools
    python benchmarks/coop_routing.py --best-known --instances demo-300 --time-limits 300
    python benchmarks/coop_routing.py --scale            # 3,000 farms: prepare + solve, time, memory
    python benchmarks/coop_routing.py --warm --instances demo-300 --time-limits 10 --publish-limit 60
    python benchmarks/coop_routing.py --smoke            # a small cut, iteration budgets, for CI
    python benchmarks/coop_routing.py --time-limits 10 --searches 1   # one PyVRP search, not two

``--seeds N`` runs each engine with N seeds from ``--seed``: a row per seed and the mean gap.
``--best-known`` runs each engine at the given limits (seeds 0..--seeds-1) and keeps the cheapest
plan found if it beats the stored one (fewer left out first, then cost). ``--keep-better`` does the
same for the plans of a table run (its gaps stay against the best known as it was read).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from routing import (  # noqa: E402
    Problem,
    SearchFailed,
    check_plan,
    plan_from_routes,
    problem_from_dict,
    solve,
)

HERE = Path(__file__).resolve().parent / "coop"
BEST_KNOWN = HERE / "best_known.json"
SMOKE = "demo-300-cut60"


def load_problem(name: str) -> Problem:
    if name.endswith(tuple(f"-cut{n}" for n in range(1, 1000))):
        base, n = name.rsplit("-cut", 1)
        return cut(load_problem(base), int(n), name)
    path = HERE / f"{name}.json.gz"
    if path.exists():
        return problem_from_dict(json.loads(gzip.decompress(path.read_bytes())))
    import hashlib

    import coop_instances

    index = json.loads((HERE / "instances.json").read_text())
    if name not in index:
        raise SystemExit(f"unknown instance {name!r}")
    problem = coop_instances.build(name, coop_instances._networks())
    digest = hashlib.sha256(coop_instances.encode(problem)).hexdigest()
    if digest != index[name]["sha256"]:
        raise SystemExit(f"{name}: rebuilt instance differs from the recorded one ({digest})")
    return problem


def cut(problem: Problem, n: int, name: str) -> Problem:
    """The first n stops of a problem and the vehicles in proportion (at least 3)."""
    stops = problem.stops[:n]
    locs = [problem.hub_location] + [s.location for s in stops]
    where = {loc: i for i, loc in enumerate(locs)}
    from dataclasses import replace

    share = max(3, round(len(problem.vehicles) * n / len(problem.stops)))
    keep = [v for v in problem.vehicles if v.refrigerated][:1]
    keep += [v for v in problem.vehicles if not v.refrigerated][:share - len(keep)]
    ix = np.ix_(locs, locs)
    return Problem(durations_s=problem.durations_s[ix], distances_m=problem.distances_m[ix],
                   stops=[replace(s, location=where[s.location]) for s in stops], vehicles=keep,
                   hub_location=0, hub_open_s=problem.hub_open_s, hub_cutoff_s=problem.hub_cutoff_s,
                   reload_duration_s=problem.reload_duration_s, name=name)


def read_best_known() -> dict:
    return json.loads(BEST_KNOWN.read_text()) if BEST_KNOWN.exists() else {}


def write_best_known(best_known: dict) -> None:
    """One line per route, so the file stays readable and its diffs small."""
    parts = []
    for name in sorted(best_known):
        entry = dict(best_known[name])
        routes = entry.pop("routes")
        head = json.dumps(entry, ensure_ascii=False)[1:-1]
        body = ",\n".join("  " + json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in routes)
        parts.append(f'"{name}": {{{head}, "routes": [\n{body}\n]}}')
    BEST_KNOWN.write_text("{\n" + ",\n".join(parts) + "\n}\n")


def best_known_plan(problem: Problem, entry: dict):
    """The stored best-known plan rebuilt from its routes; it must pass the independent check."""
    routes = [(vid, [None if s is None else s for s in seq]) for vid, seq in entry["routes"]]
    vehicle_ids = {v.id for v in problem.vehicles}
    routes = [(vid if vid in vehicle_ids else int(vid), seq) for vid, seq in routes]
    plan = plan_from_routes(problem, routes, entry["engine"])
    errors = check_plan(problem, plan)
    if errors:
        raise SystemExit(f"{problem.name}: best-known plan is infeasible: {errors[:3]}")
    if plan.cost != entry["cost"]:
        raise SystemExit(f"{problem.name}: best-known plan costs {plan.cost}, recorded {entry['cost']}")
    return plan


def run(problem: Problem, engine: str, time_limit_s, seed: int = 0, max_iterations=None) -> dict:
    started = time.perf_counter()
    try:
        plan = solve(problem, time_limit_s=time_limit_s, seed=seed, engine=engine,
                     max_iterations=max_iterations)
    except SearchFailed as exc:
        return {"failed": str(exc), "time_s": round(time.perf_counter() - started, 1)}
    errors = check_plan(problem, plan)
    return {"plan": plan, "km": plan.distance_m / 1000, "routes": len(plan.routes),
            "unplanned": len(plan.unassigned), "cost": plan.cost, "errors": errors[:3],
            "engine": plan.engine, "iterations": plan.search.get("iterations"),
            "time_s": round(time.perf_counter() - started, 1)}


def cell(result: dict, best: dict | None) -> str:
    if "failed" in result:
        return "NO PLAN (SearchFailed)"
    if result["errors"]:
        return "INFEASIBLE"
    text = f"{result['km']:,.0f} km {result['routes']}r {result['unplanned']}u"
    if best:
        more = result["unplanned"] - best["unplanned"]
        if more > 0:
            text += f" (+{more})"
        text += f" {100 * (result['cost'] - best['cost']) / best['cost']:+.1f}%"
    return text


def spread(gaps: list[float]) -> str:
    """The mean gap over seeds, and its range."""
    if not gaps:
        return "-"
    return f"{sum(gaps) / len(gaps):+.1f}% ({min(gaps):+.1f} to {max(gaps):+.1f})"


def better(a: dict, b: dict | None) -> bool:
    return b is None or (a["unplanned"], a["cost"]) < (b["unplanned"], b["cost"])


def entry_of(result: dict, time_limit_s, seed: int) -> dict:
    plan = result["plan"]
    return {"cost": plan.cost, "distance_m": plan.distance_m, "routes_used": len(plan.routes),
            "unplanned": len(plan.unassigned), "engine": plan.engine, "time_limit_s": time_limit_s,
            "seed": seed, "found": time.strftime("%Y-%m-%d"),
            "routes": [[r.vehicle_id, [v.stop_id for v in r.visits]] for r in plan.routes]}


def load_text() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


def table(args) -> int:
    engines = args.engines.split(",")
    limits = [None] if args.smoke else [float(t) for t in args.time_limits.split(",")]
    best_known = read_best_known()
    kept = dict(best_known)  # with --keep-better: the best known as this run improves it
    width = 30
    print(f"engines side by side; gap = plan cost against the best known; {load_text()}")
    print(f"{'instance':<18}{'limit':>7}  {'best known':<{width}}"
          + "".join(f"{e:<{width}}" for e in engines) + "load")
    bad = 0
    for name in args.instances.split(","):
        problem = load_problem(name)
        entry = best_known.get(name)
        if entry is not None:
            best_known_plan(problem, entry)
        for limit in limits:
            gaps: dict[str, list[float]] = {e: [] for e in engines}
            for seed in range(args.seed, args.seed + args.seeds):
                results = {e: run(problem, e, limit, seed,
                                  max_iterations=args.iterations if args.smoke else None)
                           for e in engines}
                ref = f"{entry['distance_m'] / 1000:,.0f} km {entry['routes_used']}r " \
                      f"{entry['unplanned']}u" if entry else "-"
                shown = "budget" if limit is None else f"{limit:g} s"
                label = name if args.seeds == 1 else f"{name} s{seed}"
                # The iterations of each plan's search (PyVRP: the winning search's) show how
                # much work the limit bought on this machine at this moment.
                done = " ".join(f"{r['iterations']:,}" for r in results.values()
                                if r.get("iterations") is not None)
                print(f"{label:<18}{shown:>7}  {ref:<{width}}"
                      + "".join(f"{cell(results[e], entry):<{width}}" for e in engines)
                      + load_text().split(" on")[0] + (f", iterations {done}" if done else ""),
                      flush=True)
                for e, r in results.items():
                    if "failed" in r or r["errors"]:
                        bad += 1
                        print(f"  {e}: {r.get('failed') or r['errors']}")
                        continue
                    if entry:
                        gaps[e].append(100 * (r["cost"] - entry["cost"]) / entry["cost"])
                    if args.keep_better and limit is not None and better(r, kept.get(name)):
                        # Beats the best known (the gaps of this run stay against the old one).
                        kept[name] = entry_of(r, limit, seed)
                        write_best_known({**read_best_known(), name: kept[name]})
                        print(f"  new best known for {name}: cost {r['cost']} ({e}, seed {seed})")
            if args.seeds > 1 and entry:
                print(f"{name:<18}{'mean':>7}  {'':<{width}}"
                      + "".join(f"{spread(gaps[e]):<{width}}" for e in engines))
    return 1 if bad else 0


def best_known_runs(args) -> int:
    best_known = read_best_known()
    for name in args.instances.split(","):
        problem = load_problem(name)
        current = best_known.get(name)
        for limit in [float(t) for t in args.time_limits.split(",")]:
            for engine in args.engines.split(","):
                for seed in range(args.seeds):
                    result = run(problem, engine, limit, seed)
                    print(f"{name} {engine} {limit:g} s seed {seed}: {cell(result, current)} "
                          f"({load_text()})", flush=True)
                    if "failed" in result or result["errors"]:
                        continue
                    if better(result, current):
                        current = entry_of(result, limit, seed)
                        best_known[name] = current
                        write_best_known(best_known)
                        print(f"  new best known for {name}: cost {current['cost']}")
    return 0


def scale(args) -> int:
    """3,000 farms: build the day's problem (snap, matrices), solve, and build the plan, timed,
    with the process's peak memory."""
    import coop_instances

    started = time.perf_counter()
    networks = coop_instances._networks()
    networks("andorra")
    loaded = time.perf_counter()
    problem, network, nodes = coop_instances.build("demo-3000", networks, with_nodes=True)
    prepared = time.perf_counter()
    limit = args.time_limit_scale
    result = run(problem, args.engines.split(",")[0], limit, args.seed)
    solved = time.perf_counter()
    paths = 0
    if "plan" in result:  # what storing the plan computes: the road path of every hop
        from routing.matrix import shortest_paths

        hops = {(nodes[a], nodes[b]): int(problem.durations_s[a, b]) for r in result["plan"].routes
                for a, b in zip(r.locations, r.locations[1:]) if a != b}
        paths = len(hops)
        shortest_paths(network, list(hops), list(hops.values()))
    done = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"demo-3000: {len(problem.stops)} stops, {len(problem.vehicles)} vehicles; "
          f"road network {loaded - started:.1f} s (loaded once per process), "
          f"prepare {prepared - loaded:.1f} s, solve ({limit:g} s limit) {solved - prepared:.1f} s, "
          f"road paths of {paths} hops {done - solved:.1f} s, together {done - loaded:.1f} s; "
          f"peak memory {peak_mb:,.0f} MiB; {load_text()}")
    print(f"  plan: {cell(result, read_best_known().get('demo-3000'))}"
          + (f": {result['failed']}" if "failed" in result else ""))
    return 0 if "failed" not in result and not result["errors"] else 1


def warm(args) -> int:
    """Warm starts: the day's plan is published with 5% of the pickups not yet known (planned at
    --publish-limit, the time the morning had; by default the same limit); they come in, and a new
    version is planned at the limit from nothing and from the published plan."""
    from dataclasses import replace

    limit = float(args.time_limits.split(",")[0])
    print(f"warm start against cold start at {limit:g} s; {load_text()}")
    for name in args.instances.split(","):
        full = load_problem(name)
        late = set(range(0, len(full.stops), 20))  # every 20th pickup comes in after publishing
        morning = replace(full, stops=[s for k, s in enumerate(full.stops) if k not in late])
        for engine in args.engines.split(","):
            published = run(morning, engine, args.publish_limit or limit, args.seed)
            if "plan" not in published:
                print(f"{name} {engine}: no published plan ({published.get('failed')})")
                continue
            start = [(r.vehicle_id, [v.stop_id for v in r.visits]) for r in published["plan"].routes]
            cold = run(full, engine, limit, args.seed)
            started = time.perf_counter()
            plan = solve(full, time_limit_s=limit, seed=args.seed, engine=engine, initial_routes=start)
            hot = {"plan": plan, "km": plan.distance_m / 1000, "routes": len(plan.routes),
                   "unplanned": len(plan.unassigned), "cost": plan.cost,
                   "errors": check_plan(full, plan)[:3], "time_s": time.perf_counter() - started}
            best = read_best_known().get(name)
            print(f"{name} +{len(late)} pickups, {engine}: cold {cell(cold, best)} | "
                  f"warm {cell(hot, best)} ({load_text().split(' on')[0]})", flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", default="demo-300,beatty-150,andorra-pass-300,demo-1000")
    parser.add_argument("--time-limits", default="15,60", help="seconds, comma-separated")
    parser.add_argument("--engines", default=None,
                        help="comma-separated (default ortools,pyvrp; with --scale: auto)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=1,
                        help="seeds per engine, from --seed (the table: a row each and the mean)")
    parser.add_argument("--best-known", action="store_true", help="long runs to improve the best known")
    parser.add_argument("--keep-better", action="store_true",
                        help="in the table, store any plan that beats the best known (gaps stay against the old)")
    parser.add_argument("--scale", action="store_true", help="3,000 farms: time and memory")
    parser.add_argument("--warm", action="store_true",
                        help="re-plan with 5%% more pickups from the published plan against from nothing")
    parser.add_argument("--time-limit-scale", type=float, default=45.0)
    parser.add_argument("--publish-limit", type=float, default=None,
                        help="with --warm: seconds for the published plan (default: the limit)")
    parser.add_argument("--smoke", action="store_true",
                        help=f"{SMOKE} under an iteration budget, every plan checked")
    parser.add_argument("--iterations", type=int, default=300, help="budget with --smoke")
    parser.add_argument("--searches", type=int, default=None,
                        help="PyVRP searches side by side (default: routing's PARALLEL_SEARCHES, 2)")
    args = parser.parse_args(argv)
    if args.searches is not None:
        import routing.engine_pyvrp

        routing.engine_pyvrp.PARALLEL_SEARCHES = args.searches
    if args.engines is None:
        args.engines = "auto" if args.scale else "ortools,pyvrp"
    if args.smoke:
        args.instances = SMOKE
    if args.scale:
        return scale(args)
    if args.best_known:
        return best_known_runs(args)
    if args.warm:
        return warm(args)
    return table(args)


if __name__ == "__main__":
    sys.exit(main())
