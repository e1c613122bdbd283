"""The HTTP servers `coop serve` runs, started from Python so no separate config file is needed.

granian (the default) reads and writes HTTP in Rust and hands each request to a pool of Python
threads, so more of the interpreter is left to the application: on the 2-core benchmark machine it
answered single orders about half again as fast as gunicorn's threaded workers
(`python benchmarks/ingest.py --server gunicorn` to compare). gunicorn stays available.

Slow clients. granian's WSGI interface hands a request to a Python thread as soon as its headers are
in, and the thread then waits on the body: a few dozen clients sending a body a byte a second held
every thread. So granian serves the app through `BodyGuard` (granian's RSGI interface; an ASGI door is
kept for other servers): the body is read on the event loop (coroutines, not threads) with a deadline and a minimum rate, requests still reading are bounded per
address and in total, and only a complete body is handed to a thread of the WSGI app. The headers
themselves are bounded by granian (`HEADER_READ_TIMEOUT_MS`). gunicorn has no such guard: run it
behind a buffering proxy (README, deployment).
"""
from __future__ import annotations

import asyncio
import gc
import io
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import orjson
from granian.rsgi import ProtocolClosed as _RSGIClosed

from supply.netaddr import sender

SERVERS = ("granian", "gunicorn")
log = logging.getLogger(__name__)


def served_app():
    """The app as a worker process serves it.

    Everything built at start (modules, the app, its schemas: over a hundred thousand objects) is moved
    out of the garbage collector's sight: it lives as long as the process, and otherwise every full
    collection walks it again while requests wait. On a batch of 1,000 orders that walk cost about a
    quarter of the request's CPU.
    """
    from supply.app import create_app

    app = create_app()
    gc.collect()
    gc.freeze()
    return app


def run(server: str, *, bind: str, workers: int, threads: int, log_level: str = "warning") -> None:
    if server == "gunicorn":
        run_gunicorn(bind=bind, workers=workers, threads=threads)
    elif server == "granian":
        run_granian(bind=bind, workers=workers, threads=threads, log_level=log_level)
    else:
        raise ValueError(f"unknown server {server!r}: one of {', '.join(SERVERS)}")


# Bodies: read whole within BODY_DEADLINE_S, and after BODY_GRACE_S at no less than BODY_MIN_RATE bytes
# a second on average. Requests still sending their body: at most READING_PER_ADDRESS from one address
# (not counted behind trusted proxies, where every request has the proxy's) and READING_TOTAL in all.
BODY_DEADLINE_S = 30.0
BODY_GRACE_S = 2.0
BODY_MIN_RATE = 1024
READING_PER_ADDRESS = 32
READING_TOTAL = 2048
# granian: headers in within this, and this many requests of a worker handed to Python at once.
HEADER_READ_TIMEOUT_MS = 10_000
BACKPRESSURE = 4096
THREADS_ENV = "COOP_SERVE_THREADS"
GUARD_ENV = "COOP_BODY_GUARD"   # "0": granian's WSGI without the guard (behind a buffering proxy only)


def guarded_app():
    """The app as a granian worker serves it: the WSGI app behind `BodyGuard`."""
    app = served_app()
    settings = app.extensions["coop"].settings
    return BodyGuard(app, threads=int(os.environ.get(THREADS_ENV, "16")), max_body=settings.max_body_bytes,
                     per_address=None if settings.trusted_proxies else READING_PER_ADDRESS)


BODY_INCOMPLETE = "the body ended before it was complete, or its chunked encoding is broken"


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Gone(Exception):
    """The client hung up."""


