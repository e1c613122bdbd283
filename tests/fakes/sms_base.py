"""A small threaded HTTP server for the SMS gateways' stand-ins: each records what it accepted."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeGateway:
    """Start with `with Fake(...) as fake:`; `fake.base_url`, `fake.sent` (accepted messages),
    `fake.refused` (requests answered with an error, with the error code)."""

    def __init__(self):
        self.sent: list[dict] = []
        self.refused: list[dict] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = fake.handle(self.command, self.path, dict(self.headers.items()), body)
                data = answer.encode("utf-8") if isinstance(answer, str) else answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, str]:
        raise NotImplementedError

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
