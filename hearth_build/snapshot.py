"""Python's memory snapshot for the page, made once per set of inputs at build time.

Booting Pyodide from scratch and importing the app takes the page 2.5-5 s of one core;
restoring a memory snapshot of that state takes under 1 s (site/python.js). Made here, in
Node, it is one more static file of the build, so even a first visit and a static host
boot from it, and no visitor spends a core making one. Node and the browser run the same
pyodide.asm.wasm, and the snapshot holds no JavaScript object (pyapp/browser/preload.py).

Making it takes about 5 s, so it is cached outside the repo, keyed by everything that goes
into it: the vendored Pyodide folder (runtime, lock and wheels), pyapp.zip, site/python.js,
the maker script and Node's version.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from hearth_build.console import BuildError, detail
from hearth_build.files import sha256_file, sync_file

MAKER = Path(__file__).with_name("snapshot_maker.mjs")
SNAPSHOT_FILES = ("python.snapshot", "python.files")


def snapshot_key(root: Path, dist: Path, pyodide_dir: str) -> str:
    """The hash of every input of the snapshot (see the module docstring)."""
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    inputs = {
        "node": node.stdout.strip(),
        "maker": sha256_file(MAKER),
        "python.js": sha256_file(root / "site" / "python.js"),
        "pyapp.zip": sha256_file(dist / "pyapp.zip"),
        **{
            f"{pyodide_dir}/{p.name}": sha256_file(p)
            for p in sorted((dist / pyodide_dir).iterdir())
            if p.is_file()
        },
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def make_snapshot(root: Path, dist: Path, pyodide_dir: str, cache: Path) -> list[Path]:
    """`dist/python.snapshot` and `dist/python.files`, from the cache or made now."""
    key = snapshot_key(root, dist, pyodide_dir)
    saved = cache / key
    if all((saved / name).is_file() for name in SNAPSHOT_FILES):
        detail(f"Python snapshot cache hit: {saved}")
    else:
        detail("making Python's memory snapshot in Node (about 5 s, cached by its inputs)")
        saved.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=saved.parent) as tmp:
            work = Path(tmp)
            shutil.copy(MAKER, work / "make.mjs")
            shutil.copy(root / "site" / "python.js", work / "python.mjs")
            out = work / "out"
            out.mkdir()
            proc = subprocess.run(
                ["node", "make.mjs", str(dist.resolve()), pyodide_dir, str(out)],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise BuildError(
                    f"Could not make Python's snapshot in Node: {last[:300]}. "
                    "Check that Node.js 20+ is installed, then rerun `python build.py`."
                )
            detail(f"snapshot made: {proc.stdout.strip()}")
            shutil.rmtree(saved, ignore_errors=True)
            out.rename(saved)  # whole, or not at all
    written = []
    for name in SNAPSHOT_FILES:
        sync_file(saved / name, dist / name)
        written.append(dist / name)
    return written
