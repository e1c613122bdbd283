"""Readers against small files in tests/data."""

import json
from pathlib import Path

import pytest

from routing import Stop, problem_from_dict, problem_to_dict, read, read_solomon, read_vrplib

DATA = Path(__file__).resolve().parents[2] / "data"


def test_solomon_reader_scales_times_and_truncates_distances_to_one_decimal():
    instance = read_solomon(DATA / "C101_25.txt")
    problem = instance.problem
    assert instance.name == "C101.25"
    assert instance.distance_scale == 10
    assert len(problem.stops) == 25 and len(problem.vehicles) == 25
    assert problem.vehicles[0].capacity_weight_kg == 200
    first = problem.stop(1)
    assert (first.weight_kg, first.window_start_s, first.window_end_s) == (10, 9120, 9670)
    assert first.service_duration_s == 900
    # depot (40, 50) to customer 1 (45, 68): sqrt(349) = 18.681 -> 18.6 -> 186
    assert problem.distances_m[0][1] == problem.durations_s[0][1] == 186
    assert problem.hub_cutoff_s == 12360


def test_vrplib_reader_rounds_euclidean_distances_and_numbers_stops_as_the_file():
    instance = read_vrplib(DATA / "small_cvrp.vrp")
    problem = instance.problem
    assert instance.name == "small-n8-k2"
    assert [s.id for s in problem.stops] == [2, 3, 4, 5, 6, 7, 8]
    assert problem.stop(6).weight_kg == 5
    assert problem.distances_m[0][1] == 5  # (0,0)-(3,4)
    assert problem.distances_m[1][7] == 9  # (3,4)-(-5,0): sqrt(80) = 8.94 -> 9
    assert len(problem.vehicles) >= 3  # fleet not capped at the minimum


def test_format_is_guessed_from_the_suffix():
    assert read(DATA / "small_cvrp.vrp").name == "small-n8-k2"
    assert read(DATA / "C101_25.txt").name == "C101.25"


def test_json_round_trip_keeps_the_problem(tmp_path):
    problem = read_vrplib(DATA / "small_cvrp.vrp").problem
    path = tmp_path / "p.json"
    path.write_text(json.dumps(problem_to_dict(problem)))
    again = read(path).problem
    assert again == problem


def test_json_reader_names_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="vehicles"):
        problem_from_dict({"durations_s": [[0]], "distances_m": [[0]], "stops": []})
    with pytest.raises(ValueError, match="unexpected keyword"):
        problem_from_dict({"durations_s": [[0]], "distances_m": [[0]], "stops": [],
                           "vehicles": [{"id": 1, "capacity_weight_kg": 1, "colour": "red"}]})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        read(bad)


def test_a_file_that_is_not_an_instance_is_refused(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("hello\n")
    with pytest.raises(ValueError, match="not a Solomon file"):
        read_solomon(path)
    path = tmp_path / "x.vrp"
    path.write_text("NAME : x\n")
    with pytest.raises(ValueError, match="DIMENSION"):
        read_vrplib(path)


def test_stops_from_json_are_model_stops(tmp_path):
    problem = problem_from_dict({"durations_s": [[0, 5], [5, 0]], "distances_m": [[0, 5], [5, 0]],
                                 "stops": [{"id": "f", "location": 1, "cold_chain": True}],
                                 "vehicles": [{"id": 1, "capacity_weight_kg": 3}]})
    assert problem.stops == (Stop(id="f", location=1, cold_chain=True),)
