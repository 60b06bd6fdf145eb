#!/usr/bin/env python3
"""Serve Hearth from `dist/` on this machine, building it first when missing or stale.

Binds to 127.0.0.1 by default: the page, its model and the Foundry proxy are for this
machine only unless you explicitly choose another address. The Foundry Local (or any
OpenAI-compatible) upstream is fixed here, at startup: `--foundry-url`, `BASE_URL` or
`FOUNDRY_LOCAL_URL`, else auto-detected (`foundry service status`, then well-known ports).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import webbrowser
from pathlib import Path

from hearth_build.freshness import needs_build
from hearth_server.guard import split_authority
from hearth_server.handler import make_handler
from hearth_server.loopback import is_loopback
from hearth_server.server import listen
from hearth_server.upstream import START_HINT, Upstream, UpstreamConfigError, resolve_upstream
from pyapp import __version__

ROOT = Path(__file__).resolve().parent


def ensure_built(dist: Path) -> bool:
    """Build `dist/` if it is missing or older than its sources; False if the build failed."""
    reason = needs_build(ROOT, dist)
    if reason is None:
        return True
    print(f"Building: {reason}.", flush=True)
    import build  # deferred: only needed when a build is due

    return build.main(["--dist", str(dist)]) == 0


def describe_upstream(upstream: Upstream | None) -> str:
    if upstream is None:
        return f"Foundry Local: not found; {START_HINT}. The in-browser model works without it."
    key = ", with API_KEY" if upstream.api_key else ""
    return f"Foundry backend: {upstream.base} (from {upstream.source}{key}), proxied at /foundry/v1"


def allowed_host(value: str) -> str:
    """An --allow-host value: a bare host name or address, as a Host header names it."""
    found = split_authority(value)
    if found is None or found[1] is not None:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a host name; give a name or address without scheme or port, "
            "such as hearth.lan or 192.168.1.4 ([::1] for IPv6)"
        )
    return found[0]


def main(argv: list[str] | None = None) -> int:
    """Ctrl-C at any moment, even while looking for the upstream, stops cleanly."""
    try:
        return serve(argv)
    except KeyboardInterrupt:
        print("\nStopped.", flush=True)
        return 0


def serve(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 = any free)")
    parser.add_argument("--open", action="store_true", help="open the page in a browser")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="folder to serve")
    parser.add_argument("--no-build", action="store_true", help="serve dist/ as it is")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        type=allowed_host,
        metavar="NAME",
        help="also answer requests for this host name (your LAN name, a reverse proxy); "
        "repeatable. Loopback names and the bound address are always allowed",
    )
    parser.add_argument(
        "--foundry-url",
        default=None,
        help="Foundry Local or other OpenAI-compatible base URL (default: $BASE_URL, "
        "$FOUNDRY_LOCAL_URL, else auto-detect)",
    )
    args = parser.parse_args(argv)
    try:
        upstream = resolve_upstream(args.foundry_url, os.environ)
    except UpstreamConfigError as error:
        print(f"serve.py: error: {error}", file=sys.stderr)
        return 2

    dist = args.dist.resolve()
    if not args.no_build and not ensure_built(dist):
        return 1
    if not (dist / "index.html").exists():
        print(
            f"serve.py: error: {dist}/index.html is missing; run `python build.py`.",
            file=sys.stderr,
        )
        return 1
    if not is_loopback(args.host):
        print(
            f"WARNING: binding to {args.host} makes Hearth reachable from other machines. "
            "Anyone who can reach this port can use your models. "
            "Use --host 127.0.0.1 to keep it private. Other machines open it at this "
            "machine's address; to use a host name instead, add --allow-host NAME.",
            file=sys.stderr,
        )
    handler = make_handler(
        dist, __version__, args.quiet, upstream, (args.host,), tuple(args.allow_host)
    )
    try:
        server = listen(args.host, args.port, handler)
    except OSError as error:
        print(
            f"serve.py: error: cannot listen on {args.host}:{args.port} ({error.strerror}); "
            "pick another with --port.",
            file=sys.stderr,
        )
        return 1
    host, port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    print(f"Serving Hearth {__version__} at {url} (Ctrl-C to stop)", flush=True)
    print(describe_upstream(upstream), flush=True)
    if args.open:
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    with server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
