"""Place a prepared model folder into `dist/models/` and describe it for the page."""

from __future__ import annotations

import re
from pathlib import Path

from hearth_build.files import sync_file
from hearth_build.model.genai import Shape


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


def publish_model(
    folder: Path, dist: Path, name: str, label: str, key: str
) -> tuple[list[Path], dict[str, object]]:
    """Copy the model's files into a versioned folder (`models/<name>-<key>/`, served as
    immutable) and return them with the page's description of the model."""
    dest = dist / "models" / f"{slug(name)}-{key[:8]}"
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    written = []
    for src in files:
        sync_file(src, dest / src.name)
        written.append(dest / src.name)
    entry: dict[str, object] = {
        "id": slug(name),
        "label": label,
        "path": dest.relative_to(dist).as_posix() + "/",
        "files": [p.name for p in files],
        "bytes": sum(p.stat().st_size for p in files),
        "shape": Shape.read(folder).as_json(),
    }
    return written, entry
