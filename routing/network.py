"""Road networks: a directed, weighted drivable graph with degree-2 chains contracted.

A `Network` keeps every road node (for snapping and drawing) and groups the road segments into
*edges*: maximal chains between junctions (nodes that are not simple pass-through points). An edge
is the unit of closure (snow, landslide) and has a stable integer id. Every node of a network
belongs to its main strongly connected component, so any two nodes are mutually reachable while
no edge is closed.

This module holds the type and its queries (snapping, closures, drawing). Networks are built in
`routing.build`, read from OpenStreetMap in `routing.osm`, saved and loaded in `routing.store`,
and described in `routing.stats`.

Coordinates are WGS84 degrees as (lon, lat); lengths in metres; times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .geo import LocalProjection, haversine_m

DEFAULT_MAX_SNAP_M = 2_000.0


class SnapError(ValueError):
    """A point cannot be placed on the network (too far from any road of the main component)."""

    def __init__(self, message: str, point: tuple[float, float], name: str | None = None):
        super().__init__(message)
        self.point = point
        self.name = name


@dataclass(frozen=True)
class Place:
    """A named settlement (town, village, hamlet): somewhere to put farms and hubs."""

    name: str
    kind: str
    lon: float
    lat: float



@dataclass(frozen=True)
class Snap:
    """A point placed on the network: the road node and the straight distance to it in metres."""

    node: int
    distance_m: float


@dataclass(frozen=True)
class EdgeLine:
    """An edge drawn as a polyline of (lon, lat) pairs."""

    edge: int
    road: str
    road_class: str
    coords: tuple[tuple[float, float], ...]


class Network:
    """A drivable road network (immutable; closures give a new `Network` sharing the arrays).

    Nodes are indexed 0..n_nodes-1. Edge `e` runs through the nodes
    `edge_nodes[node_ptr[e]:node_ptr[e+1]]` and consists of the segments
    `edge_ptr[e]:edge_ptr[e+1]` (segment-level lengths, times, road names and classes).
    `edge_forward[e]` allows driving from its first to its last node, `edge_backward[e]` the reverse.
    Segment lengths are kept in decimetres and times in deciseconds (integers) so that any sum of
    them is exact and paths add up to the matrices.
    """

    def __init__(
        self,
        *,
        node_lon: np.ndarray,
        node_lat: np.ndarray,
        edge_ptr: np.ndarray,
        edge_nodes: np.ndarray,
        edge_forward: np.ndarray,
        edge_backward: np.ndarray,
        seg_length_dm: np.ndarray,
        seg_time_ds: np.ndarray,
        seg_road: np.ndarray,
        seg_class: np.ndarray,
        road_names: Sequence[str],
        road_classes: Sequence[str],
        places: Sequence[Place] = (),
        attribution: str | None = None,
        source: str = "",
        scc_share: float = 1.0,
        closed_edges: Iterable[int] = (),
    ):
        self.node_lon = _frozen(node_lon, np.float64)
        self.node_lat = _frozen(node_lat, np.float64)
        self.edge_ptr = _frozen(edge_ptr, np.int64)
        self.edge_nodes = _frozen(edge_nodes, np.int64)
        self.edge_forward = _frozen(edge_forward, bool)
        self.edge_backward = _frozen(edge_backward, bool)
        self.seg_length_dm = _frozen(seg_length_dm, np.int64)
        self.seg_time_ds = _frozen(seg_time_ds, np.int64)
        self.seg_road = _frozen(seg_road, np.int32)
        self.seg_class = _frozen(seg_class, np.int16)
        self.road_names = tuple(road_names)
        self.road_classes = tuple(road_classes)
        self.places = tuple(places)
        self.attribution = attribution or None
        self.source = source
        self.scc_share = float(scc_share)
        self.node_ptr = _frozen(self.edge_ptr + np.arange(len(self.edge_ptr)), np.int64)
        closed = frozenset(int(e) for e in closed_edges)
        bad = [e for e in closed if not 0 <= e < self.n_edges]
        if bad:
            raise ValueError(f"unknown edge id(s) {sorted(bad)[:5]}: edges are 0..{self.n_edges - 1}")
        self.closed_edges = closed
        self._cache: dict = {}

    # -- size and shape ------------------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        return len(self.node_lon)

    @property
    def n_edges(self) -> int:
        return len(self.edge_ptr) - 1

    @property
    def n_segments(self) -> int:
        return len(self.seg_length_dm)

    def __repr__(self) -> str:
        return (
            f"Network({self.source or 'unnamed'!r}, nodes={self.n_nodes}, edges={self.n_edges}, "
            f"closed={len(self.closed_edges)})"
        )

    def edge_of_segment(self) -> np.ndarray:
        """Edge id of every segment (array of length n_segments)."""
        if "seg_edge" not in self._cache:
            self._cache["seg_edge"] = np.repeat(np.arange(self.n_edges), np.diff(self.edge_ptr))
        return self._cache["seg_edge"]

    def edge_length_m(self) -> np.ndarray:
        """Length of every edge in metres."""
        cum = np.concatenate([[0], np.cumsum(self.seg_length_dm)])
        return (cum[self.edge_ptr[1:]] - cum[self.edge_ptr[:-1]]) / 10.0

    def edge_coords(self, edge: int) -> list[tuple[float, float]]:
        """The (lon, lat) polyline of one edge, from its first to its last node."""
        nodes = self.edge_nodes[self.node_ptr[edge] : self.node_ptr[edge + 1]]
        return list(zip(self.node_lon[nodes].tolist(), self.node_lat[nodes].tolist()))

    def edge_polylines(
        self, bbox: tuple[float, float, float, float] | None = None, tolerance_m: float = 0.0
    ) -> list[EdgeLine]:
        """All edges as polylines for drawing a background map.

        `bbox` is (min_lon, min_lat, max_lon, max_lat): only edges with a node inside are returned.
        `tolerance_m` > 0 simplifies each line (Douglas-Peucker) to that many metres.
        """
        if tolerance_m < 0:
            raise ValueError(f"tolerance_m must be >= 0, got {tolerance_m}")
        edges = range(self.n_edges)
        if bbox is not None:
            min_lon, min_lat, max_lon, max_lat = bbox
            if not (min_lon <= max_lon and min_lat <= max_lat):
                raise ValueError(f"bbox must be (min_lon, min_lat, max_lon, max_lat), got {bbox}")
            inside = (
                (self.node_lon >= min_lon) & (self.node_lon <= max_lon)
                & (self.node_lat >= min_lat) & (self.node_lat <= max_lat)
            )
            pos_edge = np.repeat(np.arange(self.n_edges), np.diff(self.node_ptr))
            edges = np.unique(pos_edge[inside[self.edge_nodes]]).tolist()
        proj = self._projection()
        lines = []
        for e in edges:
            nodes = self.edge_nodes[self.node_ptr[e] : self.node_ptr[e + 1]]
            if tolerance_m > 0 and len(nodes) > 2:
                x, y = proj.to_xy(self.node_lon[nodes], self.node_lat[nodes])
                nodes = nodes[_douglas_peucker(x, y, tolerance_m)]
            seg = self.edge_ptr[e]
            lines.append(
                EdgeLine(
                    edge=int(e),
                    road=self.road_names[self.seg_road[seg]],
                    road_class=self.road_classes[self.seg_class[seg]],
                    coords=tuple(zip(self.node_lon[nodes].tolist(), self.node_lat[nodes].tolist())),
                )
            )
        return lines

    def cached(self, key: str, make):
        """`make()` computed once for this network's geometry and kept: copies with other closures
        share it, so it must not depend on which edges are closed."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    # -- closures ------------------------------------------------------------------------

    def close_edges(self, edges: Iterable[int]) -> "Network":
        """A copy of this network with the given edges closed in both directions (in addition to
        those already closed). Matrices and paths on the copy avoid them."""
        return self._with_closed(self.closed_edges | {int(e) for e in edges})

    def reopen_edges(self, edges: Iterable[int] | None = None) -> "Network":
        """A copy with the given edges (default: all) open again."""
        keep = frozenset() if edges is None else self.closed_edges - {int(e) for e in edges}
        return self._with_closed(keep)

    def close_nearest_edge(self, lon: float, lat: float) -> "Network":
        """A copy with the edge nearest to the point (lon, lat) closed."""
        return self.close_edges([self.nearest_edge(lon, lat)])

    def nearest_edge(self, lon: float, lat: float) -> int:
        """Id of the edge whose geometry passes nearest to (lon, lat)."""
        _check_point(lon, lat)
        proj = self._projection()
        px, py = proj.to_xy(lon, lat)
        x, y = self.node_xy()
        nodes = self.edge_nodes
        # segment k of edge e runs between flat positions k + e and k + e + 1
        start = np.arange(self.n_segments) + self.edge_of_segment()
        ax, ay = x[nodes[start]], y[nodes[start]]
        bx, by = x[nodes[start + 1]], y[nodes[start + 1]]
        dx, dy = bx - ax, by - ay
        norm = dx * dx + dy * dy
        t = np.where(norm > 0, ((px - ax) * dx + (py - ay) * dy) / np.where(norm > 0, norm, 1), 0)
        t = np.clip(t, 0, 1)
        d2 = (ax + t * dx - px) ** 2 + (ay + t * dy - py) ** 2
        return int(self.edge_of_segment()[int(np.argmin(d2))])

    def _with_closed(self, closed: frozenset) -> "Network":
        twin = object.__new__(Network)
        twin.__dict__.update(self.__dict__)
        bad = [e for e in closed if not 0 <= e < self.n_edges]
        if bad:
            raise ValueError(f"unknown edge id(s) {sorted(bad)[:5]}: edges are 0..{self.n_edges - 1}")
        twin.closed_edges = frozenset(closed)
        # geometry caches are shared; anything that depends on closures is keyed by them
        twin._cache = self._cache
        return twin

    # -- snapping ------------------------------------------------------------------------

    def snap(
        self, lon: float, lat: float, *, max_snap_m: float = DEFAULT_MAX_SNAP_M, name: str | None = None
    ) -> Snap:
        """Place a point on the nearest road node; raise `SnapError` beyond `max_snap_m` metres.

        Every node belongs to the main strongly connected component, so a snapped point is
        reachable from every other one unless edges are closed.
        """
        return self.snap_many([(lon, lat)], max_snap_m=max_snap_m, names=None if name is None else [name])[0]

    def snap_many(
        self,
        points: Sequence[tuple[float, float]],
        *,
        max_snap_m: float = DEFAULT_MAX_SNAP_M,
        names: Sequence[str] | None = None,
    ) -> list[Snap]:
        """Snap many (lon, lat) points at once (see `snap`). `names` label points in errors."""
        if not max_snap_m > 0:
            raise ValueError(f"max_snap_m must be positive, got {max_snap_m}")
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        if names is not None and len(names) != len(pts):
            raise ValueError(f"{len(names)} names for {len(pts)} points")
        for i, (lon, lat) in enumerate(pts):
            _check_point(lon, lat, names[i] if names is not None else None)
        if len(pts) == 0:
            return []
        x, y = self._projection().to_xy(pts[:, 0], pts[:, 1])
        _, idx = self._kdtree().query(np.column_stack([x, y]))
        dist = haversine_m(pts[:, 0], pts[:, 1], self.node_lon[idx], self.node_lat[idx])
        snaps = []
        for i, (node, d) in enumerate(zip(idx.tolist(), dist.tolist())):
            if d > max_snap_m:
                label = names[i] if names is not None else f"point {i}"
                point = (float(pts[i, 0]), float(pts[i, 1]))
                raise SnapError(
                    f"{label} at (lon {point[0]:.6f}, lat {point[1]:.6f}) is {d:,.0f} m from the "
                    f"nearest road of the network (max {max_snap_m:,.0f} m)",
                    point,
                    names[i] if names is not None else None,
                )
            snaps.append(Snap(node=int(node), distance_m=float(d)))
        return snaps

    def _projection(self) -> LocalProjection:
        if "proj" not in self._cache:
            self._cache["proj"] = LocalProjection(
                float(np.mean(self.node_lon)) if self.n_nodes else 0.0,
                float(np.mean(self.node_lat)) if self.n_nodes else 0.0,
            )
        return self._cache["proj"]

    def node_xy(self):
        """Node positions in metres on the network's local projection: arrays (x, y)."""
        if "xy" not in self._cache:
            self._cache["xy"] = self._projection().to_xy(self.node_lon, self.node_lat)
        return self._cache["xy"]

    def _kdtree(self):
        if "kdtree" not in self._cache:
            from scipy.spatial import cKDTree

            self._cache["kdtree"] = cKDTree(np.column_stack(self.node_xy()))
        return self._cache["kdtree"]


# -- helpers -------------------------------------------------------------------------------


def _frozen(values, dtype) -> np.ndarray:
    arr = np.array(values, dtype=dtype)
    arr.flags.writeable = False
    return arr


def _check_point(lon, lat, name: str | None = None) -> None:
    if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        label = f"{name}: " if name else ""
        raise ValueError(f"{label}invalid point (lon {lon}, lat {lat}): expected degrees as (lon, lat)")


def _douglas_peucker(x: np.ndarray, y: np.ndarray, tolerance: float) -> np.ndarray:
    """Indices of the points kept when simplifying a polyline to `tolerance` (same units)."""
    keep = np.zeros(len(x), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(x) - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        dx, dy = x[j] - x[i], y[j] - y[i]
        norm = np.hypot(dx, dy)
        px, py = x[i + 1 : j] - x[i], y[i + 1 : j] - y[i]
        d = np.abs(px * dy - py * dx) / norm if norm > 0 else np.hypot(px, py)
        k = int(np.argmax(d))
        if d[k] > tolerance:
            keep[i + 1 + k] = True
            stack += [(i, i + 1 + k), (i + 1 + k, j)]
    return np.flatnonzero(keep)