class BodyGuard:
    """An RSGI and ASGI app that reads each request's body on the event loop, bounded, then runs a WSGI app
    on a pool of threads with the body complete (PEP 3333 environ from the RSGI or ASGI scope).

    Refused before any thread is used, in the error shape: a declared length beyond `max_body` (413),
    a body not complete within `deadline_s` or slower than `min_rate` bytes/s after `grace_s` (408),
    an address with `per_address` requests still sending (429), `total` requests still sending (503).
    """

    def __init__(self, wsgi_app, *, threads: int, max_body: int, deadline_s: float = BODY_DEADLINE_S,
                 grace_s: float = BODY_GRACE_S, min_rate: float = BODY_MIN_RATE,
                 per_address: int | None = READING_PER_ADDRESS, total: int = READING_TOTAL):
        self.app = wsgi_app
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")
        self.max_body, self.deadline_s, self.grace_s, self.min_rate = max_body, deadline_s, grace_s, min_rate
        self.per_address, self.total = per_address, total
        self.reading: dict[str, int] = {}
        self.reading_total = 0

    def __rsgi_init__(self, loop) -> None:
        pass

    def __rsgi_del__(self, loop) -> None:
        self.pool.shutdown(wait=False)

    async def __rsgi__(self, scope, proto) -> None:
        """granian's RSGI door (what `coop serve` uses): the same guard as the ASGI one below, with less
        Python per request (no message dicts; a body of declared length is read in one await)."""
        client = scope.client
        address = client.rsplit(":", 1)[0].strip("[]") if client else "unknown"
        headers = scope.headers
        try:
            body = await self._rsgi_body(headers, proto, address, http2=scope.http_version[0] != "1")
        except _Refused as refusal:
            body = _error_json(refusal.code, refusal.message)
            extra = [("retry-after", "2")] if refusal.status in (429, 503) else []
            proto.response_bytes(refusal.status, [("content-type", "application/json"), ("connection", "close"),
                                                  *extra], body)
            return
        except _Gone:
            return
        environ = _rsgi_environ(scope, headers, body, address)
        try:
            status, response_headers, content = await asyncio.get_running_loop().run_in_executor(
                self.pool, _run_wsgi_str, self.app, environ)
        except Exception:  # what the app's own handlers could not word (its middleware, the environ)
            log.exception("unexpected error outside the app's error handlers")
            status, response_headers = 500, [("content-type", "application/json")]
            content = _error_json("internal_error", "an unexpected error occurred")
        proto.response_bytes(status, response_headers, content)

    async def _rsgi_body(self, headers, proto, address: str, *, http2: bool = False) -> bytes:
        declared = headers.get("content-length")
        length = None
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise _Refused(400, "bad_request", "Content-Length is not a number") from None
            if length > self.max_body:
                raise _Refused(413, "body_too_large", f"the body is larger than {self.max_body} bytes")
        # HTTP/2 frames a body by its stream, with no Content-Length needed: one without was dropped
        chunked = "transfer-encoding" in headers or (http2 and declared is None)
        if not length and not chunked:
            return b""
        self._start_reading(address)
        try:
            if length is not None and not chunked:
                # complete within the deadline, and after the grace at no less than the minimum rate
                async with asyncio.timeout(min(self.deadline_s, self.grace_s + length / self.min_rate)):
                    return await proto()
            return await self._rsgi_stream(proto, http2=http2)
        except TimeoutError:
            raise _Refused(408, "body_too_slow", "the body was not sent in time") from None
        except _RSGIClosed:
            # granian's whole read fails when the body ends short of its length (the client hung up or
            # half-closed): nothing reaches the app; the answer is heard by a client still listening.
            raise _Refused(400, "body_incomplete", BODY_INCOMPLETE) from None
        finally:
            self._done_reading(address)

    async def _rsgi_stream(self, proto, *, http2: bool = False) -> bytes:
        loop = asyncio.get_running_loop()
        started = loop.time()
        chunks, received = [], 0
        stream = proto.__aiter__()
        while True:
            slow_at = started + self.grace_s + received / self.min_rate
            async with asyncio.timeout_at(min(started + self.deadline_s, slow_at)):
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    # granian never ends the stream this way first (see below); a stand-in may
                    return b"".join(chunks)
                if not chunk and http2:
                    # an empty DATA frame (the one ending the stream, often) reads as b"" too: the
                    # stream's end is StopAsyncIteration, and a stream cut short cannot be told apart
                    continue
                if not chunk:
                    # granian's stream gives b"" once at the end, and then StopAsyncIteration. A broken
                    # body (cut short: the client hung up; a bad chunk size) gives b"" as well, but is
                    # followed by another b"": such a body would otherwise reach the app as if whole.
                    try:
                        await stream.__anext__()
                    except StopAsyncIteration:
                        return b"".join(chunks)
                    raise _Refused(400, "body_incomplete", BODY_INCOMPLETE)
            received += len(chunk)
            if received > self.max_body:
                raise _Refused(413, "body_too_large", f"the body is larger than {self.max_body} bytes")
            chunks.append(chunk)

    def _start_reading(self, address: str) -> None:
        address = sender(address)
        if self.reading_total >= self.total:
            raise _Refused(503, "service_unavailable", "too many requests are sending their body; retry shortly")
        if self.per_address is not None and self.reading.get(address, 0) >= self.per_address:
            raise _Refused(429, "rate_limited", "too many requests from this address are sending their body")
        self.reading_total += 1
        self.reading[address] = self.reading.get(address, 0) + 1

    def _done_reading(self, address: str) -> None:
        address = sender(address)
        self.reading_total -= 1
        if self.reading[address] <= 1:
            del self.reading[address]
        else:
            self.reading[address] -= 1

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope, receive, send) -> None:
        address = (scope.get("client") or ("unknown", 0))[0]
        try:
            body = await self._body(scope, receive, address)
        except _Refused as refusal:
            await _answer(send, refusal.status, refusal.code, refusal.message,
                          [(b"retry-after", b"2")] if refusal.status in (429, 503) else [])
            return
        except _Gone:
            return
        environ = _environ(scope, body)
        try:
            status, headers, content = await asyncio.get_running_loop().run_in_executor(
                self.pool, _run_wsgi, self.app, environ)
        except Exception:  # as the RSGI door above
            log.exception("unexpected error outside the app's error handlers")
            await _answer(send, 500, "internal_error", "an unexpected error occurred", [])
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _body(self, scope, receive, address: str) -> bytes:
        length = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise _Refused(400, "bad_request", "Content-Length is not a number") from None
            elif name == b"transfer-encoding":
                chunked = True
        if length is not None and length > self.max_body:
            raise _Refused(413, "body_too_large", f"the body is larger than {self.max_body} bytes")
        if length is None and not str(scope.get("http_version", "1.1")).startswith("1"):
            chunked = True   # HTTP/2 and 3 frame a body by its stream (as the RSGI door)
        if not length and not chunked:
            return b""
        self._start_reading(address)
        try:
            return await self._read(receive)
        finally:
            self._done_reading(address)

    async def _read(self, receive) -> bytes:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.deadline_s
        chunks, received = [], 0
        while True:
            # the moment the average rate would fall below the minimum, unless more arrives before it
            slow_at = started + self.grace_s + received / self.min_rate
            try:
                async with asyncio.timeout_at(min(deadline, slow_at)):
                    message = await receive()
            except TimeoutError:
                raise _Refused(408, "body_too_slow", "the body was not sent in time") from None
            if message["type"] == "http.disconnect":
                raise _Gone()
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body:
                raise _Refused(413, "body_too_large", f"the body is larger than {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _environ(scope, body: bytes) -> dict:
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]), "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0], "REMOTE_PORT": str(client[1]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0), "wsgi.url_scheme": scope.get("scheme", "http"), "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key in _REFRAMED:
            continue   # the body is whole: framed by its own length, set above
        if key != "CONTENT_TYPE":
            key = "HTTP_" + key
        text = value.decode("latin-1")
        if key in environ:   # a header sent twice: one value, as HTTP folds it (cookies with "; ")
            text = f"{environ[key]}{'; ' if key == 'HTTP_COOKIE' else ','}{text}"
        environ[key] = text
    return environ


