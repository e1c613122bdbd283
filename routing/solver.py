"""Turn a Problem into a Plan. The one place OR-Tools and PyVRP are imported.

Two engines sit behind ``solve``, both modelling every constraint of the cooperative's day:
several capacity dimensions, farm windows and the hub cut-off, shifts and maximum route
duration, per-km and per-use costs, cold chain (refrigerated vehicles only), several trips a day
with the unloading time at the hub, priorities and unreachable pairs.

* ``"pyvrp"`` plans best (PyVRP's iterated local search): the cold chain is a second routing
  profile for the vehicles without cooling, reload trips go through a second depot at the hub
  whose service duration is the unloading time, unreachable pairs are arcs longer than the day.
* ``"ortools"`` also splits a pickup larger than any vehicle into loads collected all or none
  (PyVRP cannot say "all or none"), and is the design card's engine.

A re-plan in the middle of the day (both engines): a vehicle already on the road starts where it
is (``Vehicle.start_location``, a start depot of its own in PyVRP, a start node in OR-Tools) at
the current time (``Vehicle.start_s``) with its load aboard (``initial_weight_kg``/``_l``:
PyVRP's ``initial_load``, OR-Tools' load cumul fixed at the start), which counts until it
next unloads at the hub. Moving a pickup off the vehicle it was published on costs
``Problem.reassign_penalty``: in OR-Tools a dimension counting such pickups per route, priced
by its span; in PyVRP longer distances into them in a routing profile per vehicle with
published pickups. (PyVRP leaves a vehicle with nothing more to collect out of its routes, so
its drive home from where it is counts for nothing in PyVRP's search; the plan has that route.)

``engine="auto"`` picks PyVRP unless the day has such a pickup (``choose_engine``), and the plan
says which engine ran and why (``Plan.engine``, ``Plan.search``). ``routing.check`` decides
whether a plan is feasible, whichever engine made it.

Every pickup is optional with a penalty larger than anything leaving it out can save
(``saving_bound``), scaled by priority, so a plan always exists and a pickup is left out only
when it cannot be served or displaces a more important one. An engine that nevertheless finds
nothing, or rejects its parameters, raises ``SearchFailed``.

Repeatability: under a wall-clock limit, how far the search gets depends on the machine's load.
With an iteration budget instead (``max_iterations``, ``time_limit_s=None``), the same input and
seed give the same plan.
"""

from __future__ import annotations

from collections import Counter
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

from routing.model import UNREACHABLE, Problem, Stop, Vehicle
from routing.plan import PICKUP, RELOAD, Plan, Route, Unassigned, Visit

ENGINES = ("auto", "ortools", "pyvrp")

# Internal objective unit: 1/1000 of the currency unit, so per-km costs stay integral in metres.
_MILLI = 1000
_PENALTY_CAP = 1 << 60
# Time kept back from the limit for building the model and the plan.
_MARGIN_S = 0.05
_FIRST_SOLUTION = "PARALLEL_CHEAPEST_INSERTION"


@dataclass(frozen=True)
class _Piece:
    """One visit to make: a whole pickup, or part of a split one."""

    stop: Stop
    weight_kg: int
    volume_l: int
    penalty: int


# ---------------------------------------------------------------------------------------------
# Diagnosis: simple checks independent of any search.


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


def _fits_in_time(problem: Problem, stop: Stop, v: Vehicle) -> bool:
    """Can v leave its start, serve this stop alone within its window and be back in time?

    A vehicle with a load aboard that leaves no room for the pickup first unloads at the hub
    (when it has a trip left)."""
    hub, loc, origin = problem.hub_location, stop.location, problem.start_location(v)
    dur = problem.durations_s
    back_s = int(dur[loc][hub])
    ways = []
    if _room_aboard(problem, stop, v):
        ways.append(int(dur[origin][loc]))
    if v.max_trips > 1 and (origin != hub or v.initial_weight_kg or v.initial_volume_l):
        ways.append(int(dur[origin][hub]) + problem.reload_duration_s + int(dur[hub][loc]))
    for out_s in ways:
        if out_s >= UNREACHABLE:
            continue
        start = max(problem.departure_s(v) + out_s, stop.window_start_s)
        if stop.window_end_s is not None and start > stop.window_end_s:
            continue
        if start + stop.service_duration_s + back_s > problem.return_deadline_s(v):
            continue
        # Leaving as late as the window allows, the shortest trip is out + service + back.
        if (v.max_duration_s is not None
                and out_s + stop.service_duration_s + back_s > v.max_duration_s):
            continue
        return True
    return False


def _room_aboard(problem: Problem, stop: Stop, v: Vehicle) -> bool:
    """Whether v can take (a load of) this pickup on top of what it already carries."""
    if not (v.initial_weight_kg or v.initial_volume_l):
        return True
    w, vol = max(_split(problem, stop))
    return (v.initial_weight_kg + w <= v.capacity_weight_kg
            and (v.capacity_volume_l is None or v.initial_volume_l + vol <= v.capacity_volume_l))


def diagnose(problem: Problem, stop: Stop) -> tuple[str, str] | None:
    """Why this stop cannot be served by any plan, as (reason, detail); None if it might be.

    Checks, in order: no road between hub and farm (``unreachable``); no vehicle that may carry it,
    e.g. cold chain without a refrigerated truck (``no_suitable_vehicle``); no suitable vehicle can
    leave its start (the hub, or where it is on a re-plan), reach the farm within its window and
    be back before the cut-off, its shift end or its maximum route duration (``time_window``); it needs more vehicle loads than the
    vehicles that may carry it make trips in a day (``capacity``).
    """
    hub, loc = problem.hub_location, stop.location
    if not problem.is_reachable(hub, loc):
        return "unreachable", f"no road from the hub to location {loc}"
    if not problem.is_reachable(loc, hub):
        return "unreachable", f"no road from location {loc} back to the hub"
    suitable = _suitable_vehicles(problem, stop)
    if not suitable:
        if stop.cold_chain and not any(v.refrigerated for v in problem.vehicles):
            return "no_suitable_vehicle", "needs cold chain and no vehicle is refrigerated"
        return "no_suitable_vehicle", "no vehicle can carry this kind of load"
    in_time = [v for v in suitable if _fits_in_time(problem, stop, v)]
    if not in_time:
        return "time_window", "no vehicle can reach it within its window and be back in time"
    loads = len(_split(problem, stop))
    trips = sum(v.max_trips for v in in_time)
    if loads > trips:
        return "capacity", (f"needs {loads} vehicle loads; the vehicles that may carry it make at "
                            f"most {trips} trips a day")
    return None


def _leftover_reason(problem: Problem, stop: Stop) -> tuple[str, str]:
    found = diagnose(problem, stop)
    if found is not None:
        return found
    return "capacity", "the fleet's capacity and time could not take it with the rest"


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


# ---------------------------------------------------------------------------------------------
# Public entry point.


class SearchFailed(RuntimeError):
    """The search found no plan at all, or its engine rejected the search parameters.

    Never a plan of pickups "left out for capacity": leaving every pickup out is always a
    feasible plan, so an engine that returns nothing has failed, and says so here.
    """


