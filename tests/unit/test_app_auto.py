"""Auto routing and attachments in the app's policy (#16), over scripted backends: which
backend each message reaches, what the page is told, and what is kept."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pyapp.app import App, Provider
from pyapp.backends import Backend as ChatBackend
from pyapp.backends import BackendKind
from pyapp.errors import ModelLoadError, RemoteError
from pyapp.library import Library
from pyapp.settings import Backend, Preferences
from pyapp.view import View
from tests.conftest import run_async
from tests.support.memory import MemoryRecords
from tests.support.scripted import Script, ScriptedBackend
from tests.unit.test_app import FakeProvider, Page, Store

LONG = " ".join(["word"] * 40)  # 40 tokens to the word-counting stand-in tokenizer
UNREACHABLE = RemoteError("Foundry Local is not reachable", unreachable=True)


def make_auto(
    local_replies: list[Script],
    remote_replies: list[Script] | None = None,
    foundry_error: Exception | None = None,
    query: str = "?backend=auto&route_tokens=20",
) -> tuple[App, Page, ScriptedBackend, ScriptedBackend]:
    page = Page()
    local = ScriptedBackend(local_replies, context_length=200)
    remote = ScriptedBackend(remote_replies or [], kind=BackendKind.FOUNDRY, model="big")
    providers: dict[Backend, Provider] = {
        Backend.BROWSER: FakeProvider(local),
        Backend.FOUNDRY: FakeProvider(remote, foundry_error),
    }
    prefs, problems = Preferences.load(None, query)
    app = App(View(page), prefs, providers, Store(), Library(MemoryRecords()))
    run_async(app.start(problems))
    return app, page, local, remote


def last_reply(page: Page) -> dict[str, object]:
    return next(
        op["item"]
        for op in reversed(page.ops)
        if op["op"] == "message" and op["item"]["role"] == "assistant"
    )


def test_personal_data_stays_here_and_long_messages_go_to_foundry() -> None:
    app, page, local, remote = make_auto([Script(["Kept."])], [Script(["Summary."])])
    run_async(app.handle({"type": "send", "text": "Mail me at ann@example.org " + LONG}))
    reply = last_reply(page)
    assert (reply["backend"], reply["route"]) == ("browser", "personal-data")
    assert remote.asked == []
    run_async(app.handle({"type": "new_chat"}))
    run_async(app.handle({"type": "send", "text": LONG + " Summarize"}))
    reply = last_reply(page)
    assert (reply["backend"], reply["route"]) == ("foundry", "long-prompt")
    assert "ann@example.org" not in str(remote.asked)
    assert reply["badge"]["text"].startswith("Foundry Local")  # type: ignore[index]
    # the Model picker names the in-browser model: the status says whose reply it was
    assert "· last reply: big" in page.last("status")["text"]


def test_a_follow_up_carrying_earlier_personal_data_stays_here() -> None:
    app, page, local, remote = make_auto([Script(["Kept."]), Script(["Still here."])])
    run_async(app.handle({"type": "send", "text": "My IBAN is GB82 WEST 1234 5698 7654 32"}))
    run_async(app.handle({"type": "send", "text": LONG}))
    assert last_reply(page)["route"] == "personal-data"
    assert remote.asked == [] and len(local.asked) == 2


def test_when_foundry_is_down_auto_stays_here_and_says_so() -> None:
    app, page, local, _ = make_auto([Script(["Local."])], foundry_error=UNREACHABLE)
    assert page.last("banner")["kind"] == "info"
    assert "cannot be reached" in page.last("banner")["text"]
    assert page.last("status")["state"] == "ready"
    run_async(app.handle({"type": "send", "text": LONG}))
    assert (last_reply(page)["backend"], last_reply(page)["route"]) == ("browser", "foundry-down")


def test_attached_files_reach_the_prompt_are_counted_and_kept() -> None:
    app, page, local, _ = make_auto([Script(["Read it."])], query="")
    run_async(app.handle({"type": "attach", "name": "notes.txt", "data": b"alpha beta gamma"}))
    assert page.last("attachments")["items"] == [
        {"name": "notes.txt", "tokens": 3, "estimated": False}
    ]
    run_async(app.handle({"type": "send", "text": "What is in it?"}))
    sent = local.asked[-1][-1].content
    assert "notes.txt" in sent and "alpha beta gamma" in sent and sent.endswith("What is in it?")
    assert page.last("attachments")["items"] == []
    question = app.chat.messages[0]
    assert [a.name for a in question.attachments] == ["notes.txt"]


def test_a_failed_send_keeps_the_attached_files() -> None:
    from pyapp.errors import EngineError

    app, page, _, _ = make_auto([Script([], error=EngineError("broke"))], query="")
    run_async(app.handle({"type": "attach", "name": "a.md", "data": b"# Title"}))
    run_async(app.handle({"type": "send", "text": "Summarize"}))
    assert [f.name for f in app.pending] == ["a.md"]
    assert page.last("attachments")["items"][0]["name"] == "a.md"


def test_a_file_that_cannot_be_read_gets_one_sentence_and_nothing_is_attached() -> None:
    app, page, _, _ = make_auto([], query="")
    run_async(app.handle({"type": "attach", "name": "photo.png", "data": b"\x89PNG\r\n"}))
    assert app.pending == []
    assert "photo.png" in page.last("banner")["text"]


def test_a_file_too_long_for_the_in_page_model_offers_foundry() -> None:
    app, page, _, _ = make_auto([], query="")
    run_async(app.handle({"type": "attach", "name": "book.txt", "data": b"w " * 500}))
    banner = page.last("banner")
    assert "book.txt is 500 tokens" in banner["text"]
    assert banner["action"] == "Use Foundry Local"
    assert [f.name for f in app.pending] == ["book.txt"]  # kept: Foundry can read it
    run_async(app.handle({"type": "detach", "index": 0}))
    assert app.pending == []


def test_under_auto_with_foundry_down_a_file_too_long_offers_no_button_to_fail_again() -> None:
    app, page, _, _ = make_auto([], foundry_error=UNREACHABLE)
    run_async(app.handle({"type": "attach", "name": "book.txt", "data": b"w " * 500}))
    banner = page.last("banner")
    assert banner["action"] is None and "cannot be reached now" in banner["text"]
    assert "send (Auto tries it again)" in banner["text"]
    assert [f.name for f in app.pending] == ["book.txt"]  # kept: Foundry may start


def test_a_file_too_long_here_offers_no_foundry_that_does_not_answer() -> None:
    app, page, _, _ = make_auto([], foundry_error=UNREACHABLE, query="")  # never tried
    run_async(app.handle({"type": "attach", "name": "book.txt", "data": b"w " * 500}))
    banner = page.last("banner")
    assert banner["action"] is None and "cannot be reached now" in banner["text"]
    assert "choose it as the backend" in banner["text"]


def test_a_file_too_long_here_with_foundry_known_down_offers_no_button() -> None:
    app, page, _, _ = make_auto([], foundry_error=UNREACHABLE, query="")
    run_async(app.handle({"type": "backend", "value": "foundry"}))  # tried: it is down
    run_async(app.handle({"type": "attach", "name": "book.txt", "data": b"w " * 500}))
    banner = page.last("banner")
    assert banner["action"] is None and "choose it as the backend" in banner["text"]
    run_async(app.handle({"type": "detach", "index": 0}))  # removed: the banner goes too
    assert page.names()[-1] == "banner_hide" and app.view.shown is None


class Beside(FakeProvider):
    """Opens only while the other provider's opening is under way: `use` must open both at
    once (one after the other, this one would wait for the other forever)."""

    def __init__(self, backend: ChatBackend | None, news: str, error: Exception | None = None):
        super().__init__(backend, error)
        self.news, self.started, self.other = news, asyncio.Event(), asyncio.Event()

    async def open(self, model: str | None, progress: Callable[[str], None]) -> ChatBackend:
        self.started.set()
        progress(self.news)
        await asyncio.wait_for(self.other.wait(), 5)
        return await super().open(model, progress)


def make_beside(local_error: Exception | None = None) -> tuple[App, Page, Beside, Beside]:
    page = Page()
    local = Beside(ScriptedBackend([], context_length=200), "Loading the model…", local_error)
    remote = ScriptedBackend([], kind=BackendKind.FOUNDRY, model="big")
    foundry = Beside(remote, "Connecting to Foundry Local…")
    local.other, foundry.other = foundry.started, local.started
    providers: dict[Backend, Provider] = {Backend.BROWSER: local, Backend.FOUNDRY: foundry}
    prefs, problems = Preferences.load(None, "?backend=auto")
    app = App(View(page), prefs, providers, Store(), Library(MemoryRecords()))
    run_async(app.start(problems))
    return app, page, local, foundry


def test_auto_reaches_foundry_while_the_in_page_model_loads() -> None:
    app, page, _, foundry = make_beside()
    assert foundry.opened == 1 and Backend.FOUNDRY in app.opened
    assert page.last("status")["state"] == "ready"
    statuses = [op["text"] for op in page.ops if op["op"] == "status"]
    # one line, one story: the model's loading, then Foundry's news once the model is open
    loading = statuses.index("Loading the model…")
    assert statuses.index("Connecting to Foundry Local…") > loading


def test_when_the_in_page_model_fails_under_auto_foundry_has_finished_opening_first() -> None:
    app, page, _, foundry = make_beside(ModelLoadError("The model file is damaged."))
    assert foundry.opened == 1  # awaited, not left opening behind the error
    assert "damaged" in page.last("banner")["text"]
    assert "Connecting to Foundry Local…" not in [
        op["text"] for op in page.ops if op["op"] == "status"
    ]
