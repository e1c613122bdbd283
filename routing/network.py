"""Road networks: a directed, weighted drivable graph with degree-2 chains contracted.

A `Network` keeps every road node (for snapping and drawing) and groups the road segments into
*edges*: maximal chains between junctions (nodes that are not simple pass-through points). An edge
is the unit of closure (snow, landslide) and has a stable integer id. Every node of a network
belongs to its main strongly connected component, so any two nodes are mutually reachable while
no edge is closed.

Coordinates are WGS84 degrees as (lon, lat); lengths in metres; times in seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .geo import LocalProjection, haversine_m

OSM_ATTRIBUTION = "© OpenStreetMap contributors (https://www.openstreetmap.org/copyright)"
DEFAULT_MAX_SNAP_M = 2_000.0
_FORMAT_VERSION = 1

# Assumed travel speeds in km/h where a way has no usable maxspeed. Rural, mountain-ish values:
# a loaded truck, not the legal limit.
DEFAULT_SPEED_KMH: dict[str, float] = {
    "motorway": 90,
    "motorway_link": 50,
    "trunk": 70,
    "trunk_link": 40,
    "primary": 60,
    "primary_link": 40,
    "secondary": 50,
    "secondary_link": 35,
    "tertiary": 40,
    "tertiary_link": 30,
    "unclassified": 35,
    "road": 30,
    "residential": 25,
    "living_street": 10,
    "service": 15,
    "track": 15,
}


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
class RoadWay:
    """One road as read from a source, before it becomes part of a graph.

    `node_ids` are any hashable ids shared between ways where they meet; `coords` are the matching
    (lon, lat) pairs. `forward`/`backward` say in which directions (relative to the order of the
    nodes) a vehicle may drive. `speed_kmh` is the assumed travel speed.
    """

    node_ids: tuple
    coords: tuple[tuple[float, float], ...]
    road_class: str
    name: str
    speed_kmh: float
    forward: bool = True
    backward: bool = True

    def __post_init__(self):
        if len(self.node_ids) != len(self.coords):
            raise ValueError("RoadWay: node_ids and coords differ in length")
        if not self.speed_kmh > 0:
            raise ValueError(f"RoadWay: speed_kmh must be positive, got {self.speed_kmh}")
        if not (self.forward or self.backward):
            raise ValueError("RoadWay: a way must be drivable in at least one direction")


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
        x, y = self._node_xy()
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

    def _node_xy(self):
        if "xy" not in self._cache:
            self._cache["xy"] = self._projection().to_xy(self.node_lon, self.node_lat)
        return self._cache["xy"]

    def _kdtree(self):
        if "kdtree" not in self._cache:
            from scipy.spatial import cKDTree

            self._cache["kdtree"] = cKDTree(np.column_stack(self._node_xy()))
        return self._cache["kdtree"]

    # -- persistence ---------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the network to an uncompressed .npz file (fast to load); returns the path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        np.savez(
            path,
            format_version=np.array(_FORMAT_VERSION),
            node_lon=self.node_lon,
            node_lat=self.node_lat,
            edge_ptr=self.edge_ptr,
            edge_nodes=self.edge_nodes,
            edge_forward=self.edge_forward,
            edge_backward=self.edge_backward,
            seg_length_dm=self.seg_length_dm,
            seg_time_ds=self.seg_time_ds,
            seg_road=self.seg_road,
            seg_class=self.seg_class,
            road_names=np.array(self.road_names or [""], dtype=str),
            road_classes=np.array(self.road_classes or [""], dtype=str),
            place_name=np.array([p.name for p in self.places], dtype=str),
            place_kind=np.array([p.kind for p in self.places], dtype=str),
            place_lon=np.array([p.lon for p in self.places], dtype=float),
            place_lat=np.array([p.lat for p in self.places], dtype=float),
            attribution=np.array(self.attribution or ""),
            source=np.array(self.source),
            scc_share=np.array(self.scc_share),
            closed_edges=np.array(sorted(self.closed_edges), dtype=np.int64),
        )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Network":
        """Read a network written by `save`."""
        with np.load(path, allow_pickle=False) as z:
            version = int(z["format_version"])
            if version != _FORMAT_VERSION:
                raise ValueError(f"{path}: network format {version}, expected {_FORMAT_VERSION}")
            places = [
                Place(str(n), str(k), float(x), float(y))
                for n, k, x, y in zip(z["place_name"], z["place_kind"], z["place_lon"], z["place_lat"])
            ]
            return cls(
                node_lon=z["node_lon"],
                node_lat=z["node_lat"],
                edge_ptr=z["edge_ptr"],
                edge_nodes=z["edge_nodes"],
                edge_forward=z["edge_forward"],
                edge_backward=z["edge_backward"],
                seg_length_dm=z["seg_length_dm"],
                seg_time_ds=z["seg_time_ds"],
                seg_road=z["seg_road"],
                seg_class=z["seg_class"],
                road_names=z["road_names"].tolist(),
                road_classes=z["road_classes"].tolist(),
                places=places,
                attribution=str(z["attribution"]) or None,
                source=str(z["source"]),
                scc_share=float(z["scc_share"]),
                closed_edges=z["closed_edges"].tolist(),
            )


def load_network(path: str | os.PathLike, **osm_options) -> Network:
    """Load a network from an OpenStreetMap extract (.osm.pbf, .osm) or a saved .npz file.

    `osm_options` go to `routing.osm.read_osm` (e.g. `exclude_classes=("track",)`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such network file: {path}")
    if path.suffix == ".npz":
        return Network.load(path)
    if path.name.endswith((".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz")):
        from .osm import read_osm

        return read_osm(path, **osm_options)
    raise ValueError(f"{path}: unknown network format (expected .osm.pbf, .osm or .npz)")


# -- building ------------------------------------------------------------------------------


def build_network(
    ways: Iterable[RoadWay],
    *,
    places: Sequence[Place] = (),
    attribution: str | None = None,
    source: str = "",
) -> Network:
    """Build a `Network` from roads: keep the main strongly connected component, contract
    degree-2 chains into edges. Ways meet where they share node ids."""
    index: dict = {}
    lons: list[float] = []
    lats: list[float] = []
    seg_a: list[int] = []
    seg_b: list[int] = []
    seg_way: list[int] = []
    way_list = list(ways)
    for w, way in enumerate(way_list):
        prev = None
        for nid, (lon, lat) in zip(way.node_ids, way.coords):
            i = index.get(nid)
            if i is None:
                i = index[nid] = len(lons)
                lons.append(lon)
                lats.append(lat)
            if prev is not None and prev != i:
                seg_a.append(prev)
                seg_b.append(i)
                seg_way.append(w)
            prev = i
    if not seg_a:
        raise ValueError("no drivable road segments")
    lon = np.array(lons)
    lat = np.array(lats)
    a = np.array(seg_a, dtype=np.int64)
    b = np.array(seg_b, dtype=np.int64)
    sw = np.array(seg_way, dtype=np.int64)
    fwd = np.array([w.forward for w in way_list], dtype=bool)[sw]
    bwd = np.array([w.backward for w in way_list], dtype=bool)[sw]

    # main strongly connected component
    n = len(lon)
    tails = np.concatenate([a[fwd], b[bwd]])
    heads = np.concatenate([b[fwd], a[bwd]])
    graph = coo_matrix((np.ones(len(tails)), (tails, heads)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=True, connection="strong")
    main = np.argmax(np.bincount(labels))
    keep_node = labels == main
    keep_seg = keep_node[a] & keep_node[b]
    new_id = np.cumsum(keep_node) - 1
    a, b, sw, fwd, bwd = new_id[a[keep_seg]], new_id[b[keep_seg]], sw[keep_seg], fwd[keep_seg], bwd[keep_seg]
    lon, lat = lon[keep_node], lat[keep_node]

    length_m = haversine_m(lon[a], lat[a], lon[b], lat[b])
    speed = np.array([w.speed_kmh for w in way_list])[sw]
    names = sorted({w.name for w in way_list})
    classes = sorted({w.road_class for w in way_list})
    name_id = {s: i for i, s in enumerate(names)}
    class_id = {s: i for i, s in enumerate(classes)}
    way_name = np.array([name_id[w.name] for w in way_list], dtype=np.int32)[sw]
    way_class = np.array([class_id[w.road_class] for w in way_list], dtype=np.int16)[sw]

    order, edge_ptr, edge_nodes, edge_fwd, edge_bwd = _contract(len(lon), a, b, fwd, bwd)
    length_m = length_m[order]
    return Network(
        node_lon=lon,
        node_lat=lat,
        edge_ptr=edge_ptr,
        edge_nodes=edge_nodes,
        edge_forward=edge_fwd,
        edge_backward=edge_bwd,
        seg_length_dm=np.rint(length_m * 10),
        seg_time_ds=np.rint(length_m / (speed[order] / 3.6) * 10),
        seg_road=way_name[order],
        seg_class=way_class[order],
        road_names=names,
        road_classes=classes,
        places=places,
        attribution=attribution,
        source=source,
        scc_share=keep_node.mean(),
    )


def _contract(n: int, a, b, fwd, bwd):
    """Group segments into maximal chains through pass-through nodes.

    A node is passed through when it has exactly two segments, to two different neighbours, that
    allow the same directions of travel through it. Returns the order in which the edges walk
    the segments, and the edge arrays (segment attributes are the same both ways).
    """
    a_l, b_l, f_l, r_l = a.tolist(), b.tolist(), fwd.tolist(), bwd.tolist()
    incident: list[list[int]] = [[] for _ in range(n)]
    for s, (u, v) in enumerate(zip(a_l, b_l)):
        incident[u].append(s)
        incident[v].append(s)

    def other(s, u):
        return b_l[s] if a_l[s] == u else a_l[s]

    def oriented(s, u):  # directions allowed walking segment s away from node u
        return (f_l[s], r_l[s]) if a_l[s] == u else (r_l[s], f_l[s])

    passthrough = [False] * n
    for u in range(n):
        inc = incident[u]
        if len(inc) == 2:
            x, y = other(inc[0], u), other(inc[1], u)
            if x != y and oriented(inc[0], x) == oriented(inc[1], u):
                passthrough[u] = True

    visited = [False] * len(a_l)
    order: list[int] = []
    edge_ptr = [0]
    edge_nodes: list[int] = []
    edge_fwd: list[bool] = []
    edge_bwd: list[bool] = []

    def walk(start, s):
        f, r = oriented(s, start)
        edge_fwd.append(f)
        edge_bwd.append(r)
        edge_nodes.append(start)
        u = start
        while True:
            visited[s] = True
            order.append(s)
            u = other(s, u)
            edge_nodes.append(u)
            if not passthrough[u] or u == start:
                break
            s0, s1 = incident[u]
            s = s1 if s0 == s else s0
        edge_ptr.append(len(order))

    for u in range(n):
        if not passthrough[u]:
            for s in incident[u]:
                if not visited[s]:
                    walk(u, s)
    for s in range(len(a_l)):  # isolated rings of pass-through nodes
        if not visited[s]:
            passthrough[a_l[s]] = False
            walk(a_l[s], s)
    return (
        np.array(order, dtype=np.int64),
        np.array(edge_ptr, dtype=np.int64),
        np.array(edge_nodes, dtype=np.int64),
        np.array(edge_fwd, dtype=bool),
        np.array(edge_bwd, dtype=bool),
    )


# -- statistics ----------------------------------------------------------------------------


def network_stats(network: Network) -> dict:
    """Figures describing a network, comparable with shared/data/roads/STATS.md.

    Keys: nodes, segments, edges, junctions, closed_edges, road_km, road_km_by_class,
    degree2_share (full graph), contracted_degree_share ({1: share, 3: ..., 4: ...}),
    edge_length_m (median, p90, max), hull_km2, density_km_per_km2, scc_share, oneway_edges,
    cycles, places, attribution, source.
    """
    net = network
    seg_edge = net.edge_of_segment()
    first = net.node_ptr[:-1]
    last = net.node_ptr[1:] - 1
    start = np.arange(net.n_segments) + seg_edge
    # undirected degree of each road node, counting distinct neighbours
    u = net.edge_nodes[start]
    v = net.edge_nodes[start + 1]
    pairs = np.unique(np.sort(np.column_stack([u, v]), axis=1), axis=0)
    degree = np.bincount(pairs.ravel(), minlength=net.n_nodes)
    ends = np.concatenate([net.edge_nodes[first], net.edge_nodes[last]])
    junctions = np.unique(ends)
    cdeg = np.bincount(ends, minlength=net.n_nodes)[junctions]
    by_class = np.bincount(net.seg_class, weights=net.seg_length_dm / 1e4, minlength=len(net.road_classes))
    lengths = net.edge_length_m()
    hull_km2 = _hull_km2(net)
    road_km = float(net.seg_length_dm.sum() / 1e4)
    n_comp = connected_components(
        coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(net.n_nodes,) * 2),
        directed=False,
    )[0]
    return {
        "source": net.source,
        "nodes": net.n_nodes,
        "segments": int(len(pairs)),
        "edges": net.n_edges,
        "junctions": int(len(junctions)),
        "closed_edges": len(net.closed_edges),
        "road_km": round(road_km, 1),
        "road_km_by_class": {
            c: round(float(k), 1)
            for k, c in sorted(zip(by_class, net.road_classes), reverse=True)
            if k > 0
        },
        "degree2_share": round(float(np.mean(degree == 2)), 3),
        "contracted_degree_share": {
            int(d): round(float(np.mean(cdeg == d)), 3) for d in np.unique(np.minimum(cdeg, 5))
        },
        "edge_length_m": {
            "median": round(float(np.median(lengths)), 1),
            "p90": round(float(np.percentile(lengths, 90)), 1),
            "max": round(float(lengths.max()), 1),
        },
        "hull_km2": round(hull_km2, 1),
        "density_km_per_km2": round(road_km / hull_km2, 3) if hull_km2 > 0 else None,
        "scc_share": round(net.scc_share, 3),
        "oneway_edges": int(np.sum(net.edge_forward != net.edge_backward)),
        "cycles": int(net.n_edges - len(junctions) + n_comp),
        "places": len(net.places),
        "attribution": net.attribution,
    }


def _hull_km2(net: Network) -> float:
    from scipy.spatial import ConvexHull

    x, y = net._node_xy()
    if net.n_nodes < 3:
        return 0.0
    try:
        return float(ConvexHull(np.column_stack([x, y])).volume / 1e6)
    except Exception:  # collinear points: no area
        return 0.0


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
