"""Lint, types and the README/CI contract, so the rules hold without anyone remembering them."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from tests.conftest import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_is_clean() -> None:
    proc = run("ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_is_clean() -> None:
    proc = run("mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def readme_command(label: str) -> str:
    """The command in the fenced block that follows the README line containing `label`."""
    text = (ROOT / "README.md").read_text()
    match = re.search(re.escape(label) + r".*?```(?:sh|bash)?\n(.+?)\n```", text, re.S)
    assert match, f"README has no command block after {label!r}"
    return match.group(1).strip()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    command = readme_command("Run the tests")
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines


def test_readme_run_command_serves() -> None:
    assert readme_command("Run Hearth").endswith("serve.py --open")


def test_page_and_cpython_share_the_versions_tests_run() -> None:
    """jinja2 (templates) and openai (the Foundry client) are tested in CPython; the page
    must load the very same versions."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["test"],
    ]
    cpython = dict(pin.split("==") for pin in pins)
    page = project["tool"]["hearth"]["page-wheels"]
    for name in ("jinja2", "openai"):
        assert page[name]["version"] == cpython[name], name
