"""Rate limits: signed pushes per platform and sending address, failed authentication per address
(an IPv4 address, also written IPv4-mapped, or an IPv6 /64: see supply.netaddr).

Counted by flask-limiter in Redis when REDIS_URL is set (so every worker process shares the counts),
in process memory otherwise. A limit that is off ("0" or empty) adds nothing to a request. A refused
request gets 429 with the usual error shape and a Retry-After header, and its view never runs.
"""
from __future__ import annotations

import logging
import math
import threading
import time

from flask import Flask, Response, jsonify, request
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from config import Settings
from supply.api import platform_links, webhooks
from supply.api.context import services
from supply.api.errors import error_body
from supply.netaddr import sender

log = logging.getLogger(__name__)

PUSH_ENDPOINT = f"{webhooks.blp.name}.{webhooks.Webhook.__name__}"
# A cooperative's own webhook address (/webhooks/{platform}/{token}): the same limit, counted apart.
COOPERATIVE_PUSH_ENDPOINT = f"{platform_links.blp.name}.{platform_links.CooperativeWebhook.__name__}"
PUSH_ENDPOINTS = frozenset({PUSH_ENDPOINT, COOPERATIVE_PUSH_ENDPOINT})
# Never counted, never refused by the failed-authentication limit: the liveness probe, and pushes,
# which carry a signature rather than a token and have their own limit.
NOT_AUTHENTICATED_BY_TOKEN = frozenset({"healthz", "readyz", *PUSH_ENDPOINTS})
# A hung Redis must not hang intake: a counter gives up quickly and the count goes on in memory.
REDIS_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
# After Redis fails, how long failed authentications are counted in memory before Redis is tried again.
STORAGE_RETRY_S = 10.0
# Addresses a process remembers as refused; past this it forgets the expired ones (or all, and relearns).
MAX_REFUSED_ADDRESSES = 10_000


def parse_limit(value: str, setting: str) -> list[RateLimitItem]:
    """A flask-limiter limit string -> its parts; "0" or empty -> none: the limit is off."""
    value = (value or "").strip()
    if value in ("", "0"):
        return []
    try:
        return parse_many(value)
    except ValueError:
        raise ValueError(f"{setting}: {value!r} is not a rate limit such as '100 per second' "
                         f"(or '0' for none)") from None


def init_rate_limits(app: Flask, settings: Settings) -> FailedAuthentications | None:
    """Bind the limits in `settings` to `app`; the guard that counts failed authentications (the fast
    lane consults it too), None when that limit is off."""
    push_limits = parse_limit(settings.rate_limit_webhooks, "COOP_RATE_LIMIT_WEBHOOKS")
    failure_limits = parse_limit(settings.rate_limit_unauthenticated, "COOP_RATE_LIMIT_UNAUTHENTICATED")
    if not (push_limits or failure_limits):
        return None
    limiter = Limiter(
        client_address,
        storage_uri=settings.redis_url or "memory://",
        storage_options=dict(REDIS_OPTIONS) if settings.redis_url else {},
        # One INCR per counted request. A window opens at a key's first hit; a burst of up to twice the
        # limit across a window's end is acceptable for limits meant to stop floods.
        strategy="fixed-window",
        key_prefix=settings.rate_limit_key_prefix,
        # Redis down: go on counting in process memory, and never turn a request into a 500 over a count.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        # X-RateLimit-* headers on every push would cost a second Redis round trip per push.
        headers_enabled=False,
    )
    # Only pushes go through flask-limiter's own check: every other request leaves it at this filter.
    limiter.request_filter(lambda: request.endpoint not in PUSH_ENDPOINTS)
    if push_limits:
        # Bound to the blueprints, whose manager routes (product mappings, messages, accounts, listings,
        # shipments) the filter keeps out.
        for blueprint in (webhooks.blp, platform_links.blp):
            limiter.limit(settings.rate_limit_webhooks, key_func=platform_and_address, on_breach=_push_refused,
                          error_message=_push_message(settings.rate_limit_webhooks))(blueprint)
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    guard = None
    if failure_limits:
        guard = FailedAuthentications(limiter.storage, failure_limits, settings.rate_limit_key_prefix,
                                      settings.rate_limit_unauthenticated)
        app.before_request(guard.refuse_known)
        app.after_request(guard.count)
    app.extensions["coop_rate_limits"] = limiter
    return guard


def client_address() -> str:
    # The connecting peer, or, behind COOP_TRUSTED_PROXIES proxies, the address the first of them
    # received from (applied to the WSGI environment by ProxyFix in create_app); counted as the body
    # guard counts it: an IPv4 address (also written IPv4-mapped), an IPv6 /64.
    return sender(request.remote_addr or "unknown")


