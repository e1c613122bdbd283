"""The combiner of concurrent single orders: one per app and process, shared by the fast lane
(supply.api.fastlane) and the documented view (POST /api/v1/orders)."""
from __future__ import annotations

import os
import queue
import threading

from supply.domain.errors import ServiceUnavailable
from supply.domain.rules import OrderRequest
from supply.services.orders import OrderOutcome, record_orders

_combiner_lock = threading.Lock()


def order_combiner_of(ctx) -> OrderCombiner:
    """The combiner of the app whose services are `ctx` (created on first use)."""
    combiner = ctx.extras.get("order_combiner")
    if combiner is None:
        with _combiner_lock:
            combiner = ctx.extras.setdefault("order_combiner", OrderCombiner(ctx.db))
    return combiner


class OrderCombiner:
    """Groups the single orders that arrive together in one process into one transaction.

    Under a burst, dozens of requests for the same SKU would otherwise queue on its balance row, each
    holding the row lock for several round trips of its own. Here a request queues its order and waits;
    one thread takes whatever is queued, records it all with `record_orders` (each order still
    all-or-nothing) and commits, and only then hands each request its outcome, so an acknowledged order
    is always stored. A request waits at most one transaction more than it would alone.
    """

    def __init__(self, database, *, max_group: int = 500, idle_s: float = 10.0):
        self.database = database
        self.max_group = max_group
        self.idle_s = idle_s
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def record(self, cooperative_id: int, request: OrderRequest) -> OrderOutcome:
        slot = _Slot()
        with self._lock:  # the thread only stops under this lock, and only with nothing queued
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="order-combiner", daemon=True)
                self._thread.start()
            self._queue.put((cooperative_id, request, slot))
        return slot.wait()

    def _run(self) -> None:
        while True:
            try:
                group = [self._queue.get(timeout=self.idle_s)]
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            while len(group) < self.max_group:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            by_cooperative: dict[int, list] = {}
            for item in group:
                by_cooperative.setdefault(item[0], []).append(item)
            for cooperative_id, items in by_cooperative.items():
                self._record(cooperative_id, items)

    def _record(self, cooperative_id: int, items: list) -> None:
        try:
            outcomes = self.database.run(
                lambda session: record_orders(session, cooperative_id, [request for _, request, _ in items]))
        except Exception as exc:  # noqa: BLE001 - handed to the waiting requests
            if len(items) == 1 or isinstance(exc, ServiceUnavailable):
                for _, _, slot in items:
                    slot.fail(exc)
                return
            # One order broke the group's transaction: record each alone, so only that one fails.
            for item in items:
                self._record(cooperative_id, [item])
            return
        for (_, _, slot), outcome in zip(items, outcomes):
            slot.give(outcome)


class _Slot:
    __slots__ = ("_done", "_outcome", "_error")

    def __init__(self):
        self._done = threading.Event()
        self._outcome: OrderOutcome | None = None
        self._error: BaseException | None = None

    def give(self, outcome: OrderOutcome) -> None:
        self._outcome = outcome
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    def wait(self) -> OrderOutcome:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._outcome