def choose_engine(problem: Problem) -> tuple[str, str]:
    """The engine ``engine="auto"`` picks for this problem, and why (a sentence).

    PyVRP plans best and models every constraint of the cooperative's day (cold chain as a
    routing profile, reload trips through a reload depot with the unloading time, unreachable
    pairs as prohibitive arcs, windows, cut-off, shifts, mixed fleet, priorities as prizes).
    It cannot say "all pieces of a split pickup or none", so a day with a pickup that needs more
    than one vehicle load goes to OR-Tools, which can; so does a re-plan whose reassign penalty
    PyVRP cannot carry (``_pyvrp_limit``).
    """
    try:
        import pyvrp  # noqa: F401
    except ImportError:
        return "ortools", "PyVRP is not installed"
    servable = [s for s in problem.stops if diagnose(problem, s) is None]
    split = [s.id for s in servable if len(_split(problem, s)) > 1]
    if split:
        return "ortools", (f"{len(split)} pickup(s) larger than one vehicle load (e.g. "
                           f"{split[0]!r}) must be collected whole or not at all")
    limit = _pyvrp_limit(problem)
    if limit is not None:
        return "ortools", limit[0]
    if _blocked_between(problem, sorted({s.location for s in servable})):
        # Shortest-path matrices never have these (a road through the hub would do); PyVRP only
        # goes back to the hub for a reload when the load requires it, so it would leave such
        # farms out where OR-Tools routes them through the hub.
        return "ortools", ("some farms reachable from the hub have no road between them, "
                           "so they must be served through the hub")
    return "pyvrp", "PyVRP models every constraint of this problem"


# What the extra routing profiles of a reassign penalty may take (PyVRP keeps its own copy of
# every profile's distance and duration matrices, and the model holds a third).
_PYVRP_PROFILE_BYTES = 512 << 20


def _pyvrp_limit(problem: Problem) -> tuple[str, bool] | None:
    """Why PyVRP cannot take this problem's reassign penalty, and whether it cannot at all
    (True) or only within the memory kept for it (False); None when it can.

    PyVRP has no cost per vehicle and client; the penalty goes into the distances of a routing
    profile per vehicle with published pickups (at that vehicle's per-km cost), so a vehicle
    that costs nothing per km cannot carry it, and many such vehicles on a large day would take
    more memory than the matrices are worth: OR-Tools prices it with a dimension instead.
    """
    if not problem.reassign_penalty:
        return None
    ids = {v.id for v in problem.vehicles}
    owners = {s.published_vehicle for s in problem.stops} & ids
    if not owners:
        return None
    free = [v.id for v in problem.vehicles if v.cost_per_km == 0]
    if free:
        return (f"vehicle {free[0]!r} costs nothing per km, so PyVRP's distances cannot carry "
                f"the reassign penalty", True)
    keys = {(v.refrigerated, v.id if v.id in owners else None, v.cost_per_km)
            for v in problem.vehicles}
    n = len(problem.stops) + len(problem.vehicles) + 2
    need = (len(keys) + 1) * 3 * n * n * 8
    if need > _PYVRP_PROFILE_BYTES:
        return (f"the reassign penalty needs {len(keys)} routing profiles in PyVRP "
                f"({need >> 20} MiB of matrices, more than {_PYVRP_PROFILE_BYTES >> 20} MiB)",
                False)
    return None


def _blocked_between(problem: Problem, locations: list[int], rows_at_once: int = 256) -> bool:
    ix = np.asarray(locations, dtype=np.int64)
    for k in range(0, len(ix), rows_at_once):
        rows = ix[k:k + rows_at_once]
        if (problem.durations_s[np.ix_(rows, ix)] >= UNREACHABLE).any():
            return True
        if (problem.distances_m[np.ix_(rows, ix)] >= UNREACHABLE).any():
            return True
    return False


