"""Travel-time and distance matrices between snapped points, and road paths for route sheets.

Shortest paths minimise travel time; the distance reported for a pair is the length of that
fastest path. Both are exact sums of the network's integer segment values (decimetres,
deciseconds), so a path's legs add up to its matrix entry.

How: the network's contracted edges are split at the snapped nodes, giving a small graph
(junctions + points) on which scipy's multi-source Dijkstra runs. Time and length travel together
in one float64 weight, `time_ds * 2**28 + length_dm`, which is exact below 2**53: the fastest path
wins and, among equally fast ones, the shortest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .model import UNREACHABLE  # the solver's "no road" value, so matrices plug straight in
from .network import Network


_LENGTH_BITS = 28  # decimetres: paths up to 26,843 km
_SHIFT = float(2**_LENGTH_BITS)
_MAX_TIME_DS = 2 ** (53 - _LENGTH_BITS)  # about 932 hours


class NoRoute(ValueError):
    """No open road leads from one point to the other."""


@dataclass(frozen=True)
class TravelMatrix:
    """Directed matrices between points: entry [i, j] is from point i to point j.

    `travel_time_s` (integer seconds) and `distance_m` (integer metres) are int64 arrays holding
    `UNREACHABLE` where j cannot be reached from i; `reachable` is the boolean mask.
    `nodes` are the network nodes of the points, in order.
    """

    nodes: np.ndarray
    travel_time_s: np.ndarray
    distance_m: np.ndarray
    reachable: np.ndarray

    @property
    def unreachable_pairs(self) -> list[tuple[int, int]]:
        """(from, to) point indices with no open road between them."""
        return [(int(i), int(j)) for i, j in zip(*np.nonzero(~self.reachable))]

    def cut_off(self, origin: int = 0) -> list[int]:
        """Points that cannot be reached from `origin` (e.g. the hub) or cannot get back to it."""
        if not 0 <= origin < len(self.nodes):
            raise ValueError(f"origin {origin} is not a point index (0..{len(self.nodes) - 1})")
        ok = self.reachable[origin, :] & self.reachable[:, origin]
        return np.flatnonzero(~ok).tolist()


@dataclass(frozen=True)
class Leg:
    """A stretch of a path along one road: `road` is its ref or name ("" if unnamed)."""

    road: str
    road_class: str
    distance_m: float
    travel_time_s: float
    coords: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class RoadPath:
    """The fastest road path between two nodes, as legs along named roads.

    `distance_m` and `travel_time_s` are the integer totals, equal to the matrix entries.
    """

    from_node: int
    to_node: int
    distance_m: int
    travel_time_s: int
    legs: tuple[Leg, ...]

    @property
    def coords(self) -> list[tuple[float, float]]:
        """The whole path as one (lon, lat) polyline."""
        out: list[tuple[float, float]] = []
        for leg in self.legs:
            out.extend(leg.coords if not out else leg.coords[1:])
        return out


def travel_matrix(
    network: Network, nodes: Sequence[int], destinations: Sequence[int] | None = None
) -> TravelMatrix:
    """Directed travel times (s) and distances (m) from every node in `nodes` to every node in
    `destinations` (default: `nodes` again), avoiding closed edges.

    Nodes are network node indices, typically `Snap.node` from `Network.snap_many`.
    """
    origins = _check_nodes(network, nodes, "nodes")
    targets = origins if destinations is None else _check_nodes(network, destinations, "destinations")
    if len(origins) == 0 or len(targets) == 0:
        empty = np.zeros((len(origins), len(targets)), dtype=np.int64)
        return TravelMatrix(origins, empty, empty.copy(), np.ones(empty.shape, dtype=bool))
    graph = _SplitGraph(network, np.concatenate([origins, targets]))
    uniq, inverse = np.unique(origins, return_inverse=True)
    weights = dijkstra(graph.csgraph, directed=True, indices=graph.compact[uniq])
    weights = weights[np.ix_(inverse, graph.compact[targets])]
    reachable = np.isfinite(weights)
    time_ds, length_dm = _decode(np.where(reachable, weights, 0))
    travel_time_s = np.where(reachable, np.rint(time_ds / 10), UNREACHABLE).astype(np.int64)
    distance_m = np.where(reachable, np.rint(length_dm / 10), UNREACHABLE).astype(np.int64)
    return TravelMatrix(origins, travel_time_s, distance_m, reachable)


def shortest_path(network: Network, from_node: int, to_node: int) -> RoadPath:
    """The fastest open road path between two network nodes, with legs per road.

    Raises `NoRoute` when closed edges cut one off from the other.
    """
    ends = _check_nodes(network, [from_node, to_node], "nodes")
    graph = _SplitGraph(network, ends)
    src, dst = graph.compact[ends]
    weights, pred = dijkstra(graph.csgraph, directed=True, indices=src, return_predecessors=True)
    if not np.isfinite(weights[dst]):
        raise NoRoute(f"no open road from node {from_node} to node {to_node}")
    chain = [dst]
    while chain[-1] != src:
        chain.append(pred[chain[-1]])
    chain.reverse()
    positions: list[np.ndarray] = []
    for u, v in zip(chain[:-1], chain[1:]):
        positions.append(graph.piece_positions(u, v))
    time_ds, length_dm = _decode(weights[dst])
    legs = _legs(network, positions)
    return RoadPath(
        from_node=int(from_node),
        to_node=int(to_node),
        distance_m=int(np.rint(length_dm / 10)),
        travel_time_s=int(np.rint(time_ds / 10)),
        legs=tuple(legs),
    )


def shortest_paths(network: Network, pairs: Sequence[tuple[int, int]],
                   travel_times_s: Sequence[int] | None = None,
                   sources_at_once: int = 64) -> list[RoadPath | None]:
    """`shortest_path` for many (from_node, to_node) pairs at once: one graph split at every end
    and one Dijkstra per distinct origin, run in batches. With each pair's travel time (from the
    travel matrix) each search stops once past it, so a plan's thousands of short hops take
    seconds. None where closed edges cut the pair apart (or it takes longer than its time)."""
    if not len(pairs):
        return []
    flat = _check_nodes(network, [n for pair in pairs for n in pair], "nodes")
    graph = _SplitGraph(network, flat)
    src = graph.compact[flat[0::2]]
    dst = graph.compact[flat[1::2]]
    out: list[RoadPath | None] = [None] * len(pairs)
    origins = np.unique(src)
    bound = np.full(len(origins), np.inf)
    if travel_times_s is not None:
        times = np.asarray(travel_times_s, dtype=float)
        times = np.where(times >= UNREACHABLE, np.inf, times)
        bound[:] = -np.inf
        np.maximum.at(bound, np.searchsorted(origins, src), (times * 10 + 11) * _SHIFT)
        origins = origins[np.argsort(bound, kind="stable")]
        bound = np.sort(bound)
    for k in range(0, len(origins), sources_at_once):
        batch = origins[k:k + sources_at_once]
        weights, pred = dijkstra(graph.csgraph, directed=True, indices=batch,
                                 return_predecessors=True, limit=float(bound[k:k + sources_at_once].max()))
        row_of = {int(o): r for r, o in enumerate(batch)}
        for i in np.flatnonzero(np.isin(src, batch)):
            r = row_of[int(src[i])]
            out[i] = _path_of(network, graph, int(src[i]), int(dst[i]), weights[r], pred[r],
                              int(flat[2 * i]), int(flat[2 * i + 1]))
    return out


def _path_of(network, graph, src, dst, weights, pred, from_node, to_node) -> RoadPath | None:
    if not np.isfinite(weights[dst]):
        return None
    chain = [dst]
    while chain[-1] != src:
        chain.append(pred[chain[-1]])
    chain.reverse()
    positions = [graph.piece_positions(u, v) for u, v in zip(chain[:-1], chain[1:])]
    time_ds, length_dm = _decode(weights[dst])
    return RoadPath(from_node=from_node, to_node=to_node, distance_m=int(np.rint(length_dm / 10)),
                    travel_time_s=int(np.rint(time_ds / 10)), legs=tuple(_legs(network, positions)))


class _SplitGraph:
    """The contracted network split at extra nodes: nodes are junctions and the extra nodes,
    arcs are open pieces of edges between them (fastest kept per node pair)."""

    def __init__(self, net: Network, extra: np.ndarray):
        seq = net.edge_nodes
        first, last = net.node_ptr[:-1], net.node_ptr[1:] - 1
        kept = np.zeros(len(seq), dtype=bool)
        kept[first] = True
        kept[last] = True
        is_extra = np.zeros(net.n_nodes, dtype=bool)
        is_extra[extra] = True
        kept |= is_extra[seq]
        pos_edge, cum_len, cum_time = _flat_cumsums(net)
        p = np.flatnonzero(kept)
        p, q = p[:-1], p[1:]
        edge = pos_edge[p]
        same = edge == pos_edge[q]
        if net.closed_edges:
            same &= ~np.isin(edge, np.fromiter(net.closed_edges, dtype=np.int64))
        p, q, edge = p[same], q[same], edge[same]
        alive = _without_dead_ends(seq[p], seq[q], is_extra)
        p, q, edge = p[alive], q[alive], edge[alive]
        weight = (cum_time[q] - cum_time[p]) * _SHIFT + (cum_len[q] - cum_len[p])
        weight = np.maximum(weight, 1.0)  # scipy drops zero weights
        fwd, bwd = net.edge_forward[edge], net.edge_backward[edge]
        tail = np.concatenate([seq[p[fwd]], seq[q[bwd]]])
        head = np.concatenate([seq[q[fwd]], seq[p[bwd]]])
        start = np.concatenate([p[fwd], q[bwd]])
        end = np.concatenate([q[fwd], p[bwd]])
        w = np.concatenate([weight[fwd], weight[bwd]])

        nodes = np.unique(np.concatenate([seq[p], seq[q], extra]))
        compact = np.full(net.n_nodes, -1, dtype=np.int64)
        compact[nodes] = np.arange(len(nodes))
        u, v = compact[tail], compact[head]
        # several pieces may join the same two nodes: keep the fastest (scipy would add them up)
        order = np.lexsort((w, v, u))
        u, v, w, start, end = u[order], v[order], w[order], start[order], end[order]
        first_of_pair = np.ones(len(u), dtype=bool)
        first_of_pair[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        self.u, self.v = u[first_of_pair], v[first_of_pair]
        self.start, self.end = start[first_of_pair], end[first_of_pair]
        n = len(nodes)
        self.csgraph = csr_matrix((w[first_of_pair], (self.u, self.v)), shape=(n, n))
        self.compact = compact
        self._keys = self.u * n + self.v
        self._n = n

    def piece_positions(self, u: int, v: int) -> np.ndarray:
        """Flat positions (into edge_nodes) walked along the arc u -> v, in travel order."""
        i = int(np.searchsorted(self._keys, u * self._n + v))
        s, e = int(self.start[i]), int(self.end[i])
        return np.arange(s, e + 1) if s <= e else np.arange(s, e - 1, -1)


def _without_dead_ends(a: np.ndarray, b: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Mask of the pieces (a, b) left after repeatedly removing pieces that lead to a dead end
    which is not a node in `keep`: no shortest path between kept nodes enters one, and
    dropping them makes Dijkstra cheaper (a third of a county's junctions are dead ends)."""
    alive = np.ones(len(a), dtype=bool)
    n = len(keep)
    while True:
        degree = np.bincount(a[alive], minlength=n) + np.bincount(b[alive], minlength=n)
        leaf = (degree == 1) & ~keep
        drop = alive & (leaf[a] | leaf[b])
        if not drop.any():
            return alive
        alive &= ~drop


