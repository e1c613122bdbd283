"""Allocation policy: which farms supply a product's reserved units. Plain Python.

- fair_share (the default): in proportion to each farm's free confirmed stock, so every member sells
  the same share of what it has (largest-remainder rounding, so the parts add up exactly);
- fewest_stops: the farms with the most free stock first, so trucks make fewer stops;
- freshest_first: the most recently confirmed stock first.
"""
from __future__ import annotations

from dataclasses import dataclass

POLICIES = ("fair_share", "fewest_stops", "freshest_first")


@dataclass(frozen=True)
class FarmSupply:
    farm_id: int
    free: int  # confirmed minus already allocated
    confirmed_at: float = 0.0  # when the stock was last confirmed (epoch seconds)


def allocate_quantity(demand: int, farms: list[FarmSupply], policy: str = "fair_share") -> dict[int, int]:
    """Units to take from each farm: never more than a farm's free stock, at most `demand` in all."""
    if policy not in POLICIES:
        raise ValueError(f"unknown allocation policy {policy!r}; one of {', '.join(POLICIES)}")
    if demand < 0:
        raise ValueError("demand must not be negative")
    farms = [f for f in farms if f.free > 0]
    total_free = sum(f.free for f in farms)
    if demand == 0 or not farms:
        return {}
    if demand >= total_free:
        return {f.farm_id: f.free for f in farms}
    if policy == "fair_share":
        return _proportional(demand, farms, total_free)
    key = (lambda f: (-f.free, f.farm_id)) if policy == "fewest_stops" else (lambda f: (-f.confirmed_at, f.farm_id))
    taken: dict[int, int] = {}
    left = demand
    for farm in sorted(farms, key=key):
        if left == 0:
            break
        take = min(left, farm.free)
        taken[farm.farm_id] = take
        left -= take
    return taken


def _proportional(demand: int, farms: list[FarmSupply], total_free: int) -> dict[int, int]:
    shares = {f.farm_id: demand * f.free // total_free for f in farms}
    remainders = sorted(farms, key=lambda f: (-(demand * f.free % total_free), f.farm_id))
    left = demand - sum(shares.values())
    for farm in remainders:
        if left == 0:
            break
        if shares[farm.farm_id] < farm.free:
            shares[farm.farm_id] += 1
            left -= 1
    return {farm_id: q for farm_id, q in shares.items() if q > 0}


def spread_over_lines(lines: list[tuple[int, int]], by_farm: dict[int, int]) -> list[tuple[int, int, int]]:
    """Assign farm units to order lines in order: [(line_id, farm_id, quantity)].

    `lines` is [(line_id, units needed)], oldest first; each unit of each line gets exactly one farm.
    """
    out: list[tuple[int, int, int]] = []
    supply = [[farm_id, q] for farm_id, q in sorted(by_farm.items()) if q > 0]
    i = 0
    for line_id, needed in lines:
        while needed > 0 and i < len(supply):
            farm_id, q = supply[i]
            take = min(q, needed)
            out.append((line_id, farm_id, take))
            needed -= take
            supply[i][1] -= take
            if supply[i][1] == 0:
                i += 1
    return out
