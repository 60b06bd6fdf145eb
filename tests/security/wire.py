"""Talking to serve.py byte for byte: what a browser, a script or an attacker can send.

http.client refuses to send most malformed requests, so the probes write raw bytes to a
socket, half-close it (so serve.py sees where the client stops) and parse whatever comes
back, however many answers that is.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self) -> dict[str, Any]:
        """The OpenAI-style error every refusal carries."""
        assert self.headers.get("Content-Type") == "application/json", self.headers
        error = self.json()["error"]
        assert set(error) == {"message", "type", "code"}, error
        assert error["code"] == self.status
        return error  # type: ignore[no-any-return]


class _Unclosable(io.BytesIO):
    def close(self) -> None:
        """HTTPResponse closes its file after an answer that ends the connection; the
        next answer is in the same bytes."""


class _Recorded:
    """What http.client.HTTPResponse needs of a socket, over bytes already received."""

    def __init__(self, data: bytes) -> None:
        self.file = _Unclosable(data)

    def makefile(self, mode: str) -> io.BytesIO:
        return self.file


def replies(data: bytes) -> list[Reply]:
    """Every complete answer in `data`, in order."""
    source, found = _Recorded(data), []
    while source.file.tell() < len(data):
        response = http.client.HTTPResponse(source)  # type: ignore[arg-type]
        try:
            response.begin()
            body = response.read()
        except (http.client.HTTPException, ValueError):
            break
        found.append(Reply(response.status, response.msg, body))
    return found


def exchange(port: int, data: bytes, timeout: float = 20) -> bytes:
    """Send `data`, half-close, and return everything serve.py sent until it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


def answer(port: int, data: bytes) -> Reply:
    """The one answer to the one request in `data`."""
    (reply,) = replies(exchange(port, data))
    return reply


def read_all(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def send(
    port: int,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str | None = None,
) -> Reply:
    """One request with `target` sent verbatim, the Host given (or the real one)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    connection.putrequest(method, target, skip_host=host is not None, skip_accept_encoding=True)
    if host is not None:
        connection.putheader("Host", host)
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    if body or method == "POST":
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body or None)
    response = connection.getresponse()
    reply = Reply(response.status, response.msg, response.read())
    connection.close()
    return reply


def proc_status(pid: int) -> dict[str, int]:
    """Threads, VmRSS and VmHWM (kB) of a process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Threads", "VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def eventually(check: Callable[[], bool], within_s: float = 30) -> bool:
    """Whether `check` becomes true before the deadline (a wait, not a measurement)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()
