"""Findings 5, 6, 7, 8 and 10 of #14: the proxy reaches only the routes the page uses,
bounds what it asks of and reads from the upstream, and never lets the upstream's answer
act as a page on Hearth's origin.
"""

from __future__ import annotations

import json

import pytest

from tests.security.conftest import Hearth
from tests.security.upstream import HUGE, KEY, MODEL, FakeUpstream
from tests.security.wire import send

JSON = {"Content-Type": "application/json"}
PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "connect-src 'self'; img-src 'self' data: blob:; style-src 'self'; font-src 'self'; "
    "manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def chat(hearth: Hearth, model: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
    reply = send(hearth.port, "POST", "/foundry/v1/chat/completions", JSON, body.encode())
    return reply.status, dict(reply.headers.items()), reply.body


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/foundry/v1/%2e%2e/openai/load/x"),  # the probes
        ("GET", "/foundry/v1/.%2e/openai/load/x"),
        ("GET", "/foundry/v1/%2E%2E/models/load/x"),
        ("GET", "/foundry/v1/models/%2e%2e%2f%2e%2e%2fopenai%2fload%2fx"),
        ("GET", "/foundry/v1/models%2f..%2f..%2fopenai%2fload%2fx"),
        ("GET", "/foundry/v1/models/a%5c..%5cb"),
        ("GET", "/foundry/v1/models/%00"),
        ("GET", "/foundry/v1//models"),
        ("GET", "/foundry/v1/models/x/y"),
        ("GET", "/foundry/v1/files"),
        ("POST", "/foundry/v1/embeddings"),
        ("POST", "/foundry/v1/images/generations"),
        ("DELETE", f"/foundry/v1/models/{MODEL}"),
        ("GET", "/foundry/v1/chat/completions"),
        ("POST", "/foundry/v1/models"),
        ("GET", "/foundry/v2/models"),
        ("GET", "/api/foundry/../../models/load/x"),
        ("GET", "/api/foundry/%2e%2e/%2e%2e/openai/load/x"),
    ],
)
def test_only_the_pages_routes_are_forwarded(
    hearth: Hearth, fake: FakeUpstream, method: str, target: str
) -> None:
    reply = send(hearth.port, method, target, JSON, b"{}" if method == "POST" else b"")
    assert reply.status in (400, 404, 405), reply
    reply.error()
    assert fake.seen == []


def test_the_forwarded_routes_reach_the_upstream(hearth: Hearth, fake: FakeUpstream) -> None:
    for method, target, body in (
        ("GET", "/foundry/v1/models", b""),
        ("GET", f"/foundry/v1/models/{MODEL}", b""),
        ("GET", "/foundry/v1/models/fake%2Dmodel", b""),  # decoded, then re-encoded
        ("POST", "/foundry/v1/completions", b'{"model": "m", "prompt": "x"}'),
        ("POST", "/foundry/v1/chat/completions", b'{"model": "m", "messages": []}'),
    ):
        assert send(hearth.port, method, target, JSON, body).status == 200, target
    assert fake.paths() == [
        "/v1/models",
        f"/v1/models/{MODEL}",
        f"/v1/models/{MODEL}",
        "/v1/completions",
        "/v1/chat/completions",
    ]
    assert {seen.headers["Authorization"] for seen in fake.seen} == {f"Bearer {KEY}"}


def test_a_load_id_cannot_fan_out(hearth: Hearth, fake: FakeUpstream) -> None:
    dashes = {"model": "-" * 4096}  # the probe: 4,002 upstream requests
    reply = send(hearth.port, "POST", "/api/foundry/load", JSON, json.dumps(dashes).encode())
    assert reply.status == 400
    assert "256" in reply.error()["message"]
    assert fake.seen == []
    many = {"model": "-".join("abcdefghijklmnopqrstuvwxyz") + ":1"}  # 27 candidates uncapped
    reply = send(hearth.port, "POST", "/api/foundry/load", JSON, json.dumps(many).encode())
    assert reply.status == 404
    loads = [path for path in fake.paths() if "/load/" in path]
    assert len(loads) == len(fake.seen) <= 16  # 8 names, each tried on both load routes


def test_every_page_response_carries_the_content_policy(hearth: Hearth) -> None:
    for target in ("/", "/app.js", "/healthz", "/missing", "/api/foundry/status"):
        reply = send(hearth.port, "GET", target)
        assert reply.headers.get("Content-Security-Policy") == PAGE_CSP, target
        assert reply.headers.get("Referrer-Policy") == "no-referrer", target
        assert reply.headers.get("Cross-Origin-Opener-Policy") == "same-origin", target


def test_upstream_html_is_never_passed_on(hearth: Hearth, fake: FakeUpstream) -> None:
    status, headers, body = chat(hearth, "html")
    assert status == 502
    assert headers["Content-Type"] == "application/json"
    message = json.loads(body)["error"]["message"]
    assert fake.url in message and "text/html" in message
    assert b"<script>" not in body


def test_proxied_answers_are_sandboxed(hearth: Hearth, fake: FakeUpstream) -> None:
    status, headers, body = chat(hearth, MODEL)
    assert (status, headers["Content-Type"]) == (200, "text/event-stream")
    assert headers["Content-Security-Policy"] == "sandbox"
    reply = send(hearth.port, "GET", "/foundry/v1/models")
    assert reply.headers.get("Content-Type") == "application/json"
    assert reply.headers.get("Content-Security-Policy") == "sandbox"


def test_status_probes_with_the_api_key(hearth: Hearth, fake: FakeUpstream) -> None:
    """The fake, like vLLM --api-key, lists models only for the key."""
    status = send(hearth.port, "GET", "/api/foundry/status").json()
    assert status["reachable"] is True, status
    assert [seen.headers.get("Authorization") for seen in fake.seen] == [f"Bearer {KEY}"]


def test_a_huge_upstream_error_body_is_not_read_whole(
    fresh_hearth: Hearth, fake: FakeUpstream
) -> None:
    before = fresh_hearth.status()["VmHWM"]
    status, _, body = chat(fresh_hearth, "huge-error")
    assert status == 500
    assert "answered HTTP 500" in json.loads(body)["error"]["message"]
    assert fresh_hearth.status()["VmHWM"] - before < (HUGE >> 10) // 4  # kB: far below 200 MiB


def test_a_huge_upstream_json_answer_is_refused(fresh_hearth: Hearth, fake: FakeUpstream) -> None:
    fake.huge_models = True
    before = fresh_hearth.status()["VmHWM"]
    reply = send(fresh_hearth.port, "GET", "/api/foundry/models")
    assert reply.status == 502
    assert "MiB" in reply.error()["message"]
    assert fresh_hearth.status()["VmHWM"] - before < (HUGE >> 10) // 4
