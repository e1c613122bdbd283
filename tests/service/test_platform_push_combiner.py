"""Pushes that arrive together in one process are stored in one transaction (`PushCombiner`): each push
still answered with its own events' results, in its own cooperative, only once committed; a push that
breaks the group's transaction costs only itself."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from supply.db.models import PlatformMessage
from supply.platforms import PlatformEvent
from supply.services.platform_messages import PushCombiner


def paid(message_id: str, order_id: str) -> PlatformEvent:
    return PlatformEvent(platform="douyin", message_id=message_id, kind="paid", external_order_id=order_id,
                         version=1718712060, raw={"msg_id": message_id})


class GatedDatabase:
    """The test database, whose first transaction waits for `gate` (the other pushes queue meanwhile),
    and which refuses, after it ran, any transaction that stored the message `refused`."""

    def __init__(self, db, refused: str | None = None):
        self.db, self.refused = db, refused
        self.gate, self.entered = threading.Event(), threading.Event()
        self.runs: list[list[str]] = []

    def run(self, work, **kwargs):
        def checked(session):
            if not self.runs or self.runs == [None]:
                self.runs = [None]
                self.entered.set()
                assert self.gate.wait(10)
            results = work(session)
            self.runs.append([r["message_id"] for r in results])
            if self.refused in self.runs[-1]:
                raise RuntimeError("refused by the test")
            return results
        return self.db.run(checked, **kwargs)


@pytest.fixture
def second_cooperative(db):
    with db.transaction() as session:
        session.execute(text("INSERT INTO cooperatives (id, code, name, timezone, created_at) "
                             "VALUES (2, 'zhaosu', 'zhaosu', 'Asia/Shanghai', CURRENT_TIMESTAMP)"))
    return 2


def push_all(combiner, database, pushes: list[tuple[int, list[PlatformEvent]]]) -> list:
    """The first push alone (it holds the gate), then the others queued behind it, then the gate opened."""
    answers: list = [None] * len(pushes)

    def send(n: int) -> None:
        cooperative_id, events = pushes[n]
        try:
            answers[n] = combiner.apply(cooperative_id, "douyin", events, refs_are_skus=False)
        except Exception as exc:  # noqa: BLE001 - checked by the test
            answers[n] = exc

    threads = [threading.Thread(target=send, args=(0,))]
    threads[0].start()
    assert database.entered.wait(10)
    for n in range(1, len(pushes)):
        threads.append(threading.Thread(target=send, args=(n,)))
        threads[-1].start()
    while combiner._queue.qsize() < len(pushes) - 1:   # every other push queued behind the first
        threading.Event().wait(0.01)
    database.gate.set()
    for thread in threads:
        thread.join(10)
    return answers


def stored(db) -> dict[str, tuple[int, str]]:
    with db.transaction() as session:
        return {m: (c, s) for m, c, s in session.execute(select(
            PlatformMessage.message_id, PlatformMessage.cooperative_id, PlatformMessage.status))}


def test_pushes_arriving_together_are_stored_together_each_in_its_cooperative(db, second_cooperative):
    database = GatedDatabase(db)
    followed: list[tuple[int, str, list[str]]] = []
    combiner = PushCombiner(database, after_commit=lambda coop, platform, results: followed.append(
        (coop, platform, sorted(r["message_id"] for r in results))))
    pushes = [(1, [paid("a", "4800000000000000001")]),
              (1, [paid("b", "4800000000000000002"), paid("c", "4800000000000000003")]),
              (2, [paid("d", "4800000000000000004")]),
              (1, [paid("e", "4800000000000000005"), paid("b", "4800000000000000002")])]
    answers = push_all(combiner, database, pushes)

    assert [[(r["message_id"], r["status"]) for r in answer] for answer in answers] == [
        [("a", "needs_order_detail")],
        [("b", "needs_order_detail"), ("c", "needs_order_detail")],
        [("d", "needs_order_detail")],
        [("e", "needs_order_detail"), ("b", "duplicate_message")]]
    # the first push alone, then one transaction for the rest of cooperative 1 and one for cooperative 2
    assert database.runs[1:] == [["a"], ["b", "c", "e", "b"], ["d"]]
    assert stored(db) == {"a": (1, "needs_order_detail"), "b": (1, "needs_order_detail"),
                          "c": (1, "needs_order_detail"), "e": (1, "needs_order_detail"),
                          "d": (2, "needs_order_detail")}
    assert sorted(followed) == [(1, "douyin", ["a"]), (1, "douyin", ["b", "b", "c", "e"]), (2, "douyin", ["d"])]


def test_a_push_that_breaks_the_groups_transaction_fails_alone(db):
    database = GatedDatabase(db, refused="bad")
    combiner = PushCombiner(database)
    pushes = [(1, [paid("a", "4800000000000000001")]), (1, [paid("b", "4800000000000000002")]),
              (1, [paid("bad", "4800000000000000003")]), (1, [paid("c", "4800000000000000004")])]
    answers = push_all(combiner, database, pushes)

    assert isinstance(answers[2], RuntimeError)   # answered with an error: the platform sends it again
    assert [answer[0]["status"] for n, answer in enumerate(answers) if n != 2] == ["needs_order_detail"] * 3
    assert stored(db) == {"a": (1, "needs_order_detail"), "b": (1, "needs_order_detail"),
                          "c": (1, "needs_order_detail")}


def test_the_platform_http_session_reads_the_environments_proxies_once(monkeypatch):
    from supply.services.platform_links import _http_session

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/coop.pem")
    proxied = _http_session("https://openapi-fxg.jinritemai.com")
    assert proxied.proxies.get("https") == "http://proxy.example:3128"
    assert proxied.verify == "/etc/ssl/certs/coop.pem" and not proxied.trust_env
    assert _http_session("http://127.0.0.1:9000").proxies == {}   # NO_PROXY names it


def test_no_push_waits_forever_when_what_follows_the_commit_raises_past_its_guard(db):
    def follow(cooperative_id, platform, results):
        raise SystemExit("not an Exception")

    combiner = PushCombiner(db, after_commit=follow)
    with pytest.raises(SystemExit):
        combiner.apply(1, "douyin", [paid("dy-exit-1", "9001")], refs_are_skus=False)
    # The push was stored before; the combiner goes on with the next.
    combiner.after_commit = None
    answer = combiner.apply(1, "douyin", [paid("dy-exit-2", "9002")], refs_are_skus=False)
    assert [r["message_id"] for r in answer] == ["dy-exit-2"]
    with db.transaction() as session:
        stored = set(session.scalars(select(PlatformMessage.message_id)))
    assert {"dy-exit-1", "dy-exit-2"} <= stored
