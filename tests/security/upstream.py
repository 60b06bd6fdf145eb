"""A logging fake OpenAI-compatible upstream for the security tests.

It records every request it receives, so a test can assert what did NOT reach it, and
misbehaves on demand, picked by the chat request's `model`: it holds a stream open, says
nothing at all, answers HTML or a 200 MiB error body. It also notices when the proxy
closes a connection it is holding, which is how the tests see that a Stop reached it.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = "sk-hearth-secret"
MODEL = "fake-model"
HUGE = 200 << 20  # the size of the oversized answers (finding 10)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeUpstream:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)  # a held exchange ended
    huge_models: bool = False  # /v1/models answers 200 MiB of JSON
    stopping: threading.Event = field(default_factory=threading.Event)  # let held ones go

    def reset(self) -> None:
        self.seen.clear()
        self.closed.clear()
        self.huge_models = False

    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]


def _chunk(content: str | None, finish: str | None) -> bytes:
    delta = {"role": "assistant", "content": content} if content is not None else {}
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _handler(fake: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _record(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fake.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
            return body

        def do_GET(self) -> None:
            self._record()
            if self.path == "/v1/models":
                if self.headers.get("Authorization") != f"Bearer {KEY}":
                    self._json(401, {"error": {"message": "invalid api key"}})
                elif fake.huge_models:
                    self._huge(200, "application/json")
                else:
                    model = {"id": MODEL, "object": "model", "created": 1, "owned_by": "fake"}
                    self._json(200, {"object": "list", "data": [model]})
            elif self.path == f"/v1/models/{MODEL}":
                self._json(200, {"id": MODEL, "object": "model", "created": 1, "owned_by": "x"})
            elif self.path == "/models/loaded":
                self._json(200, [MODEL])
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            body = self._record()
            try:
                model = json.loads(body).get("model")
            except (ValueError, AttributeError):
                model = None
            if self.path == "/v1/completions":
                self._json(200, {"id": "c", "object": "text_completion", "choices": []})
            elif self.path != "/v1/chat/completions":
                self._json(404, {"error": {"message": f"no route {self.path}"}})
            elif model == "silent":
                self._hold()
            elif model == "hold":
                self._start_stream()
                self._send(_chunk("The first words", None))
                self._hold()
            elif model == "html":
                self._raw(
                    200, b"<!doctype html><script>alert(document.domain)</script>", "text/html"
                )
            elif model == "huge-error":
                self._huge(500, "text/plain")
            else:
                self._start_stream()
                for piece in ("Hello", " from", " the fake"):
                    self._send(_chunk(piece, None))
                self._send(_chunk(None, "stop"))
                self._send(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

        def do_DELETE(self) -> None:
            self.do_GET()

        do_PUT = do_PATCH = do_HEAD = do_OPTIONS = do_DELETE

        def _hold(self) -> None:
            """Say nothing more until the proxy closes the connection."""
            while not fake.stopping.is_set():
                readable, _, _ = select.select([self.connection], [], [], 0.05)
                if readable:
                    try:
                        data = self.connection.recv(1, socket.MSG_PEEK)
                    except OSError:
                        data = b""
                    if not data:
                        fake.closed.set()
                        self.close_connection = True
                        return

        def _json(self, status: int, body: object) -> None:
            self._raw(status, json.dumps(body).encode(), "application/json")

        def _raw(self, status: int, data: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _huge(self, status: int, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(HUGE))
            self.end_headers()
            block = b" " * (1 << 20)
            try:
                for _ in range(HUGE >> 20):
                    self.wfile.write(block)
            except OSError:
                self.close_connection = True  # the proxy stopped reading: as it should

        def _start_stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _send(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: the proxy hanging up mid-answer is what several tests make it do."""


@contextmanager
def fake_upstream() -> Iterator[FakeUpstream]:
    """The fake on a free loopback port for the duration of the block."""
    fake = FakeUpstream()
    server = _Server(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        server.shutdown()
        server.server_close()
