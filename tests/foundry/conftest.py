"""The real Foundry Local: the native runtime of the pinned `foundry-local-sdk`, serving
the shipped model from its own virtual environment (see local.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from build import default_cache
from tests.conftest import ServerProcess, start_server, stop_server
from tests.foundry.local import Foundry, model_dir, start_foundry
from tests.foundry.local import foundry_python as ensure_foundry_python


@pytest.fixture(scope="session")
def foundry_python() -> Path:
    return ensure_foundry_python(default_cache())


@pytest.fixture(scope="session")
def foundry(
    foundry_python: Path, dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Foundry]:
    running = start_foundry(foundry_python, model_dir(dist), tmp_path_factory.mktemp("foundry"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def foundry_server(foundry: Foundry) -> Iterator[ServerProcess]:
    """serve.py proxying to the real Foundry Local."""
    running = start_server("--foundry-url", foundry.base)
    yield running
    stop_server(running)
