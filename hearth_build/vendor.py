"""Vendoring: pinned npm packages and PyPI wheels copied into `dist/vendor/`.

Everything the page loads comes from here or from our own source, so the page never
touches a CDN. Destination folders carry the package version (`vendor/pyodide-314.0.7/`),
which is what lets `serve.py` mark them immutable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from hearth_build.bytecode import compiled
from hearth_build.console import BuildError, detail
from hearth_build.files import sha256_file, sync_file, write_if_changed
from pyapp.browser.preload import PACKAGES


@dataclass(frozen=True)
class NpmAsset:
    """Files of one npm package the page loads, and the vendor folder they go to."""

    package: str
    short: str
    patterns: tuple[str, ...]


# Only what the page loads. ORT ships 140 MB of builds; we take the plain SIMD+threads
# WASM build and the WebGPU build (the JSEP/JSPI/WebGL variants and source maps stay out).
# DOMPurify sanitises rendered Markdown on the main thread before it reaches the DOM.
NPM_ASSETS = (
    NpmAsset(
        "pyodide",
        "pyodide",
        ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip"),
    ),
    NpmAsset("dompurify", "dompurify", ("dist/purify.es.mjs",)),
    NpmAsset(
        "onnxruntime-web",
        "ort",
        (
            "dist/ort.wasm.min.mjs",
            "dist/ort-wasm-simd-threaded.mjs",
            "dist/ort-wasm-simd-threaded.wasm",
            "dist/ort.webgpu.min.mjs",
            "dist/ort-wasm-simd-threaded.asyncify.mjs",
            "dist/ort-wasm-simd-threaded.asyncify.wasm",
        ),
    ),
)

# ORT's WebGPU build (its bundle and the 27 MB asyncify WebAssembly behind it): a page loads
# it only where the browser offers a WebGPU adapter (site/engine.js `plan`), so the service
# worker precaches it only there, and a WASM-only visitor never downloads it (site/sw.js
# reads the list from the manifest's "webgpu_only").
WEBGPU_ONLY = (
    "ort.webgpu.min.mjs",
    "ort-wasm-simd-threaded.asyncify.mjs",
    "ort-wasm-simd-threaded.asyncify.wasm",
)

NODE_HINT = "install Node.js 20+ with npm (e.g. `apt-get install nodejs npm`), then rerun"


def require_node() -> None:
    """Fail fast, in one line, when the toolchain that fetches the page assets is missing."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise BuildError(f"`{tool}` was not found on PATH: {NODE_HINT}.")


def npm_install(root: Path) -> None:
    """Run `npm ci` unless node_modules already matches package-lock.json."""
    lock = root / "package-lock.json"
    if not lock.exists():
        raise BuildError("package-lock.json is missing: run `npm install` once and commit it.")
    stamp = root / "node_modules" / ".hearth-lock.sha256"
    want = sha256_file(lock)
    if stamp.exists() and stamp.read_text() == want:
        detail("node_modules matches package-lock.json")
        return
    detail("npm ci (pinned by package-lock.json)")
    proc = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        raise BuildError(f"npm ci failed: {' '.join(tail)} (is the npm registry reachable?)")
    stamp.write_text(want)


def npm_version(root: Path, package: str) -> str:
    meta = json.loads((root / "node_modules" / package / "package.json").read_text())
    return str(meta["version"])


def vendor_dir(root: Path, asset: NpmAsset) -> str:
    """The versioned folder, relative to dist/, that an npm package is vendored into."""
    return f"vendor/{asset.short}-{npm_version(root, asset.package)}"


def copy_npm_assets(root: Path, dist: Path) -> list[Path]:
    """Copy the listed files of each npm package into its versioned vendor folder."""
    written: list[Path] = []
    for asset in NPM_ASSETS:
        src_root = root / "node_modules" / asset.package
        dest_root = dist / vendor_dir(root, asset)
        copied = 0
        for pattern in asset.patterns:
            matches = sorted(src_root.glob(pattern))
            if not matches:
                raise BuildError(f"{asset.package} has no {pattern}: run `npm ci` again.")
            for src in matches:
                dest = dest_root / src.name
                copied += sync_file(src, dest)
                written.append(dest)
        detail(f"{asset.package}: {copied} file(s) copied, rest current")
    return written


