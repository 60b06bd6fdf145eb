"""The in-page model as a backend provider: download it (with progress), verify it against
the manifest, open it in ONNX Runtime Web and put the chat template and tokenizer around it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyodide.http import pyfetch

from pyapp.backends import LocalBackend
from pyapp.browser import host
from pyapp.browser.ort import Engine, ModelFiles, OrtSession
from pyapp.browser.packages import load_packages
from pyapp.config import AppConfig, ModelEntry
from pyapp.errors import HearthError
from pyapp.generate import Generator
from pyapp.status import ModelOption, download_text
from pyapp.templates import ChatTemplate
from pyapp.tokenizer import Tokenizer


async def fetch_text(relative: str) -> str:
    response = await pyfetch(host.url(relative))
    if not response.ok:
        raise HearthError(
            f"{relative} answered HTTP {response.status}; rebuild with `python build.py`."
        )
    return str(await response.string())


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

        files = await ModelFiles.download(
            engine_js, host.url("./"), entry, self.manifest, downloaded
        )
        tokenizer = Tokenizer.from_json(await fetch_text(entry.path + "tokenizer.json"))
        await load_packages("jinja2")
        template = ChatTemplate(entry.chat.template, entry.chat.special_tokens)
        progress(f"Opening {entry.label} in ONNX Runtime…")
        urls = {ep: host.url(address) for ep, address in self.config.ort.items()}
        session = OrtSession(engine_js, urls, files, entry.shape, self.threads)
        self.engine = await session.open()
        session.on_fallback = self._fallback
        generator = Generator(session, tokenizer, entry.shape.context_length)
        eos = frozenset(entry.shape.eos)
        return LocalBackend(entry.id, entry.label, generator, tokenizer, template, eos)

    def _fallback(self, engine: Engine) -> None:
        self.engine = engine
        self.on_notice(f"Switched to {engine.describe()}.")
