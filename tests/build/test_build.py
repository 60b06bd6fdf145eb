"""build.py: what lands in dist/, that it is reproducible, and how it fails."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from hearth_build.bytecode import tagged
from hearth_build.console import BuildError
from hearth_build.files import prune, sha256_file
from hearth_build.freshness import mark_built, needs_build
from hearth_build.pack import compile_wat, pack_pyapp, render
from hearth_build.snapshot import snapshot_key
from hearth_build.vendor import PyPIPin, after_boot, pure_wheel, pyodide_lock
from pyapp.browser.preload import PACKAGES
from tests.conftest import ROOT


def snapshot(dist: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in dist.rglob("*") if p.is_file()}


def test_second_build_is_a_no_op(dist: Path) -> None:
    manifest = (dist / "manifest.json").read_bytes()
    before = snapshot(dist)
    proc = subprocess.run(
        [sys.executable, "build.py"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "node_modules matches package-lock.json" in proc.stdout
    assert (dist / "manifest.json").read_bytes() == manifest
    after = snapshot(dist)
    changed = [p for p in before if after.get(p) != before[p] and "/." not in p]
    assert changed == [], "an unchanged tree must not rewrite any shipped file"


def test_manifest_lists_every_file_with_its_true_hash(dist: Path) -> None:
    manifest = json.loads((dist / "manifest.json").read_text())
    on_disk = {
        p.relative_to(dist).as_posix(): p
        for p in dist.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    del on_disk["manifest.json"], on_disk["sw.js"]  # sw.js carries the manifest's hash
    assert set(manifest["files"]) == set(on_disk)
    for name, entry in manifest["files"].items():
        data = on_disk[name].read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, name
    assert manifest["packages"]["pyodide"] == "314.0.7"
    assert manifest["packages"]["dompurify"] == "3.4.18"
    assert manifest["packages"]["onnxruntime-web"] == "1.30.0"
    assert manifest["packages"]["micropip"] == "0.11.1"


def test_pyodide_lock_lists_exactly_the_vendored_wheels(dist: Path) -> None:
    folder = dist / "vendor" / "pyodide-314.0.7"
    lock = json.loads((folder / "pyodide-lock.json").read_text())
    wheels = {p.name: p for p in folder.glob("*.whl")}
    listed = {entry["file_name"]: entry for entry in lock["packages"].values()}
    assert set(listed) == set(wheels)
    assert {"micropip", "packaging"} <= set(lock["packages"])
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(wheels[name].read_bytes()).hexdigest()
    assert lock["info"]["python"].startswith("3.14")


def test_after_boot_is_everything_the_snapshot_does_not_install() -> None:
    requires = {"app": ["Lib_A"], "lib-a": ["lib-b"], "lib-b": [], "late": ["lib-b", "c"], "c": []}
    assert after_boot(requires, ["app"]) == {"late", "c"}
    assert after_boot(requires, []) == set(requires)


def test_a_compiled_wheel_is_renamed_by_its_inputs() -> None:
    assert (
        tagged("openai-2.54.0-py3-none-any.whl", "ab12") == "openai-2.54.0-1ab12-py3-none-any.whl"
    )
    assert tagged("x-1-py2.py3-none-any.whl", "9") == "x-1-19-py2.py3-none-any.whl"


def test_wheels_loaded_after_the_boot_carry_their_bytecode(dist: Path) -> None:
    """Each pure wheel the snapshot does not install holds, beside every module, an
    unchecked-hash .pyc for the page's CPython; the snapshot's own wheels are as pinned."""
    folder = dist / "vendor" / "pyodide-314.0.7"
    lock = json.loads((folder / "pyodide-lock.json").read_text())
    major, minor = lock["info"]["python"].split(".")[:2]
    boot = {
        name
        for name in lock["packages"]
        if name
        not in after_boot(
            {name: entry["depends"] for name, entry in lock["packages"].items()}, PACKAGES
        )
    }
    assert {"jinja2", "pygments", "markdown-it-py"} <= boot
    compiled = 0
    for name, entry in lock["packages"].items():
        if not entry["file_name"].endswith("-none-any.whl"):
            continue
        with zipfile.ZipFile(folder / entry["file_name"]) as wheel:
            names = set(wheel.namelist())
            modules = [n for n in names if n.endswith(".py") and ".dist-info/" not in n]
            pycs = {n for n in names if n.endswith(".pyc")}
            if name in boot:
                assert not pycs, name
                continue
            compiled += 1
            for module in modules:
                folder_name, _, stem = module.rpartition("/")
                pyc = f"{folder_name}/__pycache__/{stem[:-3]}.cpython-{major}{minor}.pyc"
                assert pyc.lstrip("/") in pycs, pyc
                assert wheel.read(pyc.lstrip("/"))[4:8] == b"\x01\0\0\0"  # hash, unchecked
            assert len(pycs) == len(modules), name
    assert compiled >= 10 and "openai" not in boot


def test_only_the_ort_files_the_app_loads(dist: Path) -> None:
    (folder,) = (dist / "vendor").glob("ort-*")
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if n.endswith(".map") or "jsep" in n or "jspi" in n]
    assert "ort-wasm-simd-threaded.wasm" in names


def test_the_manifest_names_ort_webgpu_build_as_webgpu_only(dist: Path) -> None:
    """The service worker skips these where there is no adapter: they must be exactly the
    WebGPU bundle the app config names and the asyncify build it loads, none of WASM's."""
    manifest = json.loads((dist / "manifest.json").read_text())
    config = json.loads((dist / "app-config.json").read_text())
    only = manifest["webgpu_only"]
    assert set(only) <= set(manifest["files"])
    assert config["ort"]["webgpu"].removeprefix("./") in only
    assert sorted(name.rsplit("/", 1)[1] for name in only if "asyncify" in name) == [
        "ort-wasm-simd-threaded.asyncify.mjs",
        "ort-wasm-simd-threaded.asyncify.wasm",
    ]
    assert not [name for name in only if name.endswith("ort-wasm-simd-threaded.wasm")]


