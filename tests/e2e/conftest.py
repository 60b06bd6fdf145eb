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
