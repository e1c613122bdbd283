"""Saving and loading road networks: a saved .npz file (fast) or an OpenStreetMap extract."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .network import Network, Place

FORMAT_VERSION = 1


def save_network(network: Network, path: str | os.PathLike) -> Path:
    """Write the network to an uncompressed .npz file (fast to load); returns the path."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    np.savez(
        path,
        format_version=np.array(FORMAT_VERSION),
        node_lon=network.node_lon,
        node_lat=network.node_lat,
        edge_ptr=network.edge_ptr,
        edge_nodes=network.edge_nodes,
        edge_forward=network.edge_forward,
        edge_backward=network.edge_backward,
        seg_length_dm=network.seg_length_dm,
        seg_time_ds=network.seg_time_ds,
        seg_road=network.seg_road,
        seg_class=network.seg_class,
        road_names=np.array(network.road_names or [""], dtype=str),
        road_classes=np.array(network.road_classes or [""], dtype=str),
        place_name=np.array([p.name for p in network.places], dtype=str),
        place_kind=np.array([p.kind for p in network.places], dtype=str),
        place_lon=np.array([p.lon for p in network.places], dtype=float),
        place_lat=np.array([p.lat for p in network.places], dtype=float),
        attribution=np.array(network.attribution or ""),
        source=np.array(network.source),
        scc_share=np.array(network.scc_share),
        closed_edges=np.array(sorted(network.closed_edges), dtype=np.int64),
    )
    return path


def load_saved_network(path: str | os.PathLike) -> Network:
    """Read a network written by `save_network`."""
    with np.load(path, allow_pickle=False) as z:
        version = int(z["format_version"])
        if version != FORMAT_VERSION:
            raise ValueError(f"{path}: network format {version}, expected {FORMAT_VERSION}")
        places = [
            Place(str(n), str(k), float(x), float(y))
            for n, k, x, y in zip(z["place_name"], z["place_kind"], z["place_lon"], z["place_lat"])
        ]
        return Network(
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
        return load_saved_network(path)
    if path.name.endswith((".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz")):
        from .osm import read_osm  # pyosmium is imported only when an extract is read

        return read_osm(path, **osm_options)
    raise ValueError(f"{path}: unknown network format (expected .osm.pbf, .osm or .npz)")
