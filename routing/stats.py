"""Figures describing a road network (size, shape, connectivity), as a plain dict."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .network import Network


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

    x, y = net.node_xy()
    if net.n_nodes < 3:
        return 0.0
    try:
        return float(ConvexHull(np.column_stack([x, y])).volume / 1e6)
    except Exception:  # collinear points: no area
        return 0.0
