"""The demo's platform shops: local stand-ins of Douyin's and Kuaishou's open APIs
(`supply.platforms.sandbox`), started by `coop demo`, so that part of its spike arrives as the two
platforms push it (paid messages without lines) and is completed from their order-detail APIs.
The app reaches the stand-ins only through the base URLs put in its settings."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from cryptography.fernet import Fernet

from supply.platforms.sandbox import DouyinSandbox, KuaishouSandbox, douyin_push, kuaishou_push_body

DOUYIN = {"app_key": "7000000000000000001", "app_secret": "demo-douyin-app-secret", "shop_id": "77977"}
KUAISHOU = {"app_key": "ks-demo-app", "message_key": "ZGVtby1rdWFpc2hvdS0xNg==", "app_secret": "demo-ks-secret",
            "sign_secret": "demo-ks-sign-secret", "code": "demo-ks-authorisation"}


class DemoPlatforms:
    """Both stand-ins, running; `settings()` gives what the app needs to use them."""

    summary: dict | None = None

    def __init__(self):
        self.douyin = DouyinSandbox(DOUYIN).start()
        self.kuaishou = KuaishouSandbox(KUAISHOU).start()
        self.key = Fernet.generate_key().decode()

    def settings(self, other_secrets: dict) -> dict:
        return {"platform_secrets": {**other_secrets, "douyin": DOUYIN, "kuaishou": KUAISHOU},
                "platform_api_urls": {"douyin": self.douyin.base_url, "kuaishou": self.kuaishou.base_url},
                "credentials_key": self.key}

    def stop(self) -> None:
        self.douyin.stop()
        self.kuaishou.stop()

    def link(self, http, base: str, skus: list[str]) -> None:
        """Each of our SKUs listed on both shops; the Kuaishou shop authorised."""
        for n, sku in enumerate(skus):
            for platform, ref in (("douyin", _douyin_sku(n)), ("kuaishou", f"ks-{sku}")):
                response = http.post(f"{base}/platform-listings", json={"platform": platform, "product_ref": ref,
                                                                        "item_ref": f"item-{n}", "sku": sku})
                response.raise_for_status()
                fake = self.douyin if platform == "douyin" else self.kuaishou
                fake.add_listing(ref, f"item-{n}", stock=0)
        http.post(f"{base}/platform-accounts/kuaishou/authorization", json={"code": KUAISHOU["code"]}).raise_for_status()
        self.skus = {sku: n for n, sku in enumerate(skus)}

    def push(self, http, base: str, orders: list[dict], *, timeout_s: float = 120.0) -> list[dict]:
        """Push these one-line orders, alternately as Douyin and Kuaishou pay messages (each pushed twice,
        as platforms retry); wait until each is settled; one result per order, as `_spike` counts them."""
        items = []
        for k, order in enumerate(orders):
            [line] = order["lines"]
            n = self.skus[line["sku"]]
            if k % 2 == 0:
                oid = str(4_900_000_000_000_000_000 + k)
                self.douyin.add_order(oid, [(_douyin_sku(n), line["quantity"])], item=f"item-{n}")
                raw, headers = douyin_push([{"tag": "101", "msg_id": f"demo-dy-{oid}", "data": json.dumps(
                    {"p_id": int(oid), "order_status": 2, "pay_time": int(time.time()), "pay_amount": 1990})}],
                    DOUYIN["app_key"], DOUYIN["app_secret"])
                items.append(("douyin", oid, raw, headers))
            else:
                oid = str(2_900_000_000_000 + k)
                self.kuaishou.add_order(oid, [(f"ks-{line['sku']}", line["quantity"])], item=f"item-{n}")
                raw = kuaishou_push_body({"eventId": f"demo-ks-{oid}", "appKey": KUAISHOU["app_key"],
                                          "event": "kwaishop_order_paySuccess", "info": json.dumps(
                                              {"oid": int(oid), "status": 30, "updateTime": int(time.time() * 1000)})},
                                         KUAISHOU["message_key"])
                items.append(("kuaishou", oid, raw, {}))

        def send(item):
            platform, _, raw, headers = item
            for _ in range(2):   # the platform's retry changes nothing
                requests.post(f"{base}/webhooks/{platform}", data=raw, headers=headers).raise_for_status()

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(send, items))
        wanted = {f"demo-{'dy' if p == 'douyin' else 'ks'}-{oid}" for p, oid, _, _ in items}
        deadline = time.monotonic() + timeout_s
        while True:
            stored = [m for m in _messages(http, base) if m["message_id"] in wanted]
            if (len(stored) == len(wanted) and all(m["status"] != "needs_order_detail" for m in stored)) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.summary = {"douyin_orders": sum(1 for p, *_ in items if p == "douyin"),
                        "kuaishou_orders": sum(1 for p, *_ in items if p == "kuaishou"),
                        "reserved": sum(1 for m in stored if m["status"] == "applied"),
                        "settled": sum(1 for m in stored if m["status"] != "needs_order_detail"),
                        "order_detail_calls": self.douyin.calls_of("order.orderDetail")
                        + self.kuaishou.calls_of("open.order.detail")}
        return [{"status": 201 if m["status"] == "applied" else 409,
                 "error": (m.get("result") or {}).get("error") or {"code": m["status"]}} for m in stored] + \
            [{"status": 409, "error": {"code": "not_settled"}}] * (len(wanted) - len(stored))


def _messages(http, base: str) -> list[dict]:
    """Every stored platform message, newest first, read a page of 1,000 at a time (each page the
    newest before the last one read, so messages stored meanwhile shift nothing)."""
    messages, before = [], None
    while True:
        params = {"page_size": 1000} | ({"before_id": before} if before else {})
        response = http.get(f"{base}/platform-messages", params=params)
        response.raise_for_status()
        page = response.json()
        messages += page
        if len(page) < 1000:
            return messages
        before = page[-1]["id"]


def _douyin_sku(n: int) -> str:
    return str(1_760_000_000_000 + n)
