"""Bad input never bricks the page: damaged saved settings, a malformed stream from the
server, and outsized presets from a link. The malformed stream comes from a fake
OpenAI-compatible upstream behind the real serve.py, because the point is to control it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import (
    ASSISTANT,
    SYSTEM,
    PageSession,
    ServerProcess,
    ask,
    banner_saying,
    page_session,
    start_server,
    stop_server,
    wait_until,
)
from tests.e2e.replies import CUT_PROMPT, CUT_TEXT
from tests.support.fake_openai import FakeOpenAI, Reply, fake_openai

PUT_SETTINGS = """(value) => new Promise((resolve, reject) => {
  const open = indexedDB.open("hearth", 1);
  open.onupgradeneeded = () => {
    open.result.createObjectStore("kv");
    open.result.createObjectStore("chats", { keyPath: "id" });
  };
  open.onsuccess = () => {
    const tx = open.result.transaction("kv", "readwrite");
    tx.objectStore("kv").put(value, "settings");
    tx.oncomplete = () => { open.result.close(); resolve(); };
    tx.onerror = () => reject(tx.error);
  };
  open.onerror = () => reject(open.error);
})"""


SAVED_SYSTEM = """() => new Promise((resolve) => {
  const open = indexedDB.open("hearth");
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains("kv")) { db.close(); resolve(null); return; }
    const read = open.result.transaction("kv").objectStore("kv").get("settings");
    read.onsuccess = () => {
      open.result.close();
      const value = read.result;
      resolve(value && (typeof value === "string" ? JSON.parse(value) : value).system);
    };
  };
  open.onerror = () => resolve(null);
})"""


def test_the_system_prompt_is_saved_as_it_is_typed(chat: PageSession) -> None:
    chat.open()
    chat.wait_state("ready")
    page = chat.page
    page.click(".settings summary")
    page.fill("[data-testid=setting-system]", "Be concise.")  # focus stays: no change event
    assert page.evaluate("() => document.activeElement.dataset.testid") == "setting-system"
    wait_until(page, f"async () => (await ({SAVED_SYSTEM})()) === 'Be concise.'", timeout_s=30)
    page.reload()
    chat.wait_state("ready")
    assert page.input_value("[data-testid=setting-system]") == "Be concise."


def test_an_emptied_system_prompt_is_kept_and_use_default_puts_it_back(chat: PageSession) -> None:
    chat.open()
    chat.wait_state("ready")
    page = chat.page
    page.click(".settings summary")
    button = page.locator("[data-testid=system-default]")
    expect(button).to_be_hidden()  # the default is in use
    page.fill("[data-testid=setting-system]", "")
    expect(button).to_be_visible()  # as soon as the field differs, before it is saved
    wait_until(page, f"async () => (await ({SAVED_SYSTEM})()) === ''", timeout_s=30)
    page.reload()  # no system prompt is a choice: kept, with the way back offered
    chat.wait_state("ready")
    page.click(".settings summary")
    assert page.input_value("[data-testid=setting-system]") == ""
    page.click("[data-testid=system-default]")
    expect(page.locator("[data-testid=setting-system]")).to_have_value(SYSTEM)
    expect(button).to_be_hidden()
    assert page.evaluate("() => document.activeElement.dataset.testid") == "setting-system"
    wait_until(page, f"async () => (await ({SAVED_SYSTEM})()) === {SYSTEM!r}", timeout_s=30)
    page.reload()
    chat.wait_state("ready")
    assert page.input_value("[data-testid=setting-system]") == SYSTEM


def test_a_system_prompt_too_long_for_the_model_is_named_as_the_cause(chat: PageSession) -> None:
    chat.open("?max_tokens=512")
    chat.wait_state("ready")
    page = chat.page
    page.click(".settings summary")
    page.fill("[data-testid=setting-system]", "Be terse. " * 20_000)
    page.press("[data-testid=setting-system]", "Tab")  # saved
    page.fill("[data-testid=prompt]", "hi")
    page.press("[data-testid=prompt]", "Enter")
    text = banner_saying(page, "most of that is the system prompt", timeout_s=90).inner_text()
    assert "Shorten it in Settings" in text
    assert page.input_value("[data-testid=prompt]") == "hi"  # kept, to send once it fits
    assert page.locator("[data-testid=message]").count() == 0


@pytest.mark.parametrize("stored", ["null", "[]", "5", '"text"', "{not json"])
def test_saved_settings_of_any_shape_never_break_the_boot(chat: PageSession, stored: str) -> None:
    chat.open()
    chat.wait_state("ready")
    chat.page.evaluate(PUT_SETTINGS, stored)
    chat.page.reload()
    chat.wait_state("ready")
    banner = chat.page.locator("[data-testid=error]")
    if stored == "null":
        assert banner.is_hidden()  # null is just "nothing saved"
    else:
        assert "unreadable" in banner.inner_text()
    assert chat.page.locator("#setting-max_tokens").input_value() == "512"


def test_an_outsized_max_tokens_from_a_link_still_chats(chat: PageSession) -> None:
    chat.open("?max_tokens=32768&temperature=0")
    chat.wait_state("ready")
    reply = ask(chat, "What is the capital of France?")
    assert "Paris" in reply.inner_text()  # type: ignore[attr-defined]
    assert chat.page.locator("[data-testid=error]").is_hidden()


@pytest.fixture
def malformed() -> Iterator[FakeOpenAI]:
    with fake_openai(lambda request: Reply([], malformed=True)) as fake:
        yield fake


@pytest.fixture
def malformed_server(dist: object, malformed: FakeOpenAI) -> Iterator[ServerProcess]:
    server = start_server("--foundry-url", malformed.url)
    yield server
    stop_server(server)


def test_a_malformed_stream_is_reported_and_leaves_no_empty_turn(
    browser: object, malformed_server: ServerProcess
) -> None:
    with page_session(browser, malformed_server) as session:
        session.open("?backend=foundry")
        session.wait_state("ready", timeout_s=90)
        page = session.page
        page.fill("[data-testid=prompt]", "Hello?")
        page.press("[data-testid=prompt]", "Enter")
        banner_saying(page, "not a valid reply")
        session.wait_state("ready")
        assert page.locator(ASSISTANT).count() == 0
        assert page.locator("[data-testid=message]").count() == 0
        assert page.input_value("[data-testid=prompt]") == "Hello?"


def test_an_upstream_that_stops_mid_reply_is_named_and_the_text_kept(
    browser: object, fake_server: ServerProcess
) -> None:
    """serve.py itself keeps answering: the page must not be told to check it."""
    with page_session(browser, fake_server) as session:
        session.open("?backend=foundry")
        session.wait_state("ready", timeout_s=90)
        page = session.page
        page.fill("[data-testid=prompt]", CUT_PROMPT)
        page.press("[data-testid=prompt]", "Enter")
        banner = banner_saying(page, "stopped answering in the middle of the reply")
        assert (
            "serve.py" not in banner.inner_text() and "What arrived is kept" in banner.inner_text()
        )
        reply = page.locator(f'{ASSISTANT}[data-done="true"]').first
        assert reply.get_attribute("data-interrupted") == "true"
        assert CUT_TEXT in reply.inner_text()
