"""Local stand-ins for the platforms' open APIs (Douyin shop, Kuaishou shop, Youzan), for tests and
`coop demo` only: the platforms are unreachable from here. Product code never imports this module; it
talks to these servers only through the base URLs in configuration (COOP_PLATFORM_API_URLS).

Each server answers the documented request shapes that `supply.platforms.clients` sends (the sources
are cited there), and checks them as the platform would: the request's signature (Douyin, Kuaishou),
the access token (issued by its token endpoint, expiring), the shop's orders and SKUs. A test can make
it answer errors, rate limits and slow answers (`fail_next`), expire tokens, and read what it was told
(`stock`, `stock_writes`, `shipments`, `calls`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from supply.platforms.clients import douyin as douyin_api
from supply.platforms.clients import kuaishou as kuaishou_api


@dataclass
class _Fault:
    kind: str            # "error", "rate_limit", "server_error", "slow"
    seconds: float = 0.0


@dataclass
class SandboxState:
    orders: dict[str, list[dict]] = field(default_factory=dict)      # order id -> [{"sku", "item", "num"}]
    stock: dict[str, int] = field(default_factory=dict)              # platform SKU id -> listing stock
    items: dict[str, str] = field(default_factory=dict)              # platform SKU id -> item id
    stock_writes: list[tuple[float, str, int]] = field(default_factory=list)   # (time, sku, figure)
    shipments: dict[str, tuple[str, str]] = field(default_factory=dict)
    ship_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tokens: dict[str, float] = field(default_factory=dict)           # access token -> expiry (time.time())
    refresh_tokens: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    detail_at: dict[str, float] = field(default_factory=dict)        # order id -> time.time() of its first detail call
    bad_signatures: int = 0
    faults: list[_Fault] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256   # the default 5 drops connections under a spike, as no platform gateway does


class SandboxPlatform:
    """Base of the three stand-ins: an HTTP server on a loopback port in a background thread."""

    name = "platform"
    token_ttl_s = 7200

    def __init__(self, credentials: dict, *, host: str = "127.0.0.1", port: int = 0):
        self.credentials = credentials
        self.state = SandboxState()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"   # keep-alive, as the platforms' gateways
            # The headers and the body go out in two writes: with Nagle's algorithm on, the body waits
            # for the client's delayed ACK (40 ms on Linux), a delay no platform's gateway adds.
            disable_nagle_algorithm = True
            def log_message(self, *args):   # quiet
                pass

            def do_GET(self):
                outer._handle(self, "GET")

            def do_POST(self):
                outer._handle(self, "POST")

        self._server = _Server((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"sandbox-{self.name}", daemon=True)

    # -- control -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "SandboxPlatform":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def add_order(self, order_id: str, lines: list[tuple[str, int]], item: str = "9001") -> None:
        with self.lock:
            self.state.orders[str(order_id)] = [{"sku": str(sku), "item": item, "num": num} for sku, num in lines]

    def add_listing(self, sku: str, item: str, stock: int = 0) -> None:
        with self.lock:
            self.state.items[str(sku)], self.state.stock[str(sku)] = str(item), stock

    def fail_next(self, count: int, kind: str = "error", seconds: float = 0.0) -> None:
        with self.lock:
            self.state.faults.extend(_Fault(kind, seconds) for _ in range(count))

    def expire_tokens(self) -> None:
        with self.lock:
            for token in self.state.tokens:
                self.state.tokens[token] = 0.0

    def issue_token(self, ttl_s: float | None = None) -> dict:
        access, refresh = "at-" + secrets.token_hex(8), "rt-" + secrets.token_hex(8)
        ttl = self.token_ttl_s if ttl_s is None else ttl_s
        with self.lock:
            self.state.tokens[access] = time.time() + ttl
            self.state.refresh_tokens.add(refresh)
        return {"access_token": access, "refresh_token": refresh, "expires_in": int(ttl)}

    def calls_of(self, method: str) -> int:
        with self.lock:
            return sum(1 for call in self.state.calls if call == method)

    # -- request handling -----------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, verb: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if parts.path.startswith("/_sandbox/"):
            status, answer = self.control(verb, parts.path, body)
        else:
            status, answer = self.answer(verb, parts.path, query, body, handler.headers)
        raw = json.dumps(answer, ensure_ascii=False).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(raw)))
            handler.end_headers()
            handler.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):   # the client gave up (a timeout test)
            pass

    def _fault(self) -> _Fault | None:
        with self.lock:
            return self.state.faults.pop(0) if self.state.faults else None

    def _token_ok(self, token: str | None) -> bool:
        with self.lock:
            return token is not None and self.state.tokens.get(token, 0) > time.time()

    def _log(self, method: str) -> None:
        with self.lock:
            self.state.calls.append(method)

    def _detail_asked(self, order_id: str) -> None:
        with self.lock:
            self.state.detail_at.setdefault(order_id, time.time())

    def _set_stock(self, sku: str, figure: int) -> bool:
        with self.lock:
            if sku not in self.state.stock:
                return False
            self.state.stock[sku] = figure
            self.state.stock_writes.append((time.time(), sku, figure))
            return True

    def _ship(self, order_id: str, carrier: str, waybill: str) -> bool:
        """False when the order is unknown or shipped already (a platform ships an order once)."""
        with self.lock:
            self.state.ship_calls[order_id] += 1
            if order_id not in self.state.orders or order_id in self.state.shipments:
                return False
            self.state.shipments[order_id] = (carrier, waybill)
            return True

    def answer(self, verb, path, query, body, headers) -> tuple[int, dict]:  # pragma: no cover
        raise NotImplementedError

    def control(self, verb: str, path: str, body: bytes) -> tuple[int, dict]:
        """The stand-in's own controls, for a benchmark running it in another process (never a platform
        API): POST /_sandbox/orders [{"id", "lines": [[sku, n]]}], POST /_sandbox/listings
        [{"sku", "item", "stock"}], GET /_sandbox/state."""
        if verb == "POST" and path == "/_sandbox/orders":
            for order in json.loads(body):
                self.add_order(order["id"], [tuple(line) for line in order["lines"]], item=order.get("item", "9001"))
            return 200, {"ok": True}
        if verb == "POST" and path == "/_sandbox/listings":
            for listing in json.loads(body):
                self.add_listing(listing["sku"], listing["item"], listing.get("stock", 0))
            return 200, {"ok": True}
        if verb == "GET" and path == "/_sandbox/state":
            with self.lock:
                calls: dict[str, int] = defaultdict(int)
                for call in self.state.calls:
                    calls[call] += 1
                return 200, {"stock": dict(self.state.stock), "stock_writes": self.state.stock_writes[-1000:],
                             "calls": calls, "detail_at": dict(self.state.detail_at), "bad_signatures": self.state.bad_signatures,
                             "ship_calls": dict(self.state.ship_calls)}
        return 404, {"error": "no such control"}


class DouyinSandbox(SandboxPlatform):
    """Douyin shop's gateway: POST /{method}, signed query, param_json body; ``code`` 10000 on success."""

    name = "douyin"

    def answer(self, verb, path, query, body, headers):
        method = query.get("method", "")
        if "/" + method.replace(".", "/") != path:
            return 200, {"code": 40001, "msg": "method does not match the path"}
        text = body.decode()
        expected = douyin_api.sign(self.credentials["app_key"], self.credentials["app_secret"], method, text,
                                   query.get("timestamp", ""))
        if query.get("app_key") != self.credentials["app_key"] or not hmac.compare_digest(expected, query.get("sign", "")):
            with self.lock:
                self.state.bad_signatures += 1
            return 200, {"code": 40004, "msg": "sign invalid"}
        params = json.loads(text or "{}")
        self._log(method)
        if method == "token.create":
            if params.get("grant_type") == "authorization_code" and params.get("code") != self.credentials.get("code"):
                return 200, {"code": 30010, "msg": "code invalid"}
            return 200, {"code": 10000, "err_no": 0, "msg": "success", "data": self.issue_token()}
        if method == "token.refresh":
            with self.lock:
                known = params.get("refresh_token") in self.state.refresh_tokens
                self.state.refresh_tokens.discard(params.get("refresh_token"))
            if not known:
                return 200, {"code": 30003, "msg": "refresh_token invalid"}
            return 200, {"code": 10000, "err_no": 0, "msg": "success", "data": self.issue_token()}
        fault = self._fault()
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.seconds)
            elif fault.kind == "rate_limit":
                return 200, {"code": 50002, "msg": "too many requests"}
            elif fault.kind == "server_error":
                return 502, {"code": 50000, "msg": "bad gateway"}
            else:
                return 200, {"code": 60000, "msg": "order service error"}
        if not self._token_ok(query.get("access_token")):
            return 200, {"code": 30002, "msg": "access_token expired"}
        if method == "order.orderDetail":
            order_id = str(params.get("shop_order_id"))
            self._detail_asked(order_id)
            with self.lock:
                lines = self.state.orders.get(order_id)
            if lines is None:
                return 200, {"code": 60001, "msg": "order not found"}
            return 200, {"code": 10000, "err_no": 0, "msg": "success", "data": {"shop_order_detail": {
                "order_id": order_id, "order_status": 2, "pay_amount": 1990 * len(lines),
                "sku_order_list": [{"sku_id": int(l["sku"]) if l["sku"].isdigit() else l["sku"],
                                    "product_id": l["item"], "item_num": l["num"]} for l in lines]}}}
        if method == "sku.syncStock":
            if params.get("incremental") is not False or not isinstance(params.get("stock_num"), int):
                return 200, {"code": 40002, "msg": "stock_num and incremental=false required"}
            if not self._set_stock(str(params.get("sku_id")), params["stock_num"]):
                return 200, {"code": 60002, "msg": "sku not found"}
            return 200, {"code": 10000, "err_no": 0, "msg": "success", "data": {}}
        if method == "order.logisticsAdd":
            if not self._ship(str(params.get("order_id")), params.get("company_code"), params.get("logistics_code")):
                return 200, {"code": 60003, "msg": "order unknown or shipped already"}
            return 200, {"code": 10000, "err_no": 0, "msg": "success", "data": {}}
        return 200, {"code": 40001, "msg": f"unknown method {method}"}


