"""Our own files for the page: the site templates, `pyapp` packed as a zip, and the configs.

Outputs are byte-reproducible (fixed zip timestamps, sorted keys), so an unchanged tree
yields an unchanged manifest.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

from hearth_build.console import BuildError
from hearth_build.files import sync_file, write_if_changed

ZIP_EPOCH = (2020, 1, 1, 0, 0, 0)
TEMPLATED = {".html"}
TOKEN = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def pack_pyapp(root: Path) -> bytes:
    """Zip `pyapp/` (sources only) with fixed timestamps, so equal sources give equal bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted((root / "pyapp").rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            info = zipfile.ZipInfo(rel, ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def render(text: str, values: dict[str, str], source: Path) -> str:
    """Fill `{{name}}` tokens; an unknown token is a build error, not a broken page."""

    def lookup(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise BuildError(f"{source}: unknown template token {{{{{key}}}}}")
        return values[key]

    return TOKEN.sub(lookup, text)


def copy_site(root: Path, dist: Path, values: dict[str, str]) -> list[Path]:
    """Copy `site/` into `dist/`, rendering the HTML templates."""
    written = []
    site = root / "site"
    for src in sorted(p for p in site.rglob("*") if p.is_file()):
        dest = dist / src.relative_to(site)
        if src.suffix in TEMPLATED:
            write_if_changed(dest, render(src.read_text(), values, src).encode())
        else:
            sync_file(src, dest)
        written.append(dest)
    return written


def write_json(dest: Path, data: object) -> Path:
    write_if_changed(dest, json.dumps(data, indent=1, sort_keys=True).encode() + b"\n")
    return dest
