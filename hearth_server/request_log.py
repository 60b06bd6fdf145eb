"""serve.py's terminal output about requests: one line each, safe whatever a client sent.

A request line is the client's text. Printed raw, its control characters (ANSI escapes, a
carriage return) could rewrite what the terminal shows, so they are escaped the way the
stdlib's own log does, and a very long target is shortened.
"""

from __future__ import annotations

import sys

MAX_SHOWN = 300  # characters of a request; a URL can be 64 KiB long
_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]} | {ord("\\"): "\\\\"}


def printable(text: str, limit: int | None = None) -> str:
    """`text` with every control character escaped, cut to `limit` characters."""
    escaped = text.translate(_ESCAPES)
    if limit is None or len(escaped) <= limit:
        return escaped
    return f"{escaped[:limit]}… ({len(escaped)} characters)"


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f}{unit}"
        value /= 1024
    return f"{value:.1f}GB"


def log_request(request: str, status: int, size: int) -> None:
    """One concise line: the request (method and target), status and body size."""
    sys.stderr.write(f"{printable(request, MAX_SHOWN)} {status} {human(size)}\n")


def log_lines(text: str) -> None:
    """Several lines (a traceback), each escaped."""
    for line in text.splitlines():
        sys.stderr.write(printable(line) + "\n")
