"""The app's behaviour between the page and the chat: which backend answers, what the
controls and the status line show, and what a click does.

Plain Python over three injected parts (a `View`, the backend `Provider`s and a
`SettingsStore`), so the policy runs under CPython tests; `pyapp/browser/main.py` only
wires the browser's versions of them in.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from pyapp.backends import Backend as ChatBackend
from pyapp.backends import ReplyOptions
from pyapp.chat import ChatEvent, ChatSession, Chunk, Failed, Finished, Started, Turn
from pyapp.chats import Chat
from pyapp.errors import HearthError, RemoteError, StorageError
from pyapp.settings import Backend, Preferences
from pyapp.status import ModelOption, State, picker_options, ready_text
from pyapp.view import View

STREAM_EVERY_S = 0.05  # a streaming reply is redrawn at most this often


class Provider(Protocol):
    """Where backends come from: the in-page model, or a Foundry Local/OpenAI server."""

    @property
    def where(self) -> str:
        """For the status line: "in-browser, WASM, 2 threads (…)", "Foundry Local at …"."""
        ...

    async def models(self) -> list[ModelOption]: ...

    async def open(self, model: str | None, progress: Callable[[str], None]) -> ChatBackend:
        """A backend for `model` (None or unknown: the provider's default), loading it
        first if needed and reporting progress as status text."""
        ...


class SettingsStore(Protocol):
    async def load(self) -> object: ...

    async def save(self, data: dict[str, Any]) -> None:
        """Raises StorageError when the browser refuses (quota, private mode)."""
        ...


class App:
    def __init__(
        self,
        view: View,
        prefs: Preferences,
        providers: dict[Backend, Provider],
        settings_store: SettingsStore,
    ) -> None:
        self.view = view
        self.prefs = prefs
        self.providers = providers
        self.settings_store = settings_store
        self.active: Backend | None = None
        self.session: ChatSession | None = None
        self.busy = False
        self._banner_action: Callable[[], Awaitable[None]] | None = None

    # what the page sends

    async def handle(self, event: dict[str, Any]) -> None:
        """One event from the page (see site/ui.js for who sends what)."""
        kind = event.get("type")
        if kind == "send":
            await self.send(str(event.get("text", "")))
        elif kind == "stop":
            self.stop()
        elif kind == "backend" and event.get("value") in set(Backend):
            await self.choose(Backend(str(event["value"])))
        elif kind == "model":
            await self.pick(str(event["value"]))
        elif kind == "new_chat":
            self.new_chat()
        elif kind == "setting":
            await self.setting(str(event["name"]), str(event["value"]))
        elif kind == "banner_action" and self._banner_action is not None:
            action, self._banner_action = self._banner_action, None
            await action()

    async def start(self, problems: list[str]) -> None:
        """Show the settings, open the chosen backend, then the settings' problems (a bad
        URL parameter stays visible once the page is ready)."""
        self.view.settings(self.prefs.effective)
        await self.use(self.prefs.effective.backend)
        for problem in problems:
            self.view.banner(problem)

    async def choose(self, choice: Backend) -> None:
        """The user picked a backend: use it, then remember it."""
        await self.use(choice)
        if self.active == choice:
            await self.setting("backend", choice.value)

    async def use(self, choice: Backend, model: str | None = None) -> None:
        """Make `choice` answer from now on (the chat stays), loading it the first time. On
        failure the error is shown and, for an unreachable server, the in-browser model is
        offered."""
        if self.busy:
            return
        async with self._busy(State.LOADING, "Loading…"):
            self.view.hide_banner()
            wanted = model or self.prefs.effective.model
            try:
                backend = await self.providers[choice].open(wanted, self._progress)
            except HearthError as error:
                self.report(error, choice)
                return
            if self.session is None:
                self.session = ChatSession(backend, Chat())
            else:
                self.session.use(backend)
            self.active = choice
            await self._show_models()

    async def pick(self, model: str) -> None:
        if self.active is None or self.session is None or model == self.session.backend.model_id:
            return
        await self.use(self.active, model)
        if self.session.backend.model_id == model:
            await self.setting("model", model)

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()

    def new_chat(self) -> None:
        """Start a fresh thread (the in-page model's cache follows on the next prompt)."""
        if self.busy or self.session is None:
            return
        self.session.open(Chat())
        self.view.messages([])
        self.view.prompt("")

    async def setting(self, name: str, value: str) -> None:
        """A setting changed in the page: keep it (this is never a URL preset)."""
        problem = self.prefs.edit(name, value)
        if problem is not None:
            self.view.banner(problem)
            return
        try:
            await self.settings_store.save(self.prefs.stored())
        except StorageError as error:
            self.view.banner(f"Settings could not be saved ({error}); they apply to this tab only.")

    async def send(self, text: str) -> None:
        session = self.session
        if self.busy or session is None or not text.strip():
            return
        settings = self.prefs.effective
        turn = Turn(
            system=settings.system,
            options=ReplyOptions(
                temperature=settings.temperature,
                top_p=settings.top_p,
                max_tokens=settings.max_tokens,
                seed=settings.seed,
            ),
        )
        async with self._busy(State.GENERATING, "Generating…"):
            self.view.hide_banner()
            self.view.prompt("")  # taken; a reply that fails before any text gives it back
            await self._show(session.send(text.strip(), turn))

    # showing what happens

    async def _show(self, events: AsyncIterator[ChatEvent]) -> None:
        """Render a reply's events; the final message is drawn after the controls and
        status are ready again, so whoever waits for `data-done` sees a ready page."""
        drawn = 0.0
        async for event in events:
            if isinstance(event, Started):
                if event.user is not None:
                    self.view.message(event.user)
                self.view.message(event.reply)
            elif isinstance(event, Chunk):
                now = time.monotonic()
                if now - drawn >= STREAM_EVERY_S:
                    self.view.message(event.reply)
                    drawn = now
            elif isinstance(event, Finished):
                self._settle()
                if event.notice:
                    self.view.banner(f"The reply was cut off: {event.notice} What arrived is kept.")
                self.view.message(event.reply)
            elif isinstance(event, Failed):
                self.view.remove(event.removed)
                self.view.prompt(event.prompt)
                self.report(event.error, self.active)
                self._settle()

    def report(self, error: HearthError, involved: Backend | None) -> None:
        """Show `error`; when a server that `involved` needs is unreachable, offer the
        in-browser model as the way out."""
        if isinstance(error, RemoteError) and error.unreachable and involved != Backend.BROWSER:
            self._banner_action = lambda: self.choose(Backend.BROWSER)
            self.view.banner(str(error), "Use the in-browser model")
        else:
            self._banner_action = None
            self.view.banner(str(error))

    def _progress(self, text: str) -> None:
        self.view.status(State.LOADING, text)

    async def _show_models(self) -> None:
        assert self.active is not None and self.session is not None
        models = await self.providers[self.active].models()
        self.view.models(picker_options(models), self.session.backend.model_id)

    @asynccontextmanager
    async def _busy(self, state: State, text: str) -> AsyncIterator[None]:
        self.busy = True
        self.view.controls(busy=True, ready=self.session is not None)
        self.view.status(state, text)
        try:
            yield
        finally:
            if self.busy:
                self._settle()

    def _settle(self) -> None:
        """Controls, pickers and the status line reflect the active backend again."""
        self.busy = False
        session = self.session
        self.view.backend(self.active or self.prefs.effective.backend)
        if session is None or self.active is None:
            self.view.controls(busy=False, ready=False)
            self.view.status(State.ERROR, "No backend is available")
            return
        self.view.controls(busy=False, ready=True)
        backend = session.backend
        context = backend.context.length if backend.context is not None else None
        where = self.providers[self.active].where
        self.view.status(State.READY, ready_text(where, backend.model, backend.last_stats, context))