@dataclass(frozen=True)
class PyPIPin:
    """One PyPI file, pinned by version and sha256. `sdist` pins the source archive instead
    of a wheel (for packages that publish no wheel Pyodide can load)."""

    name: str
    version: str
    sha256: str
    platform: str = "any"
    sdist: bool = False


def read_wheel_pins(pyproject: Path) -> list[PyPIPin]:
    table = tomllib.loads(pyproject.read_text())["tool"]["hearth"]["page-wheels"]
    return [PyPIPin(name=name, **spec) for name, spec in table.items()]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _pinned_in(cache: Path, pin: PyPIPin) -> list[Path]:
    suffix = ".tar.gz" if pin.sdist else ".whl"
    prefix = _normal(f"{pin.name}-{pin.version}-")
    return [p for p in cache.glob(f"*{suffix}") if _normal(p.name).startswith(prefix)]


def fetch_pinned(pin: PyPIPin, cache: Path) -> Path:
    """Download one pinned file from PyPI into the cache and verify its sha256."""
    cache.mkdir(parents=True, exist_ok=True)
    for candidate in _pinned_in(cache, pin):
        if sha256_file(candidate) == pin.sha256:
            return candidate
    detail(f"downloading {pin.name}=={pin.version} from PyPI")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    if pin.sdist:
        cmd += ["--no-binary=:all:"]
    else:
        cmd += ["--only-binary=:all:", "--python-version", "3.14", "--platform", pin.platform]
    cmd += ["--dest", str(cache), f"{pin.name}=={pin.version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise BuildError(f"pip could not download {pin.name}=={pin.version}: {last[0]}")
    for candidate in _pinned_in(cache, pin):
        got = sha256_file(candidate)
        if got != pin.sha256:
            candidate.unlink()
            raise BuildError(
                f"{candidate.name} has sha256 {got}, but pyproject.toml pins {pin.sha256}: "
                "refusing a file that changed on the index."
            )
        return candidate
    raise BuildError(f"pip reported success but no file for {pin.name} appeared in {cache}.")


_EPOCH = (1980, 1, 1, 0, 0, 0)


def pure_wheel(sdist: Path, pin: PyPIPin, cache: Path) -> Path:
    """Repackage the pure-Python part of a pinned sdist as a `py3-none-any` wheel.

    For packages whose compiled parts are optional speedups (MarkupSafe): PyPI has no
    wheel Pyodide can load, and the Python fallback is what runs in the page. Only `.py`
    files and `py.typed` are taken; the wheel is byte-reproducible (fixed timestamps).
    """
    name = _normal(pin.name)
    target = cache / f"{name}-{pin.version}-py3-none-any.whl"
    if target.exists():
        return target
    dist_info = f"{name}-{pin.version}.dist-info"
    files: dict[str, bytes] = {}
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if parts[1:2] == ["PKG-INFO"] and len(parts) == 2:
                files[f"{dist_info}/METADATA"] = _read(archive, member)
            inner = parts[2:] if parts[1:2] == ["src"] else parts[1:]
            if (
                member.isfile()
                and len(inner) >= 2
                and _normal(inner[0]) == name
                and (inner[-1].endswith(".py") or inner[-1] == "py.typed")
            ):
                files["/".join(inner)] = _read(archive, member)
    if f"{dist_info}/METADATA" not in files or not any(n.endswith(".py") for n in files):
        raise BuildError(f"{sdist.name} does not look like a pure-Python package source.")
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: hearth build.py\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    record = [f"{path},sha256={_record_hash(data)},{len(data)}" for path, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(files):
            out.writestr(zipfile.ZipInfo(path, _EPOCH), files[path])
    tmp.replace(target)
    return target


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(member)
    assert handle is not None
    return handle.read()


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def page_wheel(pin: PyPIPin, cache: Path) -> Path:
    """The wheel the page loads for a pin: the PyPI wheel, or one built from the sdist."""
    fetched = fetch_pinned(pin, cache)
    return pure_wheel(fetched, pin, cache) if pin.sdist else fetched


def _wheel_metadata(wheel: Path) -> tuple[list[str], list[str]]:
    """Top-level import names and unconditional requirement names of a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = HeaderParser().parsestr(archive.read(meta_name).decode())
        tops = sorted({n.split("/")[0] for n in names if "/" in n and ".dist-info" not in n})
    requires = [
        re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]
        for req in meta.get_all("Requires-Dist") or []
        if "extra ==" not in req
    ]
    return tops, requires


PURE = "-none-any.whl"


def after_boot(requires: dict[str, list[str]], boot: Iterable[str]) -> set[str]:
    """The packages (of `requires`: name -> the names it requires) that the snapshot does
    not install: all but `boot` and what `boot` needs, directly or not."""
    names = {_normal(name): name for name in requires}
    seen: set[str] = set()
    todo = list(boot)
    while todo:
        key = _normal(todo.pop())
        if key not in seen and key in names:
            seen.add(key)
            todo += requires[names[key]]
    return {name for key, name in names.items() if key not in seen}


def pyodide_lock(upstream: dict[str, object], wheels: dict[PyPIPin, Path]) -> dict[str, object]:
    """A lock that lists exactly the vendored wheels, with their real sha256 values.

    Pyodide's own lock names its rebuilt wheels; PyPI's files differ, and `loadPackage`
    would reject them on the hash. So every entry is rebuilt from the file we ship, and
    packages we do not ship are dropped, so nothing can resolve to a missing file.
    """
    known = {_normal(p.name) for p in wheels}
    packages: dict[str, object] = {}
    upstream_packages = upstream["packages"]
    assert isinstance(upstream_packages, dict)
    for pin, wheel in sorted(wheels.items(), key=lambda item: item[0].name):
        base = dict(upstream_packages.get(pin.name, {}))
        tops, requires = _wheel_metadata(wheel)
        base.update(
            name=pin.name,
            version=pin.version,
            file_name=wheel.name,
            sha256=sha256_file(wheel),
            install_dir="site",
            package_type="package",
            imports=base.get("imports") or tops,
            depends=sorted(r.lower() for r in requires if _normal(r) in known),
        )
        base.setdefault("unvendored_tests", False)
        base.setdefault("tool", {})
        packages[pin.name] = base
    return {"info": upstream["info"], "packages": packages}


def vendor_wheels(root: Path, dist: Path, cache: Path) -> tuple[list[Path], dict[str, str]]:
    """Fetch the pinned wheels, give those loaded after the boot their bytecode
    (bytecode.py), place them beside Pyodide and write the matching lock."""
    pyodide_asset = next(a for a in NPM_ASSETS if a.package == "pyodide")
    dest_root = dist / vendor_dir(root, pyodide_asset)
    wheels = {pin: page_wheel(pin, cache) for pin in read_wheel_pins(root / "pyproject.toml")}
    late = after_boot({pin.name: _wheel_metadata(w)[1] for pin, w in wheels.items()}, PACKAGES)
    pure = [w for pin, w in wheels.items() if pin.name in late and w.name.endswith(PURE)]
    swapped = compiled(pure, root / "node_modules" / "pyodide", cache / "bytecode")
    wheels = {pin: swapped.get(wheel, wheel) for pin, wheel in wheels.items()}
    written = []
    for wheel in wheels.values():
        dest = dest_root / wheel.name
        sync_file(wheel, dest)
        written.append(dest)
    upstream = json.loads((root / "node_modules/pyodide/pyodide-lock.json").read_text())
    lock = dest_root / "pyodide-lock.json"
    write_if_changed(lock, json.dumps(pyodide_lock(upstream, wheels), indent=1).encode() + b"\n")
    written.append(lock)
    detail(f"{len(wheels)} wheel(s) vendored; pyodide-lock.json lists exactly those")
    return written, {pin.name: pin.version for pin in wheels}
