"""Boot and wiring: the two backends (the model in this page, Foundry Local through
serve.py) behind one chat against the DOM. Each backend is loaded the first time it is
chosen; both share one conversation, so switching keeps the thread."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from pyodide.http import pyfetch

import pyapp
from pyapp.browser.foundry import FoundryBackend
from pyapp.browser.ort import Backend as Engine
from pyapp.browser.ort import ModelFiles, OrtSession, import_module
from pyapp.browser.packages import load_packages
from pyapp.browser.ui import MessageView, Page
from pyapp.chat import ChatSession, ModelInfo
from pyapp.conversation import Conversation
from pyapp.errors import HearthError, RemoteError
from pyapp.generate import Generator, StopReason
from pyapp.settings import Backend, Settings
from pyapp.status import State
from pyapp.templates import ChatTemplate
from pyapp.tokenizer import Tokenizer


async def fetch(relative: str) -> Any:
    response = await pyfetch(Page.url(relative))
    if not response.ok:
        raise HearthError(
            f"{relative} answered HTTP {response.status}; rebuild with `python build.py`."
        )
    return response


class App:
    def __init__(
        self, page: Page, config: dict[str, Any], manifest: dict[str, Any], settings: Settings
    ) -> None:
        self.page = page
        self.config = config
        self.manifest = manifest
        self.settings = settings
        self.conversation = Conversation()
        self.active: Backend | None = None
        self.local: ChatSession | None = None
        self.engine: Engine | None = None  # the in-page execution provider
        self.foundry: FoundryBackend | None = None
        self.remote: Any = None  # RemoteChat for the chosen Foundry model
        self.busy = False
        self.cancel = False

    @property
    def chat(self) -> Any:
        return self.remote if self.active == Backend.FOUNDRY else self.local

    def bind(self) -> None:
        page = self.page
        page.on(page.send, "click", lambda event: self._spawn(self.send()))
        page.on(page.prompt, "hearth-send", lambda event: self._spawn(self.send()))
        page.on(page.stop, "click", lambda event: self._request_stop())
        page.on(
            page.backend, "change", lambda event: self._spawn(self.use(Backend(page.backend.value)))
        )
        page.on(page.model, "change", lambda event: self._spawn(self.pick(str(page.model.value))))
        page.on(page.new_chat, "click", lambda event: self.new_chat())

    def new_chat(self) -> None:
        """Forget the thread (the KV cache follows on the next prompt's common prefix)."""
        if self.busy:
            return
        self.conversation.turns.clear()
        self.page.clear_messages()
        self.page.prompt.focus()

    def _spawn(self, job: Any) -> None:
        if self.busy:
            job.close()
        else:
            asyncio.ensure_future(job)

    def _request_stop(self) -> None:
        self.cancel = True

    # backends

    async def use(self, backend: Backend) -> None:
        """Make `backend` the active one, loading it the first time. On failure the error
        is shown and, for an unreachable Foundry, the in-browser model is offered."""
        self.busy = True
        self.page.set_busy(True)
        self.page.hide_error()
        try:
            if backend == Backend.FOUNDRY:
                await self._open_foundry()
            else:
                await self._open_local()
            self.active = backend
            self.page.save_backend(backend)
        except HearthError as error:
            self._report(error)
        finally:
            self._settle()

    def _report(self, error: HearthError) -> None:
        if isinstance(error, RemoteError) and error.unreachable:
            self.page.show_error(str(error), ("Use the in-browser model", self._offer_local))
        else:
            self.page.show_error(str(error))

    def _offer_local(self) -> None:
        self.page.backend.value = Backend.BROWSER.value
        self._spawn(self.use(Backend.BROWSER))

    def _settle(self) -> None:
        """Controls, pickers and the status line reflect the active backend again."""
        self.busy = False
        self.page.backend.value = (self.active or Backend.BROWSER).value
        if self.active is None:
            self.page.set_status(State.ERROR, "No backend is available")
            self.page.set_busy(False)
            self.page.send.disabled = True
            return
        self._show_models()
        self.page.set_busy(False)
        self.page.set_status(State.READY, self.ready_text())

    def _show_models(self) -> None:
        if self.active == Backend.FOUNDRY and self.foundry is not None:
            models = self.foundry.models.items()
            options = [(m, m if loaded else f"{m} (not loaded)") for m, loaded in models]
            self.page.set_models(options, self.remote.model)
        else:
            models = self.config["models"]
            label = self.local.model.name if self.local else None
            chosen = next((m["id"] for m in models if m["label"] == label), models[0]["id"])
            self.page.set_models([(m["id"], m["label"]) for m in models], chosen)

    async def _open_local(self) -> None:
        if self.local is not None:
            return
        models = self.config["models"]
        wanted = self.settings.model if self.settings.backend == Backend.BROWSER else None
        entry = next((m for m in models if m["id"] == wanted), models[0])
        self.local, self.engine = await load_local(
            self.page,
            self.config,
            self.manifest,
            entry,
            self.conversation,
            self._fallback,
            self.settings.threads,
        )

    def _fallback(self, engine: Engine) -> None:
        self.engine = engine
        self.page.show_error(f"Switched to {engine.describe()}.")

    async def _open_foundry(self) -> None:
        if self.foundry is None:
            self.page.set_status(State.LOADING, "Connecting to Foundry Local…")
            self.foundry = await FoundryBackend.open()
        await self.foundry.refresh_models()
        wanted = self.settings.model if self.settings.backend == Backend.FOUNDRY else None
        current = self.remote.model if self.remote else None
        await self._load_remote(self.foundry.preferred(current or wanted))

    async def _load_remote(self, model: str) -> None:
        assert self.foundry is not None
        if not self.foundry.models.get(model):
            started = time.monotonic()
            self.page.set_status(State.LOADING, f"Loading {model} in Foundry Local…")
            task = asyncio.ensure_future(self.foundry.load(model))
            while not task.done():
                await asyncio.wait({task}, timeout=1.0)
                elapsed = time.monotonic() - started
                self.page.set_status(
                    State.LOADING, f"Loading {model} in Foundry Local… {elapsed:.0f} s"
                )
            task.result()
        self.remote = self.foundry.chat(model, self.conversation)

    async def pick(self, model: str) -> None:
        """The model picker changed: for Foundry, load the model if it is not loaded."""
        if self.active != Backend.FOUNDRY or self.remote is None or model == self.remote.model:
            return
        self.busy = True
        self.page.set_busy(True)
        try:
            await self._load_remote(model)
        except HearthError as error:
            self._report(error)
        finally:
            self._settle()

    # chatting

    def ready_text(self) -> str:
        if self.active == Backend.FOUNDRY and self.foundry and self.remote:
            parts = ["Ready", self.foundry.label, self.remote.model]
        else:
            engine = f"in-browser, {self.engine.describe()}" if self.engine else ""
            parts = ["Ready", engine, self.local.model.name if self.local else ""]
        stats = self.chat.last_stats if self.chat else None
        if stats:
            parts.append(f"{stats.decode_tok_s:.1f} tok/s")
            parts.append(f"TTFT {stats.ttft_s * 1000:.0f} ms")
            if self.active == Backend.BROWSER and self.local:
                parts.append(f"context {stats.context_used}/{self.local.model.context_length}")
        return " · ".join(p for p in parts if p)

    async def send(self) -> None:
        chat = self.chat
        text = self.page.take_prompt().strip()
        if not text or chat is None:
            self.page.prompt.value = text
            return
        self.settings, problems = self.page.read_settings(self.settings)
        for problem in problems:
            self.page.show_error(problem)
        self.page.save_settings(self.settings)
        self.busy, self.cancel = True, False
        self.page.set_busy(True)
        question = self.page.add_message("user", text)
        question.finish()
        view = self.page.add_message("assistant")
        self.page.set_status(State.GENERATING, "Generating…")
        try:
            async for chunk in chat.reply(text, self.settings, lambda: self.cancel):
                view.append(chunk)
        except HearthError as error:
            self._report(error)
            if not view.text:  # nothing was answered: give the text back, keep no empty turn
                self.page.prompt.value = text
                question.remove()
                view.remove()
                view = None
        finally:
            self._finish(chat, view)

    def _finish(self, chat: Any, view: MessageView | None) -> None:
        """Status and controls first, the message's data-done last: whoever waits for the
        reply to complete then sees the page ready for the next one."""
        stats = chat.last_stats
        interrupted = getattr(chat, "interrupted", None)
        if interrupted:
            self.page.show_error(f"The reply was cut off: {interrupted}. What arrived is kept.")
        self.busy = False
        self.page.set_status(State.READY, self.ready_text())
        self.page.set_busy(False)
        if view is not None:
            view.finish(
                stats,
                prompt_tokens=stats.prompt_tokens if stats and chat is self.local else None,
                stopped=chat.stopped,
                interrupted=bool(stats and stats.reason == StopReason.INTERRUPTED),
            )


async def start() -> None:
    page = Page()
    try:
        python = ".".join(map(str, sys.version_info[:3]))
        page.set_version(f"v{pyapp.__version__}", f"Hearth {pyapp.__version__}, Python {python}")
        page.set_status(State.LOADING, "Python is up; reading the app configuration…")
        config = await (await fetch("app-config.json")).json()
        manifest = await (await fetch("manifest.json")).json()
        settings, problems = page.load_settings().with_query(Page.query())
        for problem in problems:
            page.show_error(problem)
        page.show_settings(settings)
        app = App(page, config, manifest, settings)
        app.bind()
        await app.use(settings.backend)
        for problem in problems:  # `use` clears the banner; URL problems stay visible
            page.show_error(problem)
    except Exception as error:  # noqa: BLE001 - boot must always end in a visible state
        page.set_status(State.ERROR, "Hearth failed to start")
        page.show_error(f"{error}. Reload the page; if it persists, run `python build.py` again.")
        raise


async def load_local(
    page: Page,
    config: dict[str, Any],
    manifest: dict[str, Any],
    entry: dict[str, Any],
    conversation: Conversation,
    on_fallback: Any,
    threads: int | None,
) -> tuple[ChatSession, Engine]:
    """Download (with progress), verify and open the in-page model."""
    label = entry["label"]
    engine = await import_module(Page.url("engine.js"))
    shown = [-1]

    def progress(fraction: float) -> None:
        percent = int(fraction * 100)
        if percent != shown[0]:
            shown[0] = percent
            page.set_status(State.LOADING, f"Downloading {label}: {percent}%")

    files = await ModelFiles.download(engine, Page.url("./"), entry, manifest, progress)
    tokenizer = Tokenizer.from_json(await (await fetch(entry["path"] + "tokenizer.json")).string())
    await load_packages("jinja2")
    template = ChatTemplate.from_spec(entry["chat"])
    page.set_status(State.LOADING, f"Opening {label} in ONNX Runtime…")
    urls = {ep: Page.url(url) for ep, url in config["ort"].items()}
    shape = entry["shape"]
    session = OrtSession(engine, urls, files, shape, threads)
    chat = ChatSession(
        Generator(session, tokenizer, shape["context_length"]),
        tokenizer,
        template,
        ModelInfo(label, frozenset(shape["eos"]), shape["context_length"]),
        conversation,
    )
    active = await session.open()
    session.on_fallback = on_fallback
    return chat, active
