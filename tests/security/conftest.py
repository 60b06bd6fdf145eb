"""The real serve.py, started as a subprocess on loopback in front of a logging fake
upstream with API_KEY set: the setup the probes of issue #14 were run against.

serve.py runs with its request log on (written to a file: a pipe nobody reads would fill
and block it) and a two-file `dist/`, so these tests need no build.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.security.upstream import KEY, FakeUpstream, fake_upstream
from tests.security.wire import proc_status

PAGE = b"<!doctype html><title>Hearth</title><p>the page"


@dataclass
class Hearth:
    proc: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def status(self) -> dict[str, int]:
        return proc_status(self.proc.pid)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_hearth(dist: Path, log: Path, *args: str, env: dict[str, str] | None = None) -> Hearth:
    """serve.py on a free loopback port; waits for the line that announces its URL."""
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "serve.py", "--port", "0", "--no-build", "--dist", str(dist), *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "API_KEY": KEY, **(env or {})},
        )
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"at http://127\.0\.0\.1:(\d+)/ ", line)
        if match:
            return Hearth(proc, int(match.group(1)), log)
    proc.wait()
    raise AssertionError(f"serve.py did not start: {log.read_text()}")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    (dist / "index.html").write_bytes(PAGE)
    (dist / "app.js").write_text("export {}")
    return dist


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream() as fake:
        yield fake


@pytest.fixture
def fake(upstream: FakeUpstream) -> FakeUpstream:
    """The module's fake upstream, with nothing recorded yet."""
    upstream.reset()
    return upstream


@pytest.fixture(scope="module")
def hearth(
    site: Path, upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hearth]:
    log = tmp_path_factory.mktemp("log") / "serve.log"
    running = start_hearth(site, log, "--foundry-url", upstream.url)
    yield running
    running.stop()


@pytest.fixture
def fresh_hearth(site: Path, upstream: FakeUpstream, tmp_path: Path) -> Iterator[Hearth]:
    """A serve.py of its own, for tests that read its memory or thread count."""
    running = start_hearth(site, tmp_path / "serve.log", "--foundry-url", upstream.url)
    yield running
    running.stop()
