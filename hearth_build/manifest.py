"""`dist/manifest.json`: every shipped file with its size and sha256, and what was vendored.

The page reads it to verify what it downloaded (a truncated or corrupted model must give
a clear error, not garbage), and it makes "what exactly did we ship" answerable.
"""

from __future__ import annotations

from pathlib import Path

from hearth_build.files import HashCache, walk
from hearth_build.pack import SERVICE_WORKER, write_json

MANIFEST = "manifest.json"


def build_manifest(dist: Path, cache: HashCache, meta: dict[str, object]) -> dict[str, object]:
    unlisted = (MANIFEST, SERVICE_WORKER)  # sw.js is written afterwards, from the manifest's hash
    files = [p for p in walk(dist) if p.relative_to(dist).as_posix() not in unlisted]
    hashes = cache.hash_all(files)
    entries = {
        p.relative_to(dist).as_posix(): {"size": p.stat().st_size, "sha256": hashes[p]}
        for p in files
    }
    return {**meta, "files": entries}


def write_manifest(dist: Path, manifest: dict[str, object]) -> Path:
    return write_json(dist / MANIFEST, manifest)
