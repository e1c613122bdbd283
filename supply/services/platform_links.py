"""The platforms' side of a cooperative, as use cases: its shop accounts (credentials and tokens,
stored encrypted), order details fetched for pushes that carry no lines, listing stock told to the
platforms, and waybills told back. No Flask; the web layer and the jobs are thin doors onto this.

Order details
    A push whose paid events carry no lines (Douyin's and Kuaishou's never do) is stored as usual
    (`needs_order_detail`); once it is committed, `request_order_details` submits a job: without
    Redis at once for the push; with Redis one queued job per cooperative and platform takes every
    push that arrived while it waited, and `coop platform-sync` takes them too as they arrive (each
    message claimed first, so none is fetched twice). A drainer works as a stream: each message is
    asked of the platform as soon as a look finds it (the three order-detail APIs take one id each,
    so the calls run side by side, 16 at a time, rather than batched in one request), with retries
    and backoff on timeouts, rate limits and server errors, and a refreshed token when the platform
    refuses the one it was given; a recording thread records together (one `record_orders` call:
    reserved or refused, all or nothing per order) whatever was fetched while it recorded the last
    batch, and settles the messages. A message whose detail still cannot be had stays
    `needs_order_detail` in the manager's list, with the platform's error in its result, for
    `retry_order_details` or the manager's completion.

Listing stock
    `sync_listings_once` compares each linked platform SKU's figure (what we can promise on that
    platform: available to promise, plus the remaining holds of that platform's running streams) with
    the figure last told, and tells the platform the new one. Nothing on the intake path changes:
    the comparison reads a few rows, so a loop (`run_listing_sync`) can run it several times a second.
    At most one call per SKU per `LISTING_MIN_INTERVAL_S` (the latest figure wins, the ones between
    are never sent); each figure carries a sequence number and is written as sent only over an older
    one.

Shipments
    `record_shipments` stores a waybill per order (the same waybill again changes nothing) and a job
    tells the platform; a shipment is claimed under a row lock before the call and marked confirmed
    in the same transaction, so sending it twice calls the platform once.
"""
from __future__ import annotations

import logging
import os
import queue
import secrets as _secrets
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime, timedelta, timezone
from typing import Callable

import orjson
import redis
import requests
from cryptography.fernet import Fernet, InvalidToken
from requests.adapters import HTTPAdapter
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from supply import jobs
from supply.db.models import Order, PlatformMessage, Product, ProductBalance, Stream, StreamHold
from supply.db.platform_links import PlatformAccount, PlatformListing, PlatformShipment
from supply.domain.errors import Conflict, InvalidInput, NotFound
from supply.domain.rules import OrderLineRequest, OrderRequest, available_to_promise
from supply.platforms import PlatformError, get_adapter
from supply.platforms.clients import PlatformApiClient, PlatformApiError, Token, make_client
# Imported here rather than where they are used: an rq worker forks a work horse per job, and what the
# worker has imported before the fork the horse does not import again.
from supply.services.orders import record_orders
from supply.services.platform_messages import (
    _correct_messages, _jsonable, _outcome_body, _outcome_status, _settled_versions, map_platform_product,
    skus_of_refs,
)

log = logging.getLogger(__name__)
_messages = PlatformMessage.__table__

DEFAULT_COOPERATIVE_ID = 1
# A token this close to its expiry is refreshed before it is used.
REFRESH_MARGIN_S = 300
# Pauses between the attempts of one call (seconds); a rate limit waits twice as long.
RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 4.0)
# Order-detail calls of one push made side by side.
DETAIL_CONCURRENCY = 16
LISTING_MIN_INTERVAL_S = 1.0
# A cooperative's credentials are read again after this long (a change reaches every process within it).
CREDENTIALS_TTL_S = 5.0
ORDER_DETAILS_JOB = "platform_order_details"
SHIPMENTS_JOB = "platform_shipments"


# -- secrets ---------------------------------------------------------------------------------------

class Vault:
    """Fernet encryption of stored credentials and tokens, keyed from COOP_CREDENTIALS_KEY."""

    def __init__(self, key: str | None):
        self._fernet = Fernet(key.encode()) if key else None

    def _need(self) -> Fernet:
        if self._fernet is None:
            raise InvalidInput("COOP_CREDENTIALS_KEY is not configured: platform credentials cannot be stored",
                               code="credentials_key_missing")
        return self._fernet

    def seal(self, value) -> str | None:
        return None if value is None else self._need().encrypt(orjson.dumps(value)).decode()

    def open(self, sealed: str | None):
        if sealed is None:
            return None
        try:
            return orjson.loads(self._need().decrypt(sealed.encode()))
        except InvalidToken:
            raise InvalidInput("stored platform credentials do not decrypt with COOP_CREDENTIALS_KEY",
                               code="credentials_key_wrong") from None


def vault(services) -> Vault:
    if "vault" not in services.extras:
        services.extras["vault"] = Vault(services.settings.credentials_key)
    return services.extras["vault"]


# -- accounts --------------------------------------------------------------------------------------

def connect_account(session: Session, box: Vault, cooperative_id: int, *, platform: str,
                    credentials: dict | None, shop_id: str | None) -> dict:
    """Store (or replace) a cooperative's shop on a platform. The credentials are checked by building
    the platform's webhook adapter from them, then stored encrypted; none is ever returned."""
    if credentials is not None:
        try:
            get_adapter(platform, credentials)
        except PlatformError as exc:
            raise InvalidInput(exc.message, fields={"credentials": [exc.message]}) from None
    account = session.execute(select(PlatformAccount).where(PlatformAccount.cooperative_id == cooperative_id,
                                                            PlatformAccount.platform == platform)).scalar()
    if account is None:
        account = PlatformAccount(cooperative_id=cooperative_id, platform=platform,
                                  path_token=_secrets.token_urlsafe(24))
        session.add(account)
    if credentials is not None:
        account.secrets_enc = box.seal(credentials)
    account.shop_id = shop_id or account.shop_id
    account.updated_at = datetime.now(timezone.utc)
    session.flush()
    return account_out(account)