def _flat_cumsums(net: Network):
    """Edge id of every flat position of edge_nodes, and cumulative length (dm) and time (ds)
    up to each position (restarting from the previous edge's total: only differences within an
    edge are meaningful)."""

    def make():
        n_pos = len(net.edge_nodes)
        pos_edge = np.repeat(np.arange(net.n_edges), np.diff(net.node_ptr))
        seg_pos = np.arange(net.n_segments) + net.edge_of_segment() + 1  # position after each segment
        inc_len = np.zeros(n_pos, dtype=np.int64)
        inc_time = np.zeros(n_pos, dtype=np.int64)
        inc_len[seg_pos] = net.seg_length_dm
        inc_time[seg_pos] = net.seg_time_ds
        if net.seg_time_ds.sum() >= _MAX_TIME_DS or net.seg_length_dm.sum() >= _SHIFT:
            raise ValueError("network too large for exact matrices (over 900 h or 26,000 km of road)")
        return pos_edge, np.cumsum(inc_len).astype(np.float64), np.cumsum(inc_time).astype(np.float64)

    return net.cached("flat_cumsums", make)


def _decode(weights):
    time_ds = np.floor(np.asarray(weights) / _SHIFT)
    return time_ds, np.asarray(weights) - time_ds * _SHIFT


