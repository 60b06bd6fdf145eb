"""The fake upstream for e2e tests whose point is to control the text (see replies.py), and
a private copy of dist/ with its own server, for tests that change or stop it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, start_server, stop_server
from tests.e2e.replies import script
from tests.support.fake_openai import FakeOpenAI, fake_openai


def flip_byte(path: Path, at: int) -> None:
    """Damage `path` as a bad disk or download would: one byte changed, the size kept."""
    with path.open("r+b") as handle:
        handle.seek(at)
        byte = handle.read(1)[0]
        handle.seek(at)
        handle.write(bytes([byte ^ 0xFF]))


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeOpenAI]:
    with fake_openai(script) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_server(dist: object, upstream: FakeOpenAI) -> Iterator[ServerProcess]:
    server = start_server("--foundry-url", upstream.url)
    yield server
    stop_server(server)


@pytest.fixture
def own_dist(dist: Path, tmp_path: Path) -> Path:
    """A copy of dist/ that this test may change or stop serving."""
    copy = tmp_path / "dist"
    shutil.copytree(dist, copy)
    return copy


@pytest.fixture
def own_server(own_dist: Path) -> Iterator[ServerProcess]:
    server = start_server("--dist", str(own_dist))
    yield server
    stop_server(server)