def platform_and_address() -> str:
    args = request.view_args or {}
    platform = args.get("platform", "")
    if "path_token" in args:
        # A cooperative's address: counted per cooperative, so one cooperative's flood never holds back
        # another's pushes; addresses naming no account share one count, as invented names do below.
        from supply.services.platform_links import webhook_account

        found = webhook_account(services(), platform, args["path_token"])
        return f"{platform}/{found[0]}@{client_address()}" if found is not None else f"(unknown address)@{client_address()}"
    # Names no platform is configured under share one count, so inventing names gains a sender nothing.
    if platform not in services().adapters:
        platform = "(unconfigured)"
    return f"{platform}@{client_address()}"


def rate_limited(reset_at: float, message: str) -> Response:
    """429 in the error shape of API.md; `reset_at` (epoch seconds) is when a retry can succeed."""
    response = jsonify(error_body("rate_limited", message))
    response.status_code = 429
    response.headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
    return response


def _push_message(limit) -> str:
    return f"too many pushes for this platform from this address (limit: {limit})"


def _push_refused(limit: RequestLimit) -> Response:
    reset_at, _ = limit.window  # a storage read, on a refusal only
    return rate_limited(reset_at, _push_message(limit.limit))


def _rate_limited(exc: RateLimitExceeded) -> Response:
    if exc.response is not None:
        return exc.response
    # on_breach could not read the window (storage gone meanwhile): a whole window is a safe wait.
    return rate_limited(time.time() + exc.limit.limit.get_expiry(), exc.description)


class FailedAuthentications:
    """Counts requests that fail authentication (401), per address, and refuses an address that is over.

    Only failures are counted, once the response is known, so a request with a valid token costs a
    dictionary look-up here and no storage round trip. An address over the limit is remembered by this
    process until its window ends and refused before its token is looked at; another process learns of
    it at the address's next failure there, so each process checks at most one more token from it.
    """

    def __init__(self, storage: Storage, items: list[RateLimitItem], key_prefix: str, description: str):
        self._items = sorted(items)
        self._key = (key_prefix, "unauthenticated")
        self._counter = FixedWindowRateLimiter(storage)
        self._fallback = FixedWindowRateLimiter(MemoryStorage())
        self._storage_down_until = 0.0
        self._message = f"too many requests without a valid token from this address (limit: {description})"
        self._refused_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def refuse_known(self) -> Response | None:
        if not self._refused_until or request.endpoint in NOT_AUTHENTICATED_BY_TOKEN:
            return None
        address = client_address()
        until = self._refused_until.get(address)
        if until is None:
            return None
        if until <= time.time():
            self._refused_until.pop(address, None)
            return None
        return rate_limited(until, self._message)

    def refusing(self, address: str) -> bool:
        """Whether requests from this address are being refused now (read without a request context)."""
        if not self._refused_until:
            return False
        until = self._refused_until.get(sender(address))
        return until is not None and until > time.time()

    def count(self, response: Response) -> Response:
        if response.status_code != 401 or request.endpoint in NOT_AUTHENTICATED_BY_TOKEN:
            return response
        address = client_address()
        reset_at = self._hit(address)
        if reset_at is None:
            return response
        self._remember(address, reset_at)
        peer = request.remote_addr or "unknown"
        log.warning("refusing %s until its failed-authentication window ends%s", peer,
                    "" if peer == address else f" (and all of {address}, counted as one sender)")
        return rate_limited(reset_at, self._message)

    def _hit(self, address: str) -> float | None:
        """Count one failure; when its window ends if that took the address over the limit, else None."""
        if time.monotonic() >= self._storage_down_until:
            try:
                return self._hit_with(self._counter, address)
            except Exception as exc:  # any storage failure: the count must not fail the request
                log.warning("rate limit storage unreachable (%s); counting in memory for %.0f s",
                            exc.__class__.__name__, STORAGE_RETRY_S)
                self._storage_down_until = time.monotonic() + STORAGE_RETRY_S
        return self._hit_with(self._fallback, address)

    def _hit_with(self, counter: FixedWindowRateLimiter, address: str) -> float | None:
        for item in self._items:
            if not counter.hit(item, *self._key, address):
                return counter.get_window_stats(item, *self._key, address).reset_time
        return None

    def _remember(self, address: str, until: float) -> None:
        with self._lock:
            if len(self._refused_until) >= MAX_REFUSED_ADDRESSES:
                now = time.time()
                live = {a: t for a, t in self._refused_until.items() if t > now}
                self._refused_until = live if len(live) < MAX_REFUSED_ADDRESSES else {}
            self._refused_until[address] = until
