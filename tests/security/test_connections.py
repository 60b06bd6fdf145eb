"""Finding 9 of #14: connections cannot pile up, and a client that leaves frees the
upstream at once.

Half-open connections were held forever, one thread each; and when the page stopped a
reply (Stop, a closed tab) the upstream connection stayed open for up to 300 s whenever
the upstream was silent (a cold model before its first token, a pause mid-stream).
"""

from __future__ import annotations

import json
import selectors
import socket
import time

import pytest

from tests.security.conftest import Hearth
from tests.security.upstream import FakeUpstream
from tests.security.wire import eventually, send

HELD = 80  # connections a client opens and never finishes


def partial(port: int) -> socket.socket:
    """A connection with half a request sent: the request line and one header."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
    return sock


def test_idle_connections_are_closed_by_the_server(fresh_hearth: Hearth) -> None:
    held = [partial(fresh_hearth.port) for _ in range(8)]
    try:
        for sock in held:
            sock.settimeout(40)
            try:
                assert sock.recv(1) == b"", "serve.py answered half a request"
            except TimeoutError:
                pytest.fail("serve.py still holds a half-open connection after 40 s")
            except ConnectionResetError:
                pass
    finally:
        for sock in held:
            sock.close()
    assert eventually(lambda: fresh_hearth.status()["Threads"] == 1)


def cut_off_while_trickling(socks: list[socket.socket], gap_s: float, within_s: float) -> int:
    """Send one more byte on every connection each `gap_s` (well inside the idle timeout)
    until the server closes them all or `within_s` passes; how many it closed."""
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        open_ = set(socks)
        give_up = time.monotonic() + within_s
        while open_ and time.monotonic() < give_up:
            for sock in list(open_):
                try:
                    sock.sendall(b"X")
                except OSError:  # closed by the server
                    open_.discard(sock)
            for key, _ in selector.select(timeout=gap_s):  # an answer or the end: cut off
                selector.unregister(key.fileobj)
                open_.discard(key.fileobj)  # type: ignore[arg-type]
        return len(socks) - len(open_)


@pytest.mark.parametrize("stage", ["headers", "body"])
def test_a_client_trickling_its_request_is_cut_off(fresh_hearth: Hearth, stage: str) -> None:
    """Slowloris: one byte every 2 s passes every idle timeout, so only a deadline on the
    whole request frees the thread (the headers within 20 s; this body within 10 s)."""
    port = fresh_hearth.port
    start = f"POST /foundry/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if stage == "body":
        start += "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(40)]
    try:
        for sock in socks:
            sock.sendall((start + ("X-Slow: " if stage == "headers" else "")).encode())
        assert cut_off_while_trickling(socks, gap_s=2, within_s=60) == len(socks)
    finally:
        for sock in socks:
            sock.close()
    assert send(port, "GET", "/healthz").status == 200
    assert eventually(lambda: fresh_hearth.status()["Threads"] == 1)


def test_held_connections_cannot_pile_up_threads(fresh_hearth: Hearth) -> None:
    baseline = fresh_hearth.status()["Threads"]
    held = [partial(fresh_hearth.port) for _ in range(HELD)]
    try:
        # Wait for the server to take up what it will; then it must stay well below HELD.
        eventually(lambda: fresh_hearth.status()["Threads"] >= baseline + HELD, within_s=3)
        peak = fresh_hearth.status()["Threads"]
        assert peak <= baseline + HELD // 2, f"{peak} threads for {HELD} held connections"
    finally:
        for sock in held:
            sock.close()
    assert eventually(lambda: fresh_hearth.status()["Threads"] == baseline)


@pytest.mark.parametrize("model", ["silent", "hold"])
def test_a_client_that_leaves_closes_a_silent_upstream(
    hearth: Hearth, fake: FakeUpstream, model: str
) -> None:
    """`silent`: the upstream says nothing at all (a cold model); `hold`: it sends the
    first words and then nothing (a pause mid-stream)."""
    body = json.dumps({"model": model, "messages": [], "stream": True})
    with socket.create_connection(("127.0.0.1", hearth.port), timeout=20) as sock:
        sock.sendall(
            (
                f"POST /foundry/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}"
                f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
            ).encode()
        )
        received = b""
        while model == "hold" and b"The first words" not in received:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        assert eventually(lambda: len(fake.seen) == 1)
    assert fake.closed.wait(10), "the upstream connection outlived the client"


def test_a_client_that_leaves_ends_a_model_load_that_never_finishes(
    hearth: Hearth, fake: FakeUpstream
) -> None:
    """The review of 2026-12-02: management calls had no watch, so a stalled upstream held
    a thread (of 32) for up to 900 s per read after the page had gone."""
    body = json.dumps({"model": "silent"})
    with socket.create_connection(("127.0.0.1", hearth.port), timeout=20) as sock:
        sock.sendall(
            (
                f"POST /api/foundry/load HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}"
                f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
            ).encode()
        )
        assert eventually(lambda: "/models/load/silent" in fake.paths())
    assert fake.closed.wait(10), "the upstream connection outlived the client"
