"""Douyin shop (抖店) open API: order detail, SKU stock, shipping, shop tokens.

What each detail rests on:

- Request: POST ``{base}/{method with dots as slashes}`` (``/order/orderDetail``) with the query
  ``app_key``, ``method``, ``access_token``, ``timestamp`` ('YYYY-MM-DD HH:MM:SS'), ``v=2``,
  ``sign_method=hmac-sha256``, ``sign``, and the JSON ``param_json`` (keys sorted, no spaces) as the
  body. ``sign`` = hex HMAC-SHA256, keyed with app_secret, of app_secret + 'app_key' + app_key +
  'method' + method + 'param_json' + param_json + 'timestamp' + timestamp + 'v' + '2' + app_secret.
  Source: minibear2021/doudian ``doudian/core.py`` (``_sign``, ``_hash_hmac``, ``_request``).
- Tokens: ``token.create`` with ``grant_type`` ``authorization_code`` and ``code`` (a tool app's
  authorisation code) or ``authorization_self`` and ``shop_id`` (a shop's own app); ``token.refresh``
  with ``grant_type=refresh_token`` and ``refresh_token``; no access_token on these calls; the
  answer's ``data`` holds ``access_token``, ``refresh_token``, ``expires_in`` (seconds). Source: the
  same file (``init_token``, ``_refresh_token``).
- Success: ``err_no == 0`` (core.py) or ``code == 10000`` (ASSUMPTION: the gateway's other success
  spelling). Errors: ``code``/``err_no`` with ``msg``. ASSUMPTIONS, no public source found: 30001 and
  30002 mean the access token is expired or unknown; 50002 (and HTTP 429) mean rate limited.
- ``order.orderDetail`` takes one ``shop_order_id`` (no batch form); the answer's
  ``data.shop_order_detail.sku_order_list[]`` has ``sku_id``, ``product_id``, ``item_num``; ``pay_amount``
  in fen. ASSUMPTION from the open platform's documentation pages (op.jinritemai.com, api 1343), not
  from an SDK file.
- ``sku.syncStock``: ``product_id``, ``sku_id``, ``stock_num``, ``incremental=false`` sets the figure.
  ``order.logisticsAdd``: ``order_id``, ``company_code``, ``logistics_code``. ASSUMPTION (same pages).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

from supply.platforms.base import CHINA_TZ, PlatformLine
from supply.platforms.clients.base import OrderDetail, PlatformApiClient, PlatformApiError, Token, need

VERSION = "2"
TOKEN_INVALID = {"30001", "30002"}
RATE_LIMITED = {"50002"}


def param_json(params: dict) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(app_key: str, app_secret: str, method: str, params_text: str, timestamp: str) -> str:
    pattern = f"{app_secret}app_key{app_key}method{method}param_json{params_text}timestamp{timestamp}v{VERSION}{app_secret}"
    return hmac.new(app_secret.encode(), pattern.encode(), hashlib.sha256).hexdigest()


class DouyinClient(PlatformApiClient):
    name = "douyin"

    def _call(self, method: str, params: dict, access_token: str | None = None) -> dict:
        app_key, app_secret = need(self.credentials, "app_key", self.name), need(self.credentials, "app_secret", self.name)
        body = param_json(params)
        timestamp = datetime.now(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")
        query = {"app_key": app_key, "method": method, "timestamp": timestamp, "v": VERSION,
                 "sign_method": "hmac-sha256", "sign": sign(app_key, app_secret, method, body, timestamp)}
        if access_token is not None:
            query["access_token"] = access_token
        answer = self._send("POST", "/" + method.replace(".", "/"), params=query, data=body.encode(),
                            headers={"Content-Type": "application/json"})
        code = str(answer.get("err_no", answer.get("code")))
        if code in ("0", "10000"):
            return answer.get("data") or {}
        message = str(answer.get("msg") or answer.get("message") or "error")
        raise PlatformApiError(code, message, token_invalid=code in TOKEN_INVALID, rate_limited=code in RATE_LIMITED)

    def create_token(self, code: str | None, shop_id: str | None) -> Token:
        params = ({"code": code, "grant_type": "authorization_code"} if code
                  else {"code": "", "grant_type": "authorization_self", "shop_id": need({"shop_id": shop_id or ""}, "shop_id", self.name)})
        return _token(self._call("token.create", params))

    def refresh_token(self, token: Token) -> Token:
        return _token(self._call("token.refresh", {"grant_type": "refresh_token", "refresh_token": token.refresh_token or ""}))

    def order_detail(self, access_token: str, external_order_id: str) -> OrderDetail:
        data = self._call("order.orderDetail", {"shop_order_id": external_order_id}, access_token)
        detail = data.get("shop_order_detail") or {}
        lines = []
        for item in detail.get("sku_order_list") or []:
            quantity = int(item.get("item_num") or 0)
            if quantity > 0:
                lines.append(PlatformLine(str(item.get("sku_id")), quantity))
        if not lines:
            raise PlatformApiError("no_lines", "the order detail lists no SKU")
        amount = detail.get("pay_amount")
        return OrderDetail(external_order_id, tuple(lines), int(amount) if isinstance(amount, int) else None)

    def set_stock(self, access_token: str, product_ref: str, item_ref: str | None, quantity: int) -> None:
        self._call("sku.syncStock", {"product_id": item_ref or "", "sku_id": product_ref, "stock_num": quantity,
                                     "incremental": False}, access_token)

    def ship(self, access_token: str, external_order_id: str, carrier_code: str, waybill: str) -> None:
        self._call("order.logisticsAdd", {"order_id": external_order_id, "company_code": carrier_code,
                                          "logistics_code": waybill}, access_token)


def _token(data: dict) -> Token:
    if not data.get("access_token"):
        raise PlatformApiError("no_token", "the token answer holds no access_token")
    expires_in = int(data.get("expires_in") or 0)
    return Token(data["access_token"], data.get("refresh_token"),
                 datetime.now(timezone.utc) + timedelta(seconds=expires_in) if expires_in else None)