def test_the_app_config_points_only_at_vendored_files(dist: Path) -> None:
    config = json.loads((dist / "app-config.json").read_text())
    paths = [*config["vendor"].values(), *config["ort"].values()]
    assert paths and all(p.startswith("./vendor/") and (dist / p).exists() for p in paths)


def test_the_service_worker_is_stamped_with_this_build(dist: Path) -> None:
    """A new build must be a new service worker, or browsers keep serving the old one."""
    worker = (dist / "sw.js").read_text()
    build = hashlib.sha256((dist / "manifest.json").read_bytes()).hexdigest()[:16]
    assert f'const BUILD = "{build}";' in worker
    assert "{{" not in worker and "Cross-Origin-Embedder-Policy" in worker


def test_missing_node_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "build.py", "--dist", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "`node` was not found" in lines[0] and "install Node.js" in lines[0]


def test_pyapp_pack_is_reproducible() -> None:
    first, second = pack_pyapp(ROOT), pack_pyapp(ROOT)
    assert first == second
    with zipfile.ZipFile(__import__("io").BytesIO(first)) as archive:
        names = archive.namelist()
    assert "pyapp/__init__.py" in names
    assert "pyapp/browser/main.py" in names
    assert not [n for n in names if "__pycache__" in n]


def test_render_fills_tokens_and_rejects_unknown_ones() -> None:
    assert render("<a href='./{{ dir }}/x'>", {"dir": "vendor/p-1"}, Path("t")) == (
        "<a href='./vendor/p-1/x'>"
    )
    with pytest.raises(BuildError, match="unknown template token"):
        render("{{missing}}", {}, Path("t"))


def test_the_webassembly_ships_compiled_and_a_wrong_module_is_a_clear_build_error(
    dist: Path, tmp_path: Path
) -> None:
    assert not (dist / "dequant.wat").exists()
    assert (dist / "dequant.wasm").read_bytes() == compile_wat(ROOT, ROOT / "site" / "dequant.wat")
    bad = tmp_path / "bad.wat"
    bad.write_text("(module (func (result i32) (i64.const 1)))")
    where = r"(?s)bad.wat did not compile: .*bad.wat:1:29: error: type mismatch"
    with pytest.raises(BuildError, match=where):
        compile_wat(ROOT, bad)


def _wheel(path: Path, name: str, requires: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        meta = "Metadata-Version: 2.1\nName: x\n" + "".join(
            f"Requires-Dist: {r}\n" for r in requires
        )
        archive.writestr(f"{name}-1.0.dist-info/METADATA", meta)
        archive.writestr(f"{name}/__init__.py", "")
    return path


def test_lock_rebuilt_from_shipped_files(tmp_path: Path) -> None:
    upstream = {
        "info": {"python": "3.14.2"},
        "packages": {
            "alpha": {
                "name": "alpha",
                "sha256": "stale",
                "file_name": "old.whl",
                "imports": ["alpha"],
            },
            "unshipped": {"name": "unshipped"},
        },
    }
    alpha = _wheel(
        tmp_path / "alpha-1.0-py3-none-any.whl", "alpha", ["beta>=1", "gamma; extra == 'x'"]
    )
    beta = _wheel(tmp_path / "beta-1.0-py3-none-any.whl", "beta", ["notshipped"])
    pins = {PyPIPin("alpha", "1.0", "a" * 64): alpha, PyPIPin("beta", "1.0", "b" * 64): beta}
    lock = pyodide_lock(upstream, pins)
    packages = lock["packages"]
    assert isinstance(packages, dict)
    assert set(packages) == {"alpha", "beta"}
    assert packages["alpha"]["sha256"] == sha256_file(alpha)  # what is shipped, not the pin
    assert packages["alpha"]["file_name"] == alpha.name
    assert packages["alpha"]["depends"] == ["beta"]
    assert packages["beta"]["depends"] == []
    assert packages["beta"]["imports"] == ["beta"]


def test_freshness(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    source = tmp_path / "site" / "index.html"
    source.write_text("x")
    dist = tmp_path / "dist"
    assert needs_build(tmp_path, dist) == "dist/ has not been built yet"
    dist.mkdir()
    mark_built(dist)
    assert needs_build(tmp_path, dist) is None
    stamp = (dist / ".build-stamp").stat().st_mtime
    os.utime(source, (stamp + 10, stamp + 10))
    assert needs_build(tmp_path, dist) == "sources changed since the last build"


def test_prune_removes_what_the_build_no_longer_makes(tmp_path: Path) -> None:
    keep = tmp_path / "a" / "keep.js"
    drop = tmp_path / "b" / "old.js"
    for path in (keep, drop):
        path.parent.mkdir(parents=True)
        path.write_text("x")
    assert prune(tmp_path, [keep]) == [drop]
    assert keep.exists() and not drop.parent.exists()


def test_pure_wheel_from_an_sdist_keeps_only_python(tmp_path: Path) -> None:
    sdist = tmp_path / "speedy-1.2.tar.gz"
    members = {
        "speedy-1.2/PKG-INFO": b"Metadata-Version: 2.1\nName: speedy\nVersion: 1.2\n",
        "speedy-1.2/setup.py": b"raise SystemExit",
        "speedy-1.2/src/speedy/__init__.py": b"from speedy._native import VALUE\n",
        "speedy-1.2/src/speedy/_native.py": b"VALUE = 42\n",
        "speedy-1.2/src/speedy/_speedups.c": b"int x;",
        "speedy-1.2/src/speedy/py.typed": b"",
        "speedy-1.2/tests/test_speedy.py": b"",
    }
    with tarfile.open(sdist, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    pin = PyPIPin("speedy", "1.2", "unused", sdist=True)
    first = pure_wheel(sdist, pin, tmp_path / "a")
    again = pure_wheel(sdist, pin, tmp_path / "b")
    assert first.name == "speedy-1.2-py3-none-any.whl"
    assert first.read_bytes() == again.read_bytes()  # reproducible
    with zipfile.ZipFile(first) as wheel:
        names = set(wheel.namelist())
        record = wheel.read("speedy-1.2.dist-info/RECORD").decode()
        wheel.extractall(tmp_path / "site")
    assert names == {
        "speedy/__init__.py",
        "speedy/_native.py",
        "speedy/py.typed",
        "speedy-1.2.dist-info/METADATA",
        "speedy-1.2.dist-info/WHEEL",
        "speedy-1.2.dist-info/RECORD",
    }
    assert "speedy/_native.py,sha256=" in record
    proc = subprocess.run(
        [sys.executable, "-c", "import speedy; print(speedy.VALUE)"],
        cwd=tmp_path / "site",
        capture_output=True,
        text=True,
    )
    assert proc.stdout.strip() == "42", proc.stderr


def test_the_python_snapshot_packages_are_vendored(dist: Path) -> None:
    """hearth_build/snapshot_maker.mjs installs these from the lock, with their dependencies."""
    lock = json.loads((dist / "vendor" / "pyodide-314.0.7" / "pyodide-lock.json").read_text())
    assert set(PACKAGES) <= set(lock["packages"])
    # ... and pure Python, all of it: a snapshot of memory cannot carry a compiled extension
    # (site/python.js refuses one at run time too)
    seen: set[str] = set()
    todo = list(PACKAGES)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += lock["packages"][name]["depends"]
    assert {"jinja2", "markupsafe", "markdown-it-py", "mdurl", "pygments"} <= seen
    compiled = [n for n in seen if not lock["packages"][n]["file_name"].endswith("-none-any.whl")]
    assert compiled == []


PYODIDE = "vendor/pyodide-314.0.7"


def test_the_python_snapshot_ships_for_this_pyapp(dist: Path) -> None:
    """hearth_build/snapshot.py: the page restores it (site/python.js) only if it was made
    from the pyapp.zip beside it, so a build must ship the one made from its own."""
    files = json.loads((dist / "manifest.json").read_text())["files"]
    body = (dist / "python.files").read_bytes()
    length = int.from_bytes(body[:4], "little")
    record = json.loads(body[4 : 4 + length])
    assert record["pyappSha256"] == files["pyapp.zip"]["sha256"]
    assert record["snapshotSha256"] == files["python.snapshot"]["sha256"]
    assert set(record["installed"]) == {
        "jinja2",
        "markupsafe",
        "markdown-it-py",
        "mdurl",
        "pygments",
    }
    paths = [path for path, _ in record["paths"]]
    assert "/home/pyodide/pyapp/app.py" in paths
    assert any(p.startswith("/lib/python3.14/site-packages/jinja2/") for p in paths)
    assert 4 + length + sum(size for _, size in record["paths"]) == len(body)


def test_the_snapshot_cache_key_follows_its_inputs(dist: Path, tmp_path: Path) -> None:
    """Cached outside the repo by its inputs: the same inputs hit, a changed pyapp misses."""
    fake = tmp_path / "dist"
    (fake / "vendor").mkdir(parents=True)
    (fake / PYODIDE).symlink_to(dist / PYODIDE)
    (fake / "pyapp.zip").write_bytes((dist / "pyapp.zip").read_bytes())
    first = snapshot_key(ROOT, fake, PYODIDE)
    assert snapshot_key(ROOT, fake, PYODIDE) == first
    assert snapshot_key(ROOT, dist, PYODIDE) == first
    (fake / "pyapp.zip").write_bytes(b"another pyapp")
    assert snapshot_key(ROOT, fake, PYODIDE) != first
