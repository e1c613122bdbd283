"""Building a `Network` from roads: keep the main strongly connected component, contract
degree-2 chains into edges.

Coordinates are WGS84 degrees as (lon, lat); lengths in metres; times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .geo import haversine_m
from .network import Network, Place

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
