"""The reservation rule on plain figures (supply.services.orders.reservation): no database."""
from __future__ import annotations

from types import SimpleNamespace

from supply.domain.rules import OrderLineRequest, OrderRequest
from supply.services.orders.reservation import Figures, Hold, decide, reserve, short_lines, taken

PRODUCTS = {"A": SimpleNamespace(id=1), "B": SimpleNamespace(id=2)}


def figures(a: int, b: int = 0) -> dict[int, Figures]:
    return {1: Figures(a, 0, 0, 0, 0), 2: Figures(b, 0, 0, 0, 0)}


def order(*lines, stream_id=None, external_id="o") -> OrderRequest:
    return OrderRequest("douyin", external_id, tuple(OrderLineRequest(sku, q) for sku, q in lines),
                        stream_id=stream_id)


def test_an_order_that_fits_takes_every_line_from_the_figures():
    stock = figures(5, 5)
    rows, short = reserve(order(("A", 2), ("B", 3)), PRODUCTS, stock, {})
    assert short == []
    assert [(r["product_id"], r["reserved"], r["from_hold"]) for r in rows] == [(1, 2, 0), (2, 3, 0)]
    assert (stock[1].available, stock[2].available) == (3, 2)


def test_an_order_short_on_one_line_takes_nothing_and_names_that_line():
    stock = figures(5, 1)
    rows, short = reserve(order(("A", 2), ("B", 3)), PRODUCTS, stock, {})
    assert short == [{"line": 1, "sku": "B", "requested": 3, "available": 1, "short_by": 2}]
    assert all(r["reserved"] == 0 and r["from_hold"] == 0 for r in rows)
    assert (stock[1].available, stock[2].available) == (5, 1)
    assert taken(stock, {}) == ([], [])


def test_a_stream_order_draws_on_its_hold_first_and_the_rest_from_what_is_available():
    stock = {1: Figures(10, 0, 4, 0, 4)}          # 4 of the 10 held for stream 7
    holds = {(7, 1): Hold(4)}
    rows, short = reserve(order(("A", 6), stream_id=7), PRODUCTS, stock, holds)
    assert short == [] and rows[0]["from_hold"] == 4
    assert (stock[1].reserved, stock[1].held, holds[(7, 1)].remaining, holds[(7, 1)].taken) == (6, 0, 0, 4)
    assert taken(stock, holds) == ([{"pid": 1, "d_reserved": 6, "d_held": -4}],
                                   [{"sid": 7, "pid": 1, "taken": 4}])


def test_a_sku_on_two_lines_is_short_on_both_when_together_they_ask_more_than_there_is():
    rows, short = reserve(order(("A", 2), ("A", 2)), PRODUCTS, figures(3), {})
    assert [s["line"] for s in short] == [0, 1]
    assert [s["short_by"] for s in short] == [1, 1]


def test_orders_are_decided_in_turn_against_what_the_ones_before_took():
    requests = [order(("A", 2), external_id="1"), order(("A", 2), external_id="2"),
                order(("A", 1), external_id="3")]
    decided = decide(requests, [0, 1, 2], PRODUCTS, figures(3), {})
    assert [d.status for d in decided] == ["reserved", "rejected", "reserved"]
    assert decided[1].short == [{"line": 0, "sku": "A", "requested": 2, "available": 1, "short_by": 1}]


def test_short_lines_never_show_less_than_nothing_available():
    assert short_lines(order(("A", 2)), {"A": -3}) == [
        {"line": 0, "sku": "A", "requested": 2, "available": 0, "short_by": 2}]
