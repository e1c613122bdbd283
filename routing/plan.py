"""What the solver returns: routes with per-visit times, loads and distances, and what was left out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

PICKUP = "pickup"
RELOAD = "reload"


@dataclass(frozen=True)
class Visit:
    """One stop of a route.

    ``kind`` is ``"pickup"`` (``stop_id`` set; ``weight_kg``/``volume_l`` is what is collected here,
    part of the stop's total when the pickup is split) or ``"reload"`` (back at the hub to unload;
    ``stop_id`` is None). ``load_*`` is the load on board when leaving; ``distance_m`` is the
    cumulative distance from the route's start to this visit.
    """

    kind: str
    stop_id: str | int | None
    location: int
    arrival_s: int
    service_start_s: int
    departure_s: int
    weight_kg: int
    volume_l: int
    load_weight_kg: int
    load_volume_l: int
    distance_m: int


@dataclass(frozen=True)
class Route:
    """One vehicle's day: leave the hub (or ``start_location``, where a vehicle already on the
    road starts a re-plan) at ``start_s``, the visits in order, back at the hub at ``end_s``."""

    vehicle_id: str | int
    visits: tuple[Visit, ...]
    start_s: int
    end_s: int
    distance_m: int
    cost: int
    hub_location: int
    start_location: int | None = None

    @property
    def duration_s(self) -> int:
        return self.end_s - self.start_s

    @property
    def origin(self) -> int:
        """The location the route starts from: the hub unless ``start_location`` says otherwise."""
        return self.hub_location if self.start_location is None else self.start_location

    @property
    def locations(self) -> tuple[int, ...]:
        """Matrix location indices in driving order, start first and the hub last (for road
        paths)."""
        return (self.origin, *(v.location for v in self.visits), self.hub_location)

    @property
    def stop_ids(self) -> tuple:
        """Pickup stop ids in visiting order (a split pickup may appear more than once)."""
        return tuple(v.stop_id for v in self.visits if v.kind == PICKUP)

    @property
    def trips(self) -> int:
        return 1 + sum(1 for v in self.visits if v.kind == RELOAD)


@dataclass(frozen=True)
class Unassigned:
    """A pickup the plan leaves out, and why: one of ``routing.model.REASONS``."""

    stop_id: str | int
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Plan:
    """Routes (only vehicles that are used), pickups left out, and totals.

    ``cost`` is in the problem's currency unit (per-km costs and fixed costs of used vehicles).
    ``engine`` names the solver that produced the routes; ``search`` holds its figures: why the
    engine was chosen (``engine_reason``), ``seed``, ``time_limit_s``, ``max_iterations``, the
    ``iterations`` done, ``search_time_s``, what stopped it (``stopped_by``) and the engine's
    ``objective`` (1/1000 currency unit, penalties of left-out pickups included). PyVRP runs
    ``searches`` side by side, in two rounds (the second from the first's cheapest plan), and
    keeps the cheapest: ``search_objectives`` says what each found (the first round's, then the
    second's), ``search_won`` which (0 the first, the one from ``seed``); the other figures are
    the winner's (``iterations`` and ``search_time_s`` of both rounds).
    """

    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    cost: int
    distance_m: int
    engine: str
    solve_time_s: float = 0.0
    search: dict = field(default_factory=dict, compare=False)

    @property
    def num_vehicles(self) -> int:
        return len(self.routes)

    def to_dict(self) -> dict:
        """A JSON-ready dictionary."""
        return {
            "cost": self.cost,
            "distance_m": self.distance_m,
            "engine": self.engine,
            "solve_time_s": round(self.solve_time_s, 3),
            "search": dict(self.search),
            "routes": [
                {
                    "vehicle_id": r.vehicle_id,
                    "start_s": r.start_s,
                    "end_s": r.end_s,
                    "distance_m": r.distance_m,
                    "cost": r.cost,
                    "locations": list(r.locations),
                    "visits": [asdict(v) for v in r.visits],
                }
                for r in self.routes
            ],
            "unassigned": [asdict(u) for u in self.unassigned],
        }
