"""Readers against small files in tests/data."""

import dataclasses
import json
from pathlib import Path

import pytest

from routing import (
    Stop,
    check_plan,
    problem_from_dict,
    problem_to_dict,
    read,
    read_solomon,
    read_vrplib,
    solve,
)

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
    # A re-plan's problem: trucks on the road, pickups published on them, the reassign penalty.
    stops = [dataclasses.replace(s, published_vehicle=problem.vehicles[0].id) for s in problem.stops]
    on_road = dataclasses.replace(problem.vehicles[0], start_location=2, start_s=36_000,
                                  initial_weight_kg=3)
    replan = dataclasses.replace(problem, stops=tuple(stops), reassign_penalty=2_000,
                                 vehicles=(on_road, *problem.vehicles[1:]))
    path.write_text(json.dumps(problem_to_dict(replan)))
    again = read(path).problem
    assert again == replan and again.reassign_penalty == 2_000


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


def test_vrplib_reader_carries_time_windows_and_service_times():
    instance = read_vrplib(DATA / "small_vrptw.vrp")
    problem = instance.problem
    assert instance.name == "small-tw-n5"
    assert [s.id for s in problem.stops] == [2, 3, 4, 5]
    assert [(s.window_start_s, s.window_end_s) for s in problem.stops] == [(0, 20), (10, 40), (30, 60), (5, 15)]
    assert [s.service_duration_s for s in problem.stops] == [2, 2, 3, 1]
    assert (problem.hub_open_s, problem.hub_cutoff_s) == (0, 100)
    assert len(problem.vehicles) == 2
    assert {(v.shift_start_s, v.shift_end_s) for v in problem.vehicles} == {(0, 100)}
    assert problem.durations_s[0][1] == problem.distances_m[0][1] == 5
    plan = solve(problem, time_limit_s=1)
    assert check_plan(problem, plan) == []
    assert not plan.unassigned


def test_vrplib_reader_takes_a_service_time_field_for_every_customer(tmp_path):
    text = (DATA / "small_vrptw.vrp").read_text()
    start, end = text.index("SERVICE_TIME_SECTION"), text.index("TIME_WINDOW_SECTION")
    path = tmp_path / "field.vrp"
    path.write_text(text[:start].replace("CAPACITY : 10", "CAPACITY : 10\nSERVICE_TIME : 4") + text[end:])
    problem = read_vrplib(path).problem
    assert [s.service_duration_s for s in problem.stops] == [4, 4, 4, 4]


def test_vrplib_reader_lays_out_explicit_matrices_however_their_lines_wrap(tmp_path):
    full = [[0, 4, 7], [4, 0, 2], [7, 2, 0]]
    head = "NAME : m3\nDIMENSION : 3\nCAPACITY : 5\nEDGE_WEIGHT_TYPE : EXPLICIT\nEDGE_WEIGHT_FORMAT : {}\nEDGE_WEIGHT_SECTION\n"
    tail = "DEMAND_SECTION\n1 0\n2 1\n3 1\nDEPOT_SECTION\n1\n-1\nEOF\n"
    for fmt, values in [("FULL_MATRIX", "0 4 7 4\n0 2 7 2 0"), ("LOWER_ROW", "4\n7 2"),
                        ("LOWER_DIAG_ROW", "0 4 0\n7 2 0"), ("UPPER_ROW", "4 7 2"),
                        ("UPPER_DIAG_ROW", "0 4 7 0 2 0")]:
        path = tmp_path / f"{fmt}.vrp"
        path.write_text(head.format(fmt) + values + "\n" + tail)
        problem = read_vrplib(path).problem
        assert problem.distances_m.tolist() == full, fmt
        assert [s.weight_kg for s in problem.stops] == [1, 1]
