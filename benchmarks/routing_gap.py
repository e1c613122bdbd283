"""Gap to best-known solutions on Solomon VRPTW and CVRPLIB X, our solver beside PyVRP and VROOM.

Conventions (see shared/benchmarks/*/SOURCES.md): Solomon costs are distance only, every edge the
Euclidean distance truncated to one decimal (DIMACS), vehicle count free up to the file's fleet of
25; CVRPLIB X costs are nint-rounded distances with an unlimited fleet. Every plan, ours and the
references', is rebuilt from its routes and checked by ``routing.check`` before its gap counts.

Solvers: ``ours`` (routing.solve, engine chosen automatically), ``ours-ortools`` and
``ours-pyvrp`` (the same with the engine forced, to show why auto picks what it picks), ``pyvrp``
(plain PyVRP on the same matrices) and ``vroom`` (pyvroom, exploration level 5, no time limit).

    python benchmarks/routing_gap.py --time-limit 5
    python benchmarks/routing_gap.py --time-limit 30 --instances 'C101,C201,R101,R201,RC101,RC201'
    python benchmarks/routing_gap.py --sets x --instances 'X-n1[0-4]*' --time-limit 5
    python benchmarks/routing_gap.py --smoke
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from routing import check_plan, plan_from_routes, read, solve  # noqa: E402

SHARED = Path(os.environ.get("BENCHMARK_DATA", ROOT.parent / "shared" / "benchmarks"))
SOLVERS = ("ours", "ours-ortools", "ours-pyvrp", "pyvrp", "vroom")
# Optimum of the 25-customer cut of C101 under the DIMACS convention (Solomon's own set).
SMOKE_BKS = {"C101.25": 191.3}


def solomon_class(name: str) -> str:
    match = re.match(r"(RC|R|C)(\d)", name.upper())
    return f"{match.group(1)}{match.group(2)}" if match else "?"


def load_cases(sets, patterns, smoke):
    if smoke:
        data = ROOT / "tests" / "data"
        return [(data / "C101_25.txt", "solomon", "C1", 191.3),
                (data / "small_cvrp.vrp", "vrplib", "X", None)]
    cases = []
    if "solomon" in sets:
        with open(SHARED / "solomon" / "bks.csv") as f:
            bks = {r["instance"]: float(r["bks_dimacs_distance"]) for r in csv.DictReader(f)}
        for path in sorted((SHARED / "solomon" / "instances").glob("*.txt")):
            cases.append((path, "solomon", solomon_class(path.stem), bks.get(path.stem)))
    if "x" in sets:
        with open(SHARED / "cvrplib_x" / "bks.csv") as f:
            rows = list(csv.DictReader(f))
        for row in sorted(rows, key=lambda r: int(r["n"])):
            path = SHARED / "cvrplib_x" / f"{row['instance']}.vrp"
            cases.append((path, "vrplib", "X", float(row["bks"])))
    if patterns:
        globs = [p.strip() for p in patterns.split(",") if p.strip()]
        cases = [c for c in cases if any(fnmatch.fnmatch(c[0].stem, g) for g in globs)]
    return cases


def run_solver(solver, instance, time_limit_s, seed):
    import routing_refs

    problem = instance.problem
    started = time.perf_counter()
    if solver == "ours":
        plan = solve(problem, time_limit_s=time_limit_s, seed=seed)
    elif solver == "ours-ortools":
        plan = solve(problem, time_limit_s=time_limit_s, seed=seed, engine="ortools")
    elif solver == "ours-pyvrp":
        plan = solve(problem, time_limit_s=time_limit_s, seed=seed, engine="pyvrp")
    elif solver == "pyvrp":
        plan = plan_from_routes(problem, routing_refs.solve_pyvrp(problem, time_limit_s, seed),
                                "pyvrp")
    elif solver == "vroom":
        plan = plan_from_routes(problem, routing_refs.solve_vroom(problem), "vroom")
    else:
        raise ValueError(f"unknown solver {solver!r}")
    elapsed = time.perf_counter() - started
    errors = check_plan(problem, plan)
    complete = not plan.unassigned
    return {
        "cost": instance.cost(plan),
        "routes": len(plan.routes),
        "feasible": not errors,
        "complete": complete,
        "unassigned": len(plan.unassigned),
        "errors": errors[:3],
        "time_s": round(elapsed, 2),
        "engine": plan.engine,
    }


def fmt_cell(result, bks):
    if result is None:
        return "-"
    if not result["feasible"]:
        return "INFEASIBLE"
    if not result["complete"]:
        return f"MISSING {result['unassigned']}"
    if bks:
        return f"{result['cost']:.1f} {100 * (result['cost'] - bks) / bks:+.2f}% ({result['routes']})"
    return f"{result['cost']:.1f} ({result['routes']})"


def gap(result, bks):
    if result and result["feasible"] and result["complete"] and bks:
        return 100 * (result["cost"] - bks) / bks
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=5.0, help="seconds per instance")
    parser.add_argument("--instances", default="", help="comma-separated name globs, e.g. 'R1*,C101'")
    parser.add_argument("--sets", default="solomon", help="comma-separated: solomon, x")
    parser.add_argument("--solvers", default="ours,ours-ortools,pyvrp,vroom",
                        help=f"comma-separated, from {','.join(SOLVERS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="2 tiny instances, 1 s, for CI")
    parser.add_argument("--json", help="also write every result to this file")
    args = parser.parse_args(argv)
    if args.smoke:
        args.time_limit = 1.0
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    for s in solvers:
        if s not in SOLVERS:
            parser.error(f"unknown solver {s!r}")
    cases = load_cases({s.strip().lower() for s in args.sets.split(",")}, args.instances,
                       args.smoke)
    if not cases:
        parser.error("no instance matches")

    print(f"time limit {args.time_limit:g} s per solver and instance, seed {args.seed}, "
          f"solvers run one after another")
    width = 24
    print(f"{'instance':<12} {'bks':>8}  " + "".join(f"{s:<{width}}" for s in solvers))
    results = []
    for path, fmt, klass, bks in cases:
        instance = read(path, fmt)
        row = {"instance": instance.name, "class": klass, "bks": bks}
        for solver in solvers:
            row[solver] = run_solver(solver, instance, args.time_limit, args.seed)
        results.append(row)
        cells = "".join(f"{fmt_cell(row[s], bks):<{width}}" for s in solvers)
        print(f"{instance.name:<12} {bks if bks else '-':>8}  {cells}", flush=True)

    print("\nmean gap % (instances with a complete, feasible plan / all) by class")
    print(f"{'class':<8}" + "".join(f"{s:<{width}}" for s in solvers))
    classes = sorted({r["class"] for r in results}, key=["C1", "C2", "R1", "R2", "RC1", "RC2",
                                                          "X"].index)
    for klass in classes + ["all"]:
        rows = [r for r in results if klass == "all" or r["class"] == klass]
        cells = []
        for s in solvers:
            gaps = [g for g in (gap(r[s], r["bks"]) for r in rows) if g is not None]
            mean = f"{statistics.mean(gaps):.2f}" if gaps else "-"
            cells.append(f"{mean} ({len(gaps)}/{len(rows)})")
        print(f"{klass:<8}" + "".join(f"{c:<{width}}" for c in cells))
    engines = {s: sorted({r[s]["engine"] for r in results}) for s in solvers}
    print("\nengines used: " + ", ".join(f"{s}={'/'.join(e)}" for s, e in engines.items()))
    bad = [(r["instance"], s, r[s]["errors"]) for r in results for s in solvers
           if not r[s]["feasible"]]
    for name, s, errors in bad:
        print(f"INFEASIBLE {name} {s}: {errors}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
