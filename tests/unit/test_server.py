"""serve.py over real sockets: headers, MIME, ranges, ETags, health, traversal, CLI."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from hearth_server.handler import make_handler
from hearth_server.headers import PAGE_CSP
from serve import is_loopback
from tests.conftest import ROOT
from tests.support.terminal import ctrl_c_as_in_a_terminal

BODY = bytes(range(256)) * 40


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A small stand-in for dist/: these tests are about serving, not about the build."""
    dist = tmp_path / "dist"
    (dist / "vendor" / "ort-1.0.0").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>t</title>")
    (dist / "vendor" / "ort-1.0.0" / "x.wasm").write_bytes(BODY)
    (dist / "app.mjs").write_text("export {}")
    (tmp_path / "secret.txt").write_text("do not serve")
    return dist


@pytest.fixture
def site(dist: Path) -> Iterator[tuple[str, int]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(dist, "9.9.9", quiet=True))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_address[1]
    server.shutdown()
    server.server_close()


def request(
    site: tuple[str, int], target: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection(*site, timeout=5)
    conn.putrequest(method, target, skip_accept_encoding=True)  # sends `target` verbatim
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def test_root_is_cross_origin_isolated_and_revalidated(site: tuple[str, int]) -> None:
    response, body = request(site, "/")
    assert response.status == 200
    assert response.getheader("Cross-Origin-Opener-Policy") == "same-origin"
    assert response.getheader("Cross-Origin-Embedder-Policy") == "require-corp"
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert response.getheader("Cache-Control") == "no-cache"
    assert response.getheader("Content-Security-Policy") == PAGE_CSP
    assert response.getheader("Referrer-Policy") == "no-referrer"
    assert body.startswith(b"<!doctype html>")


def test_wasm_mime_and_immutable_caching(site: tuple[str, int]) -> None:
    response, body = request(site, "/vendor/ort-1.0.0/x.wasm")
    assert response.getheader("Content-Type") == "application/wasm"
    assert "immutable" in response.getheader("Cache-Control", "")
    assert body == BODY
    response, _ = request(site, "/app.mjs")
    assert response.getheader("Content-Type") == "text/javascript; charset=utf-8"


def test_range_requests(site: tuple[str, int]) -> None:
    response, body = request(site, "/vendor/ort-1.0.0/x.wasm", headers={"Range": "bytes=100-199"})
    assert response.status == 206
    assert response.getheader("Content-Range") == f"bytes 100-199/{len(BODY)}"
    assert body == BODY[100:200]
    response, body = request(site, "/vendor/ort-1.0.0/x.wasm", headers={"Range": "bytes=-5"})
    assert body == BODY[-5:]
    response, _ = request(site, "/vendor/ort-1.0.0/x.wasm", headers={"Range": "bytes=99999-"})
    assert response.status == 416
    assert response.getheader("Content-Range") == f"bytes */{len(BODY)}"


def test_etag_revalidation(site: tuple[str, int]) -> None:
    response, _ = request(site, "/index.html")
    etag = response.getheader("ETag")
    assert etag
    response, body = request(site, "/index.html", headers={"If-None-Match": etag})
    assert response.status == 304
    assert body == b""


def test_head_sends_headers_only(site: tuple[str, int]) -> None:
    response, body = request(site, "/vendor/ort-1.0.0/x.wasm", method="HEAD")
    assert response.status == 200
    assert response.getheader("Content-Length") == str(len(BODY))
    assert body == b""


def test_healthz(site: tuple[str, int]) -> None:
    response, body = request(site, "/healthz")
    assert response.status == 200
    assert json.loads(body) == {"status": "ok", "version": "9.9.9"}


@pytest.mark.parametrize(
    "target",
    [
        "/../../etc/passwd",
        "/../secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e/secret.txt",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/..\\secret.txt",
        "/vendor/..%5c..%5csecret.txt",
    ],
)
def test_traversal_is_404(site: tuple[str, int], target: str) -> None:
    response, body = request(site, target)
    assert response.status == 404
    assert b"do not serve" not in body and b"root:" not in body


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.org", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def _start(dist: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "serve.py", "--port", "0", "--no-build", "--dist", str(dist), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )


def test_non_loopback_bind_warns_and_ctrl_c_exits_cleanly(dist: Path) -> None:
    proc = _start(dist, "--host", "0.0.0.0")
    assert proc.stdout is not None and proc.stderr is not None
    assert "Serving Hearth" in proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "WARNING: binding to 0.0.0.0" in err
    assert "Traceback" not in err
    assert "Stopped." in out


def test_loopback_bind_does_not_warn(dist: Path) -> None:
    proc = _start(dist)
    assert proc.stdout is not None
    assert "http://127.0.0.1:" in proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert "WARNING" not in err


def test_port_in_use_is_one_clear_line(dist: Path) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), make_handler(dist, "x", True)) as taken:
        port = str(taken.server_address[1])
        proc = subprocess.run(
            [sys.executable, "serve.py", "--port", port, "--no-build", "--dist", str(dist)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 1
    assert "pick another with --port" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", ["http://hearth.lan", "hearth.lan:8000", "*", "a b"])
def test_allow_host_takes_a_bare_host_name(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "serve.py", "--allow-host", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "is not a host name" in proc.stderr and "such as hearth.lan" in proc.stderr
