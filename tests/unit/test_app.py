"""The app's page policy in CPython: what the page is told, in what order, for each event."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from pyapp.app import CHANGING_ELSEWHERE, REPLYING_ELSEWHERE, App, Provider
from pyapp.backends import Backend as ChatBackend
from pyapp.backends import BackendKind
from pyapp.chats import chat_to_json
from pyapp.errors import EngineError, ModelLoadError, RemoteError, StorageError
from pyapp.library import Library, Tab
from pyapp.redraw import FIRST_S, STREAM_EVERY_S, STREAM_SETTLED_S, Redraw
from pyapp.settings import SAVED, Backend, Preferences, Settings
from pyapp.status import ModelOption, empty_hint, reading_text
from pyapp.view import View
from tests.conftest import run_async
from tests.support.memory import MemoryRecords
from tests.support.scripted import Script, ScriptedBackend


class Page:
    """Records what the app tells the page."""

    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []

    def __call__(self, op: dict[str, Any]) -> None:
        self.ops.append(op)

    def last(self, name: str) -> dict[str, Any]:
        return next(op for op in reversed(self.ops) if op["op"] == name)

    def names(self) -> list[str]:
        return [op["op"] for op in self.ops]


class FakeProvider:
    def __init__(self, backend: ChatBackend | None, error: Exception | None = None) -> None:
        self.backend, self.error, self.opened = backend, error, 0
        self.progress: Callable[[str], None] = lambda text: None  # the app's, once opened

    @property
    def where(self) -> str:
        return "somewhere"

    async def models(self) -> list[ModelOption]:
        assert self.backend is not None
        return [
            ModelOption(self.backend.model_id, self.backend.model),
            ModelOption("x", "X", False),
        ]

    async def reachable(self) -> bool:
        return not (isinstance(self.error, RemoteError) and self.error.unreachable)

    async def open(self, model: str | None, progress: Callable[[str], None]) -> ChatBackend:
        progress("Loading the model…")
        self.progress = progress
        self.opened += 1
        if self.error is not None:
            raise self.error
        assert self.backend is not None
        return self.backend


class Store:
    def __init__(self, error: StorageError | None = None) -> None:
        self.saved: list[dict[str, Any]] = []
        self.error = error

    async def load(self) -> object:
        return None

    async def save(self, data: dict[str, Any]) -> None:
        if self.error:
            raise self.error
        self.saved.append(data)


def make_app(
    replies: list[Script],
    query: str = "",
    foundry: FakeProvider | None = None,
    store: Store | None = None,
    records: MemoryRecords | None = None,
    saved: dict[str, Any] | None = None,
    browser_error: Exception | None = None,
    tab: Tab | None = None,
) -> tuple[App, Page, ScriptedBackend, Store]:
    page, backend, store = Page(), ScriptedBackend(replies), store or Store()
    prefs, problems = Preferences.load(saved, query)
    providers: dict[Backend, Provider] = {Backend.BROWSER: FakeProvider(backend, browser_error)}
    if foundry is not None:
        providers[Backend.FOUNDRY] = foundry
    library = Library(records if records is not None else MemoryRecords(), tab)
    app = App(View(page), prefs, providers, store, library)
    run_async(app.start(problems))
    return app, page, backend, store


def test_boot_shows_settings_models_and_a_ready_status() -> None:
    _, page, _, _ = make_app([])
    assert page.last("settings")["values"]["max_tokens"] == "512"
    assert page.last("models") == {
        "op": "models",
        "options": [["scripted", "Scripted"], ["x", "X (not loaded)"]],
        "selected": "scripted",
    }
    assert page.last("status") == {
        "op": "status",
        "state": "ready",
        "text": "Ready · somewhere · Scripted",
    }
    assert page.last("controls") == {"op": "controls", "busy": False, "ready": True}
    assert {"op": "status", "state": "loading", "text": "Loading the model…"} in page.ops
    assert page.last("backend")["hint"] == empty_hint(Backend.BROWSER, "somewhere")


def test_a_long_prompt_being_read_shows_how_far_while_the_reply_is_generating() -> None:
    app, page, _, _ = make_app([Script(["Sum", "mary."])])
    provider = app.providers[Backend.BROWSER]
    assert isinstance(provider, FakeProvider)
    session = app.session
    assert session is not None
    reply = session.backend.reply

    def reading(*args: Any) -> Any:  # the in-page model reports as it reads, then writes
        provider.progress(reading_text(512, 2177))
        provider.progress(reading_text(2177, 2177))
        return reply(*args)

    session.backend.reply = reading  # type: ignore[method-assign]
    page.ops.clear()
    run_async(app.handle({"type": "send", "text": "A long paste"}))
    told = [(op["state"], op["text"]) for op in page.ops if op["op"] == "status"]
    assert told[:3] == [
        ("generating", "Generating…"),
        ("generating", "Reading 512 of 2,177 new tokens…"),
        ("generating", "Generating…"),
    ]
    assert told[-1][0] == "ready"


def test_a_bad_url_parameter_stays_visible_once_ready() -> None:
    _, page, _, _ = make_app([], query="?temperature=hot")
    assert page.names()[-1] == "banner"
    assert "temperature='hot'" in page.last("banner")["text"]


def test_send_clears_the_prompt_streams_and_draws_the_final_message_after_ready() -> None:
    app, page, _, _ = make_app([Script(["Par", "is."])])
    page.ops.clear()
    run_async(app.handle({"type": "send", "text": "  Capital of France?  "}))
    assert {"op": "prompt", "text": ""} in page.ops
    messages = [op["item"] for op in page.ops if op["op"] == "message"]
    assert messages[0]["role"] == "user" and messages[0]["text"] == "Capital of France?"
    final = messages[-1]
    assert (final["text"], final["state"], final["role"]) == ("Paris.", "done", "assistant")
    # the page is ready before the reply is marked done
    names = page.names()
    assert names.index("controls", names.index("status")) < len(names) - 1
    assert names[-1] == "message"
    assert page.last("status")["state"] == "ready" and "TTFT" in page.last("status")["text"]


def test_a_failed_reply_gives_the_prompt_back_and_removes_its_bubbles() -> None:
    from pyapp.errors import EngineError

    app, page, _, _ = make_app([Script(["x"], error=EngineError("ONNX Runtime failed"))])
    run_async(app.handle({"type": "send", "text": "hi"}))
    removed = page.last("remove")["ids"]
    added = [op["item"]["id"] for op in page.ops if op["op"] == "message"]
    assert sorted(removed) == sorted(added)
    assert page.last("give_back") == {"op": "give_back", "text": "hi"}
    assert page.last("banner")["text"] == "ONNX Runtime failed"
    assert page.last("status")["state"] == "ready"


def test_events_while_busy_do_not_start_a_second_reply() -> None:
    app, page, backend, _ = make_app([Script(["a"])])
    app.busy = True
    run_async(app.handle({"type": "send", "text": "hi"}))
    assert backend.asked == []


def test_an_unreachable_server_says_the_in_browser_model_still_answers() -> None:
    down = FakeProvider(None, RemoteError("Foundry Local is not reachable.", unreachable=True))
    app, page, _, store = make_app([], foundry=down)
    run_async(app.handle({"type": "backend", "value": "foundry"}))
    assert page.last("banner") == {
        "op": "banner",
        "text": "Foundry Local is not reachable. "
        "Replies still come from the model in this browser.",
        "action": None,  # nothing to switch to: it already answers
        "kind": "error",
    }
    assert page.last("backend")["value"] == "browser"  # still answering with the browser
    assert store.saved == []  # a backend that did not open is not remembered


def test_a_saved_server_down_at_boot_leaves_the_in_browser_model_answering() -> None:
    down = FakeProvider(None, RemoteError("Foundry Local is not reachable.", unreachable=True))
    app, page, local, store = make_app(
        [Script(["Hi."])], foundry=down, saved={"backend": "foundry"}
    )
    assert app.active == Backend.BROWSER and page.last("status")["state"] == "ready"
    assert page.last("banner") == {
        "op": "banner",
        "text": "Foundry Local is not reachable. "
        "For now, replies come from the model in this browser.",
        "action": "Try Foundry Local again",
        "kind": "error",
    }
    assert page.last("backend")["value"] == "browser"
    run_async(app.handle({"type": "send", "text": "Hello"}))
    assert local.asked and store.saved == []  # answered here; Foundry stays the saved choice
    run_async(app.handle({"type": "banner_action"}))  # still down: said, the model stays
    assert page.last("banner")["text"].endswith(
        "Replies still come from the model in this browser."
    )
    assert app.active == Backend.BROWSER and down.opened == 2
    remote = ScriptedBackend([], kind=BackendKind.FOUNDRY, model_id="big", model="big")
    down.backend, down.error = remote, None  # it has started
    page.ops.clear()
    run_async(app.handle({"type": "backend", "value": "foundry"}))
    assert app.active == Backend.FOUNDRY and app.session is not None
    assert app.session.backend is remote and page.last("backend")["value"] == "foundry"


def test_a_saved_server_down_at_boot_offers_itself_again_from_the_banner() -> None:
    down = FakeProvider(None, RemoteError("Foundry Local is not reachable.", unreachable=True))
    app, page, _, _ = make_app([], foundry=down, saved={"backend": "foundry"})
    down.backend = ScriptedBackend([], kind=BackendKind.FOUNDRY, model_id="big", model="big")
    down.error = None
    run_async(app.handle({"type": "banner_action"}))
    assert app.active == Backend.FOUNDRY and app.session is not None
    assert app.session.backend is down.backend and page.last("status")["state"] == "ready"


def test_a_server_that_answers_with_an_error_at_boot_is_not_replaced() -> None:
    broken = FakeProvider(None, RemoteError("Foundry Local has no model called 'big'."))
    app, page, local, _ = make_app([], foundry=broken, saved={"backend": "foundry"})
    assert app.session is None and local.asked == []  # its error is the user's to act on
    assert page.last("status") == {
        "op": "status",
        "state": "error",
        "text": "No backend is available",
    }
    assert page.last("banner")["text"] == "Foundry Local has no model called 'big'."


def test_when_the_in_browser_model_fails_too_both_failures_are_said() -> None:
    down = FakeProvider(None, RemoteError("Foundry Local is not reachable.", unreachable=True))
    app, page, _, _ = make_app(
        [],
        foundry=down,
        saved={"backend": "foundry"},
        browser_error=ModelLoadError("The model file is damaged."),
    )
    assert app.session is None and page.last("status")["state"] == "error"
    assert page.last("banner")["text"] == (
        "Foundry Local is not reachable. The model file is damaged."
    )


def test_a_links_backend_and_system_prompt_are_said_with_a_way_back() -> None:
    remote = ScriptedBackend(
        [Script(["Ahoy."])], kind=BackendKind.FOUNDRY, model_id="big", model="big"
    )
    app, page, _, store = make_app(
        [Script(["Arr."])],
        query="?backend=foundry&system=Talk%20like%20a%20pirate",
        foundry=FakeProvider(remote),
    )
    assert page.last("banner") == {
        "op": "banner",
        "text": "This link set the backend to Foundry Local and the system prompt to "
        "“Talk like a pirate” (for this visit only).",
        "action": "Use my settings",
        "kind": "info",
    }
    assert app.session is not None and app.session.backend is remote
    assert page.last("link_preset")["text"] == page.last("banner")["text"]  # a lasting sign
    shown = page.last("settings")  # the link's prompt, and the one "Use default" puts back
    assert shown["values"]["system"] == "Talk like a pirate"
    assert shown["defaults"]["system"] == "You are a helpful assistant."
    run_async(app.handle({"type": "send", "text": "Hi"}))  # the banner goes, the sign stays
    assert page.last("link_preset")["text"] is not None and app.view.shown is None
    run_async(app.handle({"type": "link_notice"}))  # the sign, clicked: named again
    assert page.last("banner")["action"] == "Use my settings"
    run_async(app.handle({"type": "banner_action"}))
    assert page.last("link_preset") == {"op": "link_preset", "text": None}
    assert page.last("forget_params")["names"] == list(SAVED)  # a reload keeps them away
    assert app.active == Backend.BROWSER and app.session.backend is not remote
    assert page.last("settings")["values"]["system"] == "You are a helpful assistant."
    assert page.last("backend")["value"] == "browser"
    assert page.names()[-1] != "banner" and app.view.shown is None
    run_async(app.handle({"type": "send", "text": "Hi"}))
    assert app.session.backend.asked[0][0].content == "You are a helpful assistant."  # type: ignore[attr-defined]
    assert store.saved == []  # nothing was saved: the saved settings simply apply again


def test_a_failure_at_boot_keeps_its_button_beside_the_links_presets() -> None:
    down = FakeProvider(None, RemoteError("Foundry Local is not reachable.", unreachable=True))
    app, page, _, _ = make_app(
        [Script(["Hi."])],
        query="?backend=foundry&system=Arr&temperature=hot&top_p=2",
        foundry=down,
    )
    banner = page.last("banner")
    assert banner["action"] == "Try Foundry Local again" and banner["kind"] == "error"
    assert app.active == Backend.BROWSER and app.prefs.effective.system == "Arr"
    assert banner["text"] == (
        "Foundry Local is not reachable. For now, replies come from the model in this browser. "
        "Ignored URL parameter temperature='hot': expected a number from 0 to 2. "
        "Ignored URL parameter top_p='2': expected a number from 0 to 1. "
        "This link set the backend to Foundry Local and the system prompt to “Arr” "
        "(for this visit only)."
    )
    run_async(app.handle({"type": "banner_action"}))  # tried again: still down
    assert app.active == Backend.BROWSER and down.opened == 2
    run_async(app.handle({"type": "link_notice"}))  # the presets' sign: my settings back
    assert page.last("banner")["action"] == "Use my settings"
    run_async(app.handle({"type": "banner_action"}))
    assert app.active == Backend.BROWSER and app.prefs.effective.system == Settings().system
    assert page.last("status")["state"] == "ready"


def test_switching_backend_keeps_the_chat_and_is_remembered() -> None:
    remote = ScriptedBackend(
        [Script(["Berlin."])], kind=BackendKind.FOUNDRY, model_id="big", model="big"
    )
    app, page, _, store = make_app([Script(["Paris."])], foundry=FakeProvider(remote))
    run_async(app.handle({"type": "send", "text": "Capital of France?"}))
    run_async(app.handle({"type": "backend", "value": "foundry"}))
    run_async(app.handle({"type": "send", "text": "And of Germany?"}))
    assert [m.content for m in remote.asked[0]][-3:] == [
        "Capital of France?",
        "Paris.",
        "And of Germany?",
    ]
    assert store.saved[-1]["backend"] == "foundry"
    assert page.last("backend")["hint"] == empty_hint(Backend.FOUNDRY, "somewhere")


def test_editing_a_presets_field_ends_its_sign() -> None:
    app, page, _, _ = make_app([], query="?system=Arr&temperature=0")
    assert page.last("link_preset")["text"] is not None
    run_async(app.handle({"type": "setting", "name": "system", "value": "Be kind."}))
    assert page.last("link_preset") == {"op": "link_preset", "text": None}
    quiet, page, _, _ = make_app([], query="?temperature=0")  # tuning only: no sign
    assert page.last("link_preset") == {"op": "link_preset", "text": None}


def test_the_value_in_use_typed_again_clears_a_refusal_and_changes_nothing() -> None:
    app, page, _, store = make_app([], query="?system=Arr&temperature=0")
    run_async(app.handle({"type": "setting", "name": "temperature", "value": "9"}))
    assert page.last("banner")["text"] == "Temperature takes a number from 0 to 2; it stays at 0."
    saves = len(store.saved)
    page.ops.clear()
    run_async(app.handle({"type": "setting_kept", "name": "temperature"}))
    assert page.names() == ["banner_hide"] and app.view.shown is None
    assert len(store.saved) == saves and app.prefs.overrides["temperature"] == 0.0  # a preset
    run_async(app.handle({"type": "setting_kept", "name": "temperature"}))  # nothing to hide
    assert page.names() == ["banner_hide"]


def test_settings_edits_are_saved_but_url_presets_are_not() -> None:
    app, page, _, store = make_app(
        [Script(["ok"])], query="?system=Speak%20like%20a%20pirate&max_tokens=64"
    )
    assert app.prefs.effective.system == "Speak like a pirate"
    run_async(app.handle({"type": "setting", "name": "temperature", "value": "0.2"}))
    assert store.saved[-1]["temperature"] == 0.2
    assert store.saved[-1]["system"] == "You are a helpful assistant."  # the link's is not kept
    assert store.saved[-1]["max_tokens"] == 512
    run_async(app.handle({"type": "setting", "name": "max_tokens", "value": "lots"}))
    assert page.last("banner")["text"] == (
        "Max tokens takes a whole number from 1 to 32768; it stays at 64."
    )
    assert page.last("settings")["values"]["max_tokens"] == "64"  # the field is put back
    run_async(app.handle({"type": "setting", "name": "temperature", "value": ""}))
    assert page.last("banner")["text"] == "Temperature takes a number from 0 to 2; it stays at 0.2."
    assert page.last("settings")["values"]["temperature"] == "0.2"
    assert store.saved[-1]["temperature"] == 0.2
    page.ops.clear()
    run_async(app.handle({"type": "setting", "name": "top_p", "value": "0.5"}))
    assert "banner_hide" in page.names() and app.view.shown is None  # old news now
    run_async(app.handle({"type": "setting", "name": "temperature", "value": "0"}))
    app.view.settings(app.prefs.effective)
    assert page.last("settings")["values"]["temperature"] == "0"  # as typed, not "0.0"


def test_a_value_taken_leaves_a_banner_that_is_not_about_settings() -> None:
    app, page, _, _ = make_app([Script(["Hi."])])
    run_async(app.handle({"type": "setting", "name": "max_tokens", "value": "lots"}))
    app.view.banner("Deleted “Hi”.", "Undo", kind="info")
    run_async(app.handle({"type": "setting", "name": "top_p", "value": "0.5"}))
    assert app.view.shown is not None and app.view.shown.action == "Undo"


def test_storage_that_refuses_is_reported_and_the_setting_still_applies() -> None:
    app, page, _, _ = make_app([], store=Store(StorageError("browser storage is full")))
    run_async(app.handle({"type": "setting", "name": "system", "value": "Be terse."}))
    assert "storage is full" in page.last("banner")["text"]
    assert app.prefs.effective.system == "Be terse."


def test_a_reload_after_new_chat_opens_the_new_chat_not_the_last_one() -> None:
    records = MemoryRecords()
    app, _, _, _ = make_app([Script(["Paris."])], records=records)
    run_async(app.handle({"type": "send", "text": "Capital of France?"}))
    run_async(app.handle({"type": "new_chat"}))
    reloaded, page, _, _ = make_app([], records=records)
    assert reloaded.chat.messages == [] and page.last("messages") == {"op": "messages", "items": []}
    assert [s.title for s in reloaded.library.summaries()] == ["Capital of France?"]  # kept


def test_a_reload_reopens_this_tabs_chat_and_a_new_tab_the_one_opened_last() -> None:
    records, tab_a, tab_b = MemoryRecords(), Tab(), Tab()
    a, _, _, _ = make_app([Script(["Paris."])], records=records, tab=tab_a)
    run_async(a.handle({"type": "send", "text": "Capital of France?"}))
    b, _, _, _ = make_app([Script(["Rome."])], records=records, tab=tab_b)
    assert b.chat.id == a.chat.id  # a new tab: the profile's last open chat
    run_async(b.handle({"type": "new_chat"}))
    run_async(b.handle({"type": "send", "text": "Capital of Italy?"}))
    reloaded_a, _, _, _ = make_app([], records=records, tab=tab_a)
    assert reloaded_a.chat.title == "Capital of France?"  # its own, not B's newer one
    new_tab, _, _, _ = make_app([], records=records, tab=Tab())
    assert new_tab.chat.title == "Capital of Italy?"
    run_async(b.handle({"type": "new_chat"}))  # B's new, empty chat...
    reloaded_b, _, _, _ = make_app([], records=records, tab=tab_b)
    assert reloaded_b.chat.messages == []  # ...is what B's reload shows, not A's chat


def test_a_new_tab_keeps_the_chat_it_opened_with_across_its_reload() -> None:
    records = MemoryRecords()
    a, _, _, _ = make_app([Script(["Paris."]), Script(["Rome."])], records=records, tab=Tab())
    run_async(a.handle({"type": "send", "text": "Capital of France?"}))
    france = a.chat.id
    run_async(a.handle({"type": "new_chat"}))
    run_async(a.handle({"type": "send", "text": "Capital of Italy?"}))
    italy = a.chat.id
    run_async(a.handle({"type": "open_chat", "id": france}))
    tab_c = Tab()
    c, _, _, _ = make_app([], records=records, tab=tab_c)  # a new tab: the last opened
    assert c.chat.id == france
    run_async(a.handle({"type": "open_chat", "id": italy}))  # another tab opens another
    reloaded_c, _, _, _ = make_app([], records=records, tab=tab_c)
    assert reloaded_c.chat.id == france  # the one this tab showed


def test_a_chat_deleted_in_another_tab_does_not_change_what_a_reload_reopens() -> None:
    records = MemoryRecords()
    tab_a, _, _, _ = make_app([Script(["Paris."])], records=records)
    run_async(tab_a.handle({"type": "send", "text": "Capital of France?"}))
    gone = tab_a.chat.id
    tab_b, _, _, _ = make_app([Script(["Rome."])], records=records)
    run_async(tab_b.handle({"type": "new_chat"}))
    run_async(tab_b.handle({"type": "send", "text": "Capital of Italy?"}))
    run_async(tab_b.handle({"type": "delete", "id": gone}))
    run_async(tab_a.handle({"type": "chat_changed", "id": gone}))  # B's broadcast
    assert tab_a.chat.messages == [] and records.open_id == tab_b.chat.id  # B's, kept


def test_new_chat_empties_the_thread_but_not_the_message_box() -> None:
    app, page, backend, _ = make_app([Script(["Paris."]), Script(["Hello."])])
    run_async(app.handle({"type": "send", "text": "Capital of France?"}))
    assert "TTFT" in page.last("status")["text"]
    page.ops.clear()
    run_async(app.handle({"type": "new_chat"}))
    assert page.last("messages") == {"op": "messages", "items": []}
    assert "prompt" not in page.names()  # a draft typed meanwhile is not wiped
    # the last reply's figures belong to the chat that was left
    assert page.last("status") == {
        "op": "status",
        "state": "ready",
        "text": "Ready · somewhere · Scripted",
    }
    assert app.session is not None and app.session.chat.messages == []
    run_async(app.handle({"type": "send", "text": "Hi"}))
    assert [m.content for m in backend.asked[-1]] == ["You are a helpful assistant.", "Hi"]


def test_unknown_or_malformed_events_are_ignored() -> None:
    app, page, backend, _ = make_app([])
    before = list(page.ops)
    for event in ({"type": "launch_missiles"}, {"type": "backend", "value": "cloud"}, {}):
        run_async(app.handle(event))
    assert page.ops == before and backend.asked == []


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_streaming_reply_redraws_quickly_at_first_then_ten_times_a_second() -> None:
    """Plain text (no Markdown): every 50 ms during the first second, every 100 ms after."""
    clock = FakeClock()
    redraw = Redraw(None, clock)
    drawn = []
    for _ in range(int(2.0 / 0.01)):
        if redraw.due("text") is not False:
            drawn.append(round(clock.now - 100.0, 2))
        clock.now += 0.01
    early = [t for t in drawn if t < FIRST_S]
    late = [t for t in drawn if t >= FIRST_S + STREAM_SETTLED_S]
    assert early[:3] == [0.0, STREAM_EVERY_S, 2 * STREAM_EVERY_S]
    assert len(early) == round(FIRST_S / STREAM_EVERY_S)
    gaps = {round(b - a, 2) for a, b in zip(late, late[1:], strict=False)}
    assert gaps == {STREAM_SETTLED_S}


async def _mid_reply(app: App, page: Page, text: str, then: dict[str, Any]) -> None:
    """Send `text`, and deliver `then` once the reply has streamed a few chunks."""

    async def later() -> None:
        while sum(op["op"] == "message" for op in page.ops) < 4:
            await asyncio.sleep(0)
        await app.handle(then)

    await asyncio.gather(app.handle({"type": "send", "text": text}), later())


def test_opening_another_chat_mid_reply_stops_the_reply_keeps_its_text_and_opens_it() -> None:
    endless = Script([f"word{i} " for i in range(10_000)])
    app, page, backend, _ = make_app([Script(["Paris."]), endless])
    run_async(app.handle({"type": "send", "text": "Capital of France?"}))
    first = app.chat
    run_async(app.handle({"type": "new_chat"}))
    page.ops.clear()
    run_async(_mid_reply(app, page, "Count for ever", {"type": "open_chat", "id": first.id}))
    assert app.chat is first
    assert [m.text for m in first.messages] == ["Capital of France?", "Paris."]
    assert page.last("messages")["items"][-1]["text"] == "Paris."
    # nothing of the stopped reply is drawn over the chat that was opened
    names = page.names()
    assert "message" not in names[names.index("messages") :]
    left = next(c for c in app.library.chats.values() if c is not first)
    reply = left.messages[-1]
    assert reply.state.value == "stopped" and 0 < len(reply.text.split()) < 10_000
    assert backend.last_stats is not None and backend.last_stats.reason.value == "cancelled"
    assert page.last("controls") == {"op": "controls", "busy": False, "ready": True}


def test_deleting_the_chat_being_written_stops_its_reply_first() -> None:
    endless = Script([f"word{i} " for i in range(10_000)])
    app, page, _, _ = make_app([endless])
    chat = app.chat
    run_async(_mid_reply(app, page, "Count for ever", {"type": "delete", "id": chat.id}))
    assert chat.id not in app.library.chats and app.chat is not chat
    assert page.last("messages") == {"op": "messages", "items": []}
    assert page.last("banner")["action"] == "Undo"
    run_async(app.handle({"type": "banner_action"}))  # Undo brings it back, stopped reply and all
    assert app.library.chats[chat.id].messages[-1].state.value == "stopped"
    assert app.chat is app.library.chats[chat.id]  # and opens it again: it was the open one
    assert page.last("messages")["items"][-1]["state"] == "stopped"


def test_files_attached_but_not_sent_survive_a_reload_until_sent() -> None:
    records = MemoryRecords()
    app, _, _, _ = make_app([], records=records)
    run_async(app.handle({"type": "attach", "name": "notes.txt", "data": b"Buy milk."}))
    assert len(records.pending) == 1
    again, page, local, _ = make_app([Script(["Noted."])], records=records)  # reloaded
    assert [f.name for f in again.pending] == ["notes.txt"]
    assert page.last("attachments")["items"][0]["name"] == "notes.txt"
    run_async(again.handle({"type": "send", "text": "What does it say?"}))
    assert "Buy milk." in local.asked[0][-1].content and records.pending == []


def test_the_same_file_attached_twice_is_kept_once() -> None:
    app, page, _, _ = make_app([])
    for data in (b"Buy milk.", b"Buy milk.", b"Buy bread."):  # the last: same name, new text
        run_async(app.handle({"type": "attach", "name": "notes.txt", "data": data}))
    assert [f.text for f in app.pending] == ["Buy milk.", "Buy bread."]
    said = [op["text"] for op in page.ops if op["op"] == "banner"]
    assert said == ["notes.txt is attached already."]


def test_deletes_in_a_row_are_all_undone_by_one_undo() -> None:
    app, page, _, _ = make_app([Script(["1"]), Script(["2"]), Script(["3"])])
    for text in ("One", "Two", "Three"):
        run_async(app.handle({"type": "new_chat"}))
        run_async(app.handle({"type": "send", "text": text}))
    ids = [s.id for s in app.library.summaries()]
    run_async(app.handle({"type": "delete", "id": ids[0]}))
    run_async(app.handle({"type": "delete", "id": ids[1]}))
    assert page.last("banner")["text"] == "Deleted 2 chats: “Three” and “Two”."
    run_async(app.handle({"type": "banner_action"}))
    assert sorted(s.title for s in app.library.summaries()) == ["One", "Three", "Two"]
    assert app.chat.title == "Three"  # the open one, deleted first, is open again
    run_async(app.handle({"type": "delete", "id": ids[2]}))  # a new banner: a new count
    assert page.last("banner")["text"] == "Deleted “One”."


@pytest.mark.parametrize(
    ("foundry", "elsewhere"),
    [
        (None, ""),  # none set up
        (
            lambda: FakeProvider(ScriptedBackend([], kind=BackendKind.FOUNDRY)),
            ", or use Foundry Local",
        ),
        (lambda: FakeProvider(None, RemoteError("down", unreachable=True)), ""),  # does not answer
    ],
)
def test_a_reply_that_cannot_see_the_oldest_messages_says_so(
    foundry: Callable[[], FakeProvider] | None, elsewhere: str
) -> None:
    app, page, backend, _ = make_app(
        [Script(["a " * 20]), Script(["b"]), Script(["c"]), Script(["d"])],
        query="?max_tokens=10&system=sys",
        foundry=foundry() if foundry is not None else None,
    )
    backend.context_length = 40  # counted in words
    run_async(app.handle({"type": "send", "text": "first question here"}))
    run_async(app.handle({"type": "send", "text": "second question"}))
    assert not [op for op in page.ops if op["op"] == "banner" and "no longer sees" in op["text"]]
    run_async(app.handle({"type": "send", "text": "third"}))
    assert page.last("banner")["text"] == (
        "The model no longer sees the first 2 messages of this chat: they do not fit in its "
        "context (40 tokens) beside the rest, and from now on the oldest go first. They are "
        f"kept here. For a reply that knows them, start a New chat with what matters{elsewhere}."
    )
    assert page.last("banner")["kind"] == "info" and len(app.chat.messages) == 6
    page.ops.clear()
    run_async(app.handle({"type": "send", "text": "fourth"}))  # said once, not every turn
    assert backend.asked[-1][1].content != "first question here"
    assert not [op for op in page.ops if op["op"] == "banner" and "no longer sees" in op["text"]]


def test_a_new_chat_whose_first_reply_failed_is_not_listed() -> None:
    app, page, _, _ = make_app([Script(["x"], error=EngineError("boom"))])
    run_async(app.handle({"type": "send", "text": "    indented\ncode  "}))
    assert page.last("chats")["items"] == []
    assert page.last("give_back")["text"] == "    indented\ncode  "  # given back as typed
    assert page.last("status")["text"] == "Ready · somewhere · Scripted"  # no figures


def test_a_chat_another_tab_wrote_is_taken_so_nothing_is_overwritten() -> None:
    records = MemoryRecords()  # one browser profile, two tabs
    tab_a, page_a, _, _ = make_app([Script(["Paris."]), Script(["Berlin."])], records=records)
    run_async(tab_a.handle({"type": "send", "text": "Capital of France?"}))
    tab_b, page_b, _, _ = make_app([Script(["Rome."])], records=records)
    assert tab_b.chat.id == tab_a.chat.id  # B opened the chat A had open
    run_async(tab_a.handle({"type": "send", "text": "And of Germany?"}))
    page_b.ops.clear()
    run_async(tab_b.handle({"type": "chat_changed", "id": tab_a.chat.id}))  # A's broadcast
    drawn = [op["item"]["text"] for op in page_b.ops if op["op"] == "message"]
    assert drawn == ["And of Germany?", "Berlin."]  # only what is new is drawn
    run_async(tab_b.handle({"type": "send", "text": "And of Italy?"}))
    kept = records.records[tab_a.chat.id]["messages"]
    assert [m["text"] for m in kept] == [  # type: ignore[index]
        "Capital of France?",
        "Paris.",
        "And of Germany?",
        "Berlin.",
        "And of Italy?",
        "Rome.",
    ]


def test_a_chat_deleted_in_another_tab_is_closed_here() -> None:
    records = MemoryRecords()
    tab_a, _, _, _ = make_app([Script(["Paris."])], records=records)
    run_async(tab_a.handle({"type": "send", "text": "Capital of France?"}))
    tab_b, page_b, _, _ = make_app([], records=records)
    gone = tab_a.chat.id
    run_async(tab_a.handle({"type": "delete", "id": gone}))
    run_async(tab_b.handle({"type": "chat_changed", "id": gone}))
    assert tab_b.chat.id != gone and page_b.last("messages")["items"] == []
    assert page_b.last("chats")["items"] == []
    assert page_b.last("banner")["text"] == "The open chat was deleted in another tab."


def test_a_deleted_chat_is_named_without_doubled_punctuation() -> None:
    app, page, _, _ = make_app([Script(["Hello!"]), Script(["4"])])
    run_async(app.handle({"type": "send", "text": "Say hello."}))
    run_async(app.handle({"type": "delete", "id": app.chat.id}))
    assert page.last("banner")["text"] == "Deleted “Say hello.”"
    run_async(app.handle({"type": "send", "text": "What is 2+2"}))
    run_async(app.handle({"type": "delete", "id": app.chat.id}))
    assert page.last("banner")["text"] == "Deleted “What is 2+2”."


class SlowProvider(FakeProvider):
    """Opens its model only once `go` is set."""

    def __init__(self, backend: ChatBackend) -> None:
        super().__init__(backend)
        self.go = asyncio.Event()

    async def open(self, model: str | None, progress: Callable[[str], None]) -> ChatBackend:
        await self.go.wait()
        return await super().open(model, progress)


def test_leaving_a_chat_while_a_model_loads_says_to_wait() -> None:
    slow = SlowProvider(ScriptedBackend([], kind=BackendKind.FOUNDRY, model_id="big"))
    app, page, _, _ = make_app([Script(["Paris."])], foundry=slow)
    run_async(app.handle({"type": "send", "text": "Capital of France?"}))
    chat = app.chat

    async def switch_then_leave() -> None:
        switching = asyncio.ensure_future(app.handle({"type": "backend", "value": "foundry"}))
        await asyncio.sleep(0)
        await app.handle({"type": "new_chat"})
        slow.go.set()
        await switching

    run_async(switch_then_leave())
    assert app.chat is chat
    assert {
        "op": "banner",
        "text": "A model is still loading: try again once it is ready.",
        "action": None,
        "kind": "info",
    } in page.ops


def test_a_chat_exports_as_markdown_named_after_its_title() -> None:
    app, page, _, _ = make_app([Script(["Paris."])])
    run_async(app.handle({"type": "export_markdown"}))
    assert page.last("banner")["text"].startswith("This chat is empty")
    run_async(app.handle({"type": "send", "text": "Capital of  France -- & Spain?!"}))
    run_async(app.handle({"type": "export_markdown"}))
    download = page.last("download")
    assert download["name"] == "capital-of-france-spain.md", download
    assert "**You**\n\nCapital of  France -- & Spain?!" in download["text"]


def test_an_edit_that_replaced_later_messages_offers_undo() -> None:
    records = MemoryRecords()
    app, page, _, _ = make_app(
        [Script(["Paris."]), Script(["Berlin."]), Script(["Rome."])], records=records
    )
    run_async(app.handle({"type": "send", "text": "Capital of France?"}))
    run_async(app.handle({"type": "send", "text": "And of Germany?"}))
    before = [(m.id, m.text) for m in app.chat.messages]
    first = app.chat.messages[0].id
    run_async(app.handle({"type": "edit", "id": first, "text": "Capital of Italy?"}))
    assert [m.text for m in app.chat.messages] == ["Capital of Italy?", "Rome."]
    assert page.last("chats")["items"][0]["title"] == "Capital of Italy?"
    banner = page.last("banner")
    assert (banner["text"], banner["action"]) == (
        "Resent your edited message; the 3 messages that followed it were removed.",
        "Undo",
    )
    page.ops.clear()
    run_async(app.handle({"type": "banner_action"}))
    assert [(m.id, m.text) for m in app.chat.messages] == before
    assert [m["text"] for m in page.last("messages")["items"]] == [t for _, t in before]
    assert page.last("chats")["items"][0]["title"] == "Capital of France?"
    reopened = Library(records)
    run_async(reopened.load())
    assert [m.text for m in reopened.chats[app.chat.id].messages] == [t for _, t in before]


def test_a_change_made_before_another_tabs_save_is_heard_of_keeps_that_save() -> None:
    """Another tab's save reaches this tab by its BroadcastChannel message, which may not
    have arrived yet: the chat is read again once held, so what that tab saved stays."""
    records = MemoryRecords()
    tab_a, _, _, _ = make_app([Script(["Paris."]), Script(["Berlin."])], records=records)
    run_async(tab_a.handle({"type": "send", "text": "Capital of France?"}))
    tab_b, page_b, _, _ = make_app([Script(["Rome."]), Script(["Madrid."])], records=records)
    chat_id = tab_a.chat.id
    run_async(tab_a.handle({"type": "rename", "id": chat_id, "title": "Capitals"}))
    run_async(tab_b.handle({"type": "send", "text": "And of Italy?"}))  # no broadcast yet
    kept = records.records[chat_id]
    assert kept["title"] == "Capitals"
    run_async(tab_a.handle({"type": "send", "text": "And of Germany?"}))
    last = tab_b.chat.messages[-1].id
    run_async(tab_b.handle({"type": "edit", "id": last, "text": "ignored"}))  # a reply: no edit
    question = next(m.id for m in tab_b.chat.messages if m.text == "And of Italy?")
    run_async(tab_b.handle({"type": "edit", "id": question, "text": "And of Spain?"}))
    texts = [m["text"] for m in records.records[chat_id]["messages"]]  # type: ignore[index]
    assert texts == ["Capital of France?", "Paris.", "And of Spain?", "Madrid."]
    drawn = [op["item"]["text"] for op in page_b.ops if op["op"] == "message"]
    assert "And of Germany?" in drawn and drawn[-1] == "Madrid."  # A's turn was shown first


@pytest.mark.parametrize(
    "event",
    [
        {"type": "send", "text": "And of Italy?"},
        {"type": "regenerate"},
        {"type": "rename", "title": "Capitals"},
    ],
)
def test_a_chat_deleted_elsewhere_takes_no_change_here_and_is_not_saved_again(
    event: dict[str, str],
) -> None:
    records = MemoryRecords()
    tab_a, _, _, _ = make_app([Script(["Paris."])], records=records)
    run_async(tab_a.handle({"type": "send", "text": "Capital of France?"}))
    tab_b, page_b, _, _ = make_app([Script(["Rome."])], records=records)
    gone = tab_a.chat.id
    run_async(tab_a.handle({"type": "delete", "id": gone}))
    run_async(tab_b.handle({**event, "id": gone}))  # before A's broadcast arrives
    assert records.records == {}  # not brought back
    assert tab_b.chat.id != gone and page_b.last("chats")["items"] == []
    assert page_b.last("banner")["text"] == "The open chat was deleted in another tab."
    assert not any(op["op"] in ("prompt", "give_back") for op in page_b.ops)  # what was typed stays


@dataclass
class FullRecords(MemoryRecords):
    """Storage that reads but refuses every write while `full`, as a full quota does."""

    full: bool = True

    async def put(self, record: dict[str, object]) -> None:
        if self.full:
            raise StorageError("QuotaExceededError: the quota has been exceeded")
        await super().put(record)


@pytest.mark.parametrize("saved_first", [True, False])
def test_turns_storage_refused_stay_in_the_tab_though_the_chat_is_read_again(
    saved_first: bool,
) -> None:
    records = FullRecords()
    app, page, _, _ = make_app([Script(["Paris."]), Script(["Rome."])], records=records)
    if saved_first:
        app.chat.title = "Capitals"
        run_async(MemoryRecords.put(records, chat_to_json(app.chat)))
        app.library.chats[app.chat.id] = app.chat
    run_async(app.handle({"type": "send", "text": "Capital of France?"}))
    run_async(app.handle({"type": "send", "text": "And of Italy?"}))
    assert [m.text for m in app.chat.messages] == [
        "Capital of France?",
        "Paris.",
        "And of Italy?",
        "Rome.",
    ]
    assert all("another tab" not in str(op.get("text") or "") for op in page.ops)


def test_a_copy_storage_refused_is_read_again_once_another_tabs_save_replaced_it() -> None:
    records = MemoryRecords()
    tab_a, _, _, _ = make_app([Script(["Paris."]), Script(["Rome."])], records=records)
    run_async(tab_a.handle({"type": "send", "text": "Capital of France?"}))
    full = FullRecords(records=records.records, open_id=records.open_id)  # B cannot write, yet
    tab_b, _, _, _ = make_app([Script(["Madrid."]), Script(["Lisbon."])], records=full)
    chat_id = tab_a.chat.id
    run_async(tab_b.handle({"type": "send", "text": "And of Spain?"}))  # kept in B only
    run_async(tab_a.handle({"type": "send", "text": "And of Italy?"}))
    run_async(tab_b.handle({"type": "chat_changed", "id": chat_id}))  # B takes A's version
    run_async(tab_a.handle({"type": "rename", "id": chat_id, "title": "Capitals"}))
    full.full = False
    run_async(tab_b.handle({"type": "send", "text": "And of Portugal?"}))  # before A's news
    kept = records.records[chat_id]
    assert kept["title"] == "Capitals"
    assert [m["text"] for m in kept["messages"]][-4:] == [  # type: ignore[index]
        "And of Italy?",
        "Rome.",
        "And of Portugal?",
        "Lisbon.",
    ]


def test_an_edits_undo_takes_nothing_another_tab_wrote_since() -> None:
    records = MemoryRecords()
    tab_a, _, _, _ = make_app([Script(["Paris."]), Script(["Madrid."])], records=records)
    run_async(tab_a.handle({"type": "send", "text": "Capital of France?"}))
    tab_b, page_b, _, _ = make_app([Script(["Rome."])], records=records)
    chat_id = tab_a.chat.id
    first = tab_b.chat.messages[0].id
    run_async(tab_b.handle({"type": "edit", "id": first, "text": "Capital of Italy?"}))
    assert page_b.last("banner")["action"] == "Undo"
    run_async(tab_a.handle({"type": "chat_changed", "id": chat_id}))
    run_async(tab_a.handle({"type": "send", "text": "And of Spain?"}))
    run_async(tab_b.handle({"type": "banner_action"}))  # A's broadcast not here yet
    texts = [m["text"] for m in records.records[chat_id]["messages"]]  # type: ignore[index]
    assert texts == ["Capital of Italy?", "Rome.", "And of Spain?", "Madrid."]
    assert page_b.last("banner")["text"].startswith("This chat has changed")


def test_a_chat_another_tab_is_answering_in_takes_no_second_reply_or_change() -> None:
    """Each tab saves its own copy of a chat: a reply written in each at once, or a rename
    or delete made during the other's reply, would be undone by the other's next save."""
    records = MemoryRecords()  # one browser profile, two tabs
    endless = Script([f"word{i} " for i in range(10_000)])
    tab_a, page_a, _, _ = make_app([Script(["Paris."]), endless], records=records)
    run_async(tab_a.handle({"type": "send", "text": "Capital of France?"}))
    tab_b, page_b, _, _ = make_app([Script(["Rome."])], records=records)
    chat_id = tab_a.chat.id
    assert tab_b.chat.id == chat_id  # B opened the chat A had open
    page_a.ops.clear()
    page_b.ops.clear()

    async def b_acts_mid_reply() -> None:
        while sum(op["op"] == "message" for op in page_a.ops) < 4:
            await asyncio.sleep(0)
        for event in (
            {"type": "send", "text": "And of Italy?"},
            {"type": "regenerate"},
            {"type": "rename", "id": chat_id, "title": "Capitals"},
            {"type": "delete", "id": chat_id},
        ):
            await tab_b.handle(event)
        assert records.held == {chat_id: True}
        await tab_a.handle({"type": "rename", "id": chat_id, "title": "Mine"})  # A may
        await tab_a.handle({"type": "stop"})

    async def both() -> None:
        sent = tab_a.handle({"type": "send", "text": "Count for ever"})
        await asyncio.gather(sent, b_acts_mid_reply())

    run_async(both())
    banners = [(op["text"], op["action"]) for op in page_b.ops if op["op"] == "banner"]
    changing = (CHANGING_ELSEWHERE.format(title="Capital of France?"), "Try again")
    assert banners == [(REPLYING_ELSEWHERE, None)] * 2 + [changing] * 2
    # B's text stays where it was typed
    assert not any(op["op"] in ("prompt", "give_back", "message") for op in page_b.ops)
    kept = records.records[chat_id]
    assert kept["title"] == "Mine"
    assert [m["text"] for m in kept["messages"]][:3] == [  # type: ignore[index]
        "Capital of France?",
        "Paris.",
        "Count for ever",
    ]
    assert records.held == {}  # A's reply has ended: the chat is free again
    run_async(tab_b.handle({"type": "chat_changed", "id": chat_id}))  # A's last broadcast
    run_async(tab_b.handle({"type": "send", "text": "And of Italy?"}))
    texts = [m["text"] for m in records.records[chat_id]["messages"]]  # type: ignore[index]
    assert len(texts) == 6 and texts[-2:] == ["And of Italy?", "Rome."]


@pytest.mark.parametrize("a_holds", ["a reply", "a save that does not end"])
def test_a_change_refused_as_another_tab_holds_the_chat_keeps_what_was_typed(
    a_holds: str,
) -> None:
    """Refused at once while another tab writes a reply, or after the brief wait for a
    rename or delete that does not end: a message stays in the box, an edit goes back to
    it, and nothing is saved."""
    records = MemoryRecords()
    tab_a, _, _, _ = make_app([Script(["Paris."])], records=records)
    run_async(tab_a.handle({"type": "send", "text": "Capital of France?"}))
    chat_id, question = tab_a.chat.id, tab_a.chat.messages[0].id
    tab_b, page_b, _, _ = make_app([Script(["Rome."])], records=records)
    records.held[chat_id] = a_holds == "a reply"
    before = copy.deepcopy(records.records)
    page_b.ops.clear()
    run_async(tab_b.handle({"type": "send", "text": "And of Italy?"}))
    assert page_b.last("banner")["text"] == REPLYING_ELSEWHERE
    assert not any(op["op"] in ("prompt", "give_back") for op in page_b.ops)  # still there
    run_async(tab_b.handle({"type": "edit", "id": question, "text": " Capital of Spain? "}))
    assert page_b.last("give_back") == {"op": "give_back", "text": "Capital of Spain?"}
    assert records.records == before and records.held == {chat_id: a_holds == "a reply"}


def test_a_rename_refused_while_another_tab_answers_keeps_its_title_for_try_again() -> None:
    records = MemoryRecords()
    tab_a, _, _, _ = make_app([Script(["Paris."])], records=records)
    run_async(tab_a.handle({"type": "send", "text": "Capital of France?"}))
    chat_id = tab_a.chat.id
    tab_b, page_b, _, _ = make_app([], records=records)
    records.held[chat_id] = True  # A is writing a reply in it
    run_async(tab_b.handle({"type": "rename", "id": chat_id, "title": "Capitals"}))
    assert page_b.ops[-1]["op"] == "banner" and page_b.ops[-1]["action"] == "Try again"
    run_async(tab_b.handle({"type": "banner_action"}))  # too soon: refused again, kept again
    assert records.records[chat_id]["title"] == "Capital of France?"
    assert page_b.ops[-1]["op"] == "banner" and page_b.ops[-1]["action"] == "Try again"
    del records.held[chat_id]  # A's reply has ended
    run_async(tab_b.handle({"type": "banner_action"}))
    assert records.records[chat_id]["title"] == "Capitals"


@pytest.mark.parametrize(
    ("a_does", "event"),
    [
        ("rename", {"type": "rename", "title": "Capitals"}),
        ("rename", {"type": "delete"}),
        ("rename", {"type": "send", "text": "And of Italy?"}),
        ("delete", {"type": "send", "text": "And of Italy?"}),
        ("delete", {"type": "rename", "title": "Capitals"}),
    ],
)
def test_a_change_waits_for_another_tabs_rename_or_delete_of_the_chat_and_keeps_it(
    a_does: str, event: dict[str, str]
) -> None:
    """Two tabs changing one chat at the same instant: the second waits for the first's
    moment of saving a rename or delete, rather than saying a reply is written there, and
    then works on what the first saved (whose broadcast has not arrived yet)."""
    records = MemoryRecords()
    tab_a, _, _, _ = make_app([Script(["Paris."])], records=records)
    run_async(tab_a.handle({"type": "send", "text": "Capital of France?"}))
    chat_id = tab_a.chat.id
    tab_b, page_b, _, _ = make_app([Script(["Rome."])], records=records)
    records.held[chat_id] = False  # A is saving a rename or delete of it
    before = copy.deepcopy(records.records[chat_id])
    untouched: list[bool] = []

    async def a_saves() -> None:
        for _ in range(10):
            await asyncio.sleep(0)
        untouched.append(records.records.get(chat_id) == before)  # B waited for A
        if a_does == "rename":
            records.records[chat_id]["title"] = "Named in A"
        else:
            del records.records[chat_id]
        del records.held[chat_id]

    holds: list[bool] = []  # how B holds it: True for a reply, False for a moment's save
    claim = records.claim

    async def recorded(chat_id: str, reply: bool) -> Callable[[], object] | None:
        holds.append(reply)
        return await claim(chat_id, reply)

    records.claim = recorded  # type: ignore[method-assign]

    async def both() -> None:
        await asyncio.gather(tab_b.handle({**event, "id": chat_id}), a_saves())

    run_async(both())
    assert untouched == [True]
    assert holds == [event["type"] == "send"]
    elsewhere = (REPLYING_ELSEWHERE, CHANGING_ELSEWHERE.format(title="Capital of France?"))
    assert not [op for op in page_b.ops if op["op"] == "banner" and op["text"] in elsewhere]
    kept = records.records.get(chat_id)
    assert records.held == {}
    if a_does == "delete":  # not brought back, and nothing typed in B is lost
        assert kept is None
        if event["type"] == "send":
            assert page_b.last("banner")["text"] == "The open chat was deleted in another tab."
            assert not any(op["op"] in ("prompt", "give_back") for op in page_b.ops)
    elif event["type"] == "rename":
        assert kept is not None and kept["title"] == "Capitals"
    elif event["type"] == "delete":
        assert kept is None
    else:
        assert kept is not None and kept["title"] == "Named in A"  # A's rename stays
        assert [m["text"] for m in kept["messages"]][-2:] == ["And of Italy?", "Rome."]  # type: ignore[index]


def test_a_reply_streaming_in_another_tab_shows_so_until_that_tab_goes_away() -> None:
    records = MemoryRecords()
    tab_a, _, _, _ = make_app([Script(["Paris."])], records=records)
    run_async(tab_a.handle({"type": "send", "text": "Capital of France?"}))
    chat_id = tab_a.chat.id
    tab_b, page_b, _, _ = make_app([Script(["Rome."])], records=records)
    # A saves its reply mid-stream, holding the chat as it does while it writes
    records.records[chat_id]["messages"][-1]["state"] = "streaming"  # type: ignore[index]
    records.held[chat_id] = True
    page_b.ops.clear()
    run_async(tab_b.handle({"type": "chat_changed", "id": chat_id}))
    assert [op["item"]["state"] for op in page_b.ops if op["op"] == "message"] == ["streaming"]
    records.held.clear()  # A's tab is closed before its next save
    page_b.ops.clear()
    run_async(tab_b.handle({"type": "send", "text": "And of Italy?"}))
    drawn = [
        (op["item"]["text"], op["item"]["state"]) for op in page_b.ops if op["op"] == "message"
    ]
    assert drawn[0] == ("Paris.", "interrupted")
    assert drawn[-1] == ("Rome.", "done")
    kept = records.records[chat_id]["messages"]
    assert [m["state"] for m in kept] == ["done", "interrupted", "done", "done"]  # type: ignore[index]
