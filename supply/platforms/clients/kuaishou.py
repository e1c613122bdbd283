"""Kuaishou shop (快手小店) open API: order detail, SKU stock, shipping, shop tokens.

What each detail rests on:

- Request: ``{base}/{method with dots as slashes}`` (``/open/order/detail``), GET with the query, or
  POST form-encoded, of ``appkey``, ``method``, ``version=1``, ``access_token``, ``timestamp`` (ms),
  ``signMethod``, ``param`` (the business parameters as JSON, keys sorted) and ``sign``. ``sign`` over
  'access_token=…&appkey=…&method=…&param=…&signMethod=…&timestamp=…&version=…&signSecret=…':
  base64 HMAC-SHA256 keyed with the sign secret (signMethod HMAC_SHA256), or hex MD5 (signMethod MD5).
  Source: crywolfx/kuaishou-merchant-open-api ``packages/main.ts`` (``generateSign``, ``execute``) and
  ``packages/common/sign/index.ts``. We sign with HMAC_SHA256.
- Tokens: GET ``/oauth2/access_token`` (``app_id``, ``app_secret``, ``grant_type=code``, ``code``) and
  POST ``/oauth2/refresh_token`` (``grant_type=refresh_token``, ``refresh_token``, ``app_id``,
  ``app_secret``); answer ``result == 1`` with ``access_token``, ``refresh_token``, ``expires_in`` (s).
  Source: the same ``main.ts`` (``getAccessTokenByCode``, ``getAccessTokenByRefreshToken``).
- Answers: ``{"result": 1, "data": …}`` on success, else ``result`` with ``error_msg``. ASSUMPTIONS (no
  public source found): result 28 means the access token expired, 29 (and HTTP 429) rate limited.
- ``open.order.detail`` takes one ``oid`` (no batch form; source: public handlers calling
  ``/open/order/detail`` with ``{"oid": …}``); the answer's ``data.orderItemInfo`` (one item per Kuaishou
  order) has ``skuId``, ``itemId``, ``num``: ASSUMPTION from the platform's documentation names.
- ``open.item.sku.stock.update`` changes stock by an amount (``kwaiItemId``, ``skuId``,
  ``skuChangeStock`` > 0, ``changeType`` 1 add / 2 subtract), documented as incremental (a Python SDK's
  ``OpenItemSkuStockUpdateRequest`` docstring citing open.kwaixiaodian.com docs). To set a figure we
  read the SKU's stock first with ``open.item.get`` (``data.skuInfos[].kwaiSkuId`` / ``skuStock``:
  ASSUMPTION) and send the difference; a sale on the platform between the two calls is corrected by
  the next figure, which follows our own reservation of that sale.
- ``open.seller.order.goods.deliver``: ``orderId``, ``expressNo``, ``expressCode`` (ASSUMPTION; the
  field names match the Java SDK's ``MerchantLogisticsInfoView`` as modelled by a public Python SDK).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta, timezone

from supply.platforms.base import PlatformLine
from supply.platforms.clients.base import OrderDetail, PlatformApiClient, PlatformApiError, Token, need

VERSION = "1"
SIGN_METHOD = "HMAC_SHA256"
TOKEN_INVALID = {"28"}
RATE_LIMITED = {"29"}


def sign_text(params: dict, sign_secret: str) -> str:
    order = ("access_token", "appkey", "method", "param", "signMethod", "timestamp", "version")
    return "&".join(f"{key}={params[key]}" for key in order) + f"&signSecret={sign_secret}"


def sign(params: dict, sign_secret: str) -> str:
    text = sign_text(params, sign_secret)
    if params["signMethod"] == "MD5":
        return hashlib.md5(text.encode()).hexdigest()
    return base64.b64encode(hmac.new(sign_secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


class KuaishouClient(PlatformApiClient):
    name = "kuaishou"

    def _call(self, method: str, params: dict, access_token: str, *, post: bool = False) -> dict:
        query = {"access_token": access_token, "appkey": need(self.credentials, "app_key", self.name),
                 "method": method, "param": json.dumps(params, sort_keys=True, separators=(",", ":")),
                 "signMethod": SIGN_METHOD, "timestamp": str(int(time.time() * 1000)), "version": VERSION}
        query["sign"] = sign(query, need(self.credentials, "sign_secret", self.name))
        path = "/" + method.replace(".", "/")
        answer = self._send("POST", path, data=query) if post else self._send("GET", path, params=query)
        return _checked(answer).get("data") or {}

    def create_token(self, code: str | None, shop_id: str | None) -> Token:
        if not code:
            raise PlatformApiError("no_code", "kuaishou: a shop's token needs the authorisation code")
        answer = self._send("GET", "/oauth2/access_token", params={
            "app_id": need(self.credentials, "app_key", self.name),
            "app_secret": need(self.credentials, "app_secret", self.name), "grant_type": "code", "code": code})
        return _token(_checked(answer))

    def refresh_token(self, token: Token) -> Token:
        answer = self._send("POST", "/oauth2/refresh_token", data={
            "app_id": need(self.credentials, "app_key", self.name),
            "app_secret": need(self.credentials, "app_secret", self.name),
            "grant_type": "refresh_token", "refresh_token": token.refresh_token or ""})
        return _token(_checked(answer))

    def order_detail(self, access_token: str, external_order_id: str) -> OrderDetail:
        data = self._call("open.order.detail", {"oid": external_order_id}, access_token)
        items = data.get("orderItemInfo")
        items = items if isinstance(items, list) else [items] if isinstance(items, dict) else []
        lines = tuple(PlatformLine(str(item.get("skuId")), int(item.get("num") or 0)) for item in items
                      if int(item.get("num") or 0) > 0)
        if not lines:
            raise PlatformApiError("no_lines", "the order detail lists no SKU")
        fee = (data.get("orderBaseInfo") or {}).get("totalFee")
        return OrderDetail(external_order_id, lines, int(fee) if isinstance(fee, int) else None)

    def set_stock(self, access_token: str, product_ref: str, item_ref: str | None, quantity: int) -> None:
        item = self._call("open.item.get", {"kwaiItemId": item_ref or ""}, access_token)
        current = next((int(sku.get("skuStock") or 0) for sku in item.get("skuInfos") or []
                        if str(sku.get("kwaiSkuId")) == product_ref), None)
        if current is None:
            raise PlatformApiError("unknown_sku", f"item {item_ref} has no SKU {product_ref}")
        change = quantity - current
        if change:
            self._call("open.item.sku.stock.update", {"kwaiItemId": item_ref, "skuId": product_ref,
                                                       "skuChangeStock": abs(change), "changeType": 1 if change > 0 else 2},
                       access_token, post=True)

    def ship(self, access_token: str, external_order_id: str, carrier_code: str, waybill: str) -> None:
        self._call("open.seller.order.goods.deliver", {"orderId": external_order_id, "expressNo": waybill,
                                                        "expressCode": carrier_code}, access_token, post=True)


def _checked(answer: dict) -> dict:
    result = str(answer.get("result"))
    if result == "1":
        return answer
    message = str(answer.get("error_msg") or answer.get("error") or "error")
    raise PlatformApiError(result, message, token_invalid=result in TOKEN_INVALID, rate_limited=result in RATE_LIMITED)


def _token(answer: dict) -> Token:
    if not answer.get("access_token"):
        raise PlatformApiError("no_token", "the token answer holds no access_token")
    expires_in = int(answer.get("expires_in") or 0)
    return Token(answer["access_token"], answer.get("refresh_token"),
                 datetime.now(timezone.utc) + timedelta(seconds=expires_in) if expires_in else None)
