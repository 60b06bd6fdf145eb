"""Acceptance for #14: 10,000 random and malformed requests against the real serve.py.

Random methods, targets, versions and header lines, bodies whose length disagrees with
their Content-Length, transfer codings, garbage bytes, requests cut short, several
requests pipelined on one connection, and clients that leave early or reset. Afterwards
serve.py must still be alive and answering, with no internal error logged, its thread
count back at its baseline and its memory bounded; every answer it gave must carry the
security headers, and nothing but the forwarded routes, with the key, reached the upstream.

Loopback only (127.0.0.1). Seeded: set HEARTH_FUZZ_SEED to replay a failure.
"""

from __future__ import annotations

import json
import os
import random
import socket
import struct
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tests.security.conftest import Hearth
from tests.security.upstream import KEY, MODEL, FakeUpstream
from tests.security.wire import eventually, read_all, replies, send

REQUESTS = 10_000
SEED = int(os.environ.get("HEARTH_FUZZ_SEED", "1414"))

METHODS = ["GET"] * 6 + ["POST"] * 6 + ["HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]
METHODS += ["CONNECT", "get", "G\x00T", "PRI", "X" * 200, "POST\x1b[1m"]
TARGETS = [
    "/",
    "/index.html",
    "/app.js",
    "/healthz",
    "/api/foundry/status",
    "/api/foundry/models",
    "/api/foundry/load",
    "/foundry/v1/models",
    f"/foundry/v1/models/{MODEL}",
    "/foundry/v1/chat/completions",
    "/foundry/v1/chat/completions",
    "/foundry/v1/completions",
    "/foundry/v1/%2e%2e/openai/load/x",
    "/foundry/v1/.%2E/models/load/x",
    "/foundry/v1/models/..%2f..%2fopenai%2fload%2fx",
    "/foundry/v1/embeddings",
    "/api/foundry/../../etc/passwd",
    "/../../etc/passwd",
    "/%00",
    "/%ff%fe%fd",
    "/%",
    "*",
    "http://evil.example/foundry/v1/models",
    "//evil.example/x",
    "/" + "a" * 300,
    "/?" + "q" * 5000,
    "/\x1b[31mred\x07",
    "/a\x00b",
    "/foundry/v1/models/" + "%2f" * 50,
    "/api/foundry/status?x=\xff",
]
VERSIONS = ["HTTP/1.1"] * 8 + ["HTTP/1.0", "HTTP/2.0", "HTTP/1.1x", "HTTP/0.9", "", "http/1.1"]
ANSWERED = {200, 206, 400, 403, 404, 405, 413, 414, 415, 416, 421, 431, 501, 502, 505}
FORWARDED = {
    ("GET", "/v1/models"),
    ("GET", f"/v1/models/{MODEL}"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/completions"),
    ("GET", "/models/loaded"),
}


@dataclass
class Outcome:
    statuses: list[int]  # of the answers read back (not every ending reads them)
    unguarded: int  # answers without a content security policy


def host_line(rng: random.Random, port: int) -> list[str]:
    return rng.choice(
        [[f"Host: 127.0.0.1:{port}"]] * 8
        + [
            [f"Host: localhost:{port}"],
            [f"Host: rebind.attacker.example:{port}"],
            [],
            [f"Host: 127.0.0.1:{port}", "Host: evil.example"],
            ["Host: "],
            ["Host: [::1"],
        ]
    )


def body_for(rng: random.Random) -> bytes:
    kind = rng.randrange(8)
    if kind == 0:
        return b""
    if kind == 1:
        return json.dumps({"model": "fuzz", "messages": [], "stream": rng.random() < 0.5}).encode()
    if kind == 2:
        return json.dumps({"model": rng.choice(["fuzz-a-b:1", "-" * 300, "", 5, None])}).encode()
    if kind == 3:
        return rng.choice([b"[]", b"null", b"{", b"[" * 5000, b"\xff\xfe\x00"])
    return rng.randbytes(rng.randrange(1, 3000))


def header_lines(rng: random.Random, body: bytes) -> list[str]:
    lines: list[str] = []
    length = rng.choice(
        [str(len(body))] * 6
        + [str(len(body) + rng.randrange(1, 50)), str(max(0, len(body) - 3)), "-1", "+5"]
        + ["abc", "1e3", " 7 7", str(1 << 40), "", "0x10"]
    )
    if rng.random() < 0.9:
        lines.append(f"Content-Length: {length}")
    if rng.random() < 0.05:
        lines.append(f"Content-Length: {len(body)}")  # twice
    for _ in range(rng.randrange(0, 5)):
        lines.append(
            rng.choice(
                [
                    "Content-Type: application/json",
                    "Content-Type: application/json; charset=utf-8",
                    "Content-Type: text/plain",
                    "Content-Type: multipart/form-data; boundary=x",
                    "Transfer-Encoding: chunked",
                    "Transfer-Encoding: gzip",
                    "Origin: https://evil.example",
                    "Origin: null",
                    "Sec-Fetch-Site: cross-site",
                    "Sec-Fetch-Site: same-origin",
                    "Sec-Fetch-Site: none",
                    "Connection: close",
                    "Connection: keep-alive",
                    "Expect: 100-continue",
                    "Range: bytes=0-10",
                    "Range: bytes=-5",
                    "Range: bytes=99999999999999999999999999-",
                    "Range: bytes=5-1",
                    'If-None-Match: "x"',
                    "Authorization: Bearer page-placeholder",
                    "NoColonHere",
                    ": empty name",
                    " folded continuation",
                    "X-Nul: a\x00b",
                    "X-Escape: \x1b[2J",
                    "X-Latin: caf\xe9",
                ]
            )
        )
    if rng.random() < 0.01:
        lines.append("X-Long: " + "a" * 70_000)
    if rng.random() < 0.01:
        lines.extend(f"X-Many-{n}: y" for n in range(101))
    rng.shuffle(lines)
    return lines


def well_formed(rng: random.Random, port: int) -> tuple[list[str], bytes]:
    """A request the page or a script could send, so the fuzz also drives the proxy."""
    body = json.dumps({"model": rng.choice([MODEL, "fuzz-a-b:1"]), "messages": []}).encode()
    method = rng.choice(["GET", "POST"])
    target = rng.choice(TARGETS[:12])
    head = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if rng.random() < 0.5:
        head += ["Sec-Fetch-Site: same-origin", f"Origin: http://127.0.0.1:{port}"]
    if method == "GET":
        return head, b""
    return [*head, "Content-Type: application/json", f"Content-Length: {len(body)}"], body


def request(rng: random.Random, port: int) -> bytes:
    if rng.random() < 0.04:
        return rng.randbytes(rng.randrange(0, 2000))  # garbage
    if rng.random() < 0.3:
        head, body = well_formed(rng, port)
    else:
        body = body_for(rng)
        line = " ".join(
            p for p in (rng.choice(METHODS), rng.choice(TARGETS), rng.choice(VERSIONS)) if p
        )
        head = [line, *host_line(rng, port), *header_lines(rng, body)]
    if any(h.startswith("Transfer-Encoding: chunked") for h in head) and rng.random() < 0.5:
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    if rng.random() < 0.05:
        data = data[: rng.randrange(len(data) + 1)]  # cut short
    return data


def talk(seed: int, count: int, port: int) -> Outcome:
    """One connection: `count` pipelined requests sent in up to three pieces, then one way
    of leaving: half-close and read every answer, close at once, reset, or read a little."""
    rng = random.Random(seed)
    data = b"".join(request(rng, port) for _ in range(count))
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(2))
    ending = rng.random()
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            for piece in (data[: cuts[0]], data[cuts[0] : cuts[1]], data[cuts[1] :]):
                sock.sendall(piece)
            if ending < 0.75:
                sock.shutdown(socket.SHUT_WR)
                received = read_all(sock)
            elif ending < 0.85:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif ending < 0.9:
                sock.recv(100)
        except OSError:
            pass  # serve.py refused and closed while we were still sending: allowed
    answers = replies(received)
    unguarded = sum("Content-Security-Policy" not in reply.headers for reply in answers)
    return Outcome([reply.status for reply in answers], unguarded)


def fuzz(port: int) -> tuple[int, list[Outcome]]:
    """Send the requests from 8 client threads; how many were sent, and what came back."""
    rng = random.Random(SEED)
    seeds: list[int] = []
    counts: list[int] = []
    while sum(counts) < REQUESTS:
        seeds.append(rng.getrandbits(64))
        counts.append(rng.choice([1, 1, 1, 2, 3, 4]))
    with ThreadPoolExecutor(max_workers=8) as pool:
        return sum(counts), list(pool.map(talk, seeds, counts, [port] * len(seeds)))


def test_ten_thousand_malformed_requests(fresh_hearth: Hearth, fake: FakeUpstream) -> None:
    where = f"(seed {SEED}; HEARTH_FUZZ_SEED={SEED} replays it)"
    print(f"fuzz {where}")
    port = fresh_hearth.port
    before = fresh_hearth.status()  # nothing asked yet: the baseline
    sent, outcomes = fuzz(port)

    assert fresh_hearth.proc.poll() is None, f"serve.py died {where}"
    statuses = Counter(status for outcome in outcomes for status in outcome.statuses)
    print(f"{sent} requests on {len(outcomes)} connections; answers read: {statuses}")
    assert sum(statuses.values()) > REQUESTS // 3, f"too few answers {where}: {statuses}"
    assert set(statuses) <= ANSWERED, f"unexpected statuses {where}: {statuses}"
    assert sum(outcome.unguarded for outcome in outcomes) == 0, f"answers without CSP {where}"
    log = fresh_hearth.log_text()
    assert "Traceback" not in log, f"internal error {where}: {log[log.find('Traceback') :]}"

    assert send(port, "GET", "/healthz").status == 200
    assert send(port, "GET", "/api/foundry/status").json()["reachable"] is True
    chat = json.dumps({"model": MODEL, "messages": [], "stream": True}).encode()
    json_type = {"Content-Type": "application/json"}
    reply = send(port, "POST", "/foundry/v1/chat/completions", json_type, chat)
    assert reply.status == 200 and reply.body.endswith(b"data: [DONE]\n\n")

    back = eventually(lambda: fresh_hearth.status()["Threads"] == before["Threads"])
    after = fresh_hearth.status()
    print(f"serve.py before {before}, after {after} (kB)")
    assert back, f"threads did not return to {before['Threads']} {where}: {after}"
    assert after["VmHWM"] - before["VmHWM"] < 64 << 10, f"peak memory grew {where}: {after}"
    assert after["VmRSS"] - before["VmRSS"] < 32 << 10, f"memory grew {where}: {after}"

    reached = {(seen.method, seen.path) for seen in fake.seen}
    loads = {(m, p) for m, p in reached if p.startswith(("/models/load/", "/openai/load/"))}
    assert reached - loads <= FORWARDED, f"reached the upstream {where}: {reached - FORWARDED}"
    assert {seen.headers.get("Authorization") for seen in fake.seen} == {f"Bearer {KEY}"}
