"""Small geodesy helpers: great-circle distances and a local metric projection.

Coordinates are WGS84 degrees, always given as (lon, lat) pairs, as in GeoJSON.
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres between points given in degrees (scalars or arrays)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


class LocalProjection:
    """Equirectangular projection around a reference latitude, in metres.

    Accurate to well under 1% across a county (a few hundred km); used for nearest-neighbour
    searches and areas, never for reported distances (those use `haversine_m`).
    """

    def __init__(self, lon0: float, lat0: float):
        self.lon0 = float(lon0)
        self.lat0 = float(lat0)
        self._kx = np.radians(1.0) * EARTH_RADIUS_M * np.cos(np.radians(self.lat0))
        self._ky = np.radians(1.0) * EARTH_RADIUS_M

    def to_xy(self, lon, lat):
        """(lon, lat) degrees -> (x, y) metres east and north of the reference point."""
        x = (np.asarray(lon, dtype=float) - self.lon0) * self._kx
        y = (np.asarray(lat, dtype=float) - self.lat0) * self._ky
        return x, y

    def to_lonlat(self, x, y):
        """(x, y) metres -> (lon, lat) degrees."""
        lon = np.asarray(x, dtype=float) / self._kx + self.lon0
        lat = np.asarray(y, dtype=float) / self._ky + self.lat0
        return lon, lat