def account_out(account: PlatformAccount) -> dict:
    return {"platform": account.platform, "shop_id": account.shop_id,
            "webhook_path": f"/api/v1/webhooks/{account.platform}/{account.path_token}",
            "has_credentials": account.secrets_enc is not None, "has_token": account.access_token_enc is not None,
            "token_expires_at": account.token_expires_at}


def list_accounts(session: Session, cooperative_id: int) -> list[dict]:
    rows = session.execute(select(PlatformAccount).where(PlatformAccount.cooperative_id == cooperative_id)
                           .order_by(PlatformAccount.platform)).scalars()
    return [account_out(a) for a in rows]


def account_by_path(session: Session, platform: str, path_token: str) -> PlatformAccount | None:
    return session.execute(select(PlatformAccount).where(PlatformAccount.path_token == path_token,
                                                         PlatformAccount.platform == platform)).scalar()


# Webhook addresses a process remembers (known or not) before it forgets them all and reads again.
MAX_WEBHOOK_ADDRESSES = 10_000


def webhook_account(services, platform: str, path_token: str) -> tuple[int, object] | None:
    """(cooperative id, webhook adapter) of the account a cooperative's webhook address names, or None
    for an address that names no account with credentials. Remembered per process for
    CREDENTIALS_TTL_S (a change reaches every process within it; this process forgets at once when
    an account is connected here), so a push costs no database read for its address, and the push rate
    limit can tell an address that exists from one that does not before the push is looked at."""
    cache = services.extras.setdefault("webhook_accounts", {})
    key = (platform, path_token)
    cached = cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    with services.db.transaction() as session:
        account = account_by_path(session, platform, path_token)
        adapter = adapter_for_account(services, account) if account is not None else None
        found = (account.cooperative_id, adapter) if adapter is not None else None
    if len(cache) >= MAX_WEBHOOK_ADDRESSES:
        cache.clear()
    cache[key] = (time.monotonic() + CREDENTIALS_TTL_S, found)
    return found


def forget_accounts(services) -> None:
    """After an account changed in this process: read credentials and addresses again at once."""
    services.extras.pop("platform_credentials", None)
    services.extras.pop("webhook_accounts", None)


def credentials_for(services, session: Session, cooperative_id: int, platform: str) -> dict | None:
    """The platform's credentials for this cooperative: stored with its account, or (the default
    cooperative only) the object configured in COOP_PLATFORM_SECRETS."""
    account = _account(session, cooperative_id, platform)
    if account is not None and account.secrets_enc is not None:
        return vault(services).open(account.secrets_enc)
    configured = services.settings.platform_secrets.get(platform)
    if cooperative_id == DEFAULT_COOPERATIVE_ID and isinstance(configured, dict):
        return dict(configured)
    return None


def _account(session: Session, cooperative_id: int, platform: str) -> PlatformAccount | None:
    return session.execute(select(PlatformAccount).where(PlatformAccount.cooperative_id == cooperative_id,
                                                         PlatformAccount.platform == platform)).scalar()


def adapter_for_account(services, account: PlatformAccount):
    """The webhook adapter of a cooperative's account (cached by the account's last change)."""
    cache = services.extras.setdefault("account_adapters", {})
    key = (account.id, account.updated_at)
    if key not in cache:
        credentials = vault(services).open(account.secrets_enc) if account.secrets_enc else None
        if credentials is None:
            return None
        cache[key] = get_adapter(account.platform, credentials)
    return cache[key]


# -- clients and tokens ----------------------------------------------------------------------------

def client_for(services, cooperative_id: int, platform: str) -> PlatformApiClient | None:
    """The platform's API client for this cooperative, or None when it has no credentials or base URL."""
    base_url = services.settings.platform_api_urls.get(platform)
    if not base_url:
        return None
    # Read at most every CREDENTIALS_TTL_S per process: every push without lines asks for a client.
    cache = services.extras.setdefault("platform_credentials", {})
    cached = cache.get((cooperative_id, platform))
    if cached is not None and cached[0] > time.monotonic():
        credentials = cached[1]
    else:
        with services.db.transaction() as session:
            credentials = credentials_for(services, session, cooperative_id, platform)
        cache[(cooperative_id, platform)] = (time.monotonic() + CREDENTIALS_TTL_S, credentials)
    if credentials is None:
        return None
    https = services.extras.setdefault("platform_http", {})
    http = https.get(base_url)
    if http is None:
        http = https.setdefault(base_url, _http_session(base_url))
    return make_client(platform, base_url, credentials, timeout_s=services.settings.platform_api_timeout_s, http=http)