class KuaishouSandbox(SandboxPlatform):
    """Kuaishou shop's open API: /open/... with a signed query or form; ``result`` 1 on success."""

    name = "kuaishou"

    def answer(self, verb, path, query, body, headers):
        if path == "/oauth2/access_token" or path == "/oauth2/refresh_token":
            params = query if verb == "GET" else {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if (params.get("app_id"), params.get("app_secret")) != (self.credentials["app_key"], self.credentials["app_secret"]):
                return 200, {"result": 100, "error_msg": "app credentials invalid"}
            self._log(path)
            if path.endswith("access_token"):
                if params.get("grant_type") != "code" or params.get("code") != self.credentials.get("code"):
                    return 200, {"result": 101, "error_msg": "code invalid"}
            else:
                with self.lock:
                    known = params.get("refresh_token") in self.state.refresh_tokens
                    self.state.refresh_tokens.discard(params.get("refresh_token"))
                if not known:
                    return 200, {"result": 102, "error_msg": "refresh_token invalid"}
            return 200, {"result": 1, **self.issue_token()}
        params = query if verb == "GET" else {k: v[0] for k, v in parse_qs(body.decode()).items()}
        method = params.get("method", "")
        if "/" + method.replace(".", "/") != path:
            return 200, {"result": 40, "error_msg": "method does not match the path"}
        expected = kuaishou_api.sign(params, self.credentials["sign_secret"]) if all(
            k in params for k in ("access_token", "appkey", "param", "signMethod", "timestamp", "version")) else ""
        if params.get("appkey") != self.credentials["app_key"] or not hmac.compare_digest(expected, params.get("sign", "")):
            with self.lock:
                self.state.bad_signatures += 1
            return 200, {"result": 41, "error_msg": "sign invalid"}
        self._log(method)
        fault = self._fault()
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.seconds)
            elif fault.kind == "rate_limit":
                return 200, {"result": 29, "error_msg": "api rate limited"}
            elif fault.kind == "server_error":
                return 503, {"result": 500, "error_msg": "service unavailable"}
            else:
                return 200, {"result": 50, "error_msg": "order service error"}
        if not self._token_ok(params.get("access_token")):
            return 200, {"result": 28, "error_msg": "access_token expired"}
        args = json.loads(params.get("param") or "{}")
        if method == "open.order.detail":
            self._detail_asked(str(args.get("oid")))
            with self.lock:
                lines = self.state.orders.get(str(args.get("oid")))
            if not lines:
                return 200, {"result": 60, "error_msg": "order not found"}
            line = lines[0]   # a Kuaishou order holds one item
            return 200, {"result": 1, "data": {
                "orderBaseInfo": {"oid": args["oid"], "status": 30, "totalFee": 1990 * line["num"]},
                "orderItemInfo": {"skuId": line["sku"], "itemId": line["item"], "num": line["num"]}}}
        if method == "open.item.get":
            item = str(args.get("kwaiItemId"))
            with self.lock:
                skus = [{"kwaiSkuId": sku, "skuStock": self.state.stock[sku]} for sku, i in self.state.items.items() if i == item]
            return 200, {"result": 1, "data": {"kwaiItemId": item, "skuInfos": skus}}
        if method == "open.item.sku.stock.update":
            sku, change, kind = str(args.get("skuId")), args.get("skuChangeStock"), args.get("changeType")
            if not isinstance(change, int) or change <= 0 or kind not in (1, 2):
                return 200, {"result": 42, "error_msg": "skuChangeStock > 0 and changeType 1 or 2 required"}
            with self.lock:
                current = self.state.stock.get(sku)
            if current is None:
                return 200, {"result": 61, "error_msg": "sku not found"}
            figure = current + change if kind == 1 else current - change
            if figure < 0:
                return 200, {"result": 43, "error_msg": "stock would go negative"}
            self._set_stock(sku, figure)
            return 200, {"result": 1, "data": {}}
        if method == "open.seller.order.goods.deliver":
            if not self._ship(str(args.get("orderId")), args.get("expressCode"), args.get("expressNo")):
                return 200, {"result": 62, "error_msg": "order unknown or shipped already"}
            return 200, {"result": 1, "data": {}}
        return 200, {"result": 40, "error_msg": f"unknown method {method}"}


