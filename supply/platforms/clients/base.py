"""What every platform's open-API client shares: tokens, order details, errors, the HTTP call.

A client knows one platform's request signing and answer shapes, and only a base URL from
configuration. It holds no state of its own beyond the app's credentials: the shop's access token is
passed in by the caller (`supply.services.platform_links`), which stores it encrypted and refreshes it.
Nothing here logs a secret, a token or a signed URL.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from supply.platforms.base import PlatformLine


_SECRET_PARAMS = re.compile(r"((?:access_token|refresh_token|sign|app_secret|code)=)[^&\s\"]+")


class _RedactQuery(logging.Filter):
    """urllib3 logs each request line at DEBUG, query string and all; Douyin's and Kuaishou's put the
    shop's access token and the signature there. Those values are masked before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(_SECRET_PARAMS.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactQuery())


class PlatformApiError(Exception):
    """A call the platform did not carry out. `retryable`: worth trying again later (timeouts,
    rate limits, 5xx); `token_invalid`: the access token was refused (expired or revoked)."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, rate_limited: bool = False,
                 token_invalid: bool = False):
        super().__init__(f"{code}: {message}")
        self.code, self.message = str(code), message
        self.retryable = retryable or rate_limited or token_invalid
        self.rate_limited = rate_limited
        self.token_invalid = token_invalid

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message[:500]}


@dataclass(frozen=True)
class Token:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class OrderDetail:
    """An order as the platform's order-detail API gives it: its lines in the platform's SKU ids."""

    external_order_id: str
    lines: tuple[PlatformLine, ...]
    amount_fen: int | None = None


class PlatformApiClient:
    """Base of the three clients. `credentials` is the platform's configuration object (the same one
    that verifies its pushes, with the API's extra keys)."""

    name = "platform"

    def __init__(self, base_url: str, credentials: dict[str, Any], *, timeout_s: float = 3.0,
                 http: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout_s = timeout_s
        self.http = http or requests.Session()

    # Each platform implements these.
    def create_token(self, code: str | None, shop_id: str | None) -> Token:  # pragma: no cover
        raise NotImplementedError

    def refresh_token(self, token: Token) -> Token:  # pragma: no cover
        raise NotImplementedError

    def order_detail(self, access_token: str, external_order_id: str) -> OrderDetail:  # pragma: no cover
        raise NotImplementedError

    def set_stock(self, access_token: str, product_ref: str, item_ref: str | None, quantity: int) -> None:  # pragma: no cover
        raise NotImplementedError

    def ship(self, access_token: str, external_order_id: str, carrier_code: str, waybill: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def _send(self, method: str, path: str, **kwargs) -> Any:
        """One HTTP exchange; the decoded JSON answer. Transport failures are retryable errors."""
        try:
            response = self.http.request(method, self.base_url + path, timeout=self.timeout_s, **kwargs)
        except requests.Timeout:
            raise PlatformApiError("timeout", f"no answer within {self.timeout_s} s", retryable=True) from None
        except requests.RequestException as exc:
            raise PlatformApiError("unreachable", type(exc).__name__, retryable=True) from None
        if response.status_code == 429:
            raise PlatformApiError("429", "rate limited", rate_limited=True)
        if response.status_code >= 500:
            raise PlatformApiError(str(response.status_code), "platform server error", retryable=True)
        try:
            return response.json()
        except ValueError:
            raise PlatformApiError(str(response.status_code), "answer is not JSON", retryable=True) from None


def need(credentials: dict, key: str, platform: str) -> str:
    value = credentials.get(key)
    if not isinstance(value, str) or not value:
        raise PlatformApiError("not_configured", f"{platform}: {key} is missing from the platform's credentials")
    return value