def _legs(net: Network, pieces: list[np.ndarray]) -> list[Leg]:
    """Group the segments walked (given as flat positions per piece) into legs by road."""
    seq = net.edge_nodes
    pos_edge, _, _ = _flat_cumsums(net)
    segs_l, from_l, to_l = [], [], []
    for pos in pieces:
        if len(pos) < 2:
            continue
        a, b = pos[:-1], pos[1:]
        lower = np.minimum(a, b)  # the segment between positions k+e and k+e+1 is k
        segs_l.append(lower - pos_edge[lower])
        from_l.append(seq[a])
        to_l.append(seq[b])
    if not segs_l:
        return []
    segs, from_nodes, to_nodes = (np.concatenate(x) for x in (segs_l, from_l, to_l))
    # unnamed roads are told apart by class: -1 - class id
    label = np.where(
        np.array([bool(n) for n in net.road_names])[net.seg_road[segs]],
        net.seg_road[segs],
        -1 - net.seg_class[segs].astype(np.int32),
    )
    label = _absorb_short_unnamed(label, net.seg_length_dm[segs])
    breaks = np.flatnonzero(np.diff(label)) + 1
    legs = []
    for lo, hi in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [len(segs)]])):
        part = segs[lo:hi]
        nodes = np.concatenate([from_nodes[lo : lo + 1], to_nodes[lo:hi]])
        lengths = net.seg_length_dm[part]
        classes = np.bincount(net.seg_class[part], weights=lengths)
        legs.append(
            Leg(
                road=net.road_names[label[lo]] if label[lo] >= 0 else "",
                road_class=net.road_classes[int(np.argmax(classes))],
                distance_m=float(lengths.sum() / 10),
                travel_time_s=float(net.seg_time_ds[part].sum() / 10),
                coords=tuple(zip(net.node_lon[nodes].tolist(), net.node_lat[nodes].tolist())),
            )
        )
    return legs


def _absorb_short_unnamed(label: np.ndarray, length_dm: np.ndarray, max_dm: int = 2000) -> np.ndarray:
    """Relabel a short unnamed stretch (a bridge, a roundabout: under 200 m) that lies between two
    stretches of the same named road as that road, so a route sheet says "CG-2 for 20 km" once."""
    label = label.copy()
    breaks = np.flatnonzero(np.diff(label)) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(label)]])
    for i in range(1, len(starts) - 1):
        lo, hi = starts[i], ends[i]
        before, after = label[starts[i] - 1], label[ends[i]]
        if label[lo] < 0 and before == after and before >= 0 and length_dm[lo:hi].sum() <= max_dm:
            label[lo:hi] = before
    return label


def _check_nodes(net: Network, nodes, what: str) -> np.ndarray:
    arr = np.asarray(nodes)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a sequence of node indices")
    if arr.size == 0:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must be integer node indices (use Network.snap_many for points)")
    bad = arr[(arr < 0) | (arr >= net.n_nodes)]
    if bad.size:
        raise ValueError(f"{what}: node {int(bad[0])} is not in the network (0..{net.n_nodes - 1})")
    return arr.astype(np.int64)
