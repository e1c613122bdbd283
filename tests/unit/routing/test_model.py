"""The model refuses bad input with a message that names the field."""

import dataclasses

import numpy as np
import pytest

from routing import UNREACHABLE, Problem, Stop, Vehicle


def two_point_problem(**kwargs):
    defaults = dict(durations_s=[[0, 60], [60, 0]], distances_m=[[0, 1000], [1000, 0]],
                    stops=[Stop(id="a", location=1, weight_kg=5)],
                    vehicles=[Vehicle(id="t", capacity_weight_kg=10)])
    defaults.update(kwargs)
    return Problem(**defaults)


def test_a_valid_problem_is_immutable_and_indexes_its_stops():
    problem = two_point_problem()
    assert problem.stop("a").weight_kg == 5
    assert problem.num_locations == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.hub_location = 1
    assert problem.durations_s.dtype == np.int64
    with pytest.raises(ValueError):
        problem.durations_s[0, 1] = 1  # the matrices are read-only too


def test_matrices_given_as_numpy_arrays_are_kept_as_arrays_not_nested_tuples():
    rows = np.array([[0, 60], [60, 0]], dtype=np.int32)
    problem = two_point_problem(durations_s=rows, distances_m=rows * 10)
    assert isinstance(problem.distances_m, np.ndarray)
    assert problem.distances_m[0, 1] == 600
    rows[0, 1] = 5  # the caller's array may change afterwards: the problem keeps its own copy
    assert problem.durations_s[0, 1] == 60
    assert problem == two_point_problem(durations_s=[[0, 60], [60, 0]],
                                        distances_m=[[0, 600], [600, 0]])


def test_unreachable_pairs_are_marked_by_the_sentinel():
    problem = two_point_problem(durations_s=[[0, UNREACHABLE], [60, 0]])
    assert not problem.is_reachable(0, 1)
    assert problem.is_reachable(1, 0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(window_start_s=100, window_end_s=50), "window_end_s"),
    (dict(weight_kg=-1), "weight_kg"),
    (dict(volume_l=1.5), "volume_l"),
    (dict(priority=0), "priority"),
    (dict(priority=10), "priority"),
    (dict(id=None), "id"),
])
def test_bad_stops_are_refused(kwargs, message):
    args = dict(id="a", location=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Stop(**args)


@pytest.mark.parametrize("kwargs, message", [
    (dict(capacity_weight_kg=-5), "capacity_weight_kg"),
    (dict(shift_start_s=100, shift_end_s=50), "shift_end_s"),
    (dict(max_trips=0), "max_trips"),
    (dict(capacity_volume_l=-1), "capacity_volume_l"),
])
def test_bad_vehicles_are_refused(kwargs, message):
    args = dict(id="t", capacity_weight_kg=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Vehicle(**args)


@pytest.mark.parametrize("kwargs, message", [
    (dict(durations_s=[[0, 1]]), "row 0"),
    (dict(distances_m=[[0, 1, 2], [1, 0, 2], [2, 2, 0]]), "distances_m"),
    (dict(durations_s=[[0, -1], [1, 0]]), "negative"),
    (dict(stops=[Stop(id="a", location=5)]), "outside the matrix"),
    (dict(stops=[Stop(id="a", location=1), Stop(id="a", location=1)]), "duplicate stop"),
    (dict(vehicles=[]), "at least one vehicle"),
    (dict(vehicles=[Vehicle(id=1, capacity_weight_kg=1)] * 2), "duplicate vehicle"),
    (dict(hub_location=2), "hub_location"),
    (dict(hub_open_s=100, hub_cutoff_s=10), "hub_cutoff_s"),
])
def test_bad_problems_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        two_point_problem(**kwargs)


def test_the_return_deadline_is_the_earlier_of_shift_end_and_hub_cut_off():
    vehicle = Vehicle(id="t", capacity_weight_kg=1, shift_start_s=3600, shift_end_s=7200)
    problem = two_point_problem(vehicles=[vehicle], hub_open_s=5000, hub_cutoff_s=6000)
    assert problem.return_deadline_s(vehicle) == 6000
    assert problem.departure_s(vehicle) == 5000
