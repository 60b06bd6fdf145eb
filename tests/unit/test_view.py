"""What the page is told: the view commands, the status texts, and the build→page contract."""

from __future__ import annotations

from dataclasses import replace

import build
from pyapp.chats import ChatMessage, MessageState
from pyapp.config import AppConfig, ChatSpec, ExecutionProvider, ModelEntry, ModelShape
from pyapp.settings import Backend
from pyapp.stats import ReplyStats, StopReason
from pyapp.status import (
    ModelOption,
    empty_hint,
    loading_text,
    picker_options,
    reading_text,
    ready_text,
)
from pyapp.templates import Role
from pyapp.view import View, message_view

LOCAL = ReplyStats(
    ttft_s=0.1504,
    reason=StopReason.EOS,
    prompt_tokens=30,
    cached_tokens=4,
    generated_tokens=7,
    decode_tok_s=27.456,
    context_used=41,
)
REMOTE = ReplyStats(ttft_s=0.25, reason=StopReason.EOS)  # a server that sent no usage


def test_message_view_carries_the_figures_the_tests_and_benchmark_read() -> None:
    message = ChatMessage(Role.ASSISTANT, "Paris.", id="m1", backend="browser", stats=LOCAL)
    view = message_view(message)
    assert view["data"] == {
        "ttftMs": "150.4",
        "decodeTokS": "27.46",
        "generated": "7",
        "promptTokens": "30",
    }
    assert (view["id"], view["role"], view["state"], view["text"]) == (
        "m1",
        "assistant",
        "done",
        "Paris.",
    )


def test_unknown_figures_are_left_out_not_zero() -> None:
    view = message_view(ChatMessage(Role.ASSISTANT, "Hi", stats=REMOTE))
    assert view["data"] == {"ttftMs": "250.0"}
    assert message_view(ChatMessage(Role.USER, "q", state=MessageState.DONE))["data"] == {}


def test_ready_text_shows_only_what_is_known() -> None:
    assert ready_text("in-browser, WASM", "SmolLM2", None) == "Ready · in-browser, WASM · SmolLM2"
    assert ready_text("in-browser, WASM", "SmolLM2", LOCAL, 8192) == (
        "Ready · in-browser, WASM · SmolLM2 · 27.5 tok/s · TTFT 150 ms · context 41/8,192"
    )
    stopped = ReplyStats(0.0, StopReason.CANCELLED, 1200, 0, 0, 0.0, 1200)  # while reading
    assert ready_text("in-browser, WASM", "SmolLM2", stopped, 8192) == (
        "Ready · in-browser, WASM · SmolLM2 · context 1,200/8,192"  # no "0.0 tok/s · TTFT 0 ms"
    )
    assert ready_text("Foundry Local at http://x", "phi", REMOTE) == (
        "Ready · Foundry Local at http://x · phi · TTFT 250 ms"
    )
    assert "TTFT 9999 ms" in ready_text("x", "y", replace(LOCAL, ttft_s=9.999))
    assert "TTFT 10 s" in ready_text("x", "y", replace(LOCAL, ttft_s=9.9996))  # not 10000 ms
    slow = replace(LOCAL, ttft_s=118.125)  # a 20,000-character paste on 2 cores
    assert ready_text("in-browser, WASM", "SmolLM2", slow, 8192) == (
        "Ready · in-browser, WASM · SmolLM2 · 27.5 tok/s · TTFT 118 s · context 41/8,192"
    )


def test_picker_and_loading_texts() -> None:
    options = [ModelOption("a:1", "a:1"), ModelOption("b:2", "b:2", loaded=False)]
    assert picker_options(options) == [("a:1", "a:1"), ("b:2", "b:2 (not loaded)")]
    assert loading_text("b:2") == "Loading b:2 in Foundry Local…"
    assert loading_text("b:2", 12.4) == "Loading b:2 in Foundry Local… 12 s"
    assert reading_text(0, 3000) == "Reading 0 of 3,000 new tokens…"
    assert reading_text(2816, 3000) == "Reading 2,816 of 3,000 new tokens…"
    assert reading_text(3000, 3000) == "Generating…"


def test_an_empty_chat_says_where_its_answers_would_come_from() -> None:
    assert empty_hint(Backend.BROWSER, "in-browser, WASM") == (
        "Ask anything. The model runs in this browser: what you write stays on this device. "
        "Attach a file, or drop one on the message box, to ask about it."
    )
    assert "Replies come from Foundry Local at http://x." in empty_hint(
        Backend.FOUNDRY, "Foundry Local at http://x"
    )
    assert "personal data always stays here" in empty_hint(Backend.AUTO, "", foundry=True)
    assert "every message is answered in this browser" in empty_hint(Backend.AUTO, "")
    assert empty_hint(None, "") == ""  # nothing answers yet: no promise to make


def test_view_commands_are_plain_data() -> None:
    sent: list[dict[str, object]] = []
    view = View(sent.append)
    view.banner("Foundry is down", "Use the in-browser model")
    view.models([("a", "A")], "a")
    view.remove(["m1"])
    view.phases({"python": 2.71828, "session": 1.5})
    assert sent == [
        {
            "op": "banner",
            "text": "Foundry is down",
            "action": "Use the in-browser model",
            "kind": "error",
        },
        {"op": "models", "options": [["a", "A"]], "selected": "a"},
        {"op": "remove", "ids": ["m1"]},
        {"op": "phases", "seconds": {"python": 2.718, "session": 1.5}},
    ]


def entry() -> ModelEntry:
    return ModelEntry(
        id="m",
        label="M",
        path="models/m-1/",
        graph="model.page.onnx",
        tokenizer="tokenizer.json",
        data=("model.onnx.data",),
        files=("model.onnx", "model.onnx.data", "model.page.onnx"),
        bytes=123,
        shape=ModelShape(2, 1, 64, (2,), 8192, 100),
        chat=ChatSpec("{{ messages }}", {"eos_token": "<e>"}),
    )


def test_the_config_the_build_writes_is_the_config_the_page_reads() -> None:
    dirs = {"pyodide": "vendor/pyodide-1", "dompurify": "vendor/dompurify-2", "ort": "vendor/ort-3"}
    written = build.app_config(dirs, [entry()])
    config = AppConfig.from_json(written)
    assert config.models == (entry(),)
    assert config.ort[ExecutionProvider.WASM] == "./vendor/ort-3/ort.wasm.min.mjs"
    assert config.vendor["pyodide"] == "./vendor/pyodide-1/"
    assert config.to_json() == written
    assert config.model("nope") == config.model("m") == entry()


def test_a_reply_cut_off_by_max_tokens_is_marked() -> None:
    cut = ReplyStats(ttft_s=0.25, reason=StopReason.MAX_TOKENS)
    assert (
        message_view(ChatMessage(Role.ASSISTANT, "Once upon", stats=cut))["data"]["cut"] == "true"
    )
    assert "cut" not in message_view(ChatMessage(Role.ASSISTANT, "Hi", stats=REMOTE))["data"]
