"""A fake OpenAI-compatible server for tests whose point is to control the text.

Real Foundry Local runs in tests/foundry; this one exists where a test must know the reply
in advance (Markdown rendering, XSS vectors, routing) or make the server misbehave on
purpose (a stream cut mid-reply, a malformed chunk). It streams chat completions as SSE,
splitting the scripted reply into the chunks the test asks for, and records every request
it receives, so a test can also check what never reached it.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.fake_http import FakeHandler, serving, sse_chunk

MODEL = "fake-model"


@dataclass
class Reply:
    """What the fake answers to one chat request."""

    chunks: list[str]
    finish: str | None = "stop"  # None: end the stream without a finish_reason
    cut: bool = False  # close the connection mid-stream, without [DONE]
    malformed: bool = False  # send a `data:` line that is not JSON after the chunks
    usage: int | None = None  # completion_tokens to report in a final usage chunk
    pause_s: float = 0.0  # between chunks; longer than the page's redraw interval, each is drawn


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeOpenAI:
    url: str  # base URL, without /v1
    script: Callable[[dict[str, Any]], Reply]
    seen: list[Seen] = field(default_factory=list)

    def chats(self) -> list[dict[str, Any]]:
        """The bodies of the chat-completion requests received, in order."""
        return [s.body for s in self.seen if s.path.endswith("/chat/completions")]


def echo(chunks: list[str]) -> Callable[[dict[str, Any]], Reply]:
    """A script that answers every request with the same chunks."""
    return lambda request: Reply(list(chunks))


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(FakeHandler):
        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                parsed = json.loads(raw or b"{}")
            except ValueError:
                parsed = {"raw": raw.decode("utf-8", "replace")}
            return parsed if isinstance(parsed, dict) else {"json": parsed}

        def _record(self) -> dict[str, Any]:
            body = self._body()
            fake.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
            return body

        def do_GET(self) -> None:
            self._record()
            if self.path.endswith("/v1/models"):
                self.send_json(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            else:
                self.send_json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            body = self._record()
            if not self.path.endswith("/v1/chat/completions"):
                self.send_json(404, {"error": {"message": f"no route {self.path}"}})
                return
            self._stream(fake.script(body))

        def _stream(self, reply: Reply) -> None:
            self.start_stream()
            try:
                for index, piece in enumerate(reply.chunks):
                    if index and reply.pause_s:
                        time.sleep(reply.pause_s)
                    self.send_chunk(sse_chunk(piece, None, MODEL))
                if reply.malformed:
                    self.send_chunk(b"data: {this is not json\n\n")
                if reply.cut:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_chunk(
                    sse_chunk(None, reply.finish, MODEL) if reply.finish else b": end\n\n"
                )
                if reply.usage is not None:
                    usage = {"completion_tokens": reply.usage, "prompt_tokens": 1}
                    body = {"id": "u", "object": "chat.completion.chunk", "created": 1}
                    body |= {"model": MODEL, "choices": [], "usage": usage}
                    self.send_chunk(b"data: " + json.dumps(body).encode() + b"\n\n")
                self.send_chunk(b"data: [DONE]\n\n")
                self.end_stream()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


@contextmanager
def fake_openai(script: Callable[[dict[str, Any]], Reply]) -> Iterator[FakeOpenAI]:
    """A fake server on a free loopback port for the duration of the block."""
    fake = FakeOpenAI("", script)
    with serving(_handler(fake)) as port:
        fake.url = f"http://127.0.0.1:{port}"
        yield fake