def solve(problem: Problem, time_limit_s: float | None = 5.0, seed: int = 0,
          engine: str = "auto", max_iterations: int | None = None,
          initial_routes=None) -> Plan:
    """Plan routes for ``problem`` within ``time_limit_s`` seconds (wall clock).

    ``engine`` is ``"auto"`` (see ``choose_engine``), ``"ortools"`` or ``"pyvrp"``.
    ``max_iterations`` bounds the search by its own work instead of (or as well as) the clock:
    PyVRP's iterations of its iterated local search, OR-Tools' solutions of its local search.
    With ``time_limit_s=None`` and an iteration budget the same input and seed give the same
    plan on any machine. The seed drives PyVRP's random numbers and OR-Tools' order of the
    pickups (seed 0 keeps the input order).
    ``initial_routes`` (``[(vehicle_id, [stop_id or None for a reload, ...]), ...]``, e.g. the
    published plan's) is where the search starts (a warm start); stops no longer in the problem
    are dropped from it, new ones are left for the search to insert.
    Pickups that cannot be planned come back in ``Plan.unassigned`` with a reason;
    ``Plan.search`` holds the engine's figures. Raises ``SearchFailed`` when the engine finds
    no plan or rejects its parameters.
    """
    started = time.perf_counter()
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if time_limit_s is None and max_iterations is None:
        raise ValueError("give time_limit_s, max_iterations or both")
    if time_limit_s is not None and not time_limit_s > 0:
        raise ValueError(f"time_limit_s must be positive, got {time_limit_s}")
    if max_iterations is not None and (isinstance(max_iterations, bool)
                                       or not isinstance(max_iterations, int)
                                       or max_iterations < 1):
        raise ValueError(f"max_iterations must be a positive integer, got {max_iterations!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise ValueError(f"seed must be an integer from 0 to 2**31 - 1, got {seed!r}")

    unassigned: list[Unassigned] = []
    servable: list[Stop] = []
    for stop in problem.stops:
        found = diagnose(problem, stop)
        if found is None:
            servable.append(stop)
        else:
            unassigned.append(Unassigned(stop.id, *found))

    splits = {s.id: _split(problem, s) for s in servable}
    penalty = _penalties(problem, servable, sum(len(p) for p in splits.values()))
    pieces = [
        _Piece(s, w, vol, penalty[s.priority]) for s in servable for (w, vol) in splits[s.id]
    ]

    if engine == "auto":
        chosen, why = choose_engine(problem)
    else:
        chosen, why = engine, "asked for"
    if chosen == "pyvrp":
        try:
            import pyvrp  # noqa: F401
        except ImportError:
            raise ValueError("the pyvrp engine is not installed; use engine='ortools'") from None
        limit = _pyvrp_limit(problem)
        if limit is not None and limit[1]:
            raise ValueError(f"the pyvrp engine cannot take this problem: {limit[0]}; "
                             f"use engine='ortools'")

    remaining = None
    if time_limit_s is not None:
        remaining = max(time_limit_s - (time.perf_counter() - started) - _MARGIN_S, 0.01)
    search = {"engine_reason": why, "seed": seed, "time_limit_s": time_limit_s,
              "max_iterations": max_iterations}
    start = None if initial_routes is None else _start_sequences(problem, pieces, initial_routes)
    search["warm_start"] = start is not None
    if start is not None:
        # The given routes as they can still be driven (from where the trucks are now, after a
        # closure): OR-Tools refuses a start that breaks any constraint; what is dropped here is
        # left for the search to insert again.
        start, dropped = _drivable(problem, pieces, start)
        search["warm_start_dropped"] = dropped
    if not pieces:
        sequences: list[list[int | None]] = [[] for _ in problem.vehicles]
        search.update(iterations=0, stopped_by="nothing to plan")
    elif chosen == "pyvrp":
        sequences = _solve_pyvrp(problem, pieces, remaining, seed, max_iterations, search, start)
    else:
        sequences = _solve_ortools(problem, pieces, remaining, seed, max_iterations, search, start)

    if pieces and not any(k is not None for seq in sequences for k in seq):
        # Every pickup here can be served alone by some vehicle, and its penalty outweighs the
        # cost: a plan that serves none is a search stopped before it built anything.
        raise SearchFailed(
            f"{chosen}: the search served no pickup within its limit ({len(pieces)} pickups, "
            f"{len(problem.vehicles)} vehicles; {search.get('iterations')} iterations)")
    _check_finished(problem, pieces, sequences, chosen, search)
    return _build_plan(problem, pieces, sequences, unassigned, chosen, started, search)


def _check_finished(problem: Problem, pieces: list[_Piece], sequences, engine: str, search: dict):
    """Raise SearchFailed when a vehicle stands idle that could take a left-out pickup on a trip
    of its own: the pickup's penalty outweighs that trip's cost, so such a plan is a search cut
    short (OR-Tools stopped while still building its first plan), never a lack of capacity."""
    served = {k for seq in sequences for k in seq if k is not None}
    idle = [v for v, seq in zip(problem.vehicles, sequences) if not seq]
    if not idle or len(served) == len(pieces):
        return
    left = {pieces[k].stop.id: pieces[k].stop for k in range(len(pieces)) if k not in served}
    could = [sid for sid, stop in left.items()
             if len(_split(problem, stop)) == 1 and any(
                 v in _suitable_vehicles(problem, stop) and _fits_in_time(problem, stop, v)
                 for v in idle)]
    if could:
        raise SearchFailed(
            f"{engine}: the search stopped before its plan was complete: {len(could)} pickups "
            f"left out (e.g. {could[0]!r}) that idle vehicles could collect; give it more time "
            f"({search.get('iterations')} iterations)")


def _start_sequences(problem: Problem, pieces: list[_Piece], routes) -> list[list[int | None]]:
    """Given routes as piece sequences per vehicle index (None: a reload), within each vehicle's
    trips; unknown vehicles and stops are dropped. A stop split into pieces that the routes visit
    more than once (its pieces on different trips) gets one piece at each visit, the rest at its
    last; visits beyond its pieces are dropped."""
    by_stop: dict = {}
    for k, p in enumerate(pieces):
        by_stop.setdefault(p.stop.id, []).append(k)
    index = {v.id: i for i, v in enumerate(problem.vehicles)}
    sequences: list[list[int | None]] = [[] for _ in problem.vehicles]
    routes = [(vehicle_id, list(stop_ids)) for vehicle_id, stop_ids in routes
              if vehicle_id in index]
    visits_left = Counter(sid for _, stop_ids in routes for sid in stop_ids if sid in by_stop)
    for vehicle_id, stop_ids in routes:
        vi = index.get(vehicle_id)
        if vi is None:
            continue
        seq = sequences[vi]
        reloads = problem.vehicles[vi].max_trips - 1
        loaded = _loaded(problem.vehicles[vi])
        for sid in stop_ids:
            if sid is None:
                # A reload first makes sense only to unload what is already aboard.
                if (seq[-1] is not None if seq else loaded) and reloads > 0:
                    seq.append(None)
                    reloads -= 1
            elif by_stop.get(sid):
                visits_left[sid] -= 1
                take = by_stop[sid] if visits_left[sid] == 0 else by_stop[sid][:1]
                by_stop[sid] = by_stop[sid][len(take):]
                seq.extend(take)
        while seq and seq[-1] is None:
            seq.pop()
    return sequences


def _drivable(problem: Problem, pieces: list[_Piece], start) -> tuple[list, int]:
    """Each start sequence without the visits that cannot be made in order: a pickup whose window
    has closed by the time the vehicle gets there, that does not fit on top of its load, that it
    may not carry (cold chain), or after which it cannot be back in time; reloads beyond its trips.
    Returns the sequences and how many pickups were dropped."""
    dur = problem.durations_s
    hub = problem.hub_location
    out, dropped = [], 0
    for v, seq in zip(problem.vehicles, start):
        dep = problem.departure_s(v)
        cap_v = v.capacity_volume_l if v.capacity_volume_l is not None else 1 << 62
        here, t = problem.start_location(v), dep
        load_w, load_v, trips, kept = v.initial_weight_kg, v.initial_volume_l, 1, []
        # The shift counts from when the vehicle leaves, and leaving later by up to the waiting
        # so far shortens it, as long as no pickup begins after its window (``delay``: how much
        # later it may leave).
        waited, delay = 0, 1 << 62

        def fits(end, waited, delay):
            if end > problem.return_deadline_s(v):
                return False
            return v.max_duration_s is None or end - dep - min(waited, delay) <= v.max_duration_s

        for item in seq:
            if item is None:
                back = int(dur[here, hub])
                if (trips < v.max_trips and (kept or _loaded(v)) and back < UNREACHABLE
                        and fits(t + back + problem.reload_duration_s, waited, delay)):
                    t += back + problem.reload_duration_s
                    here, load_w, load_v, trips = hub, 0, 0, trips + 1
                    kept.append(None)
                continue
            p = pieces[item]
            s = p.stop
            go, home = int(dur[here, s.location]), int(dur[s.location, hub])
            begin = max(t + go, s.window_start_s)
            now_waited = waited + begin - (t + go)
            now_delay = delay if s.window_end_s is None else min(
                delay, s.window_end_s - begin + now_waited)
            if (go >= UNREACHABLE or home >= UNREACHABLE or (s.cold_chain and not v.refrigerated)
                    or (s.window_end_s is not None and begin > s.window_end_s)
                    or load_w + p.weight_kg > v.capacity_weight_kg or load_v + p.volume_l > cap_v
                    or not fits(begin + s.service_duration_s + home, now_waited, now_delay)):
                dropped += 1
                continue
            waited, delay = now_waited, now_delay
            t, here = begin + s.service_duration_s, s.location
            load_w, load_v = load_w + p.weight_kg, load_v + p.volume_l
            kept.append(item)
        while kept and kept[-1] is None:
            kept.pop()
        out.append(kept)
    return out, dropped


def _loaded(v: Vehicle) -> bool:
    """Whether the vehicle starts with a load aboard (so its route may begin with a reload)."""
    return bool(v.initial_weight_kg or v.initial_volume_l)


def _latest_return_s(problem: Problem, v: Vehicle) -> int:
    """The return deadline the engines are given: the vehicle's own, except that a vehicle
    already on the road too late to make it is allowed to drive straight back (its route is then
    late, and ``routing.check`` says so) rather than making the whole model infeasible."""
    dep, deadline = problem.departure_s(v), problem.return_deadline_s(v)
    if problem.starts_away(v):
        home = int(problem.durations_s[problem.start_location(v), problem.hub_location])
        if home < UNREACHABLE:
            return max(deadline, dep + home)
    return max(dep, deadline)


def _longest_route_s(problem: Problem, v: Vehicle) -> int:
    """The route duration the engines are given: ``max_duration_s``, except that a vehicle on
    the road with less time left than its drive home may still drive home (late, as
    ``routing.check`` then says) rather than making the whole model infeasible."""
    if problem.starts_away(v):
        home = int(problem.durations_s[problem.start_location(v), problem.hub_location])
        if home < UNREACHABLE:
            return max(v.max_duration_s, home)
    return v.max_duration_s


def _penalised(problem: Problem, pieces: list[_Piece]) -> dict[int, int]:
    """Piece index -> index of the vehicle it was published on, for the pieces whose moving to
    another vehicle costs ``Problem.reassign_penalty`` (none when the penalty is 0; a published
    vehicle no longer in the problem moves its pickups whichever serves them: no penalty)."""
    if not problem.reassign_penalty:
        return {}
    index = {v.id: i for i, v in enumerate(problem.vehicles)}
    return {k: index[p.stop.published_vehicle] for k, p in enumerate(pieces)
            if p.stop.published_vehicle in index}


# ---------------------------------------------------------------------------------------------
# OR-Tools.


def _node_arrays(problem: Problem, pieces: list[_Piece], reload_owner: list[int],
                 away: list[int]):
    hub = problem.hub_location
    loc = np.array([hub] + [p.stop.location for p in pieces] + [hub] * len(reload_owner)
                   + [problem.start_location(problem.vehicles[vi]) for vi in away])
    service = np.array([0] + [p.stop.service_duration_s for p in pieces]
                       + [problem.reload_duration_s] * len(reload_owner) + [0] * len(away),
                       dtype=np.int64)
    return loc, service


def _solve_ortools(problem: Problem, pieces: list[_Piece], limit_s: float | None, seed: int,
                   max_iterations: int | None, search: dict, start=None):
    """Visit sequences by OR-Tools. The seed shuffles the order in which pickups enter the model
    (seed 0 keeps the input order): OR-Tools' routing search has no random seed of its own, but
    its first solution and its neighbourhoods follow node order, so another order is another,
    equally repeatable, search."""
    order = list(range(len(pieces)))
    if seed:
        order = np.random.default_rng(seed).permutation(len(pieces)).tolist()
    if start is not None:
        position = {k: i for i, k in enumerate(order)}
        start = [[None if k is None else position[k] for k in seq] for seq in start]
    sequences = _solve_ortools_ordered(problem, [pieces[i] for i in order], limit_s,
                                       max_iterations, search, start)
    return [[None if k is None else order[k] for k in seq] for seq in sequences]


_ORTOOLS_FAILED = {
    0: "the search did not run",
    3: "the search found no plan",
    4: "the search found no plan within its time limit",
    5: "the search parameters or the model are invalid",
    6: "the model is infeasible",
}


def _solve_ortools_ordered(problem: Problem, pieces: list[_Piece], limit_s: float | None,
                           max_iterations: int | None, search: dict, initial=None):
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    vehicles = problem.vehicles
    reload_owner = [vi for vi, v in enumerate(vehicles) for _ in range(v.max_trips - 1)]
    # Vehicles already on the road start from a node of their own at where they are.
    away = [vi for vi, v in enumerate(vehicles) if problem.starts_away(v)]
    n_pieces = len(pieces)
    loc, service = _node_arrays(problem, pieces, reload_owner, away)
    n_nodes = len(loc)
    first_start = n_pieces + 1 + len(reload_owner)
    starts = [0] * len(vehicles)
    for k, vi in enumerate(away):
        starts[vi] = first_start + k

    dur = problem.durations_s[np.ix_(loc, loc)]
    dist = problem.distances_m[np.ix_(loc, loc)]
    blocked = (dur >= UNREACHABLE) | (dist >= UNREACHABLE)
    horizon = max(_latest_return_s(problem, v) for v in vehicles)
    travel = np.where(blocked, horizon + 1, dur + service[:, None])
    dist = np.where(blocked, 0, dist)

    manager = pywrapcp.RoutingIndexManager(n_nodes, len(vehicles), starts, [0] * len(vehicles))
    routing = pywrapcp.RoutingModel(manager)

    cost_cb = {}
    for vi, v in enumerate(vehicles):
        if v.cost_per_km not in cost_cb:
            cost_cb[v.cost_per_km] = routing.RegisterTransitMatrix((dist * v.cost_per_km).tolist())
        routing.SetArcCostEvaluatorOfVehicle(cost_cb[v.cost_per_km], vi)
        routing.SetFixedCostOfVehicle(v.fixed_cost * _MILLI, vi)

    time_cb = routing.RegisterTransitMatrix(travel.tolist())
    routing.AddDimension(time_cb, horizon, horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    for node in range(1, n_pieces + 1):
        stop = pieces[node - 1].stop
        end = horizon if stop.window_end_s is None else min(stop.window_end_s, horizon)
        time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(min(stop.window_start_s, end), end)
    for k, vi in enumerate(reload_owner):
        index = manager.NodeToIndex(n_pieces + 1 + k)
        v = vehicles[vi]
        time_dim.CumulVar(index).SetRange(problem.departure_s(v), problem.return_deadline_s(v))
        _allow_only(routing, index, [vi])
    for vi, v in enumerate(vehicles):
        start, end = routing.Start(vi), routing.End(vi)
        dep, deadline = problem.departure_s(v), _latest_return_s(problem, v)
        time_dim.CumulVar(start).SetRange(dep, deadline)
        time_dim.CumulVar(end).SetRange(dep, deadline)
        if v.max_duration_s is not None:
            time_dim.SetSpanUpperBoundForVehicle(_longest_route_s(problem, v), vi)
        routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(start))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(end))

    reload_nodes = range(n_pieces + 1, first_start)
    _add_load_dimension(routing, manager, "weight", [p.weight_kg for p in pieces],
                        [v.capacity_weight_kg for v in vehicles], reload_nodes,
                        [v.initial_weight_kg for v in vehicles], n_nodes)
    if any(p.volume_l for p in pieces) or any(v.initial_volume_l for v in vehicles):
        total = sum(p.volume_l for p in pieces) + max(v.initial_volume_l for v in vehicles)
        caps = [total if v.capacity_volume_l is None else v.capacity_volume_l for v in vehicles]
        _add_load_dimension(routing, manager, "volume", [p.volume_l for p in pieces], caps,
                            reload_nodes, [v.initial_volume_l for v in vehicles], n_nodes)
    moved = _penalised(problem, pieces)
    if moved:
        # Serving a piece with another vehicle than its published one costs the reassign
        # penalty: a count of such pieces per route (a unary transit per vehicle, cheap where
        # per-vehicle arc matrices would take n^2 each), priced by its span.
        vectors: dict[tuple, int] = {}
        transits = []
        for vi in range(len(vehicles)):
            vector = tuple([0] + [int(k in moved and moved[k] != vi) for k in range(n_pieces)]
                           + [0] * (n_nodes - n_pieces - 1))
            if vector not in vectors:
                vectors[vector] = routing.RegisterUnaryTransitVector(list(vector))
            transits.append(vectors[vector])
        routing.AddDimensionWithVehicleTransits(transits, 0, n_pieces, True, "moved")
        routing.GetDimensionOrDie("moved").SetSpanCostCoefficientForAllVehicles(
            problem.reassign_penalty * _MILLI)

    refrigerated = [vi for vi, v in enumerate(vehicles) if v.refrigerated]
    first_of_stop: dict = {}
    for node in range(1, n_pieces + 1):
        piece = pieces[node - 1]
        index = manager.NodeToIndex(node)
        routing.AddDisjunction([index], piece.penalty)
        if piece.stop.cold_chain:
            _allow_only(routing, index, refrigerated)
        # A split pickup is collected in full or not at all.
        if piece.stop.id in first_of_stop:
            routing.solver().Add(routing.ActiveVar(index) == routing.ActiveVar(first_of_stop[piece.stop.id]))
        else:
            first_of_stop[piece.stop.id] = index
    for node in reload_nodes:
        routing.AddDisjunction([manager.NodeToIndex(node)], 0)

    if blocked.any():
        _remove_blocked_arcs(routing, manager, blocked, starts, first_start)

    params = pywrapcp.DefaultRoutingSearchParameters()
    # The default first solution (path cheapest arc) often finds nothing on tight windows;
    # insertion builds a plan that respects them, and guided local search improves it.
    params.first_solution_strategy = getattr(
        routing_enums_pb2.FirstSolutionStrategy, _FIRST_SOLUTION)
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    if limit_s is not None:
        # The search overruns its limit slightly while it finishes a move: keep some time back.
        params.time_limit.FromMilliseconds(max(10, int((0.99 * limit_s - 0.05) * 1000)))
    if max_iterations is not None:
        params.solution_limit = max_iterations
    params.log_search = False
    error = pywrapcp.FindErrorInRoutingSearchParameters(params)
    if error:
        raise SearchFailed(f"OR-Tools rejects the search parameters: {error}")

    solution = None
    if initial is not None:
        routing.CloseModelWithParameters(params)
        assignment = routing.ReadAssignmentFromRoutes(
            _ortools_routes(initial, pieces, reload_owner, n_pieces,
                            {vi for vi, v in enumerate(vehicles) if v.refrigerated},
                            {vi for vi, v in enumerate(vehicles) if _loaded(v)}), True)
        if assignment is not None:
            solution = routing.SolveFromAssignmentWithParameters(assignment, params)
        search["warm_start_accepted"] = assignment is not None
    if solution is None:
        solution = routing.SolveWithParameters(params)
    status = routing.status()
    solver = routing.solver()
    search.update(iterations=int(solver.Solutions()), branches=int(solver.Branches()),
                  search_time_s=round(solver.WallTime() / 1000, 3), status=int(status))
    search["stopped_by"] = ("iterations" if max_iterations is not None
                            and solver.Solutions() >= max_iterations else "time_limit")
    if solution is None:
        why = _ORTOOLS_FAILED.get(int(status), f"the search ended with status {int(status)}")
        raise SearchFailed(f"OR-Tools: {why} ({len(pieces)} pickups, {len(vehicles)} vehicles)")
    search["objective"] = int(solution.ObjectiveValue())
    sequences = []
    for vi in range(len(vehicles)):
        seq: list[int | None] = []
        index = routing.Start(vi)
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if 1 <= node <= n_pieces:
                seq.append(node - 1)
            elif n_pieces < node < first_start:
                seq.append(None)
            index = solution.Value(routing.NextVar(index))
        sequences.append(seq)
    return sequences


