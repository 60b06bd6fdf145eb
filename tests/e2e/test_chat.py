"""Chatting with the model in the page: streaming, multi-turn cache reuse, Stop, parity
with native onnxruntime, and the WebGPU path."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from pathlib import Path

import pytest
from playwright.sync_api import expect

from hearth_build.chromium import APP_PRECACHE_JS
from hearth_build.model.native import NativeModel
from pyapp.generate import PREFILL_CHUNK
from pyapp.templates import ChatTemplate, Message, Role
from pyapp.tokenizer import Tokenizer
from tests.conftest import (
    ASSISTANT,
    ROOT,
    SYSTEM,
    WATCH,
    PageSession,
    ask,
    assert_untouched_after,
    banner_saying,
    wait_until,
)


@pytest.fixture(scope="module")
def model_folder(dist: Path) -> Path:
    config = json.loads((dist / "app-config.json").read_text())
    return dist / config["models"][0]["path"]


def test_reply_streams_into_the_page(chat: PageSession) -> None:
    # 48 tokens: the page redraws a streaming reply at most every 50 ms, so a short answer
    # (8 tokens, about 0.3 s) could show as only 4 distinct texts on a fast run; 48 take
    # about 2 s here, room for 8 times the speed before fewer than 5 could show
    chat.open("?temperature=0&max_tokens=48")
    chat.wait_state("ready")
    chat.page.evaluate(WATCH)
    reply = ask(chat, "Tell me about Paris, the capital of France.")
    text = reply.inner_text()  # type: ignore[attr-defined]
    assert "Paris" in text
    assert reply.get_attribute("data-done") == "true"  # type: ignore[attr-defined]
    assert reply.get_attribute("data-generated") == "48", text  # type: ignore[attr-defined]
    partial = {s for s in chat.page.evaluate("window.__snapshots") if s}
    assert len(partial) >= 5, partial
    assert all(text.startswith(s) for s in partial)
    status = chat.page.locator("[data-testid=status]")
    assert status.get_attribute("data-state") == "ready"
    assert "tok/s" in status.inner_text() and "WASM" in status.inner_text()
    # a screen reader hears the reply once, whole, when it ends (the list is not live)
    announced = chat.page.locator("[data-testid=announce]")
    assert announced.get_attribute("aria-live") == "polite"
    expect(announced).to_have_text(text)
    assert chat.page.get_attribute("[data-testid=messages]", "aria-live") is None


def test_second_turn_reuses_the_cache(chat: PageSession, model_folder: Path) -> None:
    chat.open("?temperature=0")
    chat.wait_state("ready")
    first = ask(chat, "What is the capital of France?")
    assert "Paris" in first.inner_text()  # type: ignore[attr-defined]
    second = ask(chat, "And of Germany?")
    assert "Berlin" in second.inner_text()  # type: ignore[attr-defined]
    tokenizer = Tokenizer.from_json(model_folder / "tokenizer.json")
    own = len(
        tokenizer.encode("<|im_start|>user\nAnd of Germany?<|im_end|>\n<|im_start|>assistant\n")
    )
    evaluated = int(second.get_attribute("data-prompt-tokens"))  # type: ignore[attr-defined]
    first_evaluated = int(first.get_attribute("data-prompt-tokens"))  # type: ignore[attr-defined]
    assert evaluated < own + 10, (evaluated, own)
    assert first_evaluated > evaluated  # the first turn paid for the system prompt


def test_stop_keeps_the_partial_reply(chat: PageSession) -> None:
    chat.open("?temperature=0&max_tokens=600")
    chat.wait_state("ready")
    page = chat.page
    page.fill("[data-testid=prompt]", "Write a very long story about a dragon who learns to bake.")
    page.press("[data-testid=prompt]", "Enter")
    reply = page.locator(ASSISTANT).first
    page.wait_for_function(
        "() => (document.querySelector('[data-testid=message][data-role=assistant]')"
        "?.textContent || '').length > 40",
        timeout=120_000,
    )
    page.keyboard.press("Escape")  # the same as clicking Stop
    page.locator(f'{ASSISTANT}[data-done="true"]').first.wait_for(timeout=1000)
    kept = reply.inner_text()
    generated = reply.get_attribute("data-generated")
    assert len(kept) > 40
    assert reply.get_attribute("data-stopped") == "true"
    assert page.locator("[data-testid=status]").get_attribute("data-state") == "ready"
    # nothing more arrives after Stop, however long the model takes for the next reply
    # (capped, so that it need not write 600 tokens to show it)
    page.click(".settings summary")
    page.fill("#setting-max_tokens", "32")
    assert_untouched_after(chat, 0, lambda: ask(chat, "Say OK."))
    assert reply.inner_text() == kept and reply.get_attribute("data-generated") == generated


STATUS_WATCH = """() => {
  const status = document.querySelector('[data-testid=status]');
  window.__told = [];
  new MutationObserver(() => window.__told.push([status.dataset.state, status.textContent]))
    .observe(status, { childList: true, characterData: true, attributes: true });
}"""
READING = re.compile(r"Reading ([\d,]+) of ([\d,]+) new tokens…")


def test_a_long_message_shows_how_far_it_has_been_read(
    chat: PageSession, model_folder: Path
) -> None:
    chat.open("?temperature=0&max_tokens=4")
    chat.wait_state("ready")
    chat.page.evaluate(STATUS_WATCH)
    paste = (ROOT / "LICENSE").read_text()[:3000]
    reply = ask(chat, f"Sum this up:\n{paste}")
    told = [text for state, text in chat.page.evaluate("window.__told") if state == "generating"]
    said = [m.groups() for text in told if (m := READING.fullmatch(text))]
    read = [[int(n.replace(",", "")) for n in pair] for pair in said]
    total = int(reply.get_attribute("data-prompt-tokens"))  # type: ignore[attr-defined]
    assert total > 2 * PREFILL_CHUNK
    # every chunk read is told, in order, out of the whole prompt; then the reply is written.
    # A fresh page reads 256 tokens first; later chunks are sized to this machine's speed
    done = [d for d, of in read]
    assert {of for d, of in read} == {total} and done[:2] == [0, PREFILL_CHUNK]
    chunks = [b - a for a, b in pairwise(done)]
    assert all(c in (32, 64, 128, 256) for c in chunks) and 0 < total - done[-1] <= PREFILL_CHUNK
    assert told[-1] == "Generating…"
    assert chat.page.locator("[data-testid=status]").get_attribute("data-state") == "ready"
    # the paste shows folded, its first lines only, until asked for all of it
    question = chat.page.locator("[data-testid=message][data-role=user]").last
    fold = question.locator("[data-testid=fold]")
    clipped = "(c) => c.scrollHeight > c.clientHeight + 1"
    assert fold.inner_text() == "Show all" and fold.get_attribute("aria-expanded") == "false"
    assert question.locator(".content").evaluate(clipped)
    fold.click()
    assert fold.inner_text() == "Show less" and fold.get_attribute("aria-expanded") == "true"
    assert not question.locator(".content").evaluate(clipped)


def test_stop_while_a_long_message_is_read_gives_it_back_above_what_was_typed_since(
    chat: PageSession,
) -> None:
    chat.open("?temperature=0&max_tokens=4")
    chat.wait_state("ready")
    page = chat.page
    paste = "Sum this up:\n" + (ROOT / "LICENSE").read_text()[:3000]
    page.fill("[data-testid=prompt]", paste)
    page.press("[data-testid=prompt]", "Enter")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=status]').textContent.startsWith('Reading')"
    )
    assert page.input_value("[data-testid=prompt]") == ""  # taken
    page.fill("[data-testid=prompt]", "Then list its main points.")  # the next, meanwhile
    page.press("[data-testid=prompt]", "Home")  # the caret where the typist left it
    page.press("[data-testid=prompt]", "Escape")  # Stop, from the keyboard
    banner_saying(page, "Stopped before the reply began: your message is back in the message box.")
    chat.wait_state("ready")
    assert page.locator("[data-testid=message]").count() == 0  # nothing half-done is kept
    box = page.locator("[data-testid=prompt]")
    assert box.input_value() == paste + "\n\nThen list its main points."  # both, as typed
    # still before "Then", where it was: the typing goes on there
    assert box.evaluate("(b) => [b.selectionStart, b.selectionEnd]") == [len(paste) + 2] * 2
    assert page.get_attribute("[data-testid=error]", "data-kind") == "info"
    page.reload()  # and the draft survives a reload as it is
    chat.wait_state("ready")
    assert box.input_value() == paste + "\n\nThen list its main points."


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "Name three primary colors.",
        "Write a haiku about the sea.",
    ],
)
def test_greedy_output_equals_native_onnxruntime(
    chat: PageSession, model_folder: Path, question: str
) -> None:
    """Page greedy decoding vs native onnxruntime (full logits, CPU) on the same files."""
    tokenizer = Tokenizer.from_json(model_folder / "tokenizer.json")
    template = ChatTemplate.from_folder(model_folder)
    prompt = template.render([Message(Role.SYSTEM, SYSTEM), Message(Role.USER, question)])
    native = NativeModel(model_folder).greedy(tokenizer.encode(prompt), 16)
    chat.open("?temperature=0&max_tokens=16&markdown=0")  # the exact text, unrendered
    chat.wait_state("ready")
    reply = ask(chat, question)
    page_text, native_text = reply.text_content(), tokenizer.decode(native)  # type: ignore[attr-defined]
    assert page_text == native_text, (repr(page_text), repr(native_text), native)


def test_webgpu_path_runs_the_model(webgpu_chat: PageSession) -> None:
    """SwiftShader's adapter: proves the WebGPU session works (it is far too slow to time)."""
    webgpu_chat.open("?temperature=0&max_tokens=2&system=Be%20brief.")
    webgpu_chat.wait_state("ready", timeout_s=120)
    status = webgpu_chat.page.locator("[data-testid=status]").inner_text()
    assert "WebGPU" in status, status
    reply = ask(webgpu_chat, "Capital of France?", timeout_s=240)
    assert reply.inner_text().strip()  # type: ignore[attr-defined]
    # where the browser offers an adapter, the service worker precached ORT's WebGPU build
    # too, so an offline visit runs on WebGPU as well
    wait_until(webgpu_chat.page, "() => Boolean(navigator.serviceWorker.controller)", timeout_s=60)
    precache = webgpu_chat.page.evaluate(APP_PRECACHE_JS)  # type: ignore[attr-defined]
    assert precache["webgpuOnly"], precache
    assert set(precache["cached"]) >= set(precache["app"]), precache
    assert webgpu_chat.console_errors == []


