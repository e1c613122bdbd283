"""The cooperative's road network: loaded once per process from an extract or a saved network."""
from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path

from routing.network import Network
from routing.store import load_network, load_saved_network, save_network

log = logging.getLogger(__name__)

BUNDLED_EXTRACT = Path(__file__).resolve().parent / "data" / "roads" / "andorra-2021-10-28.osm.pbf"


def network_path(configured: str) -> Path:
    return Path(configured) if configured else BUNDLED_EXTRACT


@functools.lru_cache(maxsize=4)
def load_county_network(configured: str = "", cache_dir: str | None = None) -> Network:
    """The road network for `configured` (an .osm.pbf, or a saved .npz), cached on disk as .npz."""
    path = network_path(configured)
    if path.suffix == ".npz":
        return load_saved_network(path)
    cache = Path(cache_dir or os.environ.get("COOP_DATA_DIR", Path.home() / ".local" / "share" / "coop"))
    digest = hashlib.sha256(f"{path.resolve()}:{path.stat().st_mtime_ns}:{path.stat().st_size}".encode()).hexdigest()
    saved = cache / "networks" / f"{path.stem}-{digest[:12]}.npz"
    if saved.exists():
        try:
            return load_saved_network(saved)
        except Exception:  # a damaged cache is rebuilt, never trusted
            log.warning("rebuilding the road network cache %s", saved)
    network = load_network(path)
    try:
        saved.parent.mkdir(parents=True, exist_ok=True)
        save_network(network, saved)
    except OSError:
        log.warning("could not cache the road network at %s", saved)
    return network


def make_snapper(network: Network, max_snap_m: float):
    """(lon, lat) -> (node, snap distance m), in the order of `Network.snap`; a ValueError names the
    point when it is off the network."""

    def snap(lon: float, lat: float) -> tuple[int, float]:
        found = network.snap(lon, lat, max_snap_m=max_snap_m, name=f"(lon {lon:.5f}, lat {lat:.5f})")
        return int(found.node), float(found.distance_m)

    return snap
