"""ONNX Runtime Web behind the core's `StepSession`, over the model files that
pyapp/browser/model_files.py has read and verified.

Picks WebGPU when the browser offers an adapter, else WASM (threaded when the page is
cross-origin isolated), and falls back to WASM if WebGPU fails, at load or mid-reply.
Per token it makes one JS call (`Decoder.step`) and converts two 64-element arrays.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import js
from pyodide.ffi import JsException, to_js

from pyapp.browser.host import to_js_object
from pyapp.browser.model_files import ModelFiles
from pyapp.config import ExecutionProvider, ModelShape
from pyapp.errors import EngineError
from pyapp.generate import Step


def _reason(error: JsException) -> str:
    """A JS error's own message, short enough for the status line (str() would prefix its
    class: "Error: ...")."""
    return str(getattr(error, "message", error))[:80]


@dataclass(frozen=True)
class Engine:
    """Where the model runs in this page, and why there."""

    ep: ExecutionProvider
    reason: str
    threads: int

    def describe(self) -> str:
        if self.ep == ExecutionProvider.WEBGPU:
            return f"WebGPU ({self.reason})"
        return f"WASM, {self.threads} thread{'s' * (self.threads > 1)} ({self.reason})"


class OrtSession:
    """`StepSession` over a decoder in the model worker (site/engine.js through
    site/model.js), with a transparent WebGPU -> WASM fallback."""

    def __init__(
        self,
        model: Any,
        urls: dict[ExecutionProvider, str],
        files: ModelFiles,
        shape: ModelShape,
        threads: int | None = None,
    ):
        self.js = model
        self.threads = threads  # None: one per core, at most 4
        self.urls = urls
        self.files = files
        self.shape = shape
        self.decoder: Any = None
        self.plan: Any = None  # engine.js plan(): the backend, reason and threads
        self.engine: Engine | None = None
        # what the KV cache holds, so a mid-reply WebGPU failure can be replayed on WASM
        self.fed: list[int] = []
        self.on_fallback: Callable[[Engine], None] = lambda engine: None

    async def open(self) -> Engine:
        self.plan = await self.js.plan(self.threads or 0)
        wasm = ExecutionProvider.WASM
        if self.plan.ep == ExecutionProvider.WEBGPU.value:
            try:
                return await self._create(ExecutionProvider.WEBGPU, self.plan.reason)
            except JsException as error:
                return await self._create(wasm, f"WebGPU failed: {_reason(error)}")
        return await self._create(wasm, self.plan.reason)

    async def _create(self, ep: ExecutionProvider, reason: str) -> Engine:
        threads = int(self.plan.threads)
        spec = {
            "ortUrl": self.urls[ep],
            "graph": self.files.graph,
            "data": [{"path": name, "url": url} for name, url in self.files.data.items()],
            "recipe": self.files.weights,
            "shape": {
                "layers": self.shape.layers,
                "kvHeads": self.shape.kv_heads,
                "headSize": self.shape.head_size,
            },
            "ep": ep.value,
            "threads": threads,
        }
        try:
            self.decoder = await self.js.open(to_js_object(spec))
        except JsException as error:
            if ep == ExecutionProvider.WEBGPU:
                raise
            raise EngineError(f"ONNX Runtime could not open the model: {error}") from None
        if not self.plan.isolated and ep == ExecutionProvider.WASM:
            reason = f"{reason}; not cross-origin isolated, so 1 thread"
        self.engine = Engine(ep, reason, threads)
        return self.engine

    def step(self, ids: Sequence[int]) -> Awaitable[Step]:
        """Post the step to the model worker now; the returned coroutine awaits its answer."""
        fed = list(ids)
        return self._answer(self.decoder.step(js.Int32Array.new(to_js(fed))), fed)

    async def _answer(self, running: Any, ids: list[int]) -> Step:
        try:
            result = await running
        except JsException as error:
            if self.engine is None or self.engine.ep != ExecutionProvider.WEBGPU:
                raise EngineError(f"ONNX Runtime failed while generating: {error}") from None
            await self.decoder.release()
            self.on_fallback(
                await self._create(
                    ExecutionProvider.WASM, f"WebGPU failed mid-reply: {_reason(error)}"
                )
            )
            result = await self.decoder.step(js.Int32Array.new(to_js([*self.fed, *ids])))
        self.fed += ids
        return list(result.values.to_py()), list(result.ids.to_py())

    async def truncate(self, length: int) -> None:
        await self.decoder.truncate(length)
        del self.fed[length:]
