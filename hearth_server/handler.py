"""The HTTP handler: static files from `dist/` with the headers the page needs, /healthz,
and the same-origin proxy to the Foundry Local / OpenAI-compatible upstream.

Every response is cross-origin isolated (COOP + COEP), which is what makes
`SharedArrayBuffer` available: ONNX Runtime Web's WASM threads and PyScript's
synchronous worker-to-DOM calls both depend on it.
"""

from __future__ import annotations

import http.client
import json
import sys
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import BinaryIO, ClassVar
from urllib.parse import unquote, urlsplit

from hearth_server import proxy
from hearth_server.proxy import ProxyError
from hearth_server.static import (
    RangeNotSatisfiable,
    cache_control,
    content_type,
    parse_range,
    resolve,
)
from hearth_server.upstream import Upstream

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
COPY_CHUNK = 1 << 20


class HearthHandler(BaseHTTPRequestHandler):
    """Configured per server through class attributes (see `make_handler`)."""

    protocol_version = "HTTP/1.1"
    server_version = "Hearth"
    root: ClassVar[Path]
    version: ClassVar[str]
    quiet: ClassVar[bool] = False
    upstream: ClassVar[Upstream | None] = None

    def do_GET(self) -> None:
        route = self.path.split("?", 1)[0]
        if route == "/healthz":
            self._send_json(HTTPStatus.OK, {"status": "ok", "version": self.version})
        elif route.startswith(("/foundry/", "/api/foundry/")):
            self._foundry(route)
        else:
            self._send_file(head=False)

    def do_POST(self) -> None:
        route = self.path.split("?", 1)[0]
        if route.startswith(("/foundry/", "/api/foundry/")):
            self._foundry(route)
        else:
            self._send_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "method not allowed"})

    def _foundry(self, route: str) -> None:
        """The proxy routes; every failure is an OpenAI-style JSON error."""
        try:
            if not self.path.startswith("/"):  # absolute-form targets: never a forward proxy
                raise ProxyError(HTTPStatus.BAD_REQUEST, "Only origin-form request targets.")
            body = self._read_body()
            if route == "/api/foundry/status" and self.command == "GET":
                self._send_json(HTTPStatus.OK, proxy.status(self.upstream))
                return
            if self.upstream is None:
                raise proxy.not_configured()
            if route == "/api/foundry/models" and self.command == "GET":
                self._send_json(HTTPStatus.OK, proxy.list_models(self.upstream))
            elif route == "/api/foundry/load" and self.command == "POST":
                model = json.loads(body or b"{}").get("model")
                if not isinstance(model, str) or not model:
                    raise ProxyError(HTTPStatus.BAD_REQUEST, 'Send {"model": "<id>"}.')
                self._send_json(HTTPStatus.OK, proxy.load_model(self.upstream, model))
            elif route.startswith("/foundry/v1/"):
                self._forward(self.upstream, route.removeprefix("/foundry/v1/"), body)
            else:
                raise ProxyError(HTTPStatus.NOT_FOUND, f"No proxy route {route}.")
        except ProxyError as error:
            self._send_json(HTTPStatus(error.status), error.body())
        except ValueError:
            self._send_json(HTTPStatus.BAD_REQUEST, ProxyError(400, "Invalid JSON body.").body())

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > proxy.MAX_BODY:
            raise ProxyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request body too large.")
        return self.rfile.read(length) if length else None

    def _forward(self, upstream: Upstream, rest: str, body: bytes | None) -> None:
        """Stream the upstream's answer through as it arrives; a client that goes away
        (Stop) closes the upstream connection on the way out of `open_exchange`."""
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        path = proxy.upstream_path(upstream, rest, query)
        incoming = {name: value for name, value in self.headers.items()}
        headers = proxy.request_headers(upstream, incoming)
        with proxy.open_exchange(upstream, self.command, path, body, headers) as exchange:
            response = exchange.response
            if response.status >= 400:
                raise proxy.error_from_response(upstream, response.status, response.read())
            self._length = 0
            self.send_response(response.status)
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
            # One clean set: the v2 service repeats Connection, Cache-Control, Content-Type.
            self.send_header("Content-Type", response.msg.get("Content-Type", "text/plain"))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                while chunk := response.read1(65536):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                    self._length += len(chunk)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the page stopped reading (Stop, reload)
            except (OSError, http.client.HTTPException):
                # The upstream broke off mid-stream: end the connection without the final
                # chunk, so the page sees an interrupted reply rather than a complete one.
                self.close_connection = True

    def do_HEAD(self) -> None:
        self._send_file(head=True)

    def locate(self, target: str) -> Path | None:
        """The file a request target names, or None for 404."""
        return resolve(self.root, target)

    def _send_file(self, head: bool) -> None:
        file = self.locate(self.path)
        if file is None:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        stat = file.stat()
        etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        relative = unquote(urlsplit(self.path).path).lstrip("/")
        headers = {
            "Content-Type": content_type(file),
            "Cache-Control": cache_control(relative),
            "ETag": etag,
            "Last-Modified": formatdate(stat.st_mtime, usegmt=True),
            "Accept-Ranges": "bytes",
        }
        if self.headers.get("If-None-Match") == etag:
            self._respond(HTTPStatus.NOT_MODIFIED, headers, length=0)
            return
        try:
            byte_range = parse_range(self.headers.get("Range"), stat.st_size)
        except RangeNotSatisfiable:
            headers["Content-Range"] = f"bytes */{stat.st_size}"
            self._respond(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, headers, length=0)
            return
        start, length, status = 0, stat.st_size, HTTPStatus.OK
        if byte_range is not None:
            start, length, status = byte_range.start, byte_range.length, HTTPStatus.PARTIAL_CONTENT
            headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{stat.st_size}"
        self._respond(status, headers, length=length)
        if head:
            return
        with file.open("rb") as handle:
            handle.seek(start)
            try:
                self._copy(handle, length)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser went away (page closed, download cancelled)

    def _copy(self, handle: BinaryIO, length: int) -> None:
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(COPY_CHUNK, remaining))
            if not chunk:
                break
            self.wfile.write(chunk)
            remaining -= len(chunk)

    def _send_json(self, status: HTTPStatus, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self._respond(
            status, {"Content-Type": "application/json", "Cache-Control": "no-store"}, len(data)
        )
        if self.command != "HEAD":
            self.wfile.write(data)

    def _respond(self, status: HTTPStatus, headers: dict[str, str], length: int) -> None:
        self._length = length
        self.send_response(status)
        for name, value in {**ISOLATION_HEADERS, **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One concise line per request: method, path, status and body size."""
        if not self.quiet:
            status = int(code) if isinstance(code, int) else code
            length = _human(getattr(self, "_length", 0))
            sys.stderr.write(f"{self.command} {self.path} {status} {length}\n")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f}{unit}"
        value /= 1024
    return f"{value:.1f}GB"


def make_handler(
    root: Path, version: str, quiet: bool, upstream: Upstream | None = None
) -> type[HearthHandler]:
    """A handler class bound to one `dist/` folder and one upstream (or none)."""
    return type(
        "BoundHearthHandler",
        (HearthHandler,),
        {"root": root, "version": version, "quiet": quiet, "upstream": upstream},
    )
