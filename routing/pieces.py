"""What the front (``routing.solver``) and both engines share: the pieces a pickup is planned
as (a whole pickup, or the loads of one larger than any vehicle), the penalty of leaving one out,
and ``SearchFailed``. Imports neither engine nor the front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from routing.model import UNREACHABLE, Problem, Stop, Vehicle

# Internal objective unit: 1/1000 of the currency unit, so per-km costs stay integral in metres.
_MILLI = 1000
_PENALTY_CAP = 1 << 60


@dataclass(frozen=True)
class _Piece:
    """One visit to make: a whole pickup, or part of a split one."""

    stop: Stop
    weight_kg: int
    volume_l: int
    penalty: int


class SearchFailed(RuntimeError):
    """The search found no plan at all, or its engine rejected the search parameters.

    Never a plan of pickups "left out for capacity": leaving every pickup out is always a
    feasible plan, so an engine that returns nothing has failed, and says so here.
    """


def _suitable_vehicles(problem: Problem, stop: Stop) -> list[Vehicle]:
    out = []
    for v in problem.vehicles:
        if stop.cold_chain and not v.refrigerated:
            continue
        if stop.weight_kg > 0 and v.capacity_weight_kg == 0:
            continue
        if stop.volume_l > 0 and v.capacity_volume_l == 0:
            continue
        out.append(v)
    return out


# ---------------------------------------------------------------------------------------------
# Pieces: split pickups larger than any suitable vehicle, price leaving them out.


def _split(problem: Problem, stop: Stop) -> list[tuple[int, int]]:
    best = None
    for v in _suitable_vehicles(problem, stop):
        k = math.ceil(stop.weight_kg / v.capacity_weight_kg) if stop.weight_kg else 1
        if stop.volume_l and v.capacity_volume_l is not None:
            k = max(k, math.ceil(stop.volume_l / v.capacity_volume_l))
        best = k if best is None else min(best, k)
    k = max(best or 1, 1)
    return [
        (stop.weight_kg * (i + 1) // k - stop.weight_kg * i // k,
         stop.volume_l * (i + 1) // k - stop.volume_l * i // k)
        for i in range(k)
    ]


def saving_bound(problem: Problem) -> int:
    """An upper bound on what leaving one piece of a pickup out can save, in 1/1000 currency unit.

    Serving a piece costs at most an extra trip to it: out and back on the longest arcs at the
    dearest per-km cost, plus the dearest vehicle's per-use cost (if it needs one more vehicle);
    once that trip exists, a plan that leaves the piece out is never cheaper by more. (When no
    trip or vehicle is left for it, serving it displaces another pickup, which the priorities
    decide.) Leaving a reload out adds no cost of its own: its distance is in the trip's arcs.
    """
    max_arc = _max_finite(problem.distances_m)
    max_cpk = max(v.cost_per_km for v in problem.vehicles)
    max_fixed = max(v.fixed_cost for v in problem.vehicles)
    return 2 * max_arc * max_cpk + _MILLI * max_fixed


def _max_finite(matrix: np.ndarray, rows_at_once: int = 256) -> int:
    """The largest entry below UNREACHABLE (0 if none), without copying the matrix."""
    top = int(matrix.max()) if matrix.size else 0
    if top < UNREACHABLE:
        return top
    best = 0
    for k in range(0, len(matrix), rows_at_once):
        rows = matrix[k:k + rows_at_once]
        finite = rows[rows < UNREACHABLE]
        if finite.size:
            best = max(best, int(finite.max()))
    return best


def _penalties(problem: Problem, stops: list[Stop], num_pieces: int,
               cap: int = _PENALTY_CAP, weight: int = 1) -> dict[int, int]:
    """Penalty per priority: each level outweighs every piece of the levels below together, and
    the lowest outweighs what leaving a piece out can save (``saving_bound``; ``weight`` times
    that), so a pickup is never left out to save distance."""
    base = (saving_bound(problem) + 1) * weight
    levels = sorted({s.priority for s in stops})
    factor = num_pieces + 1
    if len(levels) > 1 and base * factor ** (len(levels) - 1) > cap:
        factor = max(2, int((cap / base) ** (1 / (len(levels) - 1))))
    return {p: max(base, min(base * factor**rank, cap)) for rank, p in enumerate(levels)}


def _loaded(v: Vehicle) -> bool:
    """Whether the vehicle starts with a load aboard (so its route may begin with a reload)."""
    return bool(v.initial_weight_kg or v.initial_volume_l)


def _penalised(problem: Problem, pieces: list[_Piece]) -> dict[int, int]:
    """Piece index -> index of the vehicle it was published on, for the pieces whose moving to
    another vehicle costs ``Problem.reassign_penalty`` (none when the penalty is 0; a published
    vehicle no longer in the problem moves its pickups whichever serves them: no penalty)."""
    if not problem.reassign_penalty:
        return {}
    index = {v.id: i for i, v in enumerate(problem.vehicles)}
    return {k: index[p.stop.published_vehicle] for k, p in enumerate(pieces)
            if p.stop.published_vehicle in index}
