"""Findings 3, 4, 11 and 12 of #14: every request is read exactly, answered, and logged
safely, whatever bytes arrive.

3. Request desync: an unread body (on a non-proxy route, or sent chunked) was parsed as
   the next request, which could smuggle a JSON chat request past every check.
4. `Content-Length: -1` read until the client closed.
11. Some malformed requests dropped the connection with no answer at all.
12. Control characters in a request target reached the terminal through the log.
"""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from tests.security.conftest import Hearth
from tests.security.upstream import FakeUpstream
from tests.security.wire import answer, exchange, read_all, replies, send

CHAT = json.dumps({"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]})


def smuggled(port: int) -> bytes:
    """A complete JSON chat request, to hide inside another request's body."""
    body = json.dumps({"model": "fake-model", "messages": [{"role": "user", "content": "x"}]})
    return (
        f"POST /foundry/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def test_a_body_on_a_non_proxy_route_is_not_a_second_request(
    hearth: Hearth, fake: FakeUpstream
) -> None:
    inner = smuggled(hearth.port)
    outer = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(inner)}\r\n\r\n"
    ).encode()
    answers = replies(exchange(hearth.port, outer + inner))
    assert [reply.status for reply in answers] == [405]
    assert fake.seen == []


@pytest.mark.parametrize("target", ["/", "/api/foundry/status", "/foundry/v1/chat/completions"])
@pytest.mark.parametrize(
    "coding",
    [
        "Transfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 0",
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding:\tchunked",
    ],
)
def test_chunked_bodies_are_refused_not_ignored(
    hearth: Hearth, fake: FakeUpstream, target: str, coding: str
) -> None:
    inner = smuggled(hearth.port)
    outer = (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}\r\n"
        f"Content-Type: text/plain\r\n{coding}\r\n\r\n"
    ).encode()
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(inner), inner)
    answers = replies(exchange(hearth.port, outer + body))
    assert [reply.status for reply in answers] == [501]
    assert answers[0].headers.get("Connection") == "close"
    assert "Content-Length" in answers[0].error()["message"]
    assert fake.seen == []


def test_requests_on_one_connection_still_work(hearth: Hearth) -> None:
    one = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}\r\n\r\n".encode()
    post = (
        f"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}\r\nContent-Length: 5\r\n\r\nhello"
    ).encode()
    answers = replies(exchange(hearth.port, one + post + one))
    assert [reply.status for reply in answers] == [200, 405, 200]


@pytest.mark.parametrize(
    "length",
    ["-1", "+5", " 5 5", "5, 5", "0x10", "1e3", "5.0", "٥", "99999999999999999999999", "9" * 300],
)
def test_a_content_length_that_is_not_plain_digits_is_refused(
    hearth: Hearth, fake: FakeUpstream, length: str
) -> None:
    head = (
        f"POST /api/foundry/load HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()
    # Without a half-close: serve.py must answer and close on its own, not read to the end.
    with socket.create_connection(("127.0.0.1", hearth.port), timeout=20) as sock:
        sock.sendall(head + b'{"model": "fake-model"}')
        answers = replies(read_all(sock))
    assert len(answers) == 1 and answers[0].status in (400, 413), answers
    assert answers[0].headers.get("Connection") == "close"
    answers[0].error()
    assert fake.seen == []


def test_two_content_lengths_are_refused(hearth: Hearth, fake: FakeUpstream) -> None:
    inner = smuggled(hearth.port)
    raw = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}\r\nContent-Length: 0\r\n"
        f"Content-Length: {len(inner)}\r\n\r\n"
    ).encode() + inner
    assert [reply.status for reply in replies(exchange(hearth.port, raw))] == [400]
    assert fake.seen == []


def test_a_body_over_the_limit_is_refused_unread(hearth: Hearth, fake: FakeUpstream) -> None:
    raw = (
        f"POST /foundry/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {1 << 40}\r\n\r\n{{}}"
    ).encode()
    reply = answer(hearth.port, raw)
    assert reply.status == 413
    assert "at most" in reply.error()["message"]
    assert fake.seen == []


@pytest.mark.parametrize(
    "body", [b"[]", b"null", b'"m"', b"1", b'{"model": 5}', b"\xff\xfe", b"[" * 100000]
)
def test_bad_json_shapes_on_the_load_route_are_400(
    hearth: Hearth, fake: FakeUpstream, body: bytes
) -> None:
    reply = send(
        hearth.port, "POST", "/api/foundry/load", {"Content-Type": "application/json"}, body
    )
    assert reply.status == 400
    assert '{"model": "<id>"}' in reply.error()["message"]
    assert fake.seen == []


