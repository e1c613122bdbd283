"""The combiner of concurrent single orders: one per app and process, shared by the fast lane
(supply.api.fastlane) and the documented view (POST /api/v1/orders)."""
from __future__ import annotations

from supply.domain.rules import OrderRequest
from supply.services.group_commit import GroupCommit, shared
from supply.services.orders import OrderOutcome, record_orders


def order_combiner_of(ctx) -> OrderCombiner:
    """The combiner of the app whose services are `ctx` (created on first use)."""
    return shared(ctx, "order_combiner", lambda: OrderCombiner(ctx.db))


class OrderCombiner(GroupCommit):
    """Groups the single orders that arrive together in one process into one transaction.

    Under a burst, dozens of requests for the same SKU would otherwise queue on its balance row, each
    holding the row lock for several round trips of its own. Here a request queues its order and waits;
    one thread takes whatever is queued, records it all with `record_orders` (each order still
    all-or-nothing) and commits, and only then hands each request its outcome, so an acknowledged order
    is always stored. A request waits at most one transaction more than it would alone.
    """

    thread_name = "order-combiner"

    def __init__(self, database, *, max_group: int = 500, idle_s: float = 10.0):
        super().__init__(max_size=max_group, idle_s=idle_s)
        self.database = database

    def record(self, cooperative_id: int, request: OrderRequest) -> OrderOutcome:
        return self.submit(cooperative_id, request)

    def commit(self, cooperative_id: int, requests: list[OrderRequest]) -> list[OrderOutcome]:
        return self.database.run(lambda session: record_orders(session, cooperative_id, requests))