# Left out of the environ. A chunked body came with Transfer-Encoding, and werkzeug reads a request
# with that header only up to the end of the stream it is told is terminated: it read none of it,
# and every chunked body reached the views empty (a 422 naming every required field).
_REFRAMED = frozenset({"CONTENT_LENGTH", "TRANSFER_ENCODING"})


def _rsgi_environ(scope, headers, body: bytes, address: str) -> dict:
    host, _, port = (scope.server or "localhost:80").rpartition(":")
    environ = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        # granian gives str (UTF-8 read); WSGI wants the bytes as latin-1, else werkzeug fails (a 500)
        # on a query such as ?date=中 sent unescaped
        "PATH_INFO": scope.path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.query_string.encode("utf-8").decode("latin-1"),
        "SERVER_NAME": host or "localhost", "SERVER_PORT": port or "80",
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": address, "REMOTE_PORT": (scope.client or "").rpartition(":")[2],
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0), "wsgi.url_scheme": scope.scheme, "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key in _REFRAMED:
            continue   # the body is whole: framed by its own length, set above
        if key != "CONTENT_TYPE":
            key = "HTTP_" + key
        if key in environ:   # a header sent twice: one value, as HTTP folds it (cookies with "; ")
            value = f"{environ[key]}{'; ' if key == 'HTTP_COOKIE' else ','}{value}"
        environ[key] = value
    return environ