class YouzanSandbox(SandboxPlatform):
    """Youzan's open API: /auth/token, and /api/{api}/{version}?access_token=… with a JSON body."""

    name = "youzan"

    def answer(self, verb, path, query, body, headers):
        args = json.loads(body.decode() or "{}") if body else {}
        if path == "/auth/token":
            if (args.get("client_id"), args.get("client_secret")) != (self.credentials["client_id"], self.credentials["client_secret"]):
                return 200, {"success": False, "code": 4001, "message": "client invalid"}
            self._log("auth.token")
            kind = args.get("authorize_type")
            if kind == "refresh_token":
                with self.lock:
                    known = args.get("refresh_token") in self.state.refresh_tokens
                    self.state.refresh_tokens.discard(args.get("refresh_token"))
                if not known:
                    return 200, {"success": False, "code": 4204, "message": "refresh_token invalid"}
            elif kind == "silent" and str(args.get("grant_id")) != str(self.credentials.get("shop_id")):
                return 200, {"success": False, "code": 4005, "message": "grant_id invalid"}
            elif kind == "authorization_code" and args.get("code") != self.credentials.get("code"):
                return 200, {"success": False, "code": 4006, "message": "code invalid"}
            issued = self.issue_token()
            return 200, {"success": True, "code": 200, "data": {
                "access_token": issued["access_token"], "refresh_token": issued["refresh_token"],
                "expires": int((time.time() + issued["expires_in"]) * 1000)}}
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "api":
            return 404, {"success": False, "code": 404, "message": "no such api"}
        api = parts[1]
        self._log(api)
        fault = self._fault()
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.seconds)
            elif fault.kind == "rate_limit":
                return 200, {"success": False, "code": 4002, "message": "rate limited"}
            elif fault.kind == "server_error":
                return 500, {"success": False, "code": 500, "message": "server error"}
            else:
                return 200, {"success": False, "code": 5000, "message": "trade service error"}
        if not self._token_ok(query.get("access_token")):
            return 200, {"success": False, "code": 4201, "message": "access_token expired"}
        if api == "youzan.trade.get":
            self._detail_asked(str(args.get("tid")))
            with self.lock:
                lines = self.state.orders.get(str(args.get("tid")))
            if not lines:
                return 200, {"success": False, "code": 5001, "message": "trade not found"}
            return 200, {"success": True, "code": 200, "data": {"full_order_info": {
                "order_info": {"tid": args["tid"]},
                "orders": [{"sku_id": l["sku"], "item_id": l["item"], "num": l["num"]} for l in lines]}}}
        if api == "youzan.item.quantity.update":
            if args.get("type") != 0 or not isinstance(args.get("quantity"), int):
                return 200, {"success": False, "code": 4003, "message": "quantity and type 0 required"}
            if not self._set_stock(str(args.get("sku_id")), args["quantity"]):
                return 200, {"success": False, "code": 5002, "message": "sku not found"}
            return 200, {"success": True, "code": 200, "data": {"is_success": True}}
        if api == "youzan.logistics.online.confirm":
            if not self._ship(str(args.get("tid")), args.get("out_stype"), args.get("out_sid")):
                return 200, {"success": False, "code": 5003, "message": "trade unknown or shipped already"}
            return 200, {"success": True, "code": 200, "data": {"is_success": True}}
        return 404, {"success": False, "code": 404, "message": f"no api {api}"}


