"""Requests that arrive together in one process, committed in one transaction.

Under a spike each request would otherwise cost its own transaction (a connection check, a savepoint,
its reads and writes, a commit), and requests for the same SKU would queue on its balance row. A
`GroupCommit` queues each request's item and its caller waits; one thread takes whatever is queued,
per key (a cooperative), and `commit`s it all at once, and only then hands each caller its result, so
what is acknowledged is always stored. A caller waits at most one transaction more than it would
alone. Used by the single-order combiner (`supply.api.combiner`) and the push combiner
(`supply.services.platform_messages`).
"""
from __future__ import annotations

import logging
import os
import queue
import threading

from supply.domain.errors import ServiceUnavailable

log = logging.getLogger(__name__)


_shared_lock = threading.Lock()


def shared(ctx, key: str, make):
    """The group committer `key` of the app whose services are `ctx`, made by `make()` on first use."""
    found = ctx.extras.get(key)
    if found is None:
        with _shared_lock:
            found = ctx.extras.get(key)
            if found is None:
                found = ctx.extras.setdefault(key, make())
    return found


class GroupCommit:
    """Subclasses give `commit(key, items) -> results` (one per item, in order; raising fails the
    group) and, where an item weighs more than one, `size(item)`."""

    thread_name = "group-commit"

    def __init__(self, *, max_size: int = 500, idle_s: float = 10.0):
        self.max_size = max_size
        self.idle_s = idle_s
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def commit(self, key, items: list) -> list:
        raise NotImplementedError

    def size(self, item) -> int:
        return 1

    def submit(self, key, item):
        """`item` committed with the others queued meanwhile under the same key: its result, or the
        error that failed it."""
        slot = _Slot()
        with self._lock:  # the thread only stops under this lock, and only with nothing queued
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread.start()
            self._queue.put((key, item, slot))
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
            count = self.size(group[0][1])
            while count < self.max_size:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                group.append(entry)
                count += self.size(entry[1])
            by_key: dict = {}
            for entry in group:
                by_key.setdefault(entry[0], []).append(entry)
            for key, entries in by_key.items():
                try:
                    self._settle(key, entries)
                except BaseException as exc:  # noqa: BLE001 - no caller is left waiting, the thread goes on
                    log.exception("a group of %d failed outside its transaction", len(entries))
                    for _, _, slot in entries:
                        slot.fail(exc)

    def _settle(self, key, entries: list) -> None:
        try:
            results = self.commit(key, [item for _, item, _ in entries])
        except Exception as exc:  # noqa: BLE001 - handed to the waiting callers
            if len(entries) == 1 or isinstance(exc, ServiceUnavailable):
                for _, _, slot in entries:
                    slot.fail(exc)
                return
            # One item broke the group's transaction: commit each alone, so only that one fails.
            for entry in entries:
                self._settle(key, [entry])
            return
        for (_, _, slot), result in zip(entries, results):
            slot.give(result)


class _Slot:
    __slots__ = ("_done", "_result", "_error")

    def __init__(self):
        self._done = threading.Event()
        self._result = None
        self._error: BaseException | None = None

    def give(self, result) -> None:
        if not self._done.is_set():
            self._result = result
            self._done.set()

    def fail(self, error: BaseException) -> None:
        if not self._done.is_set():
            self._error = error
            self._done.set()

    def wait(self):
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result
