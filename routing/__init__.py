"""Vehicle routing for the cooperative: road network, travel matrices, pickups to truck routes.

A library: it knows nothing of the web service, the database or orders.
"""

from routing.check import InfeasiblePlan, assert_feasible, check_plan
from routing.model import REASONS, UNREACHABLE, Problem, Stop, Vehicle
from routing.plan import Plan, Route, Unassigned, Visit
from routing.readers import (
    Instance,
    problem_from_dict,
    problem_to_dict,
    read,
    read_json,
    read_solomon,
    read_vrplib,
)
from routing.solver import (
    SearchFailed,
    choose_engine,
    diagnose,
    plan_from_routes,
    pyvrp_supports,
    saving_bound,
    solve,
)

from routing.build import RoadWay, build_network
from routing.generator import generate_county
from routing.matrix import NoRoute, RoadPath, TravelMatrix, shortest_path, travel_matrix
from routing.network import Network, Place, Snap, SnapError
from routing.stats import network_stats
from routing.store import load_network, load_saved_network, save_network

__all__ = [
    "Network",
    "NoRoute",
    "Place",
    "RoadPath",
    "RoadWay",
    "Snap",
    "SnapError",
    "TravelMatrix",
    "build_network",
    "generate_county",
    "load_network",
    "load_saved_network",
    "network_stats",
    "save_network",
    "shortest_path",
    "travel_matrix",
    "REASONS",
    "UNREACHABLE",
    "InfeasiblePlan",
    "Instance",
    "Plan",
    "Problem",
    "Route",
    "SearchFailed",
    "Stop",
    "Unassigned",
    "Vehicle",
    "Visit",
    "assert_feasible",
    "check_plan",
    "choose_engine",
    "diagnose",
    "plan_from_routes",
    "problem_from_dict",
    "problem_to_dict",
    "pyvrp_supports",
    "read",
    "read_json",
    "read_solomon",
    "read_vrplib",
    "saving_bound",
    "solve",
]