def _http_session(base_url: str) -> requests.Session:
    """The HTTP session of one platform API address. What requests would read from the environment on
    every call (proxies for the address, a CA bundle) is read once here: on the detail calls of a spike
    requests' environment look-ups cost a fifth of the call. (A ~/.netrc is not read: the platforms'
    calls carry their own signatures and tokens.)"""
    http = requests.Session()
    http.mount("http://", HTTPAdapter(pool_connections=8, pool_maxsize=64))
    http.mount("https://", HTTPAdapter(pool_connections=8, pool_maxsize=64))
    http.proxies = dict(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        http.verify = bundle
    http.trust_env = False
    return http


_token_lock = threading.Lock()


def authorize_shop(services, cooperative_id: int, platform: str, code: str | None) -> dict:
    """Exchange an authorisation code (or, for a shop's own app, its shop id) for the shop's token."""
    client = client_for(services, cooperative_id, platform)
    if client is None:
        raise NotFound(f"no credentials or API address are configured for {platform!r}")
    with services.db.transaction() as session:
        account = _account(session, cooperative_id, platform)
        shop_id = account.shop_id if account else None
    try:
        token = client.create_token(code, shop_id)
    except PlatformApiError as exc:
        raise Conflict(f"{platform} refused the authorisation: {exc.message}", code="platform_refused",
                       fields={"code": [exc.code]}) from None
    return _store_token(services, cooperative_id, platform, token)


def _store_token(services, cooperative_id: int, platform: str, token: Token) -> dict:
    with services.db.transaction() as session:
        out = account_out(_save_token(session, vault(services), cooperative_id, platform, token))
    services.extras.setdefault("shop_tokens", {})[(cooperative_id, platform)] = token
    return out


def _save_token(session: Session, box: Vault, cooperative_id: int, platform: str, token: Token) -> PlatformAccount:
    account = _account(session, cooperative_id, platform)
    if account is None:
        account = PlatformAccount(cooperative_id=cooperative_id, platform=platform, path_token=_secrets.token_urlsafe(24))
        session.add(account)
    account.access_token_enc = box.seal(token.access_token)
    account.refresh_token_enc = box.seal(token.refresh_token)
    account.token_expires_at = token.expires_at
    session.flush()
    return account


def access_token(services, client: PlatformApiClient, cooperative_id: int, platform: str, *,
                 refused: str | None = None) -> str:
    """The shop's access token, refreshed when within REFRESH_MARGIN_S of its expiry or when the
    platform refused `refused` (the token it was given).

    A refresh happens under the account's row lock (on SQLite, the database's write lock), after
    reading the token again: a token another process refreshed meanwhile is used, not refreshed a
    second time (a platform may accept each refresh token once)."""
    key = (cooperative_id, platform)
    cache = services.extras.setdefault("shop_tokens", {})
    token = cache.get(key)
    if token is not None and refused != token.access_token and not _expiring(token):
        return token.access_token
    with _token_lock:
        token = _read_token(services, cooperative_id, platform)
        if token is None or token.access_token == refused or _expiring(token):
            box = vault(services)
            with services.db.transaction() as session:
                account = session.execute(select(PlatformAccount).where(
                    PlatformAccount.cooperative_id == cooperative_id, PlatformAccount.platform == platform)
                    .with_for_update()).scalar()
                token = _token_of(box, account)
                if token is None:   # a shop's own app needs no code
                    shop_id = account.shop_id if account is not None and account.shop_id else client.credentials.get("shop_id")
                    token = client.create_token(None, shop_id)
                    _save_token(session, box, cooperative_id, platform, token)
                elif token.access_token == refused or _expiring(token):
                    token = client.refresh_token(token)
                    _save_token(session, box, cooperative_id, platform, token)
        cache[key] = token
        return token.access_token


def _expiring(token: Token) -> bool:
    return token.expires_at is not None and token.expires_at - datetime.now(timezone.utc) < timedelta(seconds=REFRESH_MARGIN_S)


def _read_token(services, cooperative_id: int, platform: str) -> Token | None:
    with services.db.transaction() as session:
        return _token_of(vault(services), _account(session, cooperative_id, platform))


def _token_of(box: Vault, account: PlatformAccount | None) -> Token | None:
    if account is None or account.access_token_enc is None:
        return None
    return Token(box.open(account.access_token_enc), box.open(account.refresh_token_enc), account.token_expires_at)


def call_platform(services, client: PlatformApiClient, cooperative_id: int, platform: str,
                  call: Callable[[str], object], *, delays: tuple[float, ...] | None = None):
    """`call(access_token)` with retries: a refused token is refreshed and the call made again at
    once; timeouts, rate limits and server errors wait RETRY_DELAYS_S between attempts. Raises the
    last PlatformApiError when every attempt failed, or at once when the error is not transient."""
    delays = RETRY_DELAYS_S if delays is None else delays
    refused = None
    for attempt in range(len(delays) + 1):
        token = None
        try:
            token = access_token(services, client, cooperative_id, platform, refused=refused)
            return call(token)
        except PlatformApiError as exc:
            if not exc.retryable or attempt == len(delays):
                raise
            if exc.token_invalid and token is not None:
                refused = token
                continue
            time.sleep(delays[attempt] * (2 if exc.rate_limited else 1))
    raise AssertionError("unreachable")


# -- order details ---------------------------------------------------------------------------------

def request_order_details(services, cooperative_id: int, platform: str, results: list[dict]) -> str | None:
    """After a push is committed: a job that fetches the details of its paid events that carry no
    lines, when the cooperative's shop on that platform can be asked. The job's id, or None.

    Without Redis the job runs at once, for this push's messages. With Redis one job at a time is
    queued per cooperative and platform (a Redis key set when it is submitted, cleared when it starts):
    the job takes every message then awaiting its detail, so under a spike one job serves the pushes
    that arrived while it waited, and its orders are recorded together."""
    message_ids = sorted({r["message_id"] for r in results if r.get("status") == "needs_order_detail"})
    if not message_ids or client_for(services, cooperative_id, platform) is None:
        return None
    if services.settings.redis_url:
        try:
            if not jobs.redis_connection(services).set(_drain_key(services, cooperative_id, platform), "1",
                                                       nx=True, ex=DRAIN_KEY_TTL_S):
                return None   # a job is queued and has not started: it will take these messages
        except redis.exceptions.RedisError:
            pass   # submit anyway; the job records itself in the database
        return jobs.submit_job(services, cooperative_id, ORDER_DETAILS_JOB, {"platform": platform, "drain": True})
    return jobs.submit_job(services, cooperative_id, ORDER_DETAILS_JOB,
                           {"platform": platform, "message_ids": message_ids})


# A queued job's key lapses after this long, so a job lost with its key does not stop new ones for good.
DRAIN_KEY_TTL_S = 30
# A draining job or loop looks for newly stored messages this often while it works.
DRAIN_LOOK_S = 0.05
# Its looks go on from the last message they saw, and from the first again this often: a message
# committed after one with a higher id (pushes commit side by side) is found within it.
LOOK_FROM_START_S = 0.5
# Messages a drainer claims beyond those it is fetching: the rest of a backlog is left to the other
# drainers, so none waits behind a drainer that is slow to come to it.
CLAIM_AHEAD = 4


def _drain_key(services, cooperative_id: int, platform: str) -> str:
    return f"{services.settings.rate_limit_key_prefix}:order-details:{cooperative_id}:{platform}"


def drain_order_details(services, cooperative_id: int, platform: str, *, max_s: float = 60.0,
                        clear_queued: bool = True, idle_s: float = 0.0) -> dict:
    """Fetch and record every message awaiting its detail (not yet failed), as a stream, until none is
    left unclaimed (for `idle_s`) or `max_s` has passed.

    A message is asked of the platform as soon as a look (every DRAIN_LOOK_S) finds it, beside the
    calls already in flight (DETAIL_CONCURRENCY at most); a recording thread takes every detail fetched
    meanwhile and records them together (one `record_orders` call), then the next ones, while the calls
    go on: no message waits for others' calls to end, and under a spike the batches grow by themselves.

    The queued-job key is cleared first, so a push stored from then on queues another job rather than
    be missed; jobs running side by side (one per worker under a spike) each claim the messages they
    take (a Redis key per message), so no order is fetched twice and none is left: a message stored
    after a job's last look came with a push that queued the next job."""
    conn = jobs.redis_connection(services) if services.settings.redis_url else None
    if conn is not None and clear_queued:
        conn.delete(_drain_key(services, cooperative_id, platform))
    totals = {"fetched": 0, "failed": 0, "rounds": 0}
    client = client_for(services, cooperative_id, platform)
    if client is None:
        return totals
    started = time.monotonic()
    seen_to = 0                                         # the id up to which the looks went
    looked_from_start = last_found = started
    queued: list[tuple[int, str]] = []                  # claimed, not yet asked
    in_flight: dict = {}                                # future -> message pk
    fetched: queue.Queue = queue.Queue()                # (pk, detail, error), None when no more come
    failure: list[BaseException] = []
    last_look = None

    def record() -> None:
        done = False
        while not done:
            batch = [fetched.get()]
            while True:
                try:
                    batch.append(fetched.get_nowait())
                except queue.Empty:
                    break
            done = batch[-1] is None
            details = {pk: detail for pk, detail, error in batch[:-1 if done else None] if error is None}
            errors = {pk: error.as_dict() for pk, _, error in batch[:-1 if done else None] if error is not None}
            try:
                if (details or errors) and not failure:
                    services.db.run(lambda session: settle_order_details(session, cooperative_id, details, errors))
                    totals["fetched"] += len(details)
                    totals["failed"] += len(errors)
                    totals["rounds"] += 1
            except Exception as exc:   # the messages stay awaiting their detail; the sweep takes them
                failure.append(exc)
            finally:
                for _ in batch:
                    fetched.task_done()

    recorder = threading.Thread(target=record, name=f"record-{platform}", daemon=True)
    recorder.start()
    pool = ThreadPoolExecutor(max_workers=DETAIL_CONCURRENCY)
    try:
        while not failure:
            now = time.monotonic()
            looking = now - started < max_s
            looked_empty = False
            if looking and (last_look is None or now - last_look >= DRAIN_LOOK_S) and \
                    len(queued) + len(in_flight) < DETAIL_CONCURRENCY + CLAIM_AHEAD:
                last_look = now
                if now - looked_from_start >= LOOK_FROM_START_S:
                    seen_to, looked_from_start = 0, now
                fresh = _waiting(services, cooperative_id, platform, seen_to, LOOK_ROWS)
                looked_empty = not fresh
                if fresh:
                    last_found = now
                want = DETAIL_CONCURRENCY + CLAIM_AHEAD - len(queued) - len(in_flight)
                while fresh and want > 0:   # claimed in id order until it has enough; the rest stays ahead
                    examined, fresh = fresh[:want], fresh[want:]
                    won = _claim_messages(services, conn, examined, max_s)
                    queued.extend(won)
                    want -= len(won)
                    seen_to = examined[-1][0]
            while queued and len(in_flight) < DETAIL_CONCURRENCY:
                pk, external_order_id = queued.pop(0)
                in_flight[pool.submit(_fetch_detail, services, client, cooperative_id, platform, external_order_id)] = pk
            if not in_flight:
                if not looking or looked_empty and not fetched.unfinished_tasks and now - last_found >= idle_s:
                    # nothing in flight or being recorded, and the look just made found nothing new (a
                    # drainer still recording goes on looking: it is not replaced until it ends)
                    break
                if last_look == now and not looked_empty:
                    last_look = None   # what it found others had claimed: look further at once
                    continue
                time.sleep(max(0.0, last_look + DRAIN_LOOK_S - time.monotonic()))
                continue
            finished, _ = wait(list(in_flight), timeout=DRAIN_LOOK_S, return_when=FIRST_COMPLETED)
            for future in finished:
                fetched.put((in_flight.pop(future), *future.result()))
    finally:
        pool.shutdown(wait=True)
        for future, pk in in_flight.items():   # left by an error above: what was fetched is still recorded
            if future.exception() is None:
                fetched.put((pk, *future.result()))
        fetched.put(None)
        recorder.join()
    if failure:
        raise failure[0]
    return totals


def _claim_messages(services, conn, waiting: list[tuple[int, str]], max_s: float) -> list[tuple[int, str]]:
    """Those of `waiting` this drainer won (a Redis key per message); all of them without Redis."""
    if conn is None or not waiting:
        return waiting
    claim = f"{services.settings.rate_limit_key_prefix}:order-detail-claim:"
    pipe = conn.pipeline(transaction=False)
    for pk, _ in waiting:
        pipe.set(f"{claim}{pk}", "1", nx=True, ex=int(max_s) + 60)
    return [entry for entry, won in zip(waiting, pipe.execute()) if won]


def drain_waiting_details(services, *, max_s: float = 2.0) -> int:
    """Take, beside the queued jobs, the messages awaiting their detail in every cooperative and
    platform: the jobs and this claim each message before fetching it, so whichever comes first takes
    it. Only with Redis, where the claims are kept; without, the inline job has taken them already.
    How many were fetched."""
    fetched = 0
    for cooperative_id, platform in _pairs_waiting(services):
        fetched += drain_order_details(services, cooperative_id, platform, max_s=max_s, clear_queued=False)["fetched"]
    return fetched


def _pairs_waiting(services) -> list[tuple[int, str]]:
    """(cooperative, platform) with messages awaiting their detail whose shop can be asked (Redis only)."""
    if not services.settings.redis_url:
        return []
    with services.db.transaction() as session:
        pairs = session.execute(select(PlatformMessage.cooperative_id, PlatformMessage.platform).where(
            PlatformMessage.status == "needs_order_detail", PlatformMessage.kind == "paid").distinct()).all()
    return [(coop, platform) for coop, platform in pairs if client_for(services, coop, platform) is not None]


def run_detail_drain(services, stop: threading.Event, *, interval_s: float = 0.05, max_s: float = 30.0) -> None:
    """Until `stop` is set: a drainer per cooperative and platform with messages awaiting their detail,
    side by side (one platform's spike never waits behind another's), started again as it ends."""
    running: dict[tuple[int, str], threading.Thread] = {}

    def drain(cooperative_id: int, platform: str) -> None:
        try:
            drain_order_details(services, cooperative_id, platform, max_s=max_s, clear_queued=False)
        except Exception:   # a failed drain must not end the loop; the next one tries again
            log.exception("order details of %s in cooperative %s failed", platform, cooperative_id)

    while not stop.is_set():
        try:
            for pair in _pairs_waiting(services):
                if pair not in running or not running[pair].is_alive():
                    running[pair] = threading.Thread(target=drain, args=pair, daemon=True,
                                                     name=f"details-{pair[0]}-{pair[1]}")
                    running[pair].start()
        except Exception:   # a failed round must not end the loop; the next one tries again
            log.exception("order details round failed")
        stop.wait(interval_s)


# Messages one look reads at most (the claims then take what the drainer can ask).
LOOK_ROWS = 200


def _waiting(services, cooperative_id: int, platform: str, after_id: int, limit: int) -> list[tuple[int, str]]:
    """(id, external order id) of up to `limit` messages past `after_id` awaiting their detail that no
    attempt has failed, oldest first (a message committed later with a lower id is found when the
    drainer looks from the start again)."""
    with services.db.transaction() as session:
        rows = session.execute(_WAITING, {"cooperative_id": cooperative_id, "platform": platform,
                                          "after_id": after_id, "limit": limit}).all()
    return [(row.id, row.external_order_id) for row in rows]


# Built once, on the table rather than the ORM class: a drainer looks every DRAIN_LOOK_S, and building
# the statement and its ORM compile state each time cost more than the look's own round trips.
_WAITING = (select(_messages.c.id, _messages.c.external_order_id)
            .where(_messages.c.cooperative_id == bindparam("cooperative_id"),
                   _messages.c.platform == bindparam("platform"),
                   _messages.c.status == "needs_order_detail", _messages.c.kind == "paid",
                   _messages.c.result["detail_error"].as_string().is_(None),
                   _messages.c.id > bindparam("after_id"))
            .order_by(_messages.c.id).limit(bindparam("limit")))


def _fetch_detail(services, client: PlatformApiClient, cooperative_id: int, platform: str, external_order_id: str):
    """(detail, None) or (None, the platform's last error), the call retried as `call_platform` does."""
    try:
        return call_platform(services, client, cooperative_id, platform,
                             lambda token: client.order_detail(token, external_order_id)), None
    except PlatformApiError as exc:
        return None, exc


def fetch_order_details(services, cooperative_id: int, platform: str, message_ids: list[str]) -> dict:
    """Fetch and record the orders of these stored messages (those still awaiting their lines)."""
    with services.db.transaction() as session:
        rows = session.execute(select(PlatformMessage.id, PlatformMessage.external_order_id).where(
            PlatformMessage.cooperative_id == cooperative_id, PlatformMessage.platform == platform,
            PlatformMessage.message_id.in_(message_ids), PlatformMessage.status == "needs_order_detail",
            PlatformMessage.kind == "paid")).all()
    if not rows:
        return {"fetched": 0, "failed": 0}
    client = client_for(services, cooperative_id, platform)
    if client is None:
        return {"fetched": 0, "failed": 0, "reason": "no client"}
    with ThreadPoolExecutor(max_workers=min(DETAIL_CONCURRENCY, len(rows))) as pool:
        answers = list(pool.map(lambda row: (row.id, *_fetch_detail(services, client, cooperative_id, platform,
                                                                     row.external_order_id)), rows))
    details = {pk: detail for pk, detail, error in answers if detail is not None}
    errors = {pk: error.as_dict() for pk, _, error in answers if error is not None}
    settled = services.db.run(lambda session: settle_order_details(session, cooperative_id, details, errors))
    return {"fetched": len(details), "failed": len(errors), "statuses": settled}


def settle_order_details(session: Session, cooperative_id: int, details: dict, errors: dict) -> dict:
    """Record the fetched orders (one `record_orders` call) and settle their messages; note the
    platform's error on the messages whose detail could not be had. The messages are locked first, in
    id order, so a manager completing one by hand meanwhile is not done twice; their new states are
    written in one statement (read and written as rows, not ORM objects: a drainer settles a batch
    every few dozen milliseconds under a spike)."""
    messages = session.execute(_SETTLING, {"ids": list(details) + list(errors)}).all()
    messages = [m for m in messages if m.status == "needs_order_detail" and m.cooperative_id == cooperative_id]
    settled: dict[int, tuple[str, dict]] = {}   # message id -> (status, result)
    now = datetime.now(timezone.utc).isoformat()
    for message in messages:
        if message.id in errors:
            settled[message.id] = (message.status, _jsonable({**(message.result or {}), "detail_error": errors[message.id],
                                                              "detail_at": now}))
    fetched = [m for m in messages if m.id in details]
    refs = {(m.platform, line.product_ref) for m in fetched for line in details[m.id].lines}
    mapping = skus_of_refs(session, cooperative_id, refs)
    versions = _settled_versions(session, cooperative_id, {(m.platform, m.external_order_id) for m in fetched})
    batch = []
    for message in fetched:
        lines = details[message.id].lines
        unmapped = sorted({line.product_ref for line in lines if (message.platform, line.product_ref) not in mapping})
        newest = versions.get((message.platform, message.external_order_id))
        if message.version is not None and newest is not None and newest > message.version:
            settled[message.id] = ("stale", {"reason": "a newer event for this order was already applied"})
        elif unmapped:
            settled[message.id] = ("unmapped", {"reason": "products not mapped to a sku", "product_refs": unmapped})
        else:
            request = OrderRequest(platform=message.platform, external_id=message.external_order_id, lines=tuple(
                OrderLineRequest(mapping[(message.platform, line.product_ref)], line.quantity) for line in lines))
            batch.append((message, request))
    if batch:
        outcomes = record_orders(session, cooperative_id, [request for _, request in batch])
        for (message, _), outcome in zip(batch, outcomes):
            settled[message.id] = (_outcome_status(outcome), _jsonable(_outcome_body(outcome)))
    counts: dict[str, int] = {}
    for message in messages:
        status = settled.get(message.id, (message.status, None))[0]
        counts[status] = counts.get(status, 0) + 1
    if settled:
        _correct_messages(session, [
            {"cooperative_id": message.cooperative_id, "platform": message.platform, "message_id": message.message_id,
             "status": settled[message.id][0], "result": settled[message.id][1]}
            for message in messages if message.id in settled])
    return counts


_SETTLING = (select(_messages.c.id, _messages.c.cooperative_id, _messages.c.platform, _messages.c.message_id,
                    _messages.c.external_order_id, _messages.c.version, _messages.c.status, _messages.c.result)
             .where(_messages.c.id.in_(bindparam("ids", expanding=True))).order_by(_messages.c.id).with_for_update())


def retry_order_details(services, *, older_than_s: float = 30.0) -> list[str]:
    """Submit again, one job per cooperative and platform, the messages whose detail could not be had,
    and those nobody fetched (a job lost with its worker, a drainer stopped holding its claims), last
    tried or stored before `older_than_s` (`coop platform-sync` calls this); the jobs' ids."""
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than_s)
    with services.db.transaction() as session:
        rows = session.execute(select(PlatformMessage.cooperative_id, PlatformMessage.platform,
                                      PlatformMessage.message_id, PlatformMessage.result, PlatformMessage.created_at)
                               .where(PlatformMessage.status == "needs_order_detail",
                                      PlatformMessage.kind == "paid")).all()
    groups: dict[tuple[int, str], list[str]] = {}
    for row in rows:
        at = (row.result or {}).get("detail_at")
        if (datetime.fromisoformat(at) if at else row.created_at) < cutoff:
            groups.setdefault((row.cooperative_id, row.platform), []).append(row.message_id)
    return [jobs.submit_job(services, coop, ORDER_DETAILS_JOB, {"platform": platform, "message_ids": ids})
            for (coop, platform), ids in sorted(groups.items())]


