"""The in-page model as a backend provider: download it (with progress), verify it against
the manifest, open it in ONNX Runtime Web and put the chat template and tokenizer around it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import js
from pyodide.http import pyfetch

from pyapp.backends import LocalBackend
from pyapp.browser import host
from pyapp.browser.ort import Engine, ModelFiles, OrtSession
from pyapp.browser.packages import load_packages
from pyapp.config import AppConfig, ModelEntry
from pyapp.errors import HearthError, ModelLoadError
from pyapp.generate import Generator
from pyapp.status import ModelOption, download_text
from pyapp.templates import ChatTemplate
from pyapp.tokenizer import Tokenizer

MODEL_CACHE = "hearth-models"  # site/sw.js keeps the model files there


async def fetch_text(relative: str) -> str:
    response = await pyfetch(host.url(relative))
    if not response.ok:
        raise HearthError(
            f"{relative} answered HTTP {response.status}; rebuild with `python build.py`."
        )
    return str(await response.string())


DAMAGED_COPY = "The saved copy of the model was damaged, so it was downloaded again."


async def forget_saved_model(names: list[str], folder: str) -> bool:
    """Delete these model files from the service worker's cache (site/sw.js); True if any
    was there."""
    if not hasattr(js, "caches"):
        return False
    cache = await js.caches.open(MODEL_CACHE)
    found = False
    for name in names:
        found = bool(await cache.delete(host.url(folder + name))) or found
    return found


class Phases:
    """Seconds spent in each step of a model load, in order (for the benchmark)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self._last
        self._last = now


class LocalProvider:
    """The model(s) shipped in dist/models/, run in this page. A model is loaded once;
    `on_notice` hears about a WebGPU failure that moved the model to WASM."""

    def __init__(self, config: AppConfig, manifest: dict[str, Any], threads: int | None) -> None:
        self.config = config
        self.manifest = manifest
        self.threads = threads
        self.engine: Engine | None = None
        self.loaded: dict[str, LocalBackend] = {}
        self.on_notice: Callable[[str], None] = lambda text: None
        self.phases: dict[str, float] = {}  # the last load's, see Phases

    @property
    def where(self) -> str:
        return f"in-browser, {self.engine.describe()}" if self.engine else "in-browser"

    async def models(self) -> list[ModelOption]:
        return [ModelOption(m.id, m.label) for m in self.config.models]

    async def open(self, model: str | None, progress: Callable[[str], None]) -> LocalBackend:
        entry = self.config.model(model)
        if entry.id not in self.loaded:
            self.loaded[entry.id] = await self._load(entry, progress)
        return self.loaded[entry.id]

    async def _load(self, entry: ModelEntry, progress: Callable[[str], None]) -> LocalBackend:
        engine_js = host.engine()
        shown = [-1]

        def downloaded(fraction: float) -> None:
            percent = int(fraction * 100)
            if percent != shown[0]:
                shown[0] = percent
                progress(download_text(entry.label, fraction))

        clock = Phases()
        try:
            files = await ModelFiles.download(
                engine_js, host.url("./"), entry, self.manifest, downloaded
            )
        except ModelLoadError:
            # A damaged saved copy (disk trouble, a tampered profile): drop it and fetch
            # the files again; what the server sends is checked just the same.
            if not await forget_saved_model([entry.graph, *entry.data], entry.path):
                raise
            progress("The saved copy of the model is damaged; downloading it again…")
            files = await ModelFiles.download(
                engine_js, host.url("./"), entry, self.manifest, downloaded
            )
            self.on_notice(DAMAGED_COPY)
        clock.lap("model_bytes")
        tokenizer = Tokenizer.from_json(await fetch_text(entry.path + "tokenizer.json"))
        clock.lap("tokenizer")
        await load_packages("jinja2")
        template = ChatTemplate(entry.chat.template, entry.chat.special_tokens)
        clock.lap("template")
        progress(f"Opening {entry.label} in ONNX Runtime…")
        urls = {ep: host.url(address) for ep, address in self.config.ort.items()}
        session = OrtSession(engine_js, urls, files, entry.shape, self.threads)
        self.engine = await session.open()
        clock.lap("session")
        self.phases = clock.seconds
        session.on_fallback = self._fallback
        generator = Generator(session, tokenizer, entry.shape.context_length)
        eos = frozenset(entry.shape.eos)
        return LocalBackend(entry.id, entry.label, generator, tokenizer, template, eos)

    def _fallback(self, engine: Engine) -> None:
        self.engine = engine
        self.on_notice(f"Switched to {engine.describe()}.")
