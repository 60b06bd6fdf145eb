"""Starting the real Foundry Local (the pinned `foundry-local-sdk` runtime) on loopback,
for the tests and the benchmark. It lives in its own virtual environment in the cache: it
pins onnxruntime 1.31, which must not meet the build's onnxruntime."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("runner.py")
MODEL_ID = "smollm2-135m-instruct-generic-cpu:1"
START_TIMEOUT_S = 180


def sdk_requirement() -> str:
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hearth"]["test-foundry"]
    return f"{spec['package']}=={spec['version']}"


def foundry_python(cache: Path) -> Path:
    """A virtual environment with the pinned SDK, created once and kept in the cache."""
    requirement = sdk_requirement()
    venv = cache / "venvs" / requirement.replace("==", "-")
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        proc = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", requirement],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"pip install {requirement} failed: {proc.stderr[-2000:]}")
        stamp.write_text(requirement)
    return python


@dataclass
class Foundry:
    base: str  # the OpenAI-compatible base, with the /catalogs/local prefix
    model: str
    alias: str
    proc: subprocess.Popen[str]

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_foundry(python: Path, model_dir: Path, data_dir: Path) -> Foundry:
    proc = subprocess.Popen(
        [
            str(python),
            str(RUNNER),
            "--model-dir",
            str(model_dir),
            "--model-id",
            MODEL_ID,
            "--data-dir",
            str(data_dir),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_S)
    if not lines or not lines[0].startswith("{"):
        proc.kill()
        errors = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"Foundry Local did not start: {lines} {errors[-3000:]}")
    info = json.loads(lines[0])
    return Foundry(info["base"], info["model"], info["alias"], proc)


def model_dir(dist: Path) -> Path:
    config = json.loads((dist / "app-config.json").read_text())
    return dist / config["models"][0]["path"]
