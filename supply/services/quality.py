"""Quality at the farm gate: the driver takes some units and rejects others, each with a reason.

Rejected units are a shortfall like any other (`record_shortfall`: the farm's figures come down, the
orders that counted on them are re-allocated to other farms or backordered) and are never paid. Both
the ledger entries and a farm-gate record say who rejected what, how many and why.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supply.db.farmside import REJECT_REASONS, FarmGateRecord
from supply.db.models import Pickup
from supply.services.pickups import record_shortfall

__all__ = ["REJECT_REASONS", "record_rejects", "record_accepted", "gate_totals"]


def record_rejects(session: Session, pickup: Pickup, rejects: list[dict], *, actor: str, ref: str,
                   stop_id: int | None) -> int:
    """Reject units of a pickup at the farm gate: `rejects` is [{quantity, reason, grade?, note?}].
    Returns how many units were rejected (the stop then expects that many fewer)."""
    total = 0
    for reject in rejects:
        quantity, reason, grade = reject["quantity"], reject["reason"], reject.get("grade")
        if quantity <= 0:
            continue
        why = f"rejected {quantity} at the farm gate ({ref}): {reason}" + (f", grade {grade}" if grade else "")
        record_shortfall(session, pickup, quantity, actor=actor, policy="fair_share", why=why)
        session.add(FarmGateRecord(cooperative_id=pickup.cooperative_id, farm_id=pickup.farm_id,
                                   product_id=pickup.product_id, pickup_id=pickup.id, stop_id=stop_id,
                                   day=pickup.date, outcome="rejected", quantity=quantity, grade=grade,
                                   reason=reason, note=reject.get("note"), actor=actor))
        total += quantity
    if total:
        # What the farm offered but the truck refused is no longer ready: the farm is short that day.
        pickup.quantity_ready = (pickup.quantity if pickup.quantity_ready is None else pickup.quantity_ready) - total
        pickup.status = "short"
        pickup.updated_at = datetime.now(timezone.utc)
        session.flush()
    return total


def record_accepted(session: Session, pickup: Pickup, quantity: int, *, grade: str | None, actor: str,
                    stop_id: int | None) -> None:
    """Units taken onto the truck: what the farm is paid for (at the price of their grade)."""
    if quantity > 0:
        session.add(FarmGateRecord(cooperative_id=pickup.cooperative_id, farm_id=pickup.farm_id,
                                   product_id=pickup.product_id, pickup_id=pickup.id, stop_id=stop_id,
                                   day=pickup.date, outcome="accepted", quantity=quantity, grade=grade,
                                   actor=actor))


def gate_totals(session: Session, cooperative_id: int, *, farm_id: int | None = None) -> dict[str, int]:
    """Units accepted and rejected at the farm gate (for summaries)."""
    query = (select(FarmGateRecord.outcome, func.coalesce(func.sum(FarmGateRecord.quantity), 0))
             .where(FarmGateRecord.cooperative_id == cooperative_id).group_by(FarmGateRecord.outcome))
    if farm_id is not None:
        query = query.where(FarmGateRecord.farm_id == farm_id)
    totals = {"accepted": 0, "rejected": 0}
    totals.update({outcome: int(q) for outcome, q in session.execute(query).all()})
    return totals
