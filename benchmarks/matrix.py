"""Travel-matrix benchmark: 1,000 x 1,000 travel times and distances on the Andorra extract.

    python benchmarks/matrix.py            # Andorra, 1,000 points, against the 0.5 s target
    python benchmarks/matrix.py --smoke    # a small generated county, for CI (no data files)

Also prints how long the network takes to build from the .osm.pbf and to load from a saved .npz.
Locates the shared data through COOP_SHARED_DIR (default: ../shared next to the repository).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from routing.generator import generate_county  # noqa: E402
from routing.matrix import travel_matrix  # noqa: E402
from routing.network import Network  # noqa: E402
from routing.store import load_network, load_saved_network, save_network  # noqa: E402

TARGET_S = 0.5
ANDORRA = "andorra-2021-10-28.osm.pbf"


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def random_points(net: Network, n: int, seed: int) -> list[tuple[float, float]]:
    """Points up to ~100 m off random road nodes, like farms beside the road."""
    rng = np.random.default_rng(seed)
    nodes = rng.choice(net.n_nodes, n, replace=net.n_nodes < n)
    jitter = rng.normal(0, 0.0005, size=(n, 2))
    return list(zip(net.node_lon[nodes] + jitter[:, 0], net.node_lat[nodes] + jitter[:, 1]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny quick run on a generated county")
    parser.add_argument("--points", type=int, default=None, help="number of points (default 1000; smoke 50)")
    parser.add_argument("--repeat", type=int, default=5, help="matrix runs to time (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--file", type=Path, default=None, help="an .osm.pbf or .npz instead of Andorra")
    args = parser.parse_args(argv)

    if args.smoke:
        net, build_s = timed(generate_county, seed=args.seed, n_villages=10)
        print(f"generated county: {net.n_nodes:,} nodes, {net.n_edges:,} edges in {build_s:.3f} s")
        n_points = args.points or 50
        repeat = min(args.repeat, 2)
    else:
        shared = Path(os.environ.get("COOP_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared"))
        path = args.file or shared / "data" / "roads" / ANDORRA
        if not path.exists():
            print(f"network file not found: {path} (set COOP_SHARED_DIR or pass --file)", file=sys.stderr)
            return 2
        net, build_s = timed(load_network, path)
        print(f"{path.name}: {net.n_nodes:,} nodes, {net.n_edges:,} edges")
        print(f"  load from {path.suffix}: {build_s:.3f} s")
        with tempfile.TemporaryDirectory() as tmp:
            saved = save_network(net, Path(tmp) / "network.npz")
            _, load_s = timed(load_saved_network, saved)
            print(f"  load from saved .npz ({saved.stat().st_size / 1e6:.1f} MB): {load_s:.3f} s")
        n_points = args.points or 1000
        repeat = args.repeat

    points = random_points(net, n_points, args.seed)
    snaps, snap_s = timed(net.snap_many, points)
    nodes = [s.node for s in snaps]
    print(f"snap {n_points:,} points: {snap_s:.3f} s (median {statistics.median(s.distance_m for s in snaps):.0f} m)")

    times = []
    for _ in range(repeat):
        matrix, seconds = timed(travel_matrix, net, nodes)
        times.append(seconds)
    best, median = min(times), statistics.median(times)
    off = ~np.eye(n_points, dtype=bool)
    tt = matrix.travel_time_s[off & matrix.reachable]
    print(
        f"matrix {n_points:,} x {n_points:,}: best {best:.3f} s, median {median:.3f} s over {repeat} runs"
        f" (target {TARGET_S} s for 1,000 x 1,000 on Andorra)"
    )
    if len(tt):
        asym = np.mean((matrix.travel_time_s != matrix.travel_time_s.T)[off])
        print(f"  travel time median {np.median(tt) / 60:.1f} min, max {tt.max() / 3600:.2f} h; asymmetric pairs {asym:.0%}")
    if not args.smoke and n_points == 1000 and args.file is None:
        print("  OK: within target" if median <= TARGET_S else "  OVER TARGET")
    return 0


if __name__ == "__main__":
    sys.exit(main())
