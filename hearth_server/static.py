"""Pure helpers for serving `dist/`: safe path resolution, MIME types, caching and ranges.

Kept free of sockets so each rule is unit-tested directly.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".webmanifest": "application/manifest+json",
    ".py": "text/x-python; charset=utf-8",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".onnx": "application/octet-stream",
    ".data": "application/octet-stream",
    ".gguf": "application/octet-stream",
}


def resolve(root: Path, raw_target: str) -> Path | None:
    """Map a request target to a file under `root`, or None (served as 404).

    Refuses traversal in every spelling: `..` segments after percent-decoding
    (`%2e%2e/`, `..%2f`), backslashes, NUL bytes, dotfiles (build state) and symlinks
    that leave `root`.
    """
    try:
        path = unquote(urlsplit(raw_target).path, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    if "\\" in path or "\0" in path or not path.startswith("/"):
        return None
    segments = [s for s in path.split("/") if s]
    if any(s == ".." or s.startswith(".") for s in segments):
        return None
    candidate = root.joinpath(*segments) if segments else root
    try:  # a name the file system refuses (too long, say) is simply not there
        if candidate.is_dir():
            candidate = candidate / "index.html"
        real = candidate.resolve(strict=True)
    except OSError:
        return None
    if not real.is_file() or not real.is_relative_to(root.resolve()):
        return None
    return real


def content_type(path: Path) -> str:
    return (
        _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )


def cache_control(relative: str) -> str:
    """Versioned vendor and model folders never change under the same URL; the rest
    (index.html, pyapp.zip, configs, manifest and locks) is revalidated with its ETag."""
    versioned = relative.startswith(("vendor/", "models/"))
    return IMMUTABLE if versioned and not relative.endswith(".json") else REVALIDATE


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(Exception):
    """The range lies outside the file: answered with 416."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """One `bytes=` range from a Range header; None means "send the whole file".

    Multi-range requests are answered with the whole file, which RFC 9110 allows.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes=") :].strip().partition("-")
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise RangeNotSatisfiable(header)
            return ByteRange(max(0, size - suffix), size - 1)
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        raise RangeNotSatisfiable(header)
    return ByteRange(start, min(end, size - 1))
