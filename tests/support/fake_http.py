"""What every fake upstream in the tests shares: an HTTP/1.1 handler that answers JSON and
streams chunked Server-Sent Events, the OpenAI chunk they stream, and a loopback server.

The fakes differ in what they script (tests/support/fake_openai.py controls the text,
tests/security/upstream.py misbehaves on demand, tests/unit/test_proxy.py holds a stream
open); the wire format they speak is written once, here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def sse_chunk(content: str | None, finish: str | None, model: str) -> bytes:
    """One `chat.completion.chunk` event: a piece of the reply, or its finish reason."""
    delta = {"role": "assistant", "content": content} if content is not None else {}
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class FakeHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1, no request log, and the answers a fake upstream writes."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_json(self, status: int, body: object) -> None:
        self.send_raw(status, json.dumps(body).encode(), "application/json")

    def send_raw(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def send_chunk(self, data: bytes) -> None:
        """One HTTP chunk, flushed so that the client sees it now."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: a client hanging up mid-answer is what several tests make it do."""


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """`handler` on a free loopback port (yielded) for the duration of the block."""
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
