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
from routing.solver import diagnose, plan_from_routes, pyvrp_supports, solve

# --- road network exports (routing.network, routing.matrix, ...) go below this line ---

__all__ = [
    "REASONS",
    "UNREACHABLE",
    "InfeasiblePlan",
    "Instance",
    "Plan",
    "Problem",
    "Route",
    "Stop",
    "Unassigned",
    "Vehicle",
    "Visit",
    "assert_feasible",
    "check_plan",
    "diagnose",
    "plan_from_routes",
    "problem_from_dict",
    "problem_to_dict",
    "pyvrp_supports",
    "read",
    "read_json",
    "read_solomon",
    "read_vrplib",
    "solve",
]
