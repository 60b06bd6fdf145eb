"""The HTTP handler: static files from `dist/`, /healthz, and the same-origin proxy to the
Foundry Local / OpenAI-compatible upstream.

Every request is read whole before it is answered: its body to the last byte, or else the
connection is closed afterwards, so nothing a client sends can be taken for a second
request. Every failure, down to a malformed request line, gets a JSON answer with the same
headers as everything else instead of a dropped connection. Who may ask is guard.py's
rule, how much is read and how long it waits http_limits.py's, and the headers headers.py's.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import traceback
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import BinaryIO, ClassVar
from urllib.parse import unquote, urlsplit

from hearth_server import proxy
from hearth_server.errors import HttpError
from hearth_server.guard import HostPolicy, check_host, check_json_body, check_same_origin
from hearth_server.headers import PAGE_HEADERS, PROXIED_HEADERS
from hearth_server.http_limits import (
    HEADERS_DEADLINE_S,
    MAX_API_BODY,
    MAX_OTHER_BODY,
    MAX_REQUEST_LINE,
    SEND_TIMEOUT_S,
    DeadlineReader,
    body_deadline,
    body_length,
    check_header_block,
)
from hearth_server.request_log import log_lines, log_request
from hearth_server.static import (
    RangeNotSatisfiable,
    cache_control,
    content_type,
    parse_range,
    resolve,
)
from hearth_server.upstream import Upstream

COPY_CHUNK = 1 << 20
API_PREFIXES = ("/foundry/", "/api/")


class HearthHandler(BaseHTTPRequestHandler):
    """Configured per server through class attributes (see `make_handler`)."""

    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"  # even a two-word request line gets a status line
    server_version = "Hearth"
    root: ClassVar[Path]
    version: ClassVar[str]
    quiet: ClassVar[bool] = False
    upstream: ClassVar[Upstream | None] = None
    bound_names: ClassVar[tuple[str, ...]] = ()
    allowed_hosts: ClassVar[tuple[str, ...]] = ()

    body = b""
    hosts: HostPolicy
    _length = 0  # of the answer's body, for the log
    _started = False  # an answer has begun: a failure can only end the connection
    _unread = False  # the request's body is not read (yet): the connection cannot go on

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the stdlib's reader: reads here have a deadline (slowloris)
        self._reader = DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        """One request, always answered (the stdlib drops the connection on an exception
        and logs attributes a malformed request line never set)."""
        self._begin()
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
        except (TimeoutError, ConnectionError):  # an idle keep-alive connection, or it closed
            self.raw_requestline = b""
        if not self.raw_requestline:
            self.close_connection = True
            return
        self._unread = True  # until parse_request has read the body
        try:
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline = str(self.raw_requestline, "iso-8859-1")
                raise HttpError(
                    HTTPStatus.REQUEST_URI_TOO_LONG,
                    f"The request line is longer than {MAX_REQUEST_LINE >> 10} KiB; "
                    "use a shorter URL.",
                    "invalid_request_error",
                )
            if self.parse_request():
                self._dispatch()
        except HttpError as error:
            self._fail(error)
        except (TimeoutError, ConnectionError):  # the client stalled or left mid-request
            self.close_connection = True
        except Exception:  # noqa: BLE001 - answer, then keep serving everyone else
            log_lines(traceback.format_exc())
            self._fail(
                HttpError(
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    "serve.py failed on this request (its terminal shows why); try again, "
                    "and report it if it happens again.",
                    "server_error",
                )
            )
        if self._unread:
            self.close_connection = True

    def _begin(self) -> None:
        """Reset what one request leaves behind on a kept-alive connection."""
        self.command, self.path, self.requestline = "-", "", ""
        self.request_version = self.default_request_version
        self.body, self._length, self._started, self._unread = b"", 0, False, False
        self._expects_continue = False
        self._reader.start(HEADERS_DEADLINE_S)

    def parse_request(self) -> bool:
        """The stdlib's parsing, then the checks every request must pass, then its body."""
        if not super().parse_request():
            return False
        check_header_block(self.headers)
        if not self.path.startswith("/"):  # absolute-form targets: never a forward proxy
            raise HttpError(
                HTTPStatus.BAD_REQUEST,
                "Send a path (such as /index.html) as the request target; serve.py is not a proxy.",
                "invalid_request_error",
            )
        api = self.route.startswith(API_PREFIXES)
        length = body_length(self.headers, MAX_API_BODY if api else MAX_OTHER_BODY)
        local = self.connection.getsockname()  # the address this client reached
        self.hosts = HostPolicy.for_server(
            (str(local[0]), *self.bound_names), int(local[1]), self.allowed_hosts
        )
        check_host(self.headers, self.hosts)
        if self._expects_continue and length:
            self.send_response_only(HTTPStatus.CONTINUE)
            self.end_headers()
        self._reader.start(body_deadline(length))
        self.body = self.rfile.read(length)
        if len(self.body) < length:
            raise ConnectionAbortedError("the client closed before sending its whole body")
        self._unread = False
        self._reader.start(None)
        self.connection.settimeout(SEND_TIMEOUT_S)
        return True

    def handle_expect_100(self) -> bool:
        """Defer "100 Continue" until the request has passed the checks (the stdlib sends
        it from inside its parsing, before anything about the request is known)."""
        self._expects_continue = True
        return True

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]

    def _dispatch(self) -> None:
        if self.route.startswith(API_PREFIXES):
            self._api()
        elif self.command not in ("GET", "HEAD"):
            raise HttpError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"{self.command} is not allowed here: the page and its files answer GET.",
                "invalid_request_error",
            )
        elif self.route == "/healthz":
            self._send_json(HTTPStatus.OK, {"status": "ok", "version": self.version})
        else:
            self._send_file(head=self.command == "HEAD")

    def _api(self) -> None:
        """The proxy routes: only for Hearth's own page (or a script), with JSON bodies."""
        check_same_origin(self.headers, self.hosts)
        if self.command == "POST":
            check_json_body(self.headers)
        match proxy.route_segments(self.route):
            case ["api", "foundry", "status"]:
                self._only("GET")
                self._send_json(HTTPStatus.OK, proxy.status(self.upstream))
            case ["api", "foundry", "models"]:
                self._only("GET")
                models = proxy.list_models(self._upstream(), self.connection)
                self._send_json(HTTPStatus.OK, models)
            case ["api", "foundry", "load"]:
                self._only("POST")
                model = proxy.requested_model(self.body)
                loaded = proxy.load_model(self._upstream(), model, self.connection)
                self._send_json(HTTPStatus.OK, loaded)
            case ["foundry", "v1", *rest]:
                upstream = self._upstream()
                query = self.path.partition("?")[2]
                self._forward(upstream, proxy.forward_path(upstream, self.command, rest, query))
            case _:
                raise HttpError(
                    HTTPStatus.NOT_FOUND,
                    f"No route {self.route}; the API is /foundry/v1/ and /api/foundry/.",
                    "not_found",
                )

    def _only(self, method: str) -> None:
        if self.command != method:
            raise HttpError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"Use {method} for {self.route}.",
                "invalid_request_error",
            )

    def _upstream(self) -> Upstream:
        if self.upstream is None:
            raise proxy.not_configured()
        return self.upstream

    def _forward(self, upstream: Upstream, path: str) -> None:
        """Stream the upstream's answer through as it arrives; a client that goes away
        (Stop) closes the upstream connection at once, see client_watch.py."""
        body = self.body if self.command == "POST" else None
        with proxy.open_exchange(upstream, self.command, path, body, client=self.connection) as ex:
            response = ex.response
            if response.status != HTTPStatus.OK:  # a 204 has no body to stream, for one
                raise proxy.error_from_response(upstream, response)
            kind = proxy.proxied_type(upstream, response)
            self._start(response.status, {**PROXIED_HEADERS, "Content-Type": kind})
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                while True:
                    try:
                        chunk = response.read1(65536)
                    except (OSError, http.client.HTTPException) as error:
                        if ex.client_left:
                            raise
                        self._broke_off(upstream, kind, error)
                        return
                    if not chunk:
                        break
                    self._chunk(chunk)
                if not ex.client_left:
                    self.wfile.write(b"0\r\n\r\n")
            except (OSError, http.client.HTTPException):
                # The page stopped reading (Stop, reload): end the connection without the
                # final chunk.
                self.close_connection = True
            if ex.client_left:
                self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self._length += len(data)

    def _broke_off(self, upstream: Upstream, kind: str, error: Exception) -> None:
        """The upstream stopped mid-answer. An event stream ends with an OpenAI-style
        error event that says so (the client raises it, after the text that arrived:
        without it the page could only blame its connection to serve.py); anything else
        ends without its final chunk, so it never reads as complete."""
        self.close_connection = True
        if kind != "text/event-stream":
            return
        message = proxy.broke_off_message(upstream, error)
        event = json.dumps({"error": {"message": message, "type": "upstream_broke_off"}})
        with contextlib.suppress(OSError):
            self._chunk(f"data: {event}\n\n".encode())
            self.wfile.write(b"0\r\n\r\n")

    def locate(self, target: str) -> Path | None:
        """The file a request target names, or None for 404."""
        return resolve(self.root, target)

    def _send_file(self, head: bool) -> None:
        file = self.locate(self.path)
        if file is None:
            raise HttpError(
                HTTPStatus.NOT_FOUND,
                f"{self.route} is not part of Hearth; open / for the page.",
                "not_found",
            )
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
        if not head:
            with file.open("rb") as handle:
                handle.seek(start)
                self._copy(handle, length)

    def _copy(self, handle: BinaryIO, length: int) -> None:
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(COPY_CHUNK, remaining))
            if not chunk:
                break
            self.wfile.write(chunk)
            remaining -= len(chunk)

    def _send_json(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
        self._respond(status, headers, len(data))
        if self.command != "HEAD":
            self.wfile.write(data)

    def _respond(self, status: int, headers: dict[str, str], length: int) -> None:
        self._length = length
        self._start(status, {**PAGE_HEADERS, **headers})
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _start(self, status: int, headers: dict[str, str]) -> None:
        """The status line and `headers`; the caller adds the framing and ends them."""
        self._started = True
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection or self._unread:
            self.send_header("Connection", "close")

    def _fail(self, error: HttpError) -> None:
        """Answer `error`; once an answer has begun, end the connection instead."""
        if self._started:
            self.close_connection = True
            return
        try:
            self._send_json(error.status, error.body())
        except OSError:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own refusals (a malformed request line, oversized headers, HTTP/2)
        as the same JSON, with the same headers, as every other answer."""
        self.close_connection = True  # after a malformed request, where would the next start?
        detail = message or HTTPStatus(code).phrase
        if explain:
            detail = f"{detail} ({explain})"
        self._fail(
            HttpError(
                code, f"{detail}. Send a well-formed HTTP/1.1 request.", "invalid_request_error"
            )
        )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if not self.quiet:
            parsed = self.command not in (None, "-")
            shown = f"{self.command} {self.path}" if parsed else self.requestline or "-"
            log_request(shown, int(code), self._length)


def make_handler(
    root: Path,
    version: str,
    quiet: bool,
    upstream: Upstream | None = None,
    bound_names: tuple[str, ...] = (),
    allowed_hosts: tuple[str, ...] = (),
) -> type[HearthHandler]:
    """A handler class bound to one `dist/` folder, one upstream (or none), the names the
    server was bound by (`--host`: answered on our port only) and the host names allowed on
    any port (`--allow-host`: a reverse proxy's port is not ours)."""
    attributes = {"root": root, "version": version, "quiet": quiet, "upstream": upstream}
    names = {"bound_names": bound_names, "allowed_hosts": allowed_hosts}
    return type("BoundHearthHandler", (HearthHandler,), {**attributes, **names})