def run_order_details_job(services, job_id: str, params: dict, progress) -> dict:
    with services.db.transaction() as session:
        from supply.db.models import Job

        cooperative_id = session.get(Job, job_id).cooperative_id
    if params.get("drain"):
        return drain_order_details(services, cooperative_id, params["platform"])
    return fetch_order_details(services, cooperative_id, params["platform"], list(params["message_ids"]))


# -- listing stock ---------------------------------------------------------------------------------

def link_listing(session: Session, cooperative_id: int, *, platform: str, product_ref: str,
                 item_ref: str | None, sku: str) -> dict:
    """A platform SKU whose stock follows ours; it also maps the platform SKU to ours for its orders."""
    map_platform_product(session, cooperative_id, platform=platform, product_ref=product_ref, sku=sku)
    product_id = session.execute(select(Product.id).where(Product.cooperative_id == cooperative_id,
                                                          Product.sku == sku)).scalar_one()
    listing = session.get(PlatformListing, (cooperative_id, platform, product_ref))
    if listing is None:
        listing = PlatformListing(cooperative_id=cooperative_id, platform=platform, product_ref=product_ref,
                                  seq=0, sent_seq=0)
        session.add(listing)
    listing.item_ref, listing.product_id = item_ref, product_id
    listing.sent_quantity = None   # told again on the next round
    session.flush()
    return listing_out(listing, sku)


