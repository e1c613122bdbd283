"""Clients of the platforms' open APIs (order detail, listing stock, shipping, shop tokens).

``make_client(platform, base_url, credentials, timeout_s)`` -> a `PlatformApiClient`, or None for a
platform without an open API here (the generic format). Each module cites the public sources its
signing and answer shapes rest on, and marks what is assumed.
"""
from __future__ import annotations

from supply.platforms.clients.base import OrderDetail, PlatformApiClient, PlatformApiError, Token
from supply.platforms.clients.douyin import DouyinClient
from supply.platforms.clients.kuaishou import KuaishouClient
from supply.platforms.clients.youzan import YouzanClient

CLIENTS = {"douyin": DouyinClient, "kuaishou": KuaishouClient, "youzan": YouzanClient}

__all__ = ["CLIENTS", "OrderDetail", "PlatformApiClient", "PlatformApiError", "Token", "make_client"]


def make_client(platform: str, base_url: str | None, credentials: dict, *, timeout_s: float = 3.0,
                http=None) -> PlatformApiClient | None:
    cls = CLIENTS.get(platform)
    if cls is None or not base_url or not isinstance(credentials, dict):
        return None
    return cls(base_url, credentials, timeout_s=timeout_s, http=http)
