"""Boot and wiring: load the model into ONNX Runtime Web, then run the chat against the DOM."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from pyodide.http import pyfetch

import pyapp
from pyapp.browser.ort import Backend, ModelFiles, OrtSession, import_module
from pyapp.browser.ui import MessageView, Page
from pyapp.chat import ChatSession, ModelInfo
from pyapp.errors import HearthError
from pyapp.generate import Generator
from pyapp.settings import Settings
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
    def __init__(self, page: Page, chat: ChatSession, settings: Settings, label: str) -> None:
        self.page = page
        self.chat = chat
        self.settings = settings
        self.label = label
        self.backend: Backend | None = None
        self.busy = False
        self.cancel = False

    def bind(self) -> None:
        self.page.on(self.page.send, "click", lambda event: self._spawn())
        self.page.on(self.page.prompt, "hearth-send", lambda event: self._spawn())
        self.page.on(self.page.stop, "click", lambda event: self._request_stop())

    def _spawn(self) -> None:
        if not self.busy:
            asyncio.ensure_future(self.send())

    def _request_stop(self) -> None:
        self.cancel = True

    def ready_text(self) -> str:
        engine = f"in-browser, {self.backend.describe()}" if self.backend else ""
        parts = ["Ready", engine, self.label]
        stats = self.chat.last_stats
        if stats:
            parts.append(f"{stats.decode_tok_s:.1f} tok/s")
            parts.append(f"TTFT {stats.ttft_s * 1000:.0f} ms")
            parts.append(f"context {stats.context_used}/{self.chat.model.context_length}")
        return " · ".join(p for p in parts if p)

    async def send(self) -> None:
        text = self.page.take_prompt().strip()
        if not text:
            return
        self.settings, problems = self.page.read_settings(self.settings)
        for problem in problems:
            self.page.show_error(problem)
        self.page.save_settings(self.settings)
        self.busy, self.cancel = True, False
        self.page.set_busy(True)
        self.page.add_message("user", text).finish()
        view = self.page.add_message("assistant")
        self.page.set_status(State.GENERATING, f"Generating with {self.label}…")
        try:
            async for chunk in self.chat.reply(text, self.settings, lambda: self.cancel):
                view.append(chunk)
        except HearthError as error:
            self.page.show_error(str(error))
            if not view.text:
                self.page.prompt.value = text  # nothing was answered: give the text back
        finally:
            self._finish(view)

    def _finish(self, view: MessageView) -> None:
        """Status and controls first, the message's data-done last: whoever waits for the
        reply to complete then sees the page ready for the next one."""
        stats = self.chat.last_stats
        self.busy = False
        self.page.set_status(State.READY, self.ready_text())
        self.page.set_busy(False)
        view.finish(
            prompt_tokens=stats.prompt_tokens if stats else None,
            stopped=self.chat.stopped,
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
        models = config["models"]
        entry = next((m for m in models if m["id"] == settings.model), models[0])
        page.set_models([(m["id"], m["label"]) for m in models], entry["id"])
        app = await load(page, config, manifest, entry, settings)
        app.bind()
        page.set_busy(False)
        page.set_status(State.READY, app.ready_text())
    except HearthError as error:
        page.set_status(State.ERROR, "Hearth could not start")
        page.show_error(str(error))
    except Exception as error:  # noqa: BLE001 - boot must always end in a visible state
        page.set_status(State.ERROR, "Hearth failed to start")
        page.show_error(f"{error}. Reload the page; if it persists, run `python build.py` again.")
        raise


async def load(
    page: Page,
    config: dict[str, Any],
    manifest: dict[str, Any],
    entry: dict[str, Any],
    settings: Settings,
) -> App:
    label = entry["label"]
    engine = await import_module(Page.url("engine.js"))
    shown = [-1]

    def progress(fraction: float) -> None:
        percent = int(fraction * 100)
        if percent != shown[0]:
            shown[0] = percent
            page.set_status(State.LOADING, f"Downloading {label}: {percent}%")

    files = await ModelFiles.download(engine, Page.url("./"), entry, manifest, progress)
    base = entry["path"]
    tokenizer = Tokenizer.from_json(await (await fetch(base + "tokenizer.json")).string())
    template = ChatTemplate.from_source(await (await fetch(base + "chat_template.jinja")).string())
    page.set_status(State.LOADING, f"Opening {label} in ONNX Runtime…")
    urls = {ep: Page.url(url) for ep, url in config["ort"].items()}
    session = OrtSession(engine, urls, files, entry["shape"])
    shape = entry["shape"]
    chat = ChatSession(
        Generator(session, tokenizer, shape["context_length"]),
        tokenizer,
        template,
        ModelInfo(label, frozenset(shape["eos"]), shape["context_length"]),
    )
    app = App(page, chat, settings, label)
    app.backend = await session.open()

    def fallback(backend: Backend) -> None:
        app.backend = backend
        page.show_error(f"Switched to {backend.describe()}.")

    session.on_fallback = fallback
    return app