def listing_out(listing: PlatformListing, sku: str) -> dict:
    return {"platform": listing.platform, "product_ref": listing.product_ref, "item_ref": listing.item_ref,
            "sku": sku, "sent_quantity": listing.sent_quantity, "sent_at": listing.sent_at, "error": listing.error}


def list_listings(session: Session, cooperative_id: int) -> list[dict]:
    rows = session.execute(select(PlatformListing, Product.sku).join(Product, Product.id == PlatformListing.product_id)
                           .where(PlatformListing.cooperative_id == cooperative_id)
                           .order_by(PlatformListing.platform, PlatformListing.product_ref)).all()
    return [listing_out(listing, sku) for listing, sku in rows]


def listing_figures(session: Session, cooperative_id: int | None = None) -> list[tuple]:
    """(listing, figure) for every linked listing: available to promise plus what the running streams
    of the listing's platform still hold of the product."""
    now = datetime.now(timezone.utc)
    query = select(PlatformListing, ProductBalance).join(ProductBalance, ProductBalance.product_id == PlatformListing.product_id)
    if cooperative_id is not None:
        query = query.where(PlatformListing.cooperative_id == cooperative_id)
    rows = session.execute(query).all()
    if not rows:
        return []
    held = dict(((platform, product_id), remaining) for platform, product_id, remaining in session.execute(
        select(Stream.platform, StreamHold.product_id, func.sum(StreamHold.remaining))
        .join(Stream, Stream.id == StreamHold.stream_id)
        .where(StreamHold.product_id.in_({listing.product_id for listing, _ in rows}), Stream.starts_at <= now,
               or_(Stream.ends_at.is_(None), Stream.ends_at > now))
        .group_by(Stream.platform, StreamHold.product_id)))
    out = []
    for listing, balance in rows:
        atp = available_to_promise(balance.confirmed, balance.reserved - balance.backordered, balance.held)
        out.append((listing, max(0, atp) + int(held.get((listing.platform, listing.product_id)) or 0)))
    return out


