"""Our own files for the page: the site templates, `pyapp` packed as a zip, and the configs.

Outputs are byte-reproducible (fixed zip timestamps, sorted keys), so an unchanged tree
yields an unchanged manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import zipfile
from pathlib import Path

from hearth_build.console import BuildError
from hearth_build.files import sync_file, write_if_changed
from hearth_server.headers import PAGE_HEADERS

ZIP_EPOCH = (2020, 1, 1, 0, 0, 0)
TEMPLATED = {".html"}
# WebAssembly text, shipped compiled (see compile_wat)
WAT = ".wat"
# Written after the manifest, whose hash it carries (see write_service_worker).
SERVICE_WORKER = "sw.js"
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
    """Copy `site/` into `dist/`, rendering the HTML templates and compiling the
    WebAssembly text."""
    written = []
    site = root / "site"
    for src in sorted(p for p in site.rglob("*") if p.is_file() and p.name != SERVICE_WORKER):
        dest = dist / src.relative_to(site)
        if src.suffix == WAT:
            dest = dest.with_suffix(".wasm")
            write_if_changed(dest, compile_wat(root, src))
        elif src.suffix in TEMPLATED:
            write_if_changed(dest, render(src.read_text(), values, src).encode())
        else:
            sync_file(src, dest)
        written.append(dest)
    return written


def compile_wat(root: Path, source: Path) -> bytes:
    """`source` (WebAssembly text) as a module's bytes, compiled by the pinned wabt from
    node_modules; its validation errors are the build's."""
    script = Path(__file__).with_name("wat2wasm.mjs")
    done = subprocess.run(
        ["node", str(script), str(root / "node_modules"), str(source)], capture_output=True
    )
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip() or "no output"
        raise BuildError(f"{source.name} did not compile: {why[:600]}")
    return done.stdout


def write_service_worker(root: Path, dist: Path, manifest: Path) -> Path:
    """`dist/sw.js`, stamped with the manifest's hash: every build that changes any file is
    a new service worker, which the browser installs in place of the old one; and with the
    headers serve.py sends, which the worker adds where a static host does not."""
    build = hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    values = {"build": build, "page_headers": json.dumps(PAGE_HEADERS, sort_keys=True)}
    source = root / "site" / SERVICE_WORKER
    dest = dist / SERVICE_WORKER
    write_if_changed(dest, render(source.read_text(), values, source).encode())
    return dest


def write_json(dest: Path, data: object) -> Path:
    write_if_changed(dest, json.dumps(data, indent=1, sort_keys=True).encode() + b"\n")
    return dest