SANDBOXES = {"douyin": DouyinSandbox, "kuaishou": KuaishouSandbox, "youzan": YouzanSandbox}


def kuaishou_push_body(message: dict, message_key: str) -> bytes:
    """A Kuaishou push as the platform sends it: the message's JSON, AES-CBC with a zero IV under the
    base64 message key, base64 (see `supply.platforms.kuaishou`)."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    padder = padding.PKCS7(128).padder()
    plain = padder.update(json.dumps(message).encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(base64.b64decode(message_key)), modes.CBC(bytes(16))).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize())


def douyin_push(messages: list[dict], app_key: str, app_secret: str) -> tuple[bytes, dict]:
    """A Douyin push as the platform sends it: the JSON list and its ``event-sign`` headers."""
    raw = json.dumps(messages, ensure_ascii=False).encode()
    sign = hashlib.md5(app_key.encode() + raw + app_secret.encode()).hexdigest()
    return raw, {"app-id": app_key, "event-sign": sign, "Content-Type": "application/json"}


def main(argv=None) -> None:
    """Run one stand-in in the foreground: python -m supply.platforms.sandbox douyin '{credentials}' PORT"""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    name, credentials, port = argv[0], json.loads(argv[1]), int(argv[2])
    server = SANDBOXES[name](credentials, port=port)
    print(server.base_url, flush=True)
    server._server.serve_forever()


if __name__ == "__main__":
    main()