def _ortools_routes(start, pieces, reload_owner, n_pieces, cooled, loaded) -> list[list[int]]:
    """Start sequences as OR-Tools node indices: each vehicle's reloads take its own reload
    nodes (a reload first only for a vehicle with a load aboard); a cold piece on a vehicle
    without cooling is left out of the start."""
    free: dict[int, list[int]] = {}
    for k, vi in enumerate(reload_owner):
        free.setdefault(vi, []).append(n_pieces + 1 + k)
    routes = []
    for vi, seq in enumerate(start):
        nodes = []
        for item in seq:
            if item is None:
                if free.get(vi) and (nodes or vi in loaded):
                    nodes.append(free[vi].pop(0))
            elif vi in cooled or not pieces[item].stop.cold_chain:
                nodes.append(item + 1)
        routes.append(nodes)
    return routes


def _allow_only(routing, index, allowed):
    """Only these vehicles may visit ``index`` (the node may still be left out).

    SetAllowedVehiclesForIndex would say the same, but its Python binding in OR-Tools 9.15
    rejects Python lists, so the vehicle variable's domain is narrowed directly.
    """
    keep = set(allowed)
    others = [v for v in range(routing.vehicles()) if v not in keep]
    if others:
        routing.VehicleVar(index).RemoveValues(others)