def test_settings_persist_but_url_presets_do_not(chat: PageSession) -> None:
    chat.open("?temperature=0&max_tokens=8&system=Talk%20like%20a%20pirate.")
    chat.wait_state("ready")
    page = chat.page
    assert page.locator("#setting-system").input_value() == "Talk like a pirate."
    page.click(".settings summary")
    page.fill("#setting-top_p", "0.5")  # the user's own change: saved
    ask(chat, "Capital of France?")
    page.fill("#setting-top_p", "7")  # refused: the field shows the value in use again
    page.press("#setting-top_p", "Tab")
    banner_saying(page, "Top-p takes")
    expect(page.locator("#setting-top_p")).to_have_value("0.5")
    page.fill("#setting-top_p", "0.5")  # typed again, though in use: the refusal is old news
    page.press("#setting-top_p", "Tab")
    expect(page.locator("[data-testid=error]")).to_be_hidden()
    page.goto(chat.base_url)  # same context: storage survives, the link's presets are gone
    chat.wait_state("ready")
    assert page.locator("#setting-top_p").input_value() == "0.5"
    assert page.locator("#setting-system").input_value() == SYSTEM
    assert page.locator("#setting-max_tokens").input_value() == "512"
    page.goto(chat.base_url + "?max_tokens=32")
    chat.wait_state("ready")
    assert page.locator("#setting-max_tokens").input_value() == "32"