def test_a_path_segment_too_long_for_the_file_system_is_404(hearth: Hearth) -> None:
    reply = send(hearth.port, "GET", "/" + "a" * 300)
    assert reply.status == 404
    reply.error()


def test_a_70_kb_request_line_is_414(hearth: Hearth) -> None:
    raw = f"GET /{'a' * 70000} HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}\r\n\r\n".encode()
    reply = answer(hearth.port, raw)
    assert reply.status == 414
    reply.error()


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET / HTTP/1.1x\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
        (b"POST /\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431),
    ],
)
def test_the_stdlibs_refusals_are_json_with_our_headers(
    hearth: Hearth, raw: bytes, status: int
) -> None:
    reply = answer(hearth.port, raw)
    assert reply.status == status
    reply.error()
    assert reply.headers.get("Content-Security-Policy", "").startswith("default-src 'self'")
    assert reply.headers.get("Connection") == "close"


def test_control_characters_never_reach_the_terminal(hearth: Hearth) -> None:
    for target, status in (
        ("/\x1b[2J\x1b[31mred\x07\x08\x9b31m\x7f?x=\x00", 404),
        ("/\x1b[31mcarriage\rreturn", 400),  # a carriage return splits the line: malformed
    ):
        raw = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}\r\n\r\n".encode("latin-1")
        assert answer(hearth.port, raw).status == status
    last = f"GET /healthz?after HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}\r\n\r\n"
    answer(hearth.port, last.encode())
    log = hearth.log_text()
    assert "/healthz?after" in log  # the log is on, and was written after the probes
    assert "\\x1b[2J\\x1b[31mred\\x07\\x08\\x9b31m\\x7f?x=\\x00" in log
    assert "\\x1b[31mcarriage\\x0dreturn" in log
    assert not any(char in log for char in "\x1b\x07\x08\x00\r\x9b\x7f")


def first_answer_to_headers(port: int, host: str) -> tuple[socket.socket, bytes]:
    """Send a chat request's headers with `Expect: 100-continue` and no body yet; what comes
    back first."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    sock.sendall(
        (
            f"POST /foundry/v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(CHAT)}\r\n"
            "Expect: 100-continue\r\n\r\n"
        ).encode()
    )
    return sock, sock.recv(65536)


def test_100_continue_comes_only_after_the_checks(hearth: Hearth, fake: FakeUpstream) -> None:
    """The stdlib says "100 Continue" while parsing, before anything is checked: a client
    would then send a body that is never read."""
    sock, first = first_answer_to_headers(hearth.port, "rebind.attacker.example")
    with sock:
        assert first.startswith(b"HTTP/1.1 421 "), first
    sock, first = first_answer_to_headers(hearth.port, f"127.0.0.1:{hearth.port}")
    with sock:
        assert first == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(CHAT.encode())  # no half-close: serve.py takes that for a client leaving
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        assert (reply.status, b"fake-model" in reply.read()) == (200, True)
    assert [seen.path for seen in fake.seen] == ["/v1/chat/completions"]


@pytest.mark.parametrize(
    "bad_line",
    [
        "X Bad: 1",  # a name with a space: the stdlib took it and what follows as body
        "Transfer-Encoding : chunked",  # a space before the colon
        "X-Folded: one\r\n two",  # obs-fold
        "no colon at all",
    ],
)
def test_a_malformed_header_line_is_refused_not_read_as_body(
    hearth: Hearth, fake: FakeUpstream, bad_line: str
) -> None:
    """The review of 2026-12-02: headers after a malformed line went unseen by every check
    (a cross-site Origin got through), and a request hidden after them was answered."""
    inner = smuggled(hearth.port)
    head = (
        f"POST /foundry/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{hearth.port}\r\n"
        f"Content-Type: application/json\r\n{bad_line}\r\nOrigin: https://evil.example\r\n"
        f"Sec-Fetch-Site: cross-site\r\nContent-Length: {len(CHAT)}\r\n\r\n{CHAT}"
    ).encode()
    answers = replies(exchange(hearth.port, head + inner))
    assert [reply.status for reply in answers] == [400]
    assert answers[0].headers.get("Connection") == "close"
    assert "malformed" in answers[0].error()["message"]
    assert fake.seen == []
