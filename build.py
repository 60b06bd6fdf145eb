#!/usr/bin/env python3
"""Build `dist/`: a self-contained static site that runs Hearth offline.

Recipe: check tools -> npm ci (pinned) -> vendor Pyodide, PyScript and ONNX Runtime Web ->
vendor PyPI wheels with a matching pyodide-lock.json -> pack pyapp and the site -> manifest.
Each step skips work whose output is current, so a rebuild with no changes takes seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from hearth_build.console import BuildError, step
from hearth_build.files import HashCache, prune, write_if_changed
from hearth_build.freshness import mark_built
from hearth_build.manifest import MANIFEST, build_manifest, write_manifest
from hearth_build.pack import copy_site, pack_pyapp, write_json
from hearth_build.vendor import (
    NPM_ASSETS,
    copy_npm_assets,
    npm_install,
    npm_version,
    require_node,
    vendor_dir,
    vendor_wheels,
)
from pyapp import __version__

ROOT = Path(__file__).resolve().parent


def default_cache() -> Path:
    """Where expensive, input-keyed artefacts live between builds and clones."""
    if env := os.environ.get("HEARTH_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hearth"


def build(root: Path, dist: Path, cache: Path) -> dict[str, object]:
    """Run every step; returns the manifest that was written."""
    step("Checking tools")
    require_node()
    step("Installing pinned npm packages")
    npm_install(root)
    dist.mkdir(parents=True, exist_ok=True)

    step("Vendoring Pyodide, PyScript and ONNX Runtime Web")
    produced = copy_npm_assets(root, dist)
    dirs = {asset.short: vendor_dir(root, asset) for asset in NPM_ASSETS}

    step("Vendoring Pyodide wheels from PyPI")
    wheel_files, wheel_versions = vendor_wheels(root, dist, cache / "wheels")
    produced += wheel_files

    step("Packing pyapp and the site")
    produced += copy_site(root, dist, {**dirs, "version": __version__})
    pyapp_zip = dist / "pyapp.zip"
    write_if_changed(pyapp_zip, pack_pyapp(root))
    produced.append(pyapp_zip)
    produced.append(write_json(dist / "pyscript.json", pyscript_config(dirs)))
    produced.append(write_json(dist / "app-config.json", app_config(dirs)))

    step("Writing manifest")
    manifest_path = dist / MANIFEST
    prune(dist, [*produced, manifest_path])
    hashes = HashCache(dist / ".hashes.json")
    packages = {asset.package: npm_version(root, asset.package) for asset in NPM_ASSETS}
    manifest = build_manifest(
        dist, hashes, {"hearth": __version__, "packages": {**packages, **wheel_versions}}
    )
    write_manifest(dist, manifest)
    hashes.save()
    mark_built(dist)
    return manifest


def pyscript_config(dirs: dict[str, str]) -> dict[str, object]:
    """PyScript config: the vendored interpreter (never a CDN) and pyapp unpacked into cwd."""
    return {
        "interpreter": f"./{dirs['pyodide']}/pyodide.mjs",
        "files": {"./pyapp.zip": "./*"},
    }


def app_config(dirs: dict[str, str]) -> dict[str, object]:
    """What the Python side needs to find at run time, relative to the page."""
    return {
        "version": __version__,
        "ort": {
            "wasm": f"./{dirs['ort']}/ort.wasm.min.mjs",
            "webgpu": f"./{dirs['ort']}/ort.webgpu.min.mjs",
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        manifest = build(ROOT, args.dist.resolve(), args.cache or default_cache())
    except BuildError as error:
        print(f"build.py: error: {error}", file=sys.stderr)
        return 1
    files = manifest["files"]
    assert isinstance(files, dict)
    total = sum(entry["size"] for entry in files.values())
    elapsed = time.monotonic() - started
    print(f"Built {args.dist} in {elapsed:.1f}s: {len(files)} files, {total / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
