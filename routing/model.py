"""The routing problem: farm pickups brought to a hub by a mixed fleet.

Everything is an integer in the unit its name carries: seconds (``_s``), metres (``_m``),
kilograms (``_kg``), litres (``_l``). Costs are integers in the cooperative's smallest currency
unit (for example fen). Locations are indices into the problem's travel matrices, which the
road-network side builds; ``durations_s[i][j] >= UNREACHABLE`` (or a distance that large) marks a
pair with no road between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Any matrix entry at or above this value means "no road from i to j".
UNREACHABLE = 1 << 40

#: Reasons a pickup is left out of a plan.
REASONS = ("unreachable", "no_suitable_vehicle", "time_window", "capacity")

_DAY_S = 24 * 3600


def _check_int(owner: str, name: str, value, minimum: int | None = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{owner}: {name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: {name} must be >= {minimum}, got {value}")


@dataclass(frozen=True)
class Stop:
    """A pickup at a farm.

    ``window_start_s``/``window_end_s`` bound the start of service (seconds from the planning
    day's origin). ``priority`` orders what is left out when not everything fits: a pickup of
    priority p is worth more than all pickups of lower priority together. A pickup larger than
    every suitable vehicle is split by the solver into several visits.

    ``published_vehicle`` names the vehicle this pickup was given to in the plan drivers already
    have (a re-plan): serving it with another vehicle costs ``Problem.reassign_penalty``.
    """

    id: str | int
    location: int
    weight_kg: int = 0
    volume_l: int = 0
    service_duration_s: int = 0
    window_start_s: int = 0
    window_end_s: int | None = None
    cold_chain: bool = False
    priority: int = 1
    published_vehicle: str | int | None = None

    def __post_init__(self) -> None:
        owner = f"stop {self.id!r}"
        if not isinstance(self.id, (str, int)) or isinstance(self.id, bool):
            raise ValueError(f"{owner}: id must be a string or an integer")
        if self.published_vehicle is not None and (
                not isinstance(self.published_vehicle, (str, int))
                or isinstance(self.published_vehicle, bool)):
            raise ValueError(f"{owner}: published_vehicle must be a vehicle id or None")
        for name in ("location", "weight_kg", "volume_l", "service_duration_s", "window_start_s"):
            _check_int(owner, name, getattr(self, name))
        if self.window_end_s is not None:
            _check_int(owner, "window_end_s", self.window_end_s)
            if self.window_end_s < self.window_start_s:
                raise ValueError(
                    f"{owner}: window_end_s ({self.window_end_s}) is before "
                    f"window_start_s ({self.window_start_s})"
                )
        _check_int(owner, "priority", self.priority, minimum=1)
        if self.priority > 9:
            raise ValueError(f"{owner}: priority must be between 1 and 9, got {self.priority}")


@dataclass(frozen=True)
class Vehicle:
    """A truck based at the hub.

    ``capacity_volume_l=None`` means volume is not limited. ``max_trips`` > 1 lets the truck come
    back to the hub, unload (``Problem.reload_duration_s``) and go out again within its shift.
    ``cost_per_km`` and ``fixed_cost`` are in the smallest currency unit.

    A vehicle already on the road (a re-plan in the middle of the day) starts where it is:
    ``start_location`` (None: the hub), no earlier than ``start_s`` (None: its shift start; the
    "current time"), with ``initial_weight_kg``/``initial_volume_l`` already aboard, which count
    against its capacity until it next unloads at the hub (a reload, or the end of its route).
    Its ``max_trips`` and ``max_duration_s`` then count from that start: the trips and the time
    still left to it.
    """

    id: str | int
    capacity_weight_kg: int
    capacity_volume_l: int | None = None
    refrigerated: bool = False
    shift_start_s: int = 0
    shift_end_s: int = _DAY_S
    max_duration_s: int | None = None
    cost_per_km: int = 1000
    fixed_cost: int = 0
    max_trips: int = 1
    start_location: int | None = None
    start_s: int | None = None
    initial_weight_kg: int = 0
    initial_volume_l: int = 0

    def __post_init__(self) -> None:
        owner = f"vehicle {self.id!r}"
        if not isinstance(self.id, (str, int)) or isinstance(self.id, bool):
            raise ValueError(f"{owner}: id must be a string or an integer")
        for name in ("capacity_weight_kg", "shift_start_s", "shift_end_s", "cost_per_km",
                     "fixed_cost", "initial_weight_kg", "initial_volume_l"):
            _check_int(owner, name, getattr(self, name))
        for name in ("start_location", "start_s"):
            if getattr(self, name) is not None:
                _check_int(owner, name, getattr(self, name))
        if self.capacity_volume_l is not None:
            _check_int(owner, "capacity_volume_l", self.capacity_volume_l)
        if self.max_duration_s is not None:
            _check_int(owner, "max_duration_s", self.max_duration_s)
        _check_int(owner, "max_trips", self.max_trips, minimum=1)
        if self.shift_end_s < self.shift_start_s:
            raise ValueError(
                f"{owner}: shift_end_s ({self.shift_end_s}) is before "
                f"shift_start_s ({self.shift_start_s})"
            )
        if self.initial_weight_kg > self.capacity_weight_kg:
            raise ValueError(f"{owner}: initial_weight_kg ({self.initial_weight_kg}) is more than "
                             f"the capacity ({self.capacity_weight_kg})")
        if self.capacity_volume_l is not None and self.initial_volume_l > self.capacity_volume_l:
            raise ValueError(f"{owner}: initial_volume_l ({self.initial_volume_l}) is more than "
                             f"the capacity ({self.capacity_volume_l})")


@dataclass(frozen=True, eq=False)
class Problem:
    """Pickups, fleet and hub over integer travel matrices.

    ``durations_s[i][j]`` and ``distances_m[i][j]`` are indexed by location (row = from); any
    square integer matrix is accepted (nested lists, tuples, numpy arrays) and kept as a read-only
    numpy ``int64`` array (8 bytes an entry: 3,200 locations take 80 MB a matrix, where tuples of
    Python integers took several times that).
    The hub is location ``hub_location``; vehicles leave it no earlier than ``hub_open_s`` and
    must be back by ``hub_cutoff_s`` (when the carriers' trucks leave).
    ``reassign_penalty`` (currency unit, like ``Vehicle.fixed_cost``) is added to the search's
    objective for each pickup served by another vehicle than its ``Stop.published_vehicle``: a
    re-plan changes the drivers' routes only where it saves more than that. It is not part of
    ``Plan.cost`` (which is what the routes cost to drive).
    """

    durations_s: np.ndarray
    distances_m: np.ndarray
    stops: tuple[Stop, ...]
    vehicles: tuple[Vehicle, ...]
    hub_location: int = 0
    hub_open_s: int = 0
    hub_cutoff_s: int | None = None
    reload_duration_s: int = 0
    name: str = ""
    reassign_penalty: int = 0
    _stop_index: dict = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        durations = _as_matrix("durations_s", self.durations_s)
        distances = _as_matrix("distances_m", self.distances_m)
        object.__setattr__(self, "durations_s", durations)
        object.__setattr__(self, "distances_m", distances)
        object.__setattr__(self, "stops", tuple(self.stops))
        object.__setattr__(self, "vehicles", tuple(self.vehicles))
        n = len(durations)
        if len(distances) != n:
            raise ValueError(
                f"problem: durations_s is {n}x{n} but distances_m is {len(distances)} rows"
            )
        _check_int("problem", "hub_location", self.hub_location)
        if self.hub_location >= n:
            raise ValueError(f"problem: hub_location {self.hub_location} is outside the matrix")
        _check_int("problem", "hub_open_s", self.hub_open_s)
        _check_int("problem", "reload_duration_s", self.reload_duration_s)
        _check_int("problem", "reassign_penalty", self.reassign_penalty)
        if self.hub_cutoff_s is not None:
            _check_int("problem", "hub_cutoff_s", self.hub_cutoff_s)
            if self.hub_cutoff_s < self.hub_open_s:
                raise ValueError("problem: hub_cutoff_s is before hub_open_s")
        if not self.vehicles:
            raise ValueError("problem: at least one vehicle is needed")
        index: dict = {}
        for i, stop in enumerate(self.stops):
            if not isinstance(stop, Stop):
                raise ValueError(f"problem: stops[{i}] is not a Stop")
            if stop.location >= n:
                raise ValueError(f"stop {stop.id!r}: location {stop.location} is outside the matrix")
            if stop.id in index:
                raise ValueError(f"problem: duplicate stop id {stop.id!r}")
            index[stop.id] = i
        seen = set()
        for i, vehicle in enumerate(self.vehicles):
            if not isinstance(vehicle, Vehicle):
                raise ValueError(f"problem: vehicles[{i}] is not a Vehicle")
            if vehicle.id in seen:
                raise ValueError(f"problem: duplicate vehicle id {vehicle.id!r}")
            if vehicle.start_location is not None and vehicle.start_location >= n:
                raise ValueError(f"vehicle {vehicle.id!r}: start_location "
                                 f"{vehicle.start_location} is outside the matrix")
            seen.add(vehicle.id)
        object.__setattr__(self, "_stop_index", index)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return (np.array_equal(self.durations_s, other.durations_s)
                and np.array_equal(self.distances_m, other.distances_m)
                and (self.stops, self.vehicles, self.hub_location, self.hub_open_s, self.hub_cutoff_s,
                     self.reload_duration_s, self.name, self.reassign_penalty)
                == (other.stops, other.vehicles, other.hub_location, other.hub_open_s,
                    other.hub_cutoff_s, other.reload_duration_s, other.name,
                    other.reassign_penalty))

    __hash__ = object.__hash__

    @property
    def num_locations(self) -> int:
        return len(self.durations_s)

    def stop(self, stop_id) -> Stop:
        """The stop with this id (KeyError if there is none)."""
        return self.stops[self._stop_index[stop_id]]

    def is_reachable(self, i: int, j: int) -> bool:
        """Whether there is a road from location i to location j."""
        return bool(self.durations_s[i, j] < UNREACHABLE and self.distances_m[i, j] < UNREACHABLE)

    def return_deadline_s(self, vehicle: Vehicle) -> int:
        """Latest time this vehicle may be back at the hub (shift end or hub cut-off)."""
        if self.hub_cutoff_s is None:
            return vehicle.shift_end_s
        return min(vehicle.shift_end_s, self.hub_cutoff_s)

    def departure_s(self, vehicle: Vehicle) -> int:
        """Earliest time this vehicle may leave its start: its shift start or ``start_s``, and
        the hub's opening when it starts at the hub."""
        earliest = max(vehicle.shift_start_s, vehicle.start_s or 0)
        if self.start_location(vehicle) == self.hub_location:
            earliest = max(earliest, self.hub_open_s)
        return earliest

    def start_location(self, vehicle: Vehicle) -> int:
        """Where this vehicle's route starts: the hub unless it is already on the road."""
        return self.hub_location if vehicle.start_location is None else vehicle.start_location

    def starts_away(self, vehicle: Vehicle) -> bool:
        """Whether this vehicle starts somewhere else than the hub (it must drive back)."""
        return self.start_location(vehicle) != self.hub_location

    def reassigned(self, stop: Stop, vehicle_id) -> bool:
        """Whether serving ``stop`` with this vehicle moves it off the vehicle it was published
        on (a published vehicle no longer in the problem moves it whichever serves it)."""
        return stop.published_vehicle is not None and stop.published_vehicle != vehicle_id


def _as_matrix(name: str, rows) -> np.ndarray:
    try:
        array = np.asarray(rows)
    except ValueError:
        raise ValueError(f"problem: {name} must be a square matrix of integers") from None
    if array.size == 0:
        raise ValueError(f"problem: {name} is empty")
    if array.ndim != 2:
        for i, row in enumerate(rows):
            if len(row) != len(rows):
                raise ValueError(
                    f"problem: {name} row {i} has {len(row)} entries, expected {len(rows)}")
        raise ValueError(f"problem: {name} must be a square matrix of integers")
    if array.shape[0] != array.shape[1]:
        raise ValueError(
            f"problem: {name} row 0 has {array.shape[1]} entries, expected {array.shape[0]}")
    if array.dtype == np.int64 and not array.flags.writeable:
        if (array < 0).any():
            i, j = np.argwhere(array < 0)[0]
            raise ValueError(f"problem: {name} row {i} has a negative entry {array[i, j]}")
        return array  # already checked and frozen (e.g. another Problem's matrix): share it
    if array.dtype.kind not in "iu":
        if array.dtype.kind != "f" or not np.all(np.mod(array, 1) == 0):
            raise ValueError(f"problem: {name} must hold integers")
        array = array.astype(np.int64)
    negative = np.argwhere(array < 0)
    if len(negative):
        i, j = negative[0]
        raise ValueError(f"problem: {name} row {i} has a negative entry {array[i, j]}")
    array = np.array(array, dtype=np.int64, copy=True)
    array.flags.writeable = False
    return array
