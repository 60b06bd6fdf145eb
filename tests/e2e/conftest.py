"""The fake upstream for e2e tests whose point is to control the text (see replies.py)."""

from __future__ import annotations

from collections.abc import Iterator

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