def _add_load_dimension(routing, manager, name, demands, capacities, reload_nodes, initial,
                        n_nodes):
    """A load dimension starting at each vehicle's load aboard; reload nodes empty the truck
    (transit -max, slack up to max)."""
    reload_nodes = list(reload_nodes)
    top = max(capacities)
    vector = [0] + list(demands) + [-top] * len(reload_nodes)
    vector += [0] * (n_nodes - len(vector))  # the start nodes of vehicles already on the road
    callback = routing.RegisterUnaryTransitVector(vector)
    routing.AddDimensionWithVehicleCapacity(
        callback, top if reload_nodes else 0, capacities, False, name)
    dim = routing.GetDimensionOrDie(name)
    for vi in range(routing.vehicles()):
        dim.CumulVar(routing.Start(vi)).SetValue(initial[vi])
    if reload_nodes:
        reloads = set(reload_nodes)
        for node in range(1, len(demands) + 1 + len(reload_nodes)):
            index = manager.NodeToIndex(node)
            if node in reloads:
                dim.SlackVar(index).SetRange(0, top)
            else:
                dim.SlackVar(index).SetValue(0)
        for vi in range(routing.vehicles()):
            dim.SlackVar(routing.Start(vi)).SetValue(0)


def _remove_blocked_arcs(routing, manager, blocked, starts, first_start):
    """Take arcs with no road out of the model, so no route can ever use them."""
    from_hub = [routing.Start(vi) for vi, node in enumerate(starts) if node == 0]
    start_of = {node: routing.Start(vi) for vi, node in enumerate(starts) if node}
    ends = [routing.End(vi) for vi in range(len(starts))]

    def from_indices(node):
        if node == 0:
            return from_hub
        return [start_of[node]] if node >= first_start else [manager.NodeToIndex(node)]

    def to_indices(node):
        if node == 0:
            return ends
        return [] if node >= first_start else [manager.NodeToIndex(node)]

    for i, j in zip(*np.nonzero(blocked)):
        if i == j:
            continue
        for a in from_indices(int(i)):
            next_var = routing.NextVar(a)
            for b in to_indices(int(j)):
                next_var.RemoveValue(b)


# ---------------------------------------------------------------------------------------------
# PyVRP.


def pyvrp_supports(problem: Problem, pieces=None) -> bool:
    """Whether ``engine="auto"`` gives this problem to PyVRP (see ``choose_engine``)."""
    return choose_engine(problem)[0] == "pyvrp"


# Prizes and costs PyVRP adds up stay far below 2**63 when multiplied by its penalty weights.
_PYVRP_PENALTY_CAP = 1 << 42
# PyVRP's iterated local search accepts a worse plan while it beats the one this many iterations
# back (late acceptance). With its default (300) and prizes just above what leaving a pickup out
# saves, the search of the demo's day wandered for thousands of iterations (more than a 10 s plan
# has) among plans leaving one more pickup out than its best, and its best stayed the greedy
# start's. A short history and heavier prizes keep it near its best: at 2,000 iterations the demo
# day's plan costs 408,101 instead of 471,904 (best known 386,348; benchmarks/coop_routing.py).
_PYVRP_HISTORY = 20
_PYVRP_PRIZE_WEIGHT = 20


