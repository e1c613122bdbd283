"""Turn a Problem into a Plan: the front both engines sit behind.

The engines are rooms of their own, ``routing.engine_ortools`` and ``routing.engine_pyvrp``;
what they and this front share (pieces, penalties, ``SearchFailed``) is ``routing.pieces``.
Imports go one way: this front -> engines -> pieces.

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
import time

import numpy as np

from routing.model import UNREACHABLE, Problem, Stop, Vehicle
from routing.plan import PICKUP, RELOAD, Plan, Route, Unassigned, Visit
from routing.engine_ortools import _solve_ortools
from routing.engine_pyvrp import _pyvrp_limit, _solve_pyvrp
# SearchFailed and saving_bound are also the package's (routing/__init__.py imports them here).
from routing.pieces import (
    _MILLI,
    SearchFailed,
    _loaded,
    _penalties,
    _Piece,
    _split,
    _suitable_vehicles,
    saving_bound,
)

ENGINES = ("auto", "ortools", "pyvrp")

# Time kept back from the limit for building the model and the plan.
_MARGIN_S = 0.05


# ---------------------------------------------------------------------------------------------
# Diagnosis: simple checks independent of any search.


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
# Public entry point.


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


def pyvrp_supports(problem: Problem, pieces=None) -> bool:
    """Whether ``engine="auto"`` gives this problem to PyVRP (see ``choose_engine``)."""
    return choose_engine(problem)[0] == "pyvrp"


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
