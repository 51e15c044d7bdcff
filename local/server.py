"""The HTTP front door: a threaded standard-library server that hands every request to the local API Gateway.

LocalControl puts the runtime's own /_local routes in front of it.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

from local.apigw import HttpRequest, HttpResponse, RequestHandler, error_response

log = logging.getLogger("local.http")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
# Framing is this server's business, not the handler's.
_HOP_BY_HOP = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding", "upgrade"})
_NO_BODY_STATUSES = frozenset({HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED})
LOCAL_PREFIX = "/_local"  # the runtime's own routes: never in the template, never deployed


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], gateway: RequestHandler) -> None:
        self.gateway = gateway
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "viral-local"
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's delayed ACK of the
    # headers on a kept-alive connection (about 40 ms a request).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # http.server dispatches on this name
        started = time.perf_counter()
        response = self._read_request_and_answer()
        self._write(response)
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info("%s %s %d %.1fms", self.command, self.path, response.status, elapsed_ms)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET  # noqa: N815

    def __getattr__(self, name: str) -> object:
        """Any other method (TRACE, QUERY, ...) reaches the gateway too, which answers 405 as API Gateway does,
        never http.server's 501."""
        if name.startswith("do_"):
            return self.do_GET
        raise AttributeError(name)

    def _read_request_and_answer(self) -> HttpResponse:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            return error_response(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required", "LENGTH_REQUIRED")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            return error_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request body too large", "PAYLOAD_TOO_LARGE")
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self.rfile.read(length) if length else b"",
            source_ip=self.client_address[0],
        )
        return cast(_GatewayServer, self.server).gateway.handle(request)

    def _write(self, response: HttpResponse) -> None:
        body = b"" if response.status in _NO_BODY_STATUSES or response.status < 200 else response.body
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: do_GET logs one line per request itself."""

    def log_message(self, format: str, *args: object) -> None:
        log.warning("%s: %s", self.address_string(), format % args)


class HttpService:
    """Serves the API on host:port from a background thread (port 0 picks a free one)."""

    name = "http"

    def __init__(self, gateway: RequestHandler, host: str, port: int) -> None:
        self.gateway = gateway
        self.host = host
        self.port = port
        self._server: _GatewayServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        port = self._server.server_address[1] if self._server else self.port
        return f"http://{self.host}:{port}"

    def start(self) -> None:
        self._server = _GatewayServer((self.host, self.port), self.gateway)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None


class LocalControl:
    """The runtime's own routes under /_local (e.g. firing a schedule now) in front of the API.

    `routes` maps a path (`/_local/schedules`) to the handler of it and everything below it. Only callers on this
    machine may use them, even when the server listens on every interface.
    """

    def __init__(self, gateway: RequestHandler, routes: Mapping[str, RequestHandler]) -> None:
        self.gateway = gateway
        self.routes = routes

    def handle(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if path != LOCAL_PREFIX and not path.startswith(LOCAL_PREFIX + "/"):
            return self.gateway.handle(request)
        if not _is_loopback(request.source_ip):
            return error_response(HTTPStatus.FORBIDDEN, "Forbidden", "FORBIDDEN")
        for prefix, handler in self.routes.items():
            if path == prefix or path.startswith(prefix + "/"):
                return handler.handle(request)
        return error_response(HTTPStatus.NOT_FOUND, "Not found", "NOT_FOUND")


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback
