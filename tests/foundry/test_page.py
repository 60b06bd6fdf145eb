"""The page's Foundry backend end to end: real Chromium, real serve.py proxy, real Foundry
Local, and the official openai client running in Pyodide over the fetch transport."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyapp.backends import ReplyOptions
from pyapp.remote import request
from tests.conftest import (
    ASSISTANT,
    WATCH,
    PageSession,
    ServerProcess,
    ask,
    assert_untouched_after,
    banner_saying,
    page_session,
    run_async,
    start_server,
    stop_server,
)
from tests.foundry.local import MODEL_ID, Foundry, model_dir, start_foundry
from tests.foundry.test_foundry import ASKED, QUESTION, direct

FOUNDRY_QUERY = "?backend=foundry&temperature=0"


@pytest.fixture
def foundry_chat(browser: object, foundry_server: ServerProcess) -> Iterator[PageSession]:
    with page_session(browser, foundry_server) as session:
        yield session


def test_foundry_reply_streams_and_equals_the_direct_client(
    foundry_chat: PageSession, foundry: Foundry
) -> None:
    foundry_chat.open(FOUNDRY_QUERY)
    foundry_chat.wait_state("ready", timeout_s=90)
    page = foundry_chat.page
    status = page.locator("[data-testid=status]").inner_text()
    assert "Foundry Local" in status and MODEL_ID in status
    assert MODEL_ID in page.locator("[data-testid=model] option").all_inner_texts()
    assert page.locator("[data-testid=backend]").input_value() == "foundry"
    page.evaluate(WATCH)
    reply = ask(foundry_chat, QUESTION)
    text = reply.inner_text()  # type: ignore[attr-defined]
    assert "Paris" in text
    partial = {s for s in page.evaluate("window.__snapshots") if s}
    assert len(partial) >= 5, partial  # streamed, not delivered at the end
    assert text == run_async(direct(foundry, request(MODEL_ID, ASKED, ReplyOptions(temperature=0))))
    assert not foundry_chat.console_errors, foundry_chat.console_errors


def test_stop_cancels_the_foundry_stream(foundry_chat: PageSession) -> None:
    foundry_chat.open("?backend=foundry&temperature=0&max_tokens=2000")
    foundry_chat.wait_state("ready", timeout_s=90)
    page = foundry_chat.page
    page.fill("[data-testid=prompt]", "Write a very long story about a dragon.")
    page.press("[data-testid=prompt]", "Enter")
    reply = page.locator(ASSISTANT).first
    page.wait_for_function(
        f"() => document.querySelector('{ASSISTANT}')?.textContent.length > 20", timeout=60_000
    )
    page.click("[data-testid=stop]")
    page.locator(f'{ASSISTANT}[data-done="true"]').first.wait_for(timeout=1000)
    assert reply.get_attribute("data-stopped") == "true"
    partial = reply.inner_text()
    foundry_chat.wait_state("ready")
    # A short second reply: with the story so far in its context, 2,000 tokens could take
    # minutes on a slow machine, and what matters is only that it runs to its end.
    page.click(".settings summary")
    page.fill("#setting-max_tokens", "16")
    page.dispatch_event("#setting-max_tokens", "change")
    # nothing arrives after Stop, however long the server takes for the next reply
    assert_untouched_after(foundry_chat, 0, lambda: ask(foundry_chat, "Say OK."))
    assert reply.inner_text() == partial


def test_upstream_down_keeps_the_chat_and_offers_the_browser_model(
    browser: object, foundry_python: Path, dist: Path, tmp_path: Path
) -> None:
    own = start_foundry(foundry_python, model_dir(dist), tmp_path / "foundry")
    server = start_server("--foundry-url", own.base)
    try:
        with page_session(browser, server) as session:
            page = session.page
            session.open(FOUNDRY_QUERY)
            session.wait_state("ready", timeout_s=90)
            first = ask(session, QUESTION).inner_text()  # type: ignore[attr-defined]
            assert "Paris" in first
            own.stop()
            page.fill("[data-testid=prompt]", "And of Germany?")
            page.press("[data-testid=prompt]", "Enter")
            banner = banner_saying(page, "is not answering")
            assert "foundry service start" in banner.inner_text()
            session.wait_state("ready")
            messages = page.locator("[data-testid=message]")
            assert messages.all_inner_texts() == [QUESTION, first]  # nothing lost
            assert page.input_value("[data-testid=prompt]") == "And of Germany?"
            page.click("[data-testid=error-action]")
            page.wait_for_function(
                "() => document.querySelector('[data-testid=status]').textContent"
                ".includes('in-browser')",
                timeout=60_000,
            )
            session.wait_state("ready")
            assert page.locator("[data-testid=backend]").input_value() == "browser"
            reply = ask(session, "And of Germany?").inner_text()  # type: ignore[attr-defined]
            assert reply.strip()
            assert messages.count() == 4
    finally:
        stop_server(server)
        own.stop()