def _run_wsgi_str(app, environ) -> tuple[int, list, bytes]:
    status, headers, content = _call_wsgi(app, environ)
    return int(status.split(" ", 1)[0]), headers, content


def _run_wsgi(app, environ) -> tuple[int, list, bytes]:
    status, headers, content = _call_wsgi(app, environ)
    return (int(status.split(" ", 1)[0]),
            [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers], content)


def _call_wsgi(app, environ) -> tuple[str, list, bytes]:
    started: list = []

    def start_response(status, headers, exc_info=None):
        started[:] = [status, headers]
        return lambda data: chunks.append(data)

    chunks: list[bytes] = []
    result = app(environ, start_response)
    try:
        for chunk in result:
            chunks.append(chunk)
    finally:
        if hasattr(result, "close"):
            result.close()
    status, headers = started
    return status, headers, b"".join(chunks)


def _error_json(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}}) + b"\n"


async def _answer(send, status: int, code: str, message: str, extra: list) -> None:
    body = _error_json(code, message)
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *extra]})
    await send({"type": "http.response.body", "body": body})


def run_granian(*, bind: str, workers: int, threads: int, log_level: str = "warning") -> None:
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    host, _, port = bind.rpartition(":")
    host = host.strip("[]")   # "[::1]:8000", as gunicorn and URLs write IPv6; granian wants the bare address
    if os.environ.get(GUARD_ENV, "1") == "0":
        # granian's own WSGI: a little faster per request, but a slow body holds a thread until it is
        # in; only behind a proxy that buffers whole bodies (README, deployment).
        Server("supply.server:served_app", factory=True, interface=Interfaces.WSGI, address=host or "127.0.0.1",
               port=int(port), workers=workers, blocking_threads=threads, respawn_failed_workers=True,
               http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
               log_level=LogLevels(log_level.lower()), log_access=False).serve()
        return
    os.environ[THREADS_ENV] = str(threads)   # read by each worker's `guarded_app`
    Server("supply.server:guarded_app", factory=True, interface=Interfaces.RSGI, address=host or "127.0.0.1",
           port=int(port), workers=workers, respawn_failed_workers=True, backpressure=BACKPRESSURE,
           http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
           log_level=LogLevels(log_level.lower()), log_access=False).serve()


def run_gunicorn(*, bind: str, workers: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):
        def __init__(self, options: dict):
            self.options = options
            super().__init__()

        def load_config(self):
            for key, value in self.options.items():
                self.cfg.set(key, value)

        def load(self):
            return served_app()

    _Gunicorn({"bind": bind, "workers": workers, "threads": threads, "worker_class": "gthread",
               "accesslog": None, "timeout": 60, "graceful_timeout": 10}).run()
