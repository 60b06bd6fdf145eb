"""The in-page model as a backend provider: download it (with progress), verify it against
the manifest, open it in ONNX Runtime Web and put the chat template and tokenizer around it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pyapp.backends import LocalBackend
from pyapp.browser import host
from pyapp.browser.model_files import ModelFiles, read_text
from pyapp.browser.ort import Engine, OrtSession
from pyapp.browser.packages import load_packages
from pyapp.config import AppConfig, ModelEntry
from pyapp.errors import ModelLoadError
from pyapp.generate import Generator
from pyapp.status import ModelOption, download_text, reading_text
from pyapp.templates import ChatTemplate
from pyapp.tokenizer import Tokenizer

T = TypeVar("T")

DAMAGED_COPY = "The saved copy of the model was damaged, so it was downloaded again."


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

    async def reachable(self) -> bool:
        return True  # the page itself: whether its model loads, opening it says

    async def open(self, model: str | None, progress: Callable[[str], None]) -> LocalBackend:
        entry = self.config.model(model)
        if entry.id not in self.loaded:
            self.loaded[entry.id] = await self._load(entry, progress)
        return self.loaded[entry.id]

    async def _load(self, entry: ModelEntry, progress: Callable[[str], None]) -> LocalBackend:
        """The model worker reads the files (started at page load for the default model)
        while Python builds the tokenizer and the template; then the session."""
        model_js = host.model()
        clock = Phases()
        progress(f"Preparing {entry.label}: its tokenizer and chat template, beside the model…")
        base = host.url("./")
        files = asyncio.ensure_future(self._files(model_js, base, entry, progress))
        try:
            text = await self._again_if_damaged(
                model_js,
                [host.url(entry.path + entry.tokenizer)],
                lambda: read_text(model_js, base, entry, self.manifest, entry.tokenizer),
                progress,
            )
            tokenizer = Tokenizer.from_json(text)
            clock.lap("tokenizer")
            await load_packages("jinja2")
            template = ChatTemplate(entry.chat.template, entry.chat.special_tokens)
            clock.lap("template")
        finally:
            checked = await files  # its failure, if any, is the one to report
        clock.lap("model_bytes")
        progress(f"Opening {entry.label} in ONNX Runtime…")
        urls = {ep: host.url(address) for ep, address in self.config.ort.items()}
        session = OrtSession(model_js, urls, checked, entry.shape, self.threads)
        self.engine = await session.open()
        clock.lap("session")
        self.phases = clock.seconds
        session.on_fallback = self._fallback
        generator = Generator(session, tokenizer, entry.shape.context_length)
        eos = frozenset(entry.shape.eos)
        return LocalBackend(
            entry.id,
            entry.label,
            generator,
            tokenizer,
            template,
            eos,
            reading=lambda done, total: progress(reading_text(done, total)),
        )

    async def _files(
        self, model_js: Any, base: str, entry: ModelEntry, progress: Callable[[str], None]
    ) -> ModelFiles:
        shown = [-1]

        def downloaded(fraction: float) -> None:
            percent = int(fraction * 100)
            if percent != shown[0]:
                shown[0] = percent
                progress(download_text(entry.label, fraction))

        return await self._again_if_damaged(
            model_js,
            [host.url(entry.path + name) for name in entry.session_files],
            lambda: ModelFiles.download(model_js, base, entry, self.manifest, downloaded),
            progress,
        )

    async def _again_if_damaged(
        self,
        model_js: Any,
        urls: list[str],
        read: Callable[[], Awaitable[T]],
        progress: Callable[[str], None],
    ) -> T:
        """`read()`, and once more if it failed on a damaged saved copy (disk trouble, a
        tampered profile): that copy is dropped and the files fetched again, and what the
        server sends is checked just the same."""
        try:
            return await read()
        except ModelLoadError:
            if not await model_js.forget(host.to_js_object(urls)):
                raise
            progress("The saved copy of the model is damaged; downloading it again…")
            result = await read()
            self.on_notice(DAMAGED_COPY)
            return result

    def _fallback(self, engine: Engine) -> None:
        self.engine = engine
        self.on_notice(f"Switched to {engine.describe()}.")
