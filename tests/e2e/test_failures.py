"""Bad input gets a clear message: a corrupted or truncated model file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, page_session, start_server, stop_server
from tests.e2e.conftest import flip_byte


@pytest.fixture(params=["corrupted", "truncated"])
def broken_server(
    request: pytest.FixtureRequest, dist: Path, tmp_path: Path
) -> Iterator[ServerProcess]:
    """A copy of dist/ whose model data is damaged (the manifest still describes the
    good file), served by a real serve.py."""
    copy = tmp_path / "dist"
    shutil.copytree(dist, copy, copy_function=shutil.copy)
    config = json.loads((copy / "app-config.json").read_text())
    data = copy / config["models"][0]["path"] / "model.onnx.data"
    if request.param == "corrupted":
        flip_byte(data, 12345)
    else:
        with data.open("r+b") as handle:
            handle.truncate(data.stat().st_size // 2)
    server = start_server("--dist", str(copy))
    yield server
    stop_server(server)


def test_damaged_model_is_reported_clearly(
    broken_server: ServerProcess, browser: object, request: pytest.FixtureRequest
) -> None:
    kind = request.node.callspec.params["broken_server"]
    with page_session(browser, broken_server) as chat:
        chat.open()
        chat.wait_state("error", timeout_s=60)
        banner = chat.page.locator("[data-testid=error]")
        assert banner.is_visible()
        assert f"model.onnx.data is {kind}" in banner.inner_text()
        assert "python build.py" in banner.inner_text()
        assert chat.page.locator("[data-testid=send]").is_disabled()


def test_oversized_prompt_is_refused_and_kept(browser: object, server: ServerProcess) -> None:
    with page_session(browser, server) as chat:
        chat.open("?max_tokens=512")
        chat.wait_state("ready")
        huge = "lorem ipsum " * 5000  # about 10,000 tokens: more than the 8,192 context
        chat.page.fill("[data-testid=prompt]", huge)
        chat.page.press("[data-testid=prompt]", "Enter")
        banner = chat.page.locator("[data-testid=error]")
        banner.wait_for(state="visible", timeout=30_000)
        assert "only 7,680 fit" in banner.inner_text()
        assert "Shorten it: the model's whole context is 8,192 tokens." in banner.inner_text()
        chat.wait_state("ready")
        assert chat.page.locator("[data-testid=prompt]").input_value() == huge  # as typed
