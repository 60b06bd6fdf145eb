"""Whether `dist/` is older than the sources it is built from (so `serve.py` rebuilds)."""

from __future__ import annotations

from pathlib import Path

STAMP = ".build-stamp"
INPUTS = ("site", "pyapp", "hearth_build", "build.py", "package-lock.json", "pyproject.toml")


def newest_input(root: Path) -> float:
    newest = 0.0
    for name in INPUTS:
        path = root / name
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
        elif path.is_dir():
            for file in path.rglob("*"):
                if file.is_file() and "__pycache__" not in file.parts:
                    newest = max(newest, file.stat().st_mtime)
    return newest


def needs_build(root: Path, dist: Path) -> str | None:
    """The reason `dist/` must be (re)built, or None when it is current."""
    stamp = dist / STAMP
    if not stamp.exists():
        return "dist/ has not been built yet"
    if newest_input(root) > stamp.stat().st_mtime:
        return "sources changed since the last build"
    return None


def mark_built(dist: Path) -> None:
    (dist / STAMP).touch()