def _pyvrp_data(problem: Problem, pieces: list[_Piece], required: bool = False):
    """The problem as PyVRP ``ProblemData``, and the vehicle indices of each vehicle type.

    Locations: 0 is the hub where routes end (and start, for vehicles at the hub), 1 the hub
    again as the reload depot (its service duration is the unloading time), then one per farm
    for dry pickups, one per cold-chain piece and one per piece published on a vehicle, then one
    start depot per vehicle type already on the road. Cold pieces get locations of their own so
    that a second routing profile, used by vehicles without cooling, can prohibit every arc into
    or out of them. A prohibited arc (no road, or cold chain on a dry truck) takes longer than
    the whole day, so any route that uses it breaks a time window and is infeasible.

    With a reassign penalty, each vehicle with published pickups has a routing profile of its
    own whose distances into the pickups published on other vehicles are longer by the penalty
    (at its per-km cost); vehicles without published pickups share one per per-km cost. Profile
    0 stays the plain matrices (PyVRP's neighbourhoods are computed from it).
    """
    import pyvrp

    hub = problem.hub_location
    vehicles = problem.vehicles
    moved = _penalised(problem, pieces)
    dry_locs = sorted({p.stop.location for k, p in enumerate(pieces)
                       if not p.stop.cold_chain and k not in moved})
    where = {loc: 2 + i for i, loc in enumerate(dry_locs)}
    index = [hub, hub, *dry_locs]
    client_loc = []
    for k, p in enumerate(pieces):
        if p.stop.cold_chain or k in moved:
            client_loc.append(len(index))
            index.append(p.stop.location)
        else:
            client_loc.append(where[p.stop.location])
    groups = _vehicle_groups(problem)
    start_loc = {}  # vehicle type -> its start depot's location index
    for t, members in enumerate(groups.values()):
        v = vehicles[members[0]]
        if problem.starts_away(v):
            start_loc[t] = len(index)
            index.append(problem.start_location(v))
    ix = np.asarray(index)
    dist = problem.distances_m[np.ix_(ix, ix)]
    dur = problem.durations_s[np.ix_(ix, ix)]
    horizon = max(problem.return_deadline_s(v) for v in vehicles)
    far_m = 4 * max(_max_finite(dist), 1) + 1
    far_s = 2 * horizon + 1
    for k in range(0, len(index), 256):  # in place, a band of rows at a time: no full-size mask
        band = slice(k, k + 256)
        blocked = (dist[band] >= UNREACHABLE) | (dur[band] >= UNREACHABLE)
        dist[band][blocked] = far_m
        dur[band][blocked] = far_s

    use_volume = (any(p.volume_l for p in pieces) or any(v.initial_volume_l for v in vehicles))
    total_volume = sum(p.volume_l for p in pieces) + max(v.initial_volume_l for v in vehicles)

    def load(w, vol):
        return [w, vol] if use_volume else [w]

    scale = _cost_scale(vehicles)
    clients = []
    for p, loc in zip(pieces, client_loc):
        s = p.stop
        kwargs = {"tw_early": s.window_start_s}
        if s.window_end_s is not None:
            kwargs["tw_late"] = s.window_end_s
        clients.append(pyvrp.Client(
            location=loc, pickup=load(p.weight_kg, p.volume_l), service_duration=s.service_duration_s,
            prize=0 if required else -(-p.penalty // scale), required=required, name=str(s.id),
            **kwargs))

    cold = [loc for p, loc in zip(pieces, client_loc) if p.stop.cold_chain]
    need_dry = bool(cold) and not all(v.refrigerated for v in vehicles)
    no_cold_dur = None
    if need_dry:
        # The same distances; only the durations prohibit (a copy less of a large matrix).
        no_cold_dur = dur.copy()
        no_cold_dur[cold, :] = far_s
        no_cold_dur[:, cold] = far_s
        no_cold_dur[cold, cold] = 0
    distances, durations = [dist], [dur]
    profiles: dict[tuple, int] = {}

    def profile(v: Vehicle, own) -> int:
        cool = v.refrigerated or not need_dry
        key = (cool, own, v.cost_per_km) if moved else (cool,)
        if key == (True,):
            return 0
        if key not in profiles:
            d = dist
            if moved:
                d = dist.copy()
                cols = sorted({client_loc[k] for k, pv in moved.items() if vehicles[pv].id != own})
                d[:, cols] += -(-problem.reassign_penalty * _MILLI // v.cost_per_km)
                d[cols, cols] = 0
            profiles[key] = len(distances)
            distances.append(d)
            durations.append(dur if cool else no_cold_dur)
        return profiles[key]

    owners = {vehicles[pv].id for pv in moved.values()}
    types = []
    for t, members in enumerate(groups.values()):
        v = vehicles[members[0]]
        dep, deadline = problem.departure_s(v), problem.return_deadline_s(v)
        kwargs = {}
        if v.max_duration_s is not None:
            kwargs["shift_duration"] = v.max_duration_s
        if v.max_trips > 1:
            kwargs.update(reload_depots=[1], max_reloads=v.max_trips - 1)
        if t in start_loc:
            kwargs["start_depot"] = 2 + sorted(start_loc).index(t)
        if _loaded(v):
            kwargs["initial_load"] = load(v.initial_weight_kg, v.initial_volume_l)
        cap_v = v.capacity_volume_l
        types.append(pyvrp.VehicleType(
            num_available=len(members),
            capacity=load(v.capacity_weight_kg, total_volume if cap_v is None else cap_v),
            fixed_cost=v.fixed_cost * _MILLI // scale, tw_early=dep, tw_late=max(dep, deadline),
            unit_distance_cost=v.cost_per_km // scale,
            profile=profile(v, v.id if v.id in owners else None), **kwargs))

    depot_kwargs = {"tw_early": problem.hub_open_s}
    if problem.hub_cutoff_s is not None:
        depot_kwargs["tw_late"] = problem.hub_cutoff_s
    depots = [pyvrp.Depot(location=0, **depot_kwargs),
              pyvrp.Depot(location=1, service_duration=problem.reload_duration_s, **depot_kwargs)]
    depots += [pyvrp.Depot(location=start_loc[t]) for t in sorted(start_loc)]
    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(0, 0) for _ in index], clients=clients, depots=depots,
        vehicle_types=types, distance_matrices=distances, duration_matrices=durations)
    return data, list(groups.values())


