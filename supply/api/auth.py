"""Bearer-token checks: 401 without a valid token, 403 for the wrong role."""
from __future__ import annotations

import functools
import threading
import time

from flask import g, request

from supply.api.context import services
from supply.domain.errors import Forbidden, Unauthorized
from supply.services.auth import Principal, authenticate, hash_token

_CACHE_TTL_S = 30.0
_cache: dict[str, tuple[float, Principal]] = {}
_cache_lock = threading.Lock()


def current_principal() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required")
    token = token.strip()
    key = hash_token(token)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit and hit[0] > now:
        return hit[1]
    with services().db.transaction() as session:
        principal = authenticate(session, token)
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key] = (now + _CACHE_TTL_S, principal)
    return principal


def cached_principal(header: str) -> Principal | None:
    """The principal of an `Authorization: Bearer ...` header this process verified lately, else None."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    hit = _cache.get(hash_token(token.strip()))
    return hit[1] if hit and hit[0] > time.monotonic() else None


def requires(*roles: str):
    """Let the view run only for these roles; the principal is in `g.principal`."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = current_principal()
            if principal.role not in roles:
                raise Forbidden(f"this needs the role {' or '.join(roles)}")
            g.principal = principal
            return view(*args, **kwargs)

        wrapper._roles = roles  # read by the OpenAPI security decorator
        return wrapper

    return decorator


def clear_token_cache() -> None:
    with _cache_lock:
        _cache.clear()
