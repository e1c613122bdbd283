"""Youzan (有赞云) open API: trade detail, item stock, shipping, shop tokens.

What each detail rests on:

- Token: POST ``{base}/auth/token`` (JSON) with ``client_id``, ``client_secret`` and ``authorize_type``:
  ``silent`` with ``grant_id`` (the shop's kdt_id, a shop's own app), ``authorization_code`` with
  ``code``, or ``refresh_token`` with ``refresh_token``. Sources: youzan/open-sdk-node
  ``src/token.js`` and ``examples/getToken.js``, ``lib/config/http.js`` (``/auth/token``). The answer
  ``{"success": true, "data": {"access_token", "expires", "refresh_token"}}`` with ``expires`` the
  expiry in epoch milliseconds: ASSUMPTION from Youzan's documentation.
- Calls: POST ``{base}/api/{api}/{version}?access_token=…`` with a JSON body; no signature, the token
  is the credential (``lib/config/http.js``: ``/api/{0}/{1}?access_token={2}``). Answer
  ``{"success": true, "data": …}`` or ``success`` false with ``code`` and ``message``. ASSUMPTIONS: code
  4201 / 4203 mean the token expired or is invalid; 4002 (and HTTP 429) rate limited.
- ``youzan.trade.get`` 4.0.0 with one ``tid`` (no batch form): ``data.full_order_info.orders[]`` with
  ``sku_id``, ``item_id``, ``num``, the same shape as the trade push (see ``supply.platforms.youzan``).
  ``youzan.item.quantity.update`` 3.0.0 (``item_id``, ``sku_id``, ``quantity``, ``type`` 0 = set):
  ASSUMPTION. ``youzan.logistics.online.confirm`` 3.0.0 (``tid``, ``out_stype`` carrier, ``out_sid``
  waybill): ASSUMPTION.
"""
from __future__ import annotations

from datetime import datetime, timezone

from supply.platforms.base import PlatformLine
from supply.platforms.clients.base import OrderDetail, PlatformApiClient, PlatformApiError, Token, need

TOKEN_INVALID = {"4201", "4203"}
RATE_LIMITED = {"4002"}


class YouzanClient(PlatformApiClient):
    name = "youzan"

    def _call(self, api: str, version: str, params: dict, access_token: str) -> dict:
        answer = self._send("POST", f"/api/{api}/{version}", params={"access_token": access_token}, json=params)
        return _checked(answer).get("data") or {}

    def _token(self, body: dict) -> Token:
        body = {"client_id": need(self.credentials, "client_id", self.name),
                "client_secret": need(self.credentials, "client_secret", self.name), **body}
        data = _checked(self._send("POST", "/auth/token", json=body)).get("data") or {}
        if not data.get("access_token"):
            raise PlatformApiError("no_token", "the token answer holds no access_token")
        expires = data.get("expires")
        return Token(data["access_token"], data.get("refresh_token"),
                     datetime.fromtimestamp(int(expires) / 1000, timezone.utc) if expires else None)

    def create_token(self, code: str | None, shop_id: str | None) -> Token:
        if code:
            return self._token({"authorize_type": "authorization_code", "code": code})
        return self._token({"authorize_type": "silent", "grant_id": need({"shop_id": shop_id or ""}, "shop_id", self.name)})

    def refresh_token(self, token: Token) -> Token:
        if not token.refresh_token:   # a shop's own app has none: ask again silently
            return self.create_token(None, self.credentials.get("shop_id"))
        return self._token({"authorize_type": "refresh_token", "refresh_token": token.refresh_token})

    def order_detail(self, access_token: str, external_order_id: str) -> OrderDetail:
        data = self._call("youzan.trade.get", "4.0.0", {"tid": external_order_id}, access_token)
        lines = []
        for item in (data.get("full_order_info") or {}).get("orders") or []:
            sku = str(item.get("sku_id") or "0")
            ref = sku if sku != "0" else str(item.get("item_id"))
            if int(item.get("num") or 0) > 0:
                lines.append(PlatformLine(ref, int(item["num"])))
        if not lines:
            raise PlatformApiError("no_lines", "the trade lists no item")
        return OrderDetail(external_order_id, tuple(lines))

    def set_stock(self, access_token: str, product_ref: str, item_ref: str | None, quantity: int) -> None:
        self._call("youzan.item.quantity.update", "3.0.0", {"item_id": item_ref or "", "sku_id": product_ref,
                                                           "quantity": quantity, "type": 0}, access_token)

    def ship(self, access_token: str, external_order_id: str, carrier_code: str, waybill: str) -> None:
        self._call("youzan.logistics.online.confirm", "3.0.0", {"tid": external_order_id, "out_stype": carrier_code,
                                                               "out_sid": waybill}, access_token)


def _checked(answer: dict) -> dict:
    if answer.get("success") is True:
        return answer
    code = str(answer.get("code") or (answer.get("gw_err_resp") or {}).get("err_code") or "error")
    message = str(answer.get("message") or "error")
    raise PlatformApiError(code, message, token_invalid=code in TOKEN_INVALID, rate_limited=code in RATE_LIMITED)
