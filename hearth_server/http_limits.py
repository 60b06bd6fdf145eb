"""How much serve.py reads, how long it waits, and the one framing rule for request bodies.

A body that is not read exactly is read as the next request on the same connection
(request smuggling), so a body's length must come from one plain Content-Length, and
anything serve.py cannot frame is refused with the connection closed. Every read of a
client or an upstream is bounded, so neither a client nor a misbehaving upstream can
make the server hold unbounded memory, threads or time.
"""

from __future__ import annotations

import http.client
import io
import re
import socket
import time
from email.errors import MissingHeaderBodySeparatorDefect
from email.message import Message
from http import HTTPStatus

from hearth_server.errors import HttpError

MAX_REQUEST_LINE = 65536  # the stdlib's limit; a page URL with a preset system prompt fits
MAX_API_BODY = 8 << 20  # a chat request: a long conversation, or an image as base64
MAX_OTHER_BODY = 64 << 10  # routes that take no body read (and drop) at most this much
IDLE_TIMEOUT_S = 10.0  # for each read of a request, and between two requests on one connection
# In all, from the end of the last answer: a client that trickles a byte every few seconds
# passes every idle timeout but must not hold its thread for ever (slowloris).
HEADERS_DEADLINE_S = 20.0  # the request line and headers
MIN_BODY_RATE = 64 << 10  # then the body, in bytes a second (a phone on poor Wi-Fi)...
MIN_BODY_DEADLINE_S = 10.0  # ...but never less time than this


def body_deadline(length: int) -> float:
    """Seconds allowed to receive a body of `length` bytes (8 MiB: 128 s)."""
    return max(MIN_BODY_DEADLINE_S, length / MIN_BODY_RATE)


# To send an answer: a busy page can leave a model download unread for a while.
SEND_TIMEOUT_S = 300.0
MAX_CONNECTIONS = 32  # a browser opens about 6 per origin; more wait for a free slot
MAX_ERROR_BODY = 64 << 10  # of an upstream's error answer: enough for its message
MAX_JSON_ANSWER = 4 << 20  # of an upstream's management answer (a model list)

_LENGTH = re.compile(r"[0-9]{1,19}")


def check_header_block(headers: Message) -> None:
    """Refuse a header block that was not parsed line for line. The stdlib's parser stops
    at the first line that is not `name: value` (a space before the colon, a name with a
    space in it) and takes it and every header after it as body: checks would never see
    those headers, while a proxy in front may read them as headers (request smuggling). A
    folded line (obs-fold) is refused too, as RFC 9112 allows a server to."""
    folded = any("\n" in str(value) for value in headers.values())
    cut = any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in headers.defects)
    if cut or headers.get_payload() or folded:
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            "A header line is malformed (each must be `Name: value` on one line, with no "
            "space before the colon); send a well-formed HTTP/1.1 request.",
            "invalid_request_error",
        )


def body_length(headers: Message, limit: int) -> int:
    """The request body's length from a Content-Length that can be trusted.

    Transfer codings are refused rather than ignored: an ignored chunked body would be read
    as the next request. A length must be plain digits (no sign, no spaces inside), given
    once, and at most `limit`, or the request is refused before any of it is read.
    """
    if headers.get_all("Transfer-Encoding"):
        raise HttpError(
            HTTPStatus.NOT_IMPLEMENTED,
            "serve.py does not accept Transfer-Encoding; send the body with a Content-Length.",
            "invalid_request_error",
        )
    values = headers.get_all("Content-Length") or []
    if not values:
        return 0
    if len(values) > 1 or not _LENGTH.fullmatch(values[0].strip(" \t")):
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            f"Content-Length {', '.join(values)!r} is not one length in bytes; "
            "send exactly one, made of digits only.",
            "invalid_request_error",
        )
    length = int(values[0])
    if length > limit:
        raise HttpError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"The request body is {length} bytes and serve.py takes at most {limit} here; "
            "send less (a shorter conversation).",
            "invalid_request_error",
        )
    return length


class DeadlineReader(io.RawIOBase):
    """A client socket's reads, each bounded by the idle timeout and all of them together
    by a deadline, so that the request can be read with the stdlib's buffered parsing."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline: float | None = None  # time.monotonic() by which the read must be done

    def start(self, seconds: float | None) -> None:
        self.deadline = None if seconds is None else time.monotonic() + seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the client took too long to send its request")
            self._sock.settimeout(min(IDLE_TIMEOUT_S, left))
        return self._sock.recv_into(buffer)


def read_capped(response: http.client.HTTPResponse, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of an upstream's answer, and whether it had more."""
    data = response.read(limit + 1)
    return data[:limit], len(data) > limit
