"""Livestream platform adapters: one per platform, behind one interface. Plain Python (no Flask, no
database); the web layer and the services call it.

The interface
-------------
``get_adapter(name, secret_config) -> PlatformAdapter``
    ``secret_config`` is the platform's value in the COOP_PLATFORM_SECRETS JSON object:

    - a plain string: the project's own signed format (API.md) under that name (`GenericAdapter`), so
      ``POST /webhooks/anyname`` with a string secret speaks the generic format;
    - ``{"app_key", "app_secret"}`` for ``douyin``; ``{"client_id", "client_secret"}`` for ``youzan``;
      ``{"app_key", "message_key"}`` for ``kuaishou``; ``{"secret"}`` for any name (generic format).

    An unknown platform given an object raises `UnknownPlatform`; a missing key `PlatformConfigError`.
    ``load_adapters(secrets)`` builds every adapter of the whole object at start-up, so a bad entry
    fails then rather than at the first webhook.

``PlatformAdapter`` (``name``)
    ``verify(headers, raw_body)``: raises `InvalidSignature` (answer 401, store nothing); digests are
    compared in constant time (``hmac.compare_digest``).
    ``parse(raw_body) -> list[PlatformEvent]``: raises `InvalidPayload(field, reason)`.
    ``acknowledge(results) -> (body, status)``: what the platform expects once events are stored.
    ``reject(status, code, message) -> (body, status)``: the answer on failure (the project's error
    shape; no platform documents a failure body in our sources, any non-success answer means "retry").

``PlatformEvent`` (frozen): ``platform``, ``message_id`` (de-duplicate on platform + message_id;
    stable across re-deliveries), ``kind`` (ping | created | paid | cancelled | refunded | other),
    ``external_order_id``, ``version`` (higher overrides lower for one order), ``occurred_at`` (aware
    datetime), ``lines`` (tuple of ``PlatformLine(product_ref, quantity)``: ``product_ref`` is the
    platform's own product/SKU id, except in the generic format where it is our SKU), ``amount_fen``,
    ``buyer`` (personal data, kept apart and removed from ``raw``), ``raw`` (the decoded event).

What the service must do with an event
--------------------------------------
- ``ping``: acknowledge, nothing to store.
- ``lines == ()`` on a ``created``/``paid`` event (``needs_order_detail``): Douyin and Kuaishou
  messages never carry line items, only the order id. Store the event and the order as "needs order
  detail" (fetch it from the platform's order API, or report it to the manager); never drop it.
- ``other``: store it (raw) for the record; it changes no stock.
- Map ``product_ref`` to our SKU through the manager's mapping; an unmapped ref is a reported problem,
  not a lost order.

Sources for each platform's format are cited in the docstrings of `douyin`, `youzan` and `kuaishou`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import (
    EVENT_KINDS,
    InvalidPayload,
    InvalidSignature,
    PlatformAdapter,
    PlatformConfigError,
    PlatformError,
    PlatformEvent,
    PlatformLine,
    UnknownPlatform,
)
from .douyin import DouyinAdapter
from .generic import GenericAdapter
from .kuaishou import KuaishouAdapter
from .youzan import YouzanAdapter

__all__ = [
    "EVENT_KINDS",
    "DouyinAdapter",
    "GenericAdapter",
    "InvalidPayload",
    "InvalidSignature",
    "KuaishouAdapter",
    "PlatformAdapter",
    "PlatformConfigError",
    "PlatformError",
    "PlatformEvent",
    "PlatformLine",
    "UnknownPlatform",
    "YouzanAdapter",
    "get_adapter",
    "load_adapters",
]

# Platform name -> (adapter class, the config keys it needs, in constructor order).
_PLATFORMS: dict[str, tuple[type[PlatformAdapter], tuple[str, ...]]] = {
    "douyin": (DouyinAdapter, ("app_key", "app_secret")),
    "youzan": (YouzanAdapter, ("client_id", "client_secret")),
    "kuaishou": (KuaishouAdapter, ("app_key", "message_key")),
}

# Optional settings a platform's entry may carry, passed to its adapter by keyword.
_OPTIONS: dict[str, tuple[str, ...]] = {
    # Youzan's legacy signature covers msg only (see youzan.py): refused unless this is true.
    "youzan": ("allow_legacy_sign",),
}


def get_adapter(name: str, secret_config: str | Mapping[str, Any] | None) -> PlatformAdapter:
    """The adapter for webhook ``name`` configured with ``secret_config`` (see the module docstring)."""
    if not isinstance(name, str) or not name:
        raise UnknownPlatform("platform name must be a non-empty string")
    if secret_config is None:
        raise UnknownPlatform(f"no webhook secret is configured for platform {name!r}")
    try:
        if isinstance(secret_config, str):
            return GenericAdapter(name, secret_config)
        if not isinstance(secret_config, Mapping):
            raise PlatformConfigError(f"platform {name!r}: the secret must be a string or an object")
        if name not in _PLATFORMS:
            if set(secret_config) == {"secret"}:
                return GenericAdapter(name, secret_config["secret"])
            raise UnknownPlatform(
                f"unknown platform {name!r}: configure a plain string secret for the generic format, "
                f"or one of {sorted(_PLATFORMS)}"
            )
        cls, keys = _PLATFORMS[name]
        missing = [k for k in keys if not isinstance(secret_config.get(k), str) or not secret_config.get(k)]
        if missing:
            raise PlatformConfigError(f"platform {name!r}: missing {', '.join(missing)} in COOP_PLATFORM_SECRETS")
        options = {k: secret_config[k] for k in _OPTIONS.get(name, ()) if k in secret_config}
        return cls(*(secret_config[k] for k in keys), name=name, **options)
    except ValueError as exc:
        if isinstance(exc, PlatformError):
            raise
        raise PlatformConfigError(str(exc)) from None


def load_adapters(secrets: Mapping[str, Any]) -> dict[str, PlatformAdapter]:
    """Every configured adapter, by name; raises on the first bad entry."""
    return {name: get_adapter(name, config) for name, config in secrets.items()}
