"""site/python.js in Node: the files a Python snapshot keeps beside it (the packages' and
pyapp's, which live outside Python's memory) come back byte for byte, at their paths, and a
damaged record is refused rather than half written."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

NODE_SCRIPT = """
import { decodeFiles, encodeFiles, writeFiles } from "./python.mjs";
const contents = [
  ["/lib/python3.14/site-packages/jinja2/__init__.py", new TextEncoder().encode("x = 1\\n")],
  ["/lib/python3.14/site-packages/empty.txt", new Uint8Array(0)],
  ["/home/pyodide/pyapp/ünï.py", Uint8Array.from({ length: 70000 }, (_, i) => i % 251)],
];
const body = encodeFiles({ installed: ["jinja2"], snapshotSha256: "ab", contents });
const back = decodeFiles(body);
const written = {};
const folders = new Set();
const FS = {
  mkdirTree: (d) => folders.add(d),
  writeFile: (p, d) => { written[p] = Array.from(d); },
};
writeFiles(FS, back);
const text = (d) => JSON.stringify(Array.from(d));
const same = contents.every(([p, d]) => JSON.stringify(written[p]) === text(d));
let refused = "";
try { decodeFiles(body.subarray(0, body.length - 1)); } catch (e) { refused = e.message; }
console.log(JSON.stringify({ installed: back.installed, sha: back.snapshotSha256, same,
  paths: Object.keys(written), folders: [...folders].sort(), refused }));
"""


def test_the_snapshot_files_come_back_as_they_were(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed (the build needs it too)"
    shutil.copy(ROOT / "site" / "python.js", tmp_path / "python.mjs")
    (tmp_path / "run.mjs").write_text(NODE_SCRIPT)
    out = subprocess.run(
        [node, "run.mjs"], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60
    )
    result = json.loads(out.stdout)
    assert result["installed"] == ["jinja2"] and result["sha"] == "ab"
    assert result["same"] is True
    assert len(result["paths"]) == 3
    assert result["folders"] == [
        "/home/pyodide/pyapp",
        "/lib/python3.14/site-packages",
        "/lib/python3.14/site-packages/jinja2",
    ]
    assert "damaged" in result["refused"]