def sync_listings_once(services, cooperative_id: int | None = None, *,
                       min_interval_s: float = LISTING_MIN_INTERVAL_S) -> dict:
    """Tell each platform the figures of its listings that changed; what was sent, failed, waited."""
    now = datetime.now(timezone.utc)
    claimed = []
    with services.db.transaction() as session:
        for listing, figure in listing_figures(session, cooperative_id):
            if figure == listing.sent_quantity and listing.error is None:
                continue
            pk = (listing.cooperative_id, listing.platform, listing.product_ref)
            # The claim: a new sequence number, and the call's time, unless a call was made within the
            # interval (that listing waits for a later round, which then sends the latest figure).
            done = session.execute(
                update(PlatformListing)
                .where(PlatformListing.cooperative_id == pk[0], PlatformListing.platform == pk[1],
                       PlatformListing.product_ref == pk[2],
                       or_(PlatformListing.sent_at.is_(None),
                           PlatformListing.sent_at <= now - timedelta(seconds=min_interval_s)))
                .values(seq=PlatformListing.seq + 1, sent_at=now)
                .execution_options(synchronize_session=False)).rowcount
            if done:
                claimed.append((pk, listing.item_ref, figure, listing.seq + 1))
    counts = {"sent": 0, "failed": 0, "claimed": len(claimed)}
    if not claimed:
        return counts

    def send(entry):
        (coop, platform, product_ref), item_ref, figure, seq = entry
        client = client_for(services, coop, platform)
        if client is None:
            return entry, {"code": "not_configured", "message": "no credentials or API address"}
        try:
            call_platform(services, client, coop, platform,
                          lambda token: client.set_stock(token, product_ref, item_ref, figure), delays=(0.2,))
            return entry, None
        except PlatformApiError as exc:
            return entry, exc.as_dict()

    with ThreadPoolExecutor(max_workers=min(8, len(claimed))) as pool:
        results = list(pool.map(send, claimed))
    with services.db.transaction() as session:
        for ((coop, platform, product_ref), _, figure, seq), error in results:
            values = {"error": error} if error else {"sent_quantity": figure, "sent_seq": seq, "error": None}
            session.execute(update(PlatformListing).where(
                PlatformListing.cooperative_id == coop, PlatformListing.platform == platform,
                PlatformListing.product_ref == product_ref, PlatformListing.sent_seq < seq)
                .values(**values).execution_options(synchronize_session=False))
            counts["failed" if error else "sent"] += 1
    return counts


