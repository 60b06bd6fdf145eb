"""A loopback server for benchmark pages: bench/site at /, dist/vendor at /vendor/,
and model folders at /models/<name>/, with the same headers as serve.py."""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from hearth_server.handler import make_handler
from hearth_server.headers import PAGE_CSP
from hearth_server.static import resolve
from hearth_server.upstream import Upstream

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "bench" / "site"
SERVERS: dict[str, ThreadingHTTPServer] = {}  # by base URL, for stopped()
STOPPED: set[ThreadingHTTPServer] = set()


def import_map_sources(folder: Path) -> str:
    """CSP hash sources for the inline import maps of the pages in `folder`: serve.py's page
    policy runs no inline script, and peers.html needs one to resolve transformers.js's bare
    imports of onnxruntime-web (an import map cannot be a separate file)."""
    sources = []
    for page in sorted(folder.glob("*.html")):
        for body in re.findall(r'<script type="importmap">(.*?)</script>', page.read_text(), re.S):
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            sources.append(f"'sha256-{digest}'")
    return " ".join(sources)


@contextmanager
def bench_server(mounts: dict[str, Path], upstream: Upstream | None = None) -> Iterator[str]:
    """Serve `mounts` (URL prefix -> folder, "" for the root) on a free loopback port, with
    serve.py's Foundry proxy when an upstream is given."""
    base = make_handler(SITE, "bench", quiet=True, upstream=upstream)
    ordered = sorted(mounts.items(), key=lambda item: -len(item[0]))
    policy = PAGE_CSP.replace("script-src 'self'", f"script-src 'self' {import_map_sources(SITE)}")

    class Mounted(base):  # type: ignore[valid-type,misc]
        def locate(self, target: str) -> Path | None:
            path = urlsplit(target).path.lstrip("/")
            for prefix, folder in ordered:
                if path.startswith(prefix):
                    return resolve(folder, "/" + path[len(prefix) :])
            return None

        def handle_one_request(self) -> None:
            """While `stopped()`, every request is dropped unanswered, even on a connection
            opened before: what the page sees of a server that is not running."""
            if self.server in STOPPED:
                self.close_connection = True
                return
            super().handle_one_request()

        def _start(self, status: int, headers: dict[str, str]) -> None:
            if headers.get("Content-Security-Policy") == PAGE_CSP:
                headers = {**headers, "Content-Security-Policy": policy}
            super()._start(status, headers)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Mounted)
    server.daemon_threads = True
    SERVERS[f"http://127.0.0.1:{server.server_address[1]}/"] = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        del SERVERS[f"http://127.0.0.1:{server.server_address[1]}/"]
        server.server_close()


@contextmanager
def stopped(url: str) -> Iterator[None]:
    """The bench server under `url` answers nothing while this lasts (the offline runs): it
    drops connections rather than closing its port, so it comes back on the same origin,
    whose service worker and caches the next runs need."""
    server = next(s for base, s in SERVERS.items() if url.startswith(base))
    STOPPED.add(server)
    try:
        yield
    finally:
        STOPPED.discard(server)