def _solve_pyvrp(problem: Problem, pieces: list[_Piece], limit_s: float | None, seed: int,
                 max_iterations: int | None, search: dict, start=None):
    import pyvrp
    from pyvrp.exceptions import PenaltyBoundWarning
    from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

    # Penalties for PyVRP are capped lower than for OR-Tools (its penalty weights multiply them)
    # and weigh more (``_PYVRP_PRIZE_WEIGHT``).
    penalty = _penalties(problem, list({p.stop.id: p.stop for p in pieces}.values()),
                         len(pieces), cap=_PYVRP_PENALTY_CAP, weight=_PYVRP_PRIZE_WEIGHT)
    pieces = [_Piece(p.stop, p.weight_kg, p.volume_l, penalty[p.stop.priority]) for p in pieces]
    # Two passes. PyVRP's search adds a reload trip to make room for a required pickup, but not
    # to take in an optional one: so first every servable pickup is required; if that finds no
    # feasible plan within half the budget (the day does not fit), the rest goes to the model
    # where pickups are optional with their prizes, starting from the first pass's plan. A day
    # whose loads exceed the fleet's trips skips the first pass. Both start from a greedy plan
    # (``_construct``), which on large days is far better than PyVRP's random start.
    scale = _cost_scale(problem.vehicles)
    top_prize = max(-(-p.penalty // scale) for p in pieces)
    params = pyvrp.SolveParams(penalty=pyvrp.PenaltyParams(max_penalty=max(1e5, 10.0 * top_prize)),
                               ils=pyvrp.IteratedLocalSearchParams(history_length=_PYVRP_HISTORY))
    started = time.perf_counter()
    cold = [k for k, p in enumerate(pieces) if p.stop.cold_chain]

    def run(data, limit, iterations, seed, initial):
        criteria = []
        if limit is not None:
            # PyVRP checks the clock between iterations and may overrun slightly: keep time back.
            criteria.append(MaxRuntime(max(0.01, 0.98 * limit - 0.02)))
        if iterations is not None:
            criteria.append(MaxIterations(iterations))
        stop = criteria[0] if len(criteria) == 1 else MultipleCriteria(criteria)
        try:
            return _pyvrp_search(data, stop, seed, params, cold, initial)
        except (ValueError, RuntimeError) as exc:
            raise SearchFailed(f"PyVRP rejects the problem or its parameters: {exc}") from exc

    def routes_of(solution):
        return [(r.vehicle_type(), [a.idx if a.is_client() else None for a in r.schedule()[1:-1]])
                for r in solution.routes()]

    def as_solution(data, routes):
        return pyvrp.Solution(data, [pyvrp.Route(data, [
            pyvrp.Activity(pyvrp.ActivityType.CLIENT, k) if k is not None
            else pyvrp.Activity(pyvrp.ActivityType.DEPOT, 1) for k in seq], vt)
            for vt, seq in routes if seq])

    if start is None:
        constructed = _construct(problem, pieces)
    else:
        type_of = {vi: t for t, members in enumerate(_vehicle_groups(problem).values())
                   for vi in members}
        constructed = [(type_of[vi], seq) for vi, seq in enumerate(start) if seq]
    first = None
    first_iterations = 0
    routes = constructed
    optional_model = True
    if not _cannot_all_fit(problem, pieces):
        data, members = _pyvrp_data(problem, pieces, required=True)
        first_iterations = None if max_iterations is None else max(1, max_iterations // 2)
        with warnings.catch_warnings():
            # A day that does not fit makes the all-required pass hit its penalty bound: expected.
            warnings.simplefilter("ignore", PenaltyBoundWarning)
            first = run(data, None if limit_s is None else limit_s / 2, first_iterations, seed,
                        as_solution(data, constructed))
        routes = routes_of(first.best)
        optional_model = not first.best.is_feasible()
        first = (int(first.num_iterations), first.runtime)
        if optional_model:
            del data  # free its matrices before the next model is built
    if optional_model:
        data, members = _pyvrp_data(problem, pieces, required=False)
    rest_s = None if limit_s is None else max(0.01, limit_s - (time.perf_counter() - started))
    rest_iterations = None if max_iterations is None else max(1, max_iterations - first_iterations)
    result = run(data, rest_s, rest_iterations, seed + 1, as_solution(data, routes))
    iterations = int(result.num_iterations) + (first[0] if first else 0)
    search.update(iterations=iterations, all_required=not optional_model,
                  search_time_s=round(result.runtime + (first[1] if first else 0), 3),
                  stopped_by="iterations" if max_iterations is not None
                  and iterations >= max_iterations else "time_limit")
    best = result.best
    if not best.is_feasible():
        raise SearchFailed(
            f"PyVRP found no feasible plan in {iterations} iterations "
            f"({len(pieces)} pickups, {len(problem.vehicles)} vehicles)")
    left_out = best.uncollected_prizes() if optional_model else 0
    search["objective"] = int(best.distance_cost() + best.fixed_vehicle_cost() + left_out) * scale

    sequences: list[list[int | None]] = [[] for _ in problem.vehicles]
    free = [list(m) for m in members]
    for route in best.routes():
        vi = free[route.vehicle_type()].pop(0)
        sequences[vi] = [a.idx if a.is_client() else None for a in route.schedule()[1:-1]]
    return sequences


def _cost_scale(vehicles) -> int:
    """Smaller cost figures suit PyVRP's penalty manager: the common factor of all costs."""
    scale = 0
    for v in vehicles:
        scale = math.gcd(scale, v.cost_per_km, v.fixed_cost * _MILLI)
    return max(scale, 1)


def _vehicle_groups(problem: Problem) -> dict[tuple, list[int]]:
    """Vehicles alike in everything PyVRP knows of them form one vehicle type."""
    groups: dict[tuple, list[int]] = {}
    # A vehicle with pickups published on it pays no reassign penalty for them: a type (and a
    # routing profile) of its own.
    own = ({s.published_vehicle for s in problem.stops if s.published_vehicle is not None}
           if problem.reassign_penalty else set())
    for vi, v in enumerate(problem.vehicles):
        key = (v.capacity_weight_kg, v.capacity_volume_l, problem.departure_s(v),
               problem.return_deadline_s(v), v.max_duration_s, v.cost_per_km, v.fixed_cost,
               v.max_trips, v.refrigerated, problem.start_location(v), v.initial_weight_kg,
               v.initial_volume_l, v.id if v.id in own else None)
        groups.setdefault(key, []).append(vi)
    return groups


def _construct(problem: Problem, pieces: list[_Piece]) -> list[tuple[int, list[int | None]]]:
    """A greedy plan to start the search from: each vehicle in turn (refrigerated ones first,
    taking the cold pickups) goes to the pickup it can start soonest that fits its load, window
    and return in time, and back to the hub to unload when nothing more fits, while it has trips
    left. Returns (vehicle type, visits with None for a reload) per route; pickups it cannot
    place stay out for the search."""
    dur = problem.durations_s
    hub = problem.hub_location
    locs = np.array([p.stop.location for p in pieces], dtype=np.int64)
    early = np.array([p.stop.window_start_s for p in pieces], dtype=np.int64)
    late = np.array([p.stop.window_end_s if p.stop.window_end_s is not None else 1 << 50
                     for p in pieces], dtype=np.int64)
    service = np.array([p.stop.service_duration_s for p in pieces], dtype=np.int64)
    weight = np.array([p.weight_kg for p in pieces], dtype=np.int64)
    volume = np.array([p.volume_l for p in pieces], dtype=np.int64)
    cold = np.array([p.stop.cold_chain for p in pieces], dtype=bool)
    back = dur[locs, hub]
    out = dur[hub, locs]
    left = np.ones(len(pieces), dtype=bool)
    type_of = {}
    for t, members in enumerate(_vehicle_groups(problem).values()):
        for vi in members:
            type_of[vi] = t
    order = sorted(range(len(problem.vehicles)), key=lambda vi: not problem.vehicles[vi].refrigerated)
    routes = []
    for vi in order:
        v = problem.vehicles[vi]
        allowed = left & (cold if v.refrigerated else ~cold)
        if not allowed.any():
            continue
        deadline = problem.return_deadline_s(v)
        start = problem.departure_s(v)
        if v.max_duration_s is not None:
            deadline = min(deadline, start + v.max_duration_s)
        cap_w = v.capacity_weight_kg
        cap_v = v.capacity_volume_l if v.capacity_volume_l is not None else 1 << 50
        # ``here`` None is the hub; a vehicle already on the road starts where it is, loaded.
        here = problem.start_location(v) if problem.starts_away(v) else None
        if here is None and _loaded(v) and v.max_trips > 1:
            here = hub  # at the hub with a load: unloading first is a reload
        t, load_w, load_v, trips, seq = start, v.initial_weight_kg, v.initial_volume_l, 1, []
        while True:
            cand = np.flatnonzero(allowed & left)
            if not len(cand):
                break
            arrive = t + (out[cand] if here is None else dur[here, locs[cand]])
            begin = np.maximum(arrive, early[cand])
            ok = ((begin <= late[cand]) & (begin + service[cand] + back[cand] <= deadline)
                  & (load_w + weight[cand] <= cap_w) & (load_v + volume[cand] <= cap_v))
            if ok.any():
                k = cand[np.flatnonzero(ok)[np.argmin((begin - t)[ok])]]
                seq.append(int(k))
                left[k] = False
                t = int(max(t + (out[k] if here is None else dur[here, locs[k]]), early[k])
                        + service[k])
                here, load_w, load_v = locs[k], load_w + weight[k], load_v + volume[k]
                continue
            if here is None or trips >= v.max_trips:
                break
            t += int(dur[here, hub]) + problem.reload_duration_s
            here, load_w, load_v, trips = None, 0, 0, trips + 1
            seq.append(None)
        while seq and seq[-1] is None:
            seq.pop()
        if seq:
            routes.append((type_of[vi], seq))
    return routes


def _cannot_all_fit(problem: Problem, pieces: list[_Piece]) -> bool:
    """Whether the day's loads exceed what the fleet can carry in all its trips (cold-chain loads
    against the refrigerated vehicles alone): then requiring every pickup is known to fail."""
    def room(vehicles, attr):
        return sum((getattr(v, attr) if getattr(v, attr) is not None else 1 << 62) * v.max_trips
                   for v in vehicles)

    cool = [v for v in problem.vehicles if v.refrigerated]
    cold = [p for p in pieces if p.stop.cold_chain]
    aboard_w = sum(v.initial_weight_kg for v in problem.vehicles)
    aboard_v = sum(v.initial_volume_l for v in problem.vehicles)
    return (sum(p.weight_kg for p in pieces) + aboard_w > room(problem.vehicles, "capacity_weight_kg")
            or sum(p.volume_l for p in pieces) + aboard_v > room(problem.vehicles, "capacity_volume_l")
            or sum(p.weight_kg for p in cold) + sum(v.initial_weight_kg for v in cool)
            > room(cool, "capacity_weight_kg")
            or sum(p.volume_l for p in cold) + sum(v.initial_volume_l for v in cool)
            > room(cool, "capacity_volume_l"))


def _pyvrp_search(data, stop, seed: int, params, cold: list[int], initial=None):
    """``pyvrp.solve``, with the granular neighbourhood widened for cold-chain pickups.

    Only the refrigerated vehicles may take cold pickups, so the moves that matter for them are
    between cold pickups; their nearest neighbours by distance are mostly dry farms. Each cold
    pickup gets the other cold pickups, nearest first, as its neighbours, ahead of the rest.
    """
    from pyvrp import IteratedLocalSearch, RandomNumberGenerator, Solution
    from pyvrp.PenaltyManager import PenaltyManager
    from pyvrp._pyvrp import Activity, ActivityType
    from pyvrp.search import LocalSearch, PerturbationManager, compute_neighbours

    rng = RandomNumberGenerator(seed=seed)
    neighbours = compute_neighbours(data, params.neighbourhood)
    if len(cold) > 1:
        size = params.neighbourhood.num_neighbours
        dist = data.distance_matrix(0)
        locs = np.array([data.client(k).location for k in cold])
        for k, loc in zip(cold, locs):
            order = [cold[j] for j in np.argsort(dist[loc, locs] + dist[locs, loc], kind="stable")
                     if cold[j] != k][:size]
            key = Activity(ActivityType.CLIENT, k)
            mine = [Activity(ActivityType.CLIENT, j) for j in order]
            rest = [a for a in neighbours[key] if not (a.is_client() and a.idx in set(order))]
            neighbours[key] = (mine + rest)[:max(size, len(mine))]
    ls = LocalSearch(data, rng, neighbours, PerturbationManager(params.perturbation))
    for op in params.operators:
        if op.supports(data):
            ls.add_operator(op(data))
    pm = PenaltyManager(params.penalty.midpoint_penalties(data), params.penalty)
    if initial is None:
        initial = ls(Solution.make_random(data, rng), pm.max_cost_evaluator(), exhaustive=True)
    algo = IteratedLocalSearch(data, pm, ls, initial, params.ils)
    return algo.run(stop, False, False, params.display_interval)


# ---------------------------------------------------------------------------------------------
# From visit sequences to a Plan with times, loads and distances.


def _simulate(problem: Problem, v: Vehicle, pieces, seq, start_s: int):
    """Visits when leaving at start_s, the time back at the hub, and whether windows hold."""
    dur, dist = problem.durations_s, problem.distances_m
    hub = problem.hub_location
    here, t, travelled, ok = problem.start_location(v), start_s, 0, True
    w_load, v_load = v.initial_weight_kg, v.initial_volume_l
    visits = []
    for item in seq:
        if item is None:
            loc, service, w, vol, ws, we, stop_id, kind = (
                hub, problem.reload_duration_s, 0, 0, 0, None, None, RELOAD)
        else:
            p = pieces[item]
            s = p.stop
            loc, service, w, vol, ws, we, stop_id, kind = (
                s.location, s.service_duration_s, p.weight_kg, p.volume_l,
                s.window_start_s, s.window_end_s, s.id, PICKUP)
        arrival = t + int(dur[here, loc])
        travelled += int(dist[here, loc])
        begin = max(arrival, ws)
        if we is not None and begin > we:
            ok = False
        t = begin + service
        if kind == RELOAD:
            w_load = v_load = 0
        else:
            w_load += w
            v_load += vol
        visits.append(Visit(kind, stop_id, loc, arrival, begin, t, w, vol, w_load, v_load,
                            travelled))
        here = loc
    end = t + int(dur[here, hub])
    travelled += int(dist[here, hub])
    ok = ok and end <= problem.return_deadline_s(v)
    return visits, end, travelled, ok


def _route(problem: Problem, v: Vehicle, pieces, seq) -> Route:
    earliest = problem.departure_s(v)
    visits, end, travelled, ok = _simulate(problem, v, pieces, seq, earliest)
    if ok:
        # Leave as late as possible without coming back later: no waiting before the first
        # window opens, and the shortest shift for the same return time.
        lo, hi = earliest, max(earliest, problem.return_deadline_s(v))
        while lo < hi:
            mid = (lo + hi + 1) // 2
            _, mid_end, _, mid_ok = _simulate(problem, v, pieces, seq, mid)
            if mid_ok and mid_end <= end:
                lo = mid
            else:
                hi = mid - 1
        start = lo
        visits, end, travelled, ok = _simulate(problem, v, pieces, seq, start)
    else:
        start = earliest
    cost = v.fixed_cost + (travelled * v.cost_per_km + _MILLI // 2) // _MILLI
    return Route(v.id, tuple(visits), start, end, travelled, cost, problem.hub_location,
                 problem.start_location(v) if problem.starts_away(v) else None)


def _build_plan(problem, pieces, sequences, unassigned, engine, started, search=None) -> Plan:
    served_pieces: dict = {}
    for seq in sequences:
        for item in seq:
            if item is not None:
                served_pieces.setdefault(pieces[item].stop.id, set()).add(item)
    needed: dict = {}
    for i, p in enumerate(pieces):
        needed.setdefault(p.stop.id, set()).add(i)
    # A split pickup is in the plan in full or not at all.
    partial = {sid for sid, got in served_pieces.items() if got != needed[sid]}
    routes = []
    moved = 0
    for v, seq in zip(problem.vehicles, sequences):
        seq = [i for i in seq if i is None or pieces[i].stop.id not in partial]
        while seq and seq[-1] is None:
            seq.pop()
        while seq and seq[0] is None and not _loaded(v):
            seq.pop(0)
        seq = [x for k, x in enumerate(seq) if not (x is None and k and seq[k - 1] is None)]
        if seq or problem.starts_away(v):
            # A vehicle already on the road has a route even with nothing more to collect: the
            # way back to the hub.
            routes.append(_route(problem, v, pieces, seq))
        moved += len({pieces[i].stop.id for i in seq
                      if i is not None and problem.reassigned(pieces[i].stop, v.id)})
    left = list(unassigned)
    done = {sid for sid in served_pieces if sid not in partial}
    for sid in needed:
        if sid not in done:
            left.append(Unassigned(sid, *_leftover_reason(problem, problem.stop(sid))))
    order = {s.id: i for i, s in enumerate(problem.stops)}
    left.sort(key=lambda u: order[u.stop_id])
    search = dict(search or {})
    if any(s.published_vehicle is not None for s in problem.stops):
        search["reassigned"] = moved  # pickups served by another vehicle than their published one
    return Plan(
        routes=tuple(routes), unassigned=tuple(left),
        cost=sum(r.cost for r in routes), distance_m=sum(r.distance_m for r in routes),
        engine=engine, solve_time_s=time.perf_counter() - started, search=search)


def plan_from_routes(problem: Problem, routes, engine: str = "given") -> Plan:
    """A Plan from routes chosen elsewhere (another solver, a manager's edits).

    ``routes`` is a sequence of ``(vehicle_id, [stop_id or None, ...])``, None marking a reload
    at the hub. Each pickup is collected whole; stops on no route are reported left out with the
    diagnosed reason. Times, loads and distances are computed from the matrices; run
    ``routing.check.check_plan`` to know whether the result is feasible.
    """
    started = time.perf_counter()
    pieces = [_Piece(s, s.weight_kg, s.volume_l, 0) for s in problem.stops]
    index = {s.id: i for i, s in enumerate(problem.stops)}
    by_vehicle = {v.id: i for i, v in enumerate(problem.vehicles)}
    sequences: list[list[int | None]] = [[] for _ in problem.vehicles]
    for vehicle_id, stop_ids in routes:
        if vehicle_id not in by_vehicle:
            raise ValueError(f"plan: unknown vehicle {vehicle_id!r}")
        try:
            sequences[by_vehicle[vehicle_id]] = [None if s is None else index[s] for s in stop_ids]
        except KeyError as exc:
            raise ValueError(f"plan: unknown stop {exc.args[0]!r}") from None
    return _build_plan(problem, pieces, sequences, [], engine, started)
