"""The Python memory snapshot (site/python.js, site/snapshot.js): a first visit saves it once
the page is idle, the next boots Python from it (online or off), and a damaged one is
dropped, Python boots from scratch, and a good one is made again."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hearth_build.chromium import MODEL_SAVED_JS, PYTHON_SAVED_JS
from tests.conftest import (
    ROOT,
    PageSession,
    ServerProcess,
    ask,
    page_session,
    start_server,
    stop_server,
    wait_until,
)

QUERY = "?temperature=0&max_tokens=16"
# Flip one byte in the middle of the saved snapshot, keeping its size.
TAMPER = """async () => {
  for (const name of await caches.keys()) {
    if (!name.startsWith("hearth-python-")) continue;
    const cache = await caches.open(name);
    const stored = await cache.match("python.snapshot");
    const bytes = new Uint8Array(await stored.arrayBuffer());
    bytes[bytes.length >> 1] ^= 0xff;
    await cache.put("python.snapshot", new Response(bytes));
    return true;
  }
  return false;
}"""
# how long site/worker.js waits for the page to be idle before it makes a snapshot
_IDLE = re.search(r"SNAPSHOT_IDLE_MS = (\d+);", (ROOT / "site" / "worker.js").read_text())
assert _IDLE
SNAPSHOT_IDLE_MS = int(_IDLE[1])
SNAPSHOT_CACHES = (
    """async () => (await caches.keys()).filter((k) => k.startsWith("hearth-python-"))"""
)


def booted_from_snapshot(chat: PageSession) -> bool:
    phases = chat.page.get_attribute("[data-testid=status]", "data-phases")  # type: ignore[attr-defined]
    return bool(json.loads(phases)["python_from_snapshot"])


def first_visit(chat: PageSession) -> None:
    """Ready, with the model and the Python snapshot saved."""
    chat.open(QUERY)
    chat.wait_state("ready")
    assert not booted_from_snapshot(chat)
    chat.page.wait_for_function(PYTHON_SAVED_JS, timeout=120_000)  # type: ignore[attr-defined]
    wait_until(chat.page, MODEL_SAVED_JS, timeout_s=60)
    assert len(chat.page.evaluate(SNAPSHOT_CACHES)) == 1  # type: ignore[attr-defined]


def reload_ready(chat: PageSession) -> None:
    chat.page.reload()  # type: ignore[attr-defined]
    chat.wait_state("ready")


@pytest.fixture
def own_server(dist: Path) -> Iterator[ServerProcess]:
    """A server this test may stop."""
    server = start_server("--dist", str(dist))
    yield server
    stop_server(server)


def test_the_next_visit_boots_python_from_the_snapshot_online_and_off(
    browser: object, own_server: ServerProcess
) -> None:
    with page_session(browser, own_server) as chat:
        first_visit(chat)
        reload_ready(chat)
        assert booted_from_snapshot(chat)
        # what the snapshot carries works: the template (jinja2), the tokenizer, Markdown
        assert "Paris" in ask(chat, "What is the capital of France?").inner_text()  # type: ignore[attr-defined]
        # nothing is made twice: a visit that booted from the snapshot has one to keep, so
        # idle for longer than the maker waits (site/worker.js), it starts none
        chat.page.wait_for_timeout(SNAPSHOT_IDLE_MS + 1500)  # type: ignore[attr-defined]
        assert chat.page.get_attribute("[data-testid=status]", "data-python-snapshot") is None  # type: ignore[attr-defined]
        stop_server(own_server)
        reload_ready(chat)
        assert booted_from_snapshot(chat)
        assert "Paris" in ask(chat, "What is the capital of France?").inner_text()  # type: ignore[attr-defined]


def test_a_damaged_snapshot_is_dropped_and_made_again(chat: PageSession) -> None:
    first_visit(chat)
    assert chat.page.evaluate(TAMPER)  # type: ignore[attr-defined]
    reload_ready(chat)
    assert not booted_from_snapshot(chat)
    assert "Paris" in ask(chat, "What is the capital of France?").inner_text()  # type: ignore[attr-defined]
    chat.page.wait_for_function(PYTHON_SAVED_JS, timeout=120_000)  # type: ignore[attr-defined]
    reload_ready(chat)
    assert booted_from_snapshot(chat)
    assert "Paris" in ask(chat, "What is the capital of France?").inner_text()  # type: ignore[attr-defined]
