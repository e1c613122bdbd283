import os
from pathlib import Path

import pytest

from routing.generator import generate_county
from routing.osm import read_osm

REPO_ROOT = Path(__file__).resolve().parents[3]
TEST_DATA = REPO_ROOT / "tests" / "data"


def shared_dir() -> Path:
    return Path(os.environ.get("COOP_SHARED_DIR", REPO_ROOT / ".." / "shared"))


def roads_file(name: str) -> Path:
    path = shared_dir() / "data" / "roads" / name
    if not path.exists():
        pytest.skip(f"shared road extract not found: {path} (set COOP_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def roads_dir() -> Path:
    """shared/data/roads, where the bundled OpenStreetMap extracts live."""
    path = shared_dir() / "data" / "roads"
    if not path.is_dir():
        pytest.skip(f"shared road extracts not found in {path} (set COOP_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def tiny_osm() -> Path:
    return TEST_DATA / "roads" / "tiny.osm"


@pytest.fixture(scope="session")
def tiny():
    """Hand-made network: nodes 0..8 along and above a short valley road (see tests/data/roads/tiny.osm)."""
    return read_osm(TEST_DATA / "roads" / "tiny.osm")


@pytest.fixture(scope="session")
def andorra():
    return read_osm(roads_file("andorra-2021-10-28.osm.pbf"))


@pytest.fixture(scope="session")
def beatty():
    return read_osm(roads_file("beatty-nv-2017.osm.pbf"))


@pytest.fixture(scope="session")
def county():
    return generate_county(seed=7, n_villages=12)
