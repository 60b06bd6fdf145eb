"""The HTTP handler: static files from `dist/` with the headers the page needs, and /healthz.

Every response is cross-origin isolated (COOP + COEP), which is what makes
`SharedArrayBuffer` available: ONNX Runtime Web's WASM threads and PyScript's
synchronous worker-to-DOM calls both depend on it.
"""

from __future__ import annotations

import json
import sys
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import BinaryIO, ClassVar
from urllib.parse import unquote, urlsplit

from hearth_server.static import (
    RangeNotSatisfiable,
    cache_control,
    content_type,
    parse_range,
    resolve,
)

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

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/healthz":
            self._send_json(HTTPStatus.OK, {"status": "ok", "version": self.version})
            return
        self._send_file(head=False)

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


def make_handler(root: Path, version: str, quiet: bool) -> type[HearthHandler]:
    """A handler class bound to one `dist/` folder."""
    return type(
        "BoundHearthHandler",
        (HearthHandler,),
        {"root": root, "version": version, "quiet": quiet},
    )