def run_listing_sync(services, stop: threading.Event, *, interval_s: float = 0.2) -> None:
    """Sync listing stock until `stop` is set."""
    while not stop.is_set():
        try:
            sync_listings_once(services)
        except Exception:   # a failed round must not end the loop; the next one tries again
            log.exception("listing stock sync round failed")
        stop.wait(interval_s)


# -- shipments -------------------------------------------------------------------------------------

def record_shipments(session: Session, cooperative_id: int, entries: list[dict]) -> list[dict]:
    """Waybills per order (each entry: ``order_id`` or ``platform`` + ``external_order_id``, with
    ``carrier_code`` and ``waybill``). The same waybill again changes nothing; another waybill for an
    order already confirmed is refused. Answers one shipment per entry."""
    out = []
    for index, entry in enumerate(entries):
        order = _order_of(session, cooperative_id, entry, index)
        shipment = session.execute(select(PlatformShipment).where(PlatformShipment.order_id == order.id)).scalar()
        if shipment is None:
            from supply.services.recall import refuse_if_held

            refuse_if_held(session, order.id)  # recalled units stay at the hub: 409 recalled
            shipment = PlatformShipment(cooperative_id=cooperative_id, order_id=order.id, status="pending", attempts=0,
                                        carrier_code=entry["carrier_code"], waybill=entry["waybill"])
            session.add(shipment)
        elif (shipment.carrier_code, shipment.waybill) != (entry["carrier_code"], entry["waybill"]):
            if shipment.status == "confirmed":
                raise Conflict(f"order {order.id} was confirmed shipped with waybill {shipment.waybill}",
                               code="already_shipped", fields={f"[{index}].waybill": ["already confirmed"]})
            shipment.carrier_code, shipment.waybill, shipment.status = entry["carrier_code"], entry["waybill"], "pending"
        session.flush()
        out.append(shipment_out(shipment, order))
    return out


