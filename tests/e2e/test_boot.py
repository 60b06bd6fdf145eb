"""The page boots Python from vendored files only, cross-origin isolated, without errors."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.conftest import PageSession, ask, banner_saying, page_session

PHASES = "[data-testid=status][data-phases]"


def test_page_reaches_ready_offline(chat: PageSession) -> None:
    chat.open()
    chat.wait_state("ready", timeout_s=120)
    status = chat.page.locator("[data-testid=status]").inner_text()
    assert "SmolLM2 135M Instruct" in status, status
    # pyapp was imported in the page: its version is shown, with Python's
    version = chat.page.locator("[data-testid=version]")
    assert version.inner_text() == "v0.1.0"
    assert re.search(r"Python 3\.\d+", version.get_attribute("title") or "")
    assert any("/pyodide.asm.wasm" in url for url in chat.requests)


def test_page_is_cross_origin_isolated(chat: PageSession) -> None:
    chat.open()
    chat.wait_state("ready", timeout_s=120)
    assert chat.page.evaluate("crossOriginIsolated") is True
    assert chat.page.evaluate("typeof SharedArrayBuffer") == "function"


def test_no_console_errors(chat: PageSession) -> None:
    chat.open()
    chat.wait_state("ready", timeout_s=120)
    assert chat.console_errors == []
    assert chat.page.locator("[data-testid=error]").is_hidden()


def test_contract_elements_exist(chat: PageSession) -> None:
    chat.open()
    chat.wait_state("ready", timeout_s=120)
    for testid in ("prompt", "send", "stop", "backend", "model", "status", "error", "attach"):
        assert chat.page.locator(f"[data-testid={testid}]").count() == 1, testid
    values = chat.page.eval_on_selector(
        "[data-testid=backend]", "s => [...s.options].map(o => o.value)"
    )
    assert values == ["browser", "foundry", "auto"]
    kind = chat.page.eval_on_selector("[data-testid=attach]", "e => e.tagName + ':' + e.type")
    assert kind == "INPUT:file"


EMPTY_HINT = """() => getComputedStyle(document.getElementById('messages'), '::before').content"""


def test_a_links_system_prompt_is_named_and_use_my_settings_puts_mine_back(
    chat: PageSession,
) -> None:
    chat.open("?system=Talk%20like%20a%20pirate&max_tokens=8&seed=3")
    chat.wait_state("ready", timeout_s=120)
    page = chat.page
    banner = page.locator("[data-testid=error]")
    notice = "This link set the system prompt to “Talk like a pirate” (for this visit only)."
    assert banner.inner_text().startswith(notice)
    assert page.input_value("[data-testid=setting-system]") == "Talk like a pirate"
    # the empty chat says where answers come from, until the first message
    assert "stays on this device" in page.evaluate(EMPTY_HINT)
    ask(chat, "Hello")
    assert page.evaluate(EMPTY_HINT) == "none"
    # the banner went with the message; the presets did not, and neither does their sign
    assert banner.is_hidden()
    pill = page.locator("[data-testid=link-preset]")
    assert pill.is_visible() and pill.get_attribute("title") == notice
    pill.click()  # names them again, with the way back
    banner_saying(page, notice)
    page.click("[data-testid=error-action]")  # Use my settings
    page.wait_for_function(  # the page hides the banner at once; Python then answers
        "() => document.querySelector('[data-testid=setting-system]').value"
        " === 'You are a helpful assistant.'"
    )
    assert banner.is_hidden() and pill.is_hidden()
    assert page.input_value("#setting-max_tokens") == "512"
    # the address keeps only what tunes this page, so a reload does not apply them again
    assert page.evaluate("() => location.search") == "?seed=3"
    page.reload()
    chat.wait_state("ready", timeout_s=120)
    assert page.input_value("[data-testid=setting-system]") == "You are a helpful assistant."
    assert pill.is_hidden()


def test_bad_url_parameter_is_reported_not_fatal(chat: PageSession) -> None:
    chat.open("?temperature=hot&max_tokens=64")
    chat.wait_state("ready", timeout_s=120)
    banner = chat.page.locator("[data-testid=error]")
    assert banner.is_visible()
    assert "temperature='hot'" in banner.inner_text()
    assert chat.page.locator("#setting-max_tokens").input_value() == "64"


def boot_phases(chat: PageSession) -> dict[str, Any]:
    chat.page.locator(PHASES).wait_for(state="attached", timeout=30_000)
    return dict(json.loads(chat.page.get_attribute(PHASES, "data-phases") or "{}"))


def test_the_session_started_at_page_load_is_the_one_used(chat: PageSession) -> None:
    """The model worker (site/model.js) creates the ORT session while Pyodide boots, guessing
    the backend and threads the way Python decides them; Python's open() takes that session
    only when they agree (else it makes a second one). `session_taken` is set only by that
    hand-over. The tokenizer is asked for at page load too, so that its read does not wait
    for the session's creation (one synchronous call of a second or more in the model
    worker); `tokenizer_taken` is set only when Python takes that read."""
    chat.open("?temperature=0&threads=1")
    chat.wait_state("ready", timeout_s=120)
    phases = boot_phases(chat)
    taken = {"model_bytes_done", "session_done", "session_taken", "tokenizer_taken"}
    assert taken <= phases.keys(), phases
    assert "WASM, 1 thread" in chat.page.locator("[data-testid=status]").inner_text()


def test_no_session_is_started_for_the_foundry_backend(
    browser: object, fake_server: object
) -> None:
    """A visit that will not run the model in the page does not spend the boot on it."""
    with page_session(browser, fake_server) as chat:  # type: ignore[arg-type]
        chat.open("?backend=foundry")
        chat.wait_state("ready", timeout_s=120)
        phases = boot_phases(chat)
        assert "python" in phases and "session_done" not in phases, phases
