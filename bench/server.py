"""A loopback server for benchmark pages: bench/site at /, dist/vendor at /vendor/,
and model folders at /models/<name>/, with the same headers as serve.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from hearth_server.handler import make_handler
from hearth_server.static import resolve
from hearth_server.upstream import Upstream

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def bench_server(mounts: dict[str, Path], upstream: Upstream | None = None) -> Iterator[str]:
    """Serve `mounts` (URL prefix -> folder, "" for the root) on a free loopback port, with
    serve.py's Foundry proxy when an upstream is given."""
    base = make_handler(ROOT / "bench" / "site", "bench", quiet=True, upstream=upstream)
    ordered = sorted(mounts.items(), key=lambda item: -len(item[0]))

    class Mounted(base):  # type: ignore[valid-type,misc]
        def locate(self, target: str) -> Path | None:
            path = urlsplit(target).path.lstrip("/")
            for prefix, folder in ordered:
                if path.startswith(prefix):
                    return resolve(folder, "/" + path[len(prefix) :])
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Mounted)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
