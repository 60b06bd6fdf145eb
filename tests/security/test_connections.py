"""Finding 9 of #14: connections cannot pile up, and a client that leaves frees the
upstream at once.

Half-open connections were held forever, one thread each; and when the page stopped a
reply (Stop, a closed tab) the upstream connection stayed open for up to 300 s whenever
the upstream was silent (a cold model before its first token, a pause mid-stream).
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.security.conftest import Hearth
from tests.security.upstream import FakeUpstream
from tests.security.wire import eventually

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
