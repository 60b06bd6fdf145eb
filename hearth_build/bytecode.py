"""Bytecode for the wheels the page loads after its boot (openai and what it needs, pypdf).

The snapshot (snapshot.py) carries the boot packages already imported. The others are
unpacked when first used, and Pyodide's CPython compiled every one of their modules each
time: `import openai` took the page 4.7–5.4 s, about 2.2 s of it compiling 950 modules. So
each such pure-Python wheel is rewritten here with its modules' `.pyc` files beside them,
compiled by the page's own Python in Node (the bytecode must be that exact CPython's).

Compiling takes about 10 s, so the wheels are cached outside the repo, keyed by their
inputs: the wheel, the Pyodide runtime, the two compiler scripts and Node's version.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from hearth_build.console import BuildError, detail
from hearth_build.files import sha256_file

MAKER = Path(__file__).with_name("bytecode_maker.mjs")
COMPILER = Path(__file__).with_name("bytecode_wheel.py")
RUNTIME_FILES = ("pyodide.asm.wasm", "python_stdlib.zip", "pyodide.mjs", "pyodide.asm.mjs")


def compiled(wheels: list[Path], pyodide: Path, cache: Path) -> dict[Path, Path]:
    """Each pure wheel -> its compiled copy in the cache (made now if missing)."""
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    tool = {
        "node": node.stdout.strip(),
        "maker": sha256_file(MAKER),
        "compiler": sha256_file(COMPILER),
        **{name: sha256_file(pyodide / name) for name in RUNTIME_FILES},
    }
    result = {}
    for wheel in wheels:
        inputs = json.dumps({**tool, "wheel": sha256_file(wheel)}, sort_keys=True)
        key = hashlib.sha256(inputs.encode()).hexdigest()[:12]
        result[wheel] = cache / key / tagged(wheel.name, key)
    missing = [w for w, out in result.items() if not out.is_file()]
    if missing:
        detail(f"compiling {len(missing)} wheel(s) to bytecode in Node (cached by their inputs)")
        _compile({wheel: result[wheel] for wheel in missing}, pyodide, cache)
    return result


def tagged(name: str, key: str) -> str:
    """The wheel's file name with a build tag made of `key`: vendored files are served as
    immutable, so bytes that differ must never reuse an earlier build's URL."""
    package, version, *tags = name.removesuffix(".whl").split("-")
    return "-".join([package, version, f"1{key}", *tags[-3:]]) + ".whl"


def _compile(targets: dict[Path, Path], pyodide: Path, cache: Path) -> None:
    """Compile each wheel of `targets` into its target path (in a scratch folder first, so
    that a target is whole or absent)."""
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        work = Path(tmp)
        for script in (MAKER, COMPILER):
            shutil.copy(script, work / script.name)
        inputs, out = work / "in", work / "out"
        inputs.mkdir()
        out.mkdir()
        for wheel in targets:
            shutil.copy(wheel, inputs / wheel.name)
        cmd = ["node", MAKER.name, str(pyodide.resolve()), str(inputs), str(out)]
        proc = subprocess.run(
            [*cmd, *(w.name for w in targets)],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise BuildError(
                f"Could not compile the page's wheels to bytecode in Node: {last[:300]}. "
                "Check that Node.js 20+ is installed, then rerun `python build.py`."
            )
        for wheel, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            (out / wheel.name).replace(target)
