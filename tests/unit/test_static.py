"""Path safety, MIME types, caching and byte ranges for serving dist/."""

from __future__ import annotations

from pathlib import Path

import pytest

from hearth_server.static import (
    IMMUTABLE,
    REVALIDATE,
    ByteRange,
    RangeNotSatisfiable,
    cache_control,
    content_type,
    parse_range,
    resolve,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "dist"
    (site / "vendor").mkdir(parents=True)
    (site / "index.html").write_text("<html>")
    (site / "vendor" / "a.wasm").write_bytes(b"\0asm")
    (site / ".hashes.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("outside")
    (site / "link").symlink_to(tmp_path / "secret.txt")
    return site


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/../../etc/passwd",
        "/..%2fsecret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/vendor/..%5c..%5csecret.txt",
        "/vendor\\..\\..\\secret.txt",
        "/%252e%252e/secret.txt",
        "/.hashes.json",
        "/index.html%00.txt",
        "/link",
        "/missing.js",
        "/%ff%fe",
        "relative/index.html",
    ],
)
def test_traversal_and_hidden_files_are_refused(root: Path, target: str) -> None:
    assert resolve(root, target) is None


def test_resolves_files_and_index(root: Path) -> None:
    assert resolve(root, "/") == (root / "index.html").resolve()
    assert resolve(root, "/?q=1") == (root / "index.html").resolve()
    assert resolve(root, "/vendor/a.wasm") == (root / "vendor" / "a.wasm").resolve()
    assert resolve(root, "/vendor/%61.wasm") == (root / "vendor" / "a.wasm").resolve()


def test_mime_types() -> None:
    assert content_type(Path("x.wasm")) == "application/wasm"
    assert content_type(Path("x.mjs")).startswith("text/javascript")
    assert content_type(Path("x.js")).startswith("text/javascript")
    assert content_type(Path("x.json")) == "application/json"
    assert content_type(Path("x.unknownext")) == "application/octet-stream"


def test_versioned_assets_are_immutable_the_rest_revalidates() -> None:
    assert cache_control("vendor/pyodide-314.0.7/pyodide.asm.wasm") == IMMUTABLE
    assert cache_control("vendor/pyodide-314.0.7/pyodide-lock.json") == REVALIDATE
    assert cache_control("index.html") == REVALIDATE
    assert cache_control("pyapp.zip") == REVALIDATE


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", ByteRange(0, 9)),
        ("bytes=90-", ByteRange(90, 99)),
        ("bytes=-10", ByteRange(90, 99)),
        ("bytes=-500", ByteRange(0, 99)),
        ("bytes=50-5000", ByteRange(50, 99)),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=a-b", None),
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=5-2", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)
