"""File operations that make a rebuild cheap: copy only what changed, hash only what changed.

A second `build.py` run with nothing changed must finish in seconds although `dist/`
holds a few hundred MB (Pyodide, ONNX Runtime Web, the model), so copies are skipped on
equal size and mtime, and sha256 values are remembered by (size, mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from hearth_build.console import Progress

HASH_CHUNK = 1 << 20


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            if progress:
                progress.advance(len(chunk))
    return digest.hexdigest()


def is_current(src: Path, dest: Path) -> bool:
    """True when `dest` is a copy of `src` made by `sync_file` (same size and mtime)."""
    try:
        a, b = src.stat(), dest.stat()
    except FileNotFoundError:
        return False
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def sync_file(src: Path, dest: Path) -> bool:
    """Copy `src` to `dest` unless already current; returns whether it copied."""
    if is_current(src, dest):
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    shutil.copy2(src, tmp)
    os.replace(tmp, dest)
    return True


def write_if_changed(dest: Path, data: bytes) -> bool:
    """Write bytes only when they differ, so mtimes (and the hash cache) stay valid."""
    if dest.exists() and dest.read_bytes() == data:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    return True


def walk(root: Path) -> Iterator[Path]:
    """Every regular file under `root`, sorted, skipping dotfiles (build state, temp files)."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            yield path


def prune(root: Path, keep: Iterable[Path]) -> list[Path]:
    """Delete files under `root` that the build did not produce (renamed or dropped assets)."""
    wanted = {p.resolve() for p in keep}
    removed = [p for p in walk(root) if p.resolve() not in wanted]
    for path in removed:
        path.unlink()
    for directory in sorted((d for d in root.rglob("*") if d.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
    return removed


class HashCache:
    """sha256 values keyed by path, size and mtime, persisted between builds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.entries: dict[str, list[object]] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            self.entries = {}

    def lookup(self, file: Path) -> str | None:
        stat = file.stat()
        entry = self.entries.get(str(file))
        if entry and entry[0] == stat.st_size and entry[1] == stat.st_mtime_ns:
            return str(entry[2])
        return None

    def hash_all(self, files: list[Path]) -> dict[Path, str]:
        """Hash every file, reading only those whose size or mtime changed."""
        result: dict[Path, str] = {}
        todo: list[Path] = []
        for file in files:
            known = self.lookup(file)
            if known:
                result[file] = known
            else:
                todo.append(file)
        if todo:
            total = sum(f.stat().st_size for f in todo)
            with Progress(total, f"hashing {len(todo)} files") as bar:
                for file in todo:
                    stat = file.stat()
                    result[file] = sha256_file(file, bar)
                    self.entries[str(file)] = [stat.st_size, stat.st_mtime_ns, result[file]]
        return result

    def save(self) -> None:
        live = {k: v for k, v in self.entries.items() if Path(k).exists()}
        write_if_changed(self.path, json.dumps(live, sort_keys=True).encode())