def context_used(status: object) -> int:
    match = re.search(r"context ([\d,]+)/[\d,]+$", status.inner_text())  # type: ignore[attr-defined]
    assert match, status.inner_text()  # type: ignore[attr-defined]
    return int(match.group(1).replace(",", ""))


def test_new_chat_and_reply_figures(chat: PageSession) -> None:
    chat.open("?temperature=0&threads=1&max_tokens=24")
    chat.wait_state("ready")
    status = chat.page.locator("[data-testid=status]")
    assert "WASM, 1 thread " in status.inner_text()
    first = ask(chat, "What is the capital of France?")
    used = context_used(status)
    assert float(first.get_attribute("data-ttft-ms")) > 0  # type: ignore[attr-defined,arg-type]
    assert float(first.get_attribute("data-decode-tok-s")) > 0  # type: ignore[attr-defined,arg-type]
    assert 0 < int(first.get_attribute("data-generated")) <= 24  # type: ignore[attr-defined,arg-type]
    chat.page.click("[data-testid=new-chat]")  # handled by Python in the worker
    chat.page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=message]').length === 0", timeout=10_000
    )
    again = ask(chat, "What is the capital of France?")
    assert again.inner_text() == first.inner_text()  # type: ignore[attr-defined]
    # the thread was dropped: the same question fills the context exactly as before
    assert context_used(status) == used


