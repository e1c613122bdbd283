"""Seedable synthetic county road networks for tests and benchmarks.

A county here is a long valley road with side valleys branching off it, villages strung along
them (a few streets each, some forming loops), a county town with a small grid (some one-way
streets), farm yards on service spurs, gravel tracks up to pastures and a few connecting roads
that close loops. The statistics (share of degree-2 nodes, contracted degree shares, edge lengths,
road density) are calibrated on the OpenStreetMap extracts in shared/data/roads (see STATS.md).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from .build import DEFAULT_SPEED_KMH, RoadWay, build_network
from .geo import LocalProjection
from .network import Network, Place

_SYLLABLES = (
    "a ba bai bu cha da gou han hong hu ka ke kong la li lu ma mu na ping qi sa sha shan si su "
    "ta tai te tu wu xia xin yang yi ying yu zhao"
).split()


def generate_county(
    seed: int = 1,
    n_villages: int = 40,
    *,
    lon: float = 81.13,
    lat: float = 43.15,
    node_spacing_m: float = 40.0,
) -> Network:
    """A synthetic county road network centred near (lon, lat) (default: Zhaosu, Xinjiang).

    The same seed and arguments always give the same network. Villages (and one county town)
    are `Network.places`. The valley road is about 3 * n_villages**0.7 km long; `node_spacing_m` is the mean
    distance between road nodes along a road. Generated networks have no attribution.
    """
    if not isinstance(n_villages, (int, np.integer)) or n_villages < 1:
        raise ValueError(f"n_villages must be a positive integer, got {n_villages!r}")
    if not (-85 <= lat <= 85 and -180 <= lon <= 180):
        raise ValueError(f"centre (lon {lon}, lat {lat}) is not a valid position")
    if not 5 <= node_spacing_m <= 500:
        raise ValueError(f"node_spacing_m must be between 5 and 500 m, got {node_spacing_m}")
    b = _CountyBuilder(np.random.default_rng(seed), node_spacing_m)
    b.build(int(n_villages))
    proj = LocalProjection(lon, lat)
    lons, lats = proj.to_lonlat(np.array(b.x), np.array(b.y))
    ways = [
        RoadWay(
            node_ids=tuple(ids),
            coords=tuple(zip(lons[ids].tolist(), lats[ids].tolist())),
            road_class=cls,
            name=name,
            speed_kmh=DEFAULT_SPEED_KMH[cls],
            forward=fwd,
            backward=bwd,
        )
        for ids, cls, name, fwd, bwd in b.ways
    ]
    px, py = proj.to_lonlat(np.array([p[2] for p in b.places]), np.array([p[3] for p in b.places]))
    places = [Place(name, kind, float(x), float(y)) for (name, kind, _, _), x, y in zip(b.places, px, py)]
    return build_network(
        ways, places=places, attribution=None, source=f"generated county (seed {seed}, {n_villages} villages)"
    )


class _CountyBuilder:
    """Lays out roads in a local metric plane (x east, y north, metres)."""

    def __init__(self, rng: np.random.Generator, spacing: float):
        self.rng = rng
        self.spacing = spacing
        self.x: list[float] = []
        self.y: list[float] = []
        self.ways: list[tuple[list[int], str, str, bool, bool]] = []
        self.places: list[tuple[str, str, float, float]] = []
        self._names: set[str] = set()
        self._road_numbers: set[int] = set()

    # -- primitives ----------------------------------------------------------------------

    def node(self, x: float, y: float) -> int:
        self.x.append(float(x))
        self.y.append(float(y))
        return len(self.x) - 1

    def road(self, start: int, heading: float, length: float, wiggle: float) -> list[int]:
        """A winding road from an existing node: the heading drifts but returns to its course."""
        ids = [start]
        x, y, h = self.x[start], self.y[start], heading
        for _ in range(max(2, int(length / self.spacing))):
            h += -0.1 * (h - heading) + self.rng.normal(0, wiggle)
            step = self.spacing * self.rng.uniform(0.5, 1.5)
            x, y = x + step * math.cos(h), y + step * math.sin(h)
            ids.append(self.node(x, y))
        return ids

    def link(self, a: int, b: int, jitter: float = 3.0) -> list[int]:
        """A nearly straight road between two existing nodes."""
        dx, dy = self.x[b] - self.x[a], self.y[b] - self.y[a]
        n = max(1, int(math.hypot(dx, dy) / self.spacing))
        inner = [
            self.node(self.x[a] + dx * t + self.rng.normal(0, jitter), self.y[a] + dy * t + self.rng.normal(0, jitter))
            for t in (np.arange(1, n) / n)
        ]
        return [a, *inner, b]

    def way(self, ids: list[int], cls: str, name: str = "", fwd: bool = True, bwd: bool = True) -> list[int]:
        self.ways.append((ids, cls, name, fwd, bwd))
        return ids

    def heading_at(self, ids: list[int], i: int) -> float:
        j, k = max(0, i - 1), min(len(ids) - 1, i + 1)
        return math.atan2(self.y[ids[k]] - self.y[ids[j]], self.x[ids[k]] - self.x[ids[j]])

    def place_name(self) -> str:
        while True:
            n = self.rng.integers(2, 4)
            name = "".join(self.rng.choice(_SYLLABLES, n)).capitalize()
            if name not in self._names:
                self._names.add(name)
                return name

    def road_number(self, prefix: str) -> str:
        while True:
            number = int(self.rng.integers(100, 999))
            if number not in self._road_numbers:
                self._road_numbers.add(number)
                return f"{prefix}{number}"

    # -- the county ----------------------------------------------------------------------

    def build(self, n_villages: int) -> None:
        rng = self.rng
        valley_km = max(12.0, 3.0 * n_villages**0.7)
        heading = rng.uniform(-math.pi, math.pi)
        start = self.node(0, 0)
        backbone = self.way(self.road(start, heading, valley_km * 1000, 0.02), "primary", self.road_number("G"))
        hosts = [backbone]
        for _ in range(max(2, n_villages // 5)):
            parent = hosts[int(rng.integers(len(hosts)))]
            i = int(rng.integers(len(parent) // 10, len(parent) - len(parent) // 10))
            side = rng.choice([-1, 1]) * rng.uniform(0.6, 1.4)
            cls = "secondary" if parent is backbone else "tertiary"
            prefix = "S" if cls == "secondary" else "X"
            length = rng.uniform(3000, 3000 + 250 * n_villages ** 0.5 * 10)
            hosts.append(
                self.way(
                    self.road(parent[i], self.heading_at(parent, i) + side, length, 0.04),
                    cls,
                    self.road_number(prefix),
                )
            )
        self.town(backbone)
        lengths = np.array([len(h) for h in hosts], dtype=float)
        for _ in range(n_villages):
            host = hosts[int(rng.choice(len(hosts), p=lengths / lengths.sum()))]
            self.village(host, int(rng.integers(5, len(host) - 5)))
        self.loops(max(1, n_villages // 3))

    def town(self, backbone: list[int]) -> None:
        """A county town: a grid of streets beside the valley road, inner streets one-way."""
        i = len(backbone) // 3
        name = self.place_name()
        h = self.heading_at(backbone, i) + math.pi / 2
        block = 180.0
        ox = self.x[backbone[i]] + 150 * math.cos(h)
        oy = self.y[backbone[i]] + 150 * math.sin(h)
        ux, uy = math.cos(h - math.pi / 2), math.sin(h - math.pi / 2)  # along the valley
        vx, vy = math.cos(h), math.sin(h)  # away from it
        grid = [
            [self.node(ox + (c - 2) * block * ux + r * block * vx, oy + (c - 2) * block * uy + r * block * vy)
             for c in range(5)]
            for r in range(4)
        ]
        for r in range(4):
            inner = 0 < r < 3
            ids = [n for a, b in zip(grid[r][:-1], grid[r][1:]) for n in self.link(a, b)[:-1]] + [grid[r][-1]]
            self.way(ids, "residential", f"{name} {r + 1} Lu", fwd=not inner or r == 1, bwd=not inner or r == 2)
        for c in range(5):
            col = [grid[r][c] for r in range(4)]
            ids = [n for a, b in zip(col[:-1], col[1:]) for n in self.link(a, b)[:-1]] + [col[-1]]
            self.way(ids, "residential", f"{name} {c + 1} Jie")
        for c in (0, 4):  # two streets down to the valley road
            j = min(range(len(backbone)), key=lambda k: self._dist(backbone[k], grid[0][c]))
            self.way(self.link(grid[0][c], backbone[j]), "tertiary", f"{name} {c + 1} Jie")
        # the town square: the middle of a block, off the streets
        self.places.append((f"{name} Zhen", "town", ox + block * (0.5 * ux + 1.5 * vx), oy + block * (0.5 * uy + 1.5 * vy)))

    def village(self, host: list[int], i: int) -> None:
        """Streets across the host road joined by back lanes into small blocks, farm yards on
        service spurs, and tracks up to the pastures."""
        rng = self.rng
        name = self.place_name()
        step = max(2, int(120 / self.spacing))
        crossings = [j for j in (i + k * step for k in range(int(rng.integers(2, 6)))) if j < len(host) - 1]
        both_sides = rng.random() < 0.4
        streets = []
        for side in (1, -1) if both_sides else (1,):
            row = []
            for j in crossings:
                h = self.heading_at(host, j) + (math.pi / 2 if side > 0 else -math.pi / 2)
                street = self.road(host[j], h, rng.uniform(120, 300), 0.05)
                row.append(self.way(street, "residential", f"{name} Lu" if side > 0 else f"{name} Xiang"))
            for a, b in zip(row[:-1], row[1:]):  # back lanes and the odd middle lane make blocks
                if rng.random() < 0.8:
                    self.way(self.link(a[-1], b[-1]), "residential", f"{name} Hou Jie")
                if rng.random() < 0.3:
                    self.way(self.link(a[len(a) // 2], b[len(b) // 2]), "residential", f"{name} Zhong Jie")
            streets += row
        for _ in range(int(rng.integers(0, 3))):  # farm yards
            s = streets[int(rng.integers(len(streets)))]
            k = int(rng.integers(1, len(s)))
            h = self.heading_at(s, k) + rng.choice([-1, 1]) * math.pi / 2
            self.way(self.road(s[k], h, rng.uniform(40, 150), 0.1), "service")
        for _ in range(int(rng.integers(1, 3))):  # tracks to pastures
            s = streets[int(rng.integers(len(streets)))]
            track = self.way(self.road(s[-1], self.heading_at(s, len(s) - 1), rng.uniform(400, 2500), 0.12), "track")
            if rng.random() < 0.3:
                k = int(rng.integers(1, len(track) - 1))
                h = self.heading_at(track, k) + rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)
                self.way(self.road(track[k], h, rng.uniform(300, 1500), 0.12), "track")
        centre = host[i]
        h = self.heading_at(host, i) + math.pi / 2
        offset = rng.uniform(30, 150)
        self.places.append(
            (f"{name} Cun", "village", self.x[centre] + offset * math.cos(h), self.y[centre] + offset * math.sin(h))
        )

    def loops(self, n: int) -> None:
        """Join a few dead ends to a nearby road of another way: the county's few loops."""
        rng = self.rng
        tree = cKDTree(np.column_stack([self.x, self.y]))
        way_of = np.full(len(self.x), -1)
        for w, (ids, *_rest) in enumerate(self.ways):
            way_of[ids[1:]] = w
        dead_ends = [w for w, (ids, cls, *_r) in enumerate(self.ways) if cls == "track"]
        rng.shuffle(dead_ends)
        made = 0
        for w in dead_ends:
            if made == n:
                break
            end = self.ways[w][0][-1]
            near = tree.query_ball_point([self.x[end], self.y[end]], 3000)
            near = [k for k in near if way_of[k] not in (w, -1) and self._dist(k, end) > 300]
            if near:
                target = min(near, key=lambda k: self._dist(k, end))
                self.way(self.link(end, target, jitter=8), "unclassified", self.road_number("Y"))
                made += 1

    def _dist(self, a: int, b: int) -> float:
        return math.hypot(self.x[a] - self.x[b], self.y[a] - self.y[b])
