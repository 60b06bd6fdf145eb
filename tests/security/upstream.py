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
from http.server import BaseHTTPRequestHandler

from tests.support.fake_http import FakeHandler, serving, sse_chunk

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


def _handler(fake: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(FakeHandler):
        def _record(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fake.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
            return body

        def do_GET(self) -> None:
            self._record()
            if self.path == "/v1/models":
                if self.headers.get("Authorization") != f"Bearer {KEY}":
                    self.send_json(401, {"error": {"message": "invalid api key"}})
                elif fake.huge_models:
                    self._huge(200, "application/json")
                else:
                    model = {"id": MODEL, "object": "model", "created": 1, "owned_by": "fake"}
                    self.send_json(200, {"object": "list", "data": [model]})
            elif self.path == f"/v1/models/{MODEL}":
                self.send_json(200, {"id": MODEL, "object": "model", "created": 1, "owned_by": "x"})
            elif self.path == "/models/loaded":
                self.send_json(200, [MODEL])
            elif self.path == "/models/load/silent":  # a load that never ends
                self._hold()
            else:
                self.send_json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            body = self._record()
            try:
                model = json.loads(body).get("model")
            except (ValueError, AttributeError):
                model = None
            if self.path == "/v1/completions":
                self.send_json(200, {"id": "c", "object": "text_completion", "choices": []})
            elif self.path != "/v1/chat/completions":
                self.send_json(404, {"error": {"message": f"no route {self.path}"}})
            elif model == "silent":
                self._hold()
            elif model == "hold":
                self.start_stream()
                self.send_chunk(sse_chunk("The first words", None, MODEL))
                self._hold()
            elif model == "html":
                self.send_raw(
                    200, b"<!doctype html><script>alert(document.domain)</script>", "text/html"
                )
            elif model == "huge-error":
                self._huge(500, "text/plain")
            else:
                self.start_stream()
                for piece in ("Hello", " from", " the fake"):
                    self.send_chunk(sse_chunk(piece, None, MODEL))
                self.send_chunk(sse_chunk(None, "stop", MODEL))
                self.send_chunk(b"data: [DONE]\n\n")
                self.end_stream()

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

    return Handler


@contextmanager
def fake_upstream() -> Iterator[FakeUpstream]:
    """The fake on a free loopback port for the duration of the block."""
    fake = FakeUpstream()
    with serving(_handler(fake)) as port:
        fake.url = f"http://127.0.0.1:{port}"
        try:
            yield fake
        finally:
            fake.stopping.set()  # let held exchanges end as the server goes