# Where the composer's controls and the header's pickers sit, in CSS pixels.
LAYOUT = """() => {
  const box = (s) => { const r = document.querySelector(s).getBoundingClientRect();
                       return r.width ? [r.top, r.bottom] : null; };
  return { prompt: box("[data-testid=prompt]"), send: box("[data-testid=send]"),
           stop: box("[data-testid=stop]"), backend: box("[data-testid=backend]"),
           model: box("[data-testid=model]"), wide: document.documentElement.scrollWidth };
}"""


def beside(a: list[float], b: list[float]) -> bool:
    """Two boxes on one row: their vertical extents overlap."""
    return a[0] < b[1] and b[0] < a[1]


def test_a_phone_shows_one_button_beside_the_message_box(chat: PageSession) -> None:
    page = chat.page
    page.set_viewport_size({"width": 390, "height": 844})
    chat.open("?temperature=0&max_tokens=600")
    chat.wait_state("ready")
    idle = page.evaluate(LAYOUT)
    assert idle["wide"] <= 390  # nothing scrolls sideways
    assert idle["stop"] is None and beside(idle["send"], idle["prompt"])
    assert beside(idle["backend"], idle["model"])  # the two pickers share a row
    in_list = "() => document.getElementById('sidebar').contains(document.activeElement)"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "skip"  # the skip link, then
    page.keyboard.press("Tab")  # not the hidden chat list: it is not in the Tab order...
    assert page.evaluate("() => document.activeElement.id") == "sidebar-open"
    page.keyboard.press("Enter")  # ...until it is shown
    page.wait_for_function(in_list)
    for _ in range(8):  # and, shown, it keeps Tab in it: the page behind is out of reach
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement.id || document.activeElement.tagName")
        assert focused == "BODY" or page.evaluate(in_list), focused
    page.keyboard.press("Escape")
    assert page.evaluate("() => document.activeElement.id") == "sidebar-open"
    page.fill("[data-testid=prompt]", "Write a very long story about a dragon who learns to bake.")
    page.press("[data-testid=prompt]", "Enter")
    page.wait_for_function(
        "() => (document.querySelector('[data-testid=message][data-role=assistant]')"
        "?.textContent || '').length > 20"
    )
    busy = page.evaluate(LAYOUT)
    assert busy["send"] is None and beside(busy["stop"], busy["prompt"])
    page.click("[data-testid=stop]")
    page.locator(f'{ASSISTANT}[data-done="true"]').first.wait_for()
    assert page.locator(ASSISTANT).first.get_attribute("data-stopped") == "true"
    # Stop turns itself off: the keyboard is back in the message box, not on the page
    assert page.evaluate("() => document.activeElement.dataset.testid") == "prompt"
