"""Findings 1 and 2 of #14: other web sites must not use serve.py's proxy.

1. Any page could POST text/plain (no preflight) to the proxy, which added API_KEY.
2. DNS rebinding: a request naming the attacker's host was answered, model list included.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.security.conftest import Hearth, start_hearth
from tests.security.upstream import FakeUpstream
from tests.security.wire import answer, send

CHAT = json.dumps({"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]})
EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
TEXT = {"Content-Type": "text/plain"}


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("/foundry/v1/chat/completions", CHAT),
        ("/api/foundry/load", json.dumps({"model": "fake-model"})),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {**EVIL, **TEXT},  # the probe
        {**EVIL, "Content-Type": "application/json"},  # JSON does not make another site ok
        {"Sec-Fetch-Site": "cross-site", **TEXT},
        {"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"},
        {"Origin": "https://evil.example", "Content-Type": "application/json"},
        {"Origin": "null", "Content-Type": "application/json"},  # a sandboxed frame
        {"Origin": "http://127.0.0.1.evil.example", "Content-Type": "application/json"},
        # another local server's page (a dev server on port 1): loopback, but not our port
        {"Origin": "http://127.0.0.1:1", "Content-Type": "application/json"},
        {"Origin": "http://localhost:1", "Sec-Fetch-Site": "same-site", **TEXT},
        {"Sec-Fetch-Site": "same-origin", **TEXT},  # even our page must say JSON
        TEXT,
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {"Content-Type": "text/plain; application/json"},
        {},
    ],
)
def test_cross_site_posts_never_reach_the_upstream(
    hearth: Hearth, fake: FakeUpstream, target: str, body: str, headers: dict[str, str]
) -> None:
    reply = send(hearth.port, "POST", target, headers, body.encode())
    assert reply.status in (403, 415), reply
    error = reply.error()
    assert "JSON" in error["message"] or "Hearth's page" in error["message"]
    assert fake.seen == []


@pytest.mark.parametrize(
    "target", ["/api/foundry/models", "/api/foundry/status", "/foundry/v1/models"]
)
def test_cross_site_reads_are_refused(hearth: Hearth, fake: FakeUpstream, target: str) -> None:
    reply = send(hearth.port, "GET", target, EVIL)
    assert reply.status == 403
    assert reply.error()["type"] == "cross_site_request"
    assert fake.seen == []


def test_the_pages_own_requests_and_scripts_still_work(hearth: Hearth, fake: FakeUpstream) -> None:
    page = {"Sec-Fetch-Site": "same-origin", "Origin": f"http://127.0.0.1:{hearth.port}"}
    for headers in (
        {**page, "Content-Type": "application/json"},
        {**page, "Origin": f"http://localhost:{hearth.port}", "Content-Type": "application/json"},
        {**page, "Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": "Application/JSON"},  # a script: no Origin, no Sec-Fetch-Site
    ):
        reply = send(hearth.port, "POST", "/foundry/v1/chat/completions", headers, CHAT.encode())
        assert reply.status == 200, (headers, reply)
        assert b"data: [DONE]" in reply.body
    assert send(hearth.port, "GET", "/api/foundry/models", {"Sec-Fetch-Site": "none"}).status == 200
    chats = [seen for seen in fake.seen if seen.path == "/v1/chat/completions"]
    assert len(chats) == 4
    assert all(seen.headers["Authorization"] == "Bearer sk-hearth-secret" for seen in chats)


@pytest.mark.parametrize(
    "target", ["/api/foundry/models", "/foundry/v1/models", "/api/foundry/status", "/", "/healthz"]
)
@pytest.mark.parametrize(
    "host",
    [
        "rebind.attacker.example:{port}",  # the probe
        "rebind.attacker.example",
        "127.0.0.1.attacker.example:{port}",
        "localhost.:{port}",
        "127.0.0.1:1{port}",  # our name with a port that cannot exist
        "127.0.0.1:{other}",  # our name (also the --host we were bound by) with another port
        "localhost:{other}",
        "[::1]:{other}",
        "127.0.0.1:{port}@evil.example",
    ],
)
def test_other_host_names_are_misdirected(
    hearth: Hearth, fake: FakeUpstream, target: str, host: str
) -> None:
    other = 3000 if hearth.port != 3000 else 3001
    reply = send(hearth.port, "GET", target, host=host.format(port=hearth.port, other=other))
    assert reply.status in (400, 421), reply
    assert "--allow-host" in reply.error()["message"] or reply.status == 400
    assert b"fake-model" not in reply.body and b"the page" not in reply.body
    assert fake.seen == []


def test_a_request_without_one_host_is_refused(hearth: Hearth, fake: FakeUpstream) -> None:
    for raw in (
        b"GET /api/foundry/models HTTP/1.0\r\n\r\n",
        b"GET /api/foundry/models HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nHost: evil.example\r\n\r\n"
        % hearth.port,
    ):
        reply = answer(hearth.port, raw)
        assert reply.status == 400
        assert fake.seen == []


def test_loopback_names_with_our_port_are_answered(hearth: Hearth) -> None:
    for host in ("127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "[::1]:{port}"):
        reply = send(hearth.port, "GET", "/", host=host.format(port=hearth.port))
        assert (reply.status, reply.body.startswith(b"<!doctype html>")) == (200, True), host


def test_allow_host_admits_a_chosen_name_and_its_origin(
    site: Path, fake: FakeUpstream, tmp_path: Path
) -> None:
    own = start_hearth(
        site, tmp_path / "log", "--foundry-url", fake.url, "--allow-host", "Hearth.LAN"
    )
    try:
        for host in ("hearth.lan", "hearth.lan:{port}", "HEARTH.lan:443"):
            reply = send(own.port, "GET", "/", host=host.format(port=own.port))
            assert reply.status == 200, host
        page = {"Origin": "https://hearth.lan", "Sec-Fetch-Site": "same-origin"}
        reply = send(own.port, "GET", "/api/foundry/models", page, host="hearth.lan")
        assert reply.status == 200
        assert send(own.port, "GET", "/", host="other.lan").status == 421
    finally:
        own.stop()