def _order_of(session: Session, cooperative_id: int, entry: dict, index: int) -> Order:
    if entry.get("order_id") is not None:
        order = session.get(Order, entry["order_id"])
    else:
        order = session.execute(select(Order).where(Order.cooperative_id == cooperative_id,
                                                    Order.platform == entry.get("platform"),
                                                    Order.external_id == entry.get("external_order_id"))).scalar()
    if order is None or order.cooperative_id != cooperative_id:
        raise NotFound(f"entry {index}: no such order", fields={f"[{index}]": ["unknown order"]})
    if order.status != "reserved":
        raise Conflict(f"order {order.id} is {order.status}: only a reserved order ships",
                       code="not_shippable", fields={f"[{index}]": [f"order is {order.status}"]})
    return order


def shipment_out(shipment: PlatformShipment, order: Order | None = None) -> dict:
    return {"order_id": shipment.order_id, "carrier_code": shipment.carrier_code, "waybill": shipment.waybill,
            "status": shipment.status, "attempts": shipment.attempts, "error": shipment.error,
            "confirmed_at": shipment.confirmed_at,
            **({"platform": order.platform, "external_order_id": order.external_id} if order else {})}


def get_shipment(session: Session, cooperative_id: int, order_id: int) -> dict:
    shipment = session.execute(select(PlatformShipment).where(PlatformShipment.order_id == order_id,
                                                              PlatformShipment.cooperative_id == cooperative_id)).scalar()
    if shipment is None:
        raise NotFound(f"order {order_id} has no shipment")
    return shipment_out(shipment, session.get(Order, order_id))


def request_shipments(services, cooperative_id: int, order_ids: list[int]) -> str | None:
    if not order_ids:
        return None
    return jobs.submit_job(services, cooperative_id, SHIPMENTS_JOB, {"order_ids": sorted(set(order_ids))})


def send_shipments(services, cooperative_id: int, order_ids: list[int]) -> dict:
    """Tell the platforms each pending shipment. Each is claimed under its row lock (PostgreSQL; the
    write lock on SQLite) for the call and marked confirmed in the same transaction: a shipment sent
    twice (two jobs, or a waybill given again) calls the platform once. The client and the shop's
    token are had before the lock; a refused token fails the shipment, and the next send refreshes it."""
    counts = {"confirmed": 0, "failed": 0, "skipped": 0}
    for order_id in order_ids:
        with services.db.transaction() as session:
            order = session.get(Order, order_id)
            platform, external_id = order.platform, order.external_id
        client = client_for(services, cooperative_id, platform)
        error, token = None, None
        try:
            if client is None:
                raise PlatformApiError("not_configured", f"no credentials or API address for {platform}")
            token = access_token(services, client, cooperative_id, platform)
        except PlatformApiError as exc:
            error = exc.as_dict()
        with services.db.transaction() as session:
            claimed = session.execute(
                update(PlatformShipment).where(PlatformShipment.order_id == order_id,
                                               PlatformShipment.cooperative_id == cooperative_id,
                                               PlatformShipment.status.in_(("pending", "failed")))
                .values(attempts=PlatformShipment.attempts + 1).execution_options(synchronize_session=False)).rowcount
            if not claimed:
                counts["skipped"] += 1
                continue
            shipment = session.execute(select(PlatformShipment).where(PlatformShipment.order_id == order_id)
                                       .with_for_update()).scalar_one()
            if error is None:
                error = _ship_with_retries(client, token, external_id, shipment.carrier_code, shipment.waybill)
            if error is not None:
                shipment.status, shipment.error = "failed", error
                counts["failed"] += 1
                continue
            shipment.status, shipment.error, shipment.confirmed_at = "confirmed", None, datetime.now(timezone.utc)
            counts["confirmed"] += 1
    return counts


def _ship_with_retries(client, token: str, external_id: str, carrier_code: str, waybill: str) -> dict | None:
    for attempt in range(len(RETRY_DELAYS_S) + 1):
        try:
            client.ship(token, external_id, carrier_code, waybill)
            return None
        except PlatformApiError as exc:
            if not exc.retryable or exc.token_invalid or attempt == len(RETRY_DELAYS_S):
                return exc.as_dict()
            time.sleep(RETRY_DELAYS_S[attempt] * (2 if exc.rate_limited else 1))
    return None


def retry_shipments(services, *, older_than_s: float = 30.0) -> list[str]:
    """Submit again, one job per cooperative, the shipments the platforms have not confirmed (failed,
    or pending since before `older_than_s`: a job lost with its worker); the jobs' ids."""
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than_s)
    with services.db.transaction() as session:
        rows = session.execute(select(PlatformShipment.cooperative_id, PlatformShipment.order_id).where(
            PlatformShipment.status.in_(("pending", "failed")), PlatformShipment.created_at < cutoff)).all()
    groups: dict[int, list[int]] = {}
    for coop, order_id in rows:
        groups.setdefault(coop, []).append(order_id)
    return [request_shipments(services, coop, ids) for coop, ids in sorted(groups.items())]


def run_shipments_job(services, job_id: str, params: dict, progress) -> dict:
    with services.db.transaction() as session:
        from supply.db.models import Job

        cooperative_id = session.get(Job, job_id).cooperative_id
    return send_shipments(services, cooperative_id, [int(i) for i in params["order_ids"]])
