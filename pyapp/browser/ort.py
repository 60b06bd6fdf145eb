"""ONNX Runtime Web behind the core's `StepSession`, plus downloading and verifying the model.

Picks WebGPU when the browser offers an adapter, else WASM (threaded when the page is
cross-origin isolated), and falls back to WASM if WebGPU fails, at load or mid-reply.
Per token it makes one JS call (`Decoder.step`) and converts two 64-element arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import js
from pyodide.ffi import JsException, to_js

from pyapp.browser.host import to_js_object
from pyapp.config import ExecutionProvider, ModelEntry, ModelShape
from pyapp.errors import EngineError, ModelLoadError


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


class ModelFiles:
    """The model's bytes, downloaded once and checked against dist/manifest.json."""

    def __init__(self, graph: Any, data: dict[str, Any]) -> None:
        self.graph = graph
        self.data = data

    @classmethod
    async def download(
        cls,
        engine: Any,
        base: str,
        entry: ModelEntry,
        manifest: dict[str, Any],
        progress: Callable[[float], None],
    ) -> ModelFiles:
        names = [entry.graph, *entry.data]
        files = {n: manifest["files"][entry.path + n] for n in names}
        total = sum(f["size"] for f in files.values())
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            progress(done / total)

        hook = to_js(advance)
        blobs = {}
        try:
            for name, expected in files.items():
                try:
                    result = await engine.download(base + entry.path + name, expected["size"], hook)
                except JsException as error:
                    raise ModelLoadError(
                        f"Could not download {name} ({error}). Check that serve.py is running."
                    ) from None
                if result.received != expected["size"]:
                    raise ModelLoadError(
                        f"{name} is truncated ({result.received} of {expected['size']} bytes). "
                        "Rebuild with `python build.py` and reload."
                    )
                if await engine.sha256Hex(result.bytes) != expected["sha256"]:
                    raise ModelLoadError(
                        f"{name} is corrupted (its sha256 does not match the manifest). "
                        "Rebuild with `python build.py --rebuild-model` and reload."
                    )
                blobs[name] = result.bytes
        finally:
            hook.destroy()
        return cls(blobs[entry.graph], {n: blobs[n] for n in entry.data})


class OrtSession:
    """`StepSession` over engine.js's Decoder, with a transparent WebGPU -> WASM fallback."""

    def __init__(
        self,
        engine: Any,
        urls: dict[ExecutionProvider, str],
        files: ModelFiles,
        shape: ModelShape,
        threads: int | None = None,
    ):
        self.js = engine
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
                return await self._create(wasm, f"WebGPU failed: {str(error)[:80]}")
        return await self._create(wasm, self.plan.reason)

    async def _create(self, ep: ExecutionProvider, reason: str) -> Engine:
        threads = int(self.plan.threads)
        external = to_js([to_js_object({"path": n, "data": d}) for n, d in self.files.data.items()])
        shape = to_js_object(
            {
                "layers": self.shape.layers,
                "kvHeads": self.shape.kv_heads,
                "headSize": self.shape.head_size,
            }
        )
        try:
            self.decoder = await self.js.Decoder.create(
                self.urls[ep], self.files.graph, external, shape, ep.value, threads
            )
        except JsException as error:
            if ep == ExecutionProvider.WEBGPU:
                raise
            raise EngineError(f"ONNX Runtime could not open the model: {error}") from None
        if not self.plan.isolated and ep == ExecutionProvider.WASM:
            reason = f"{reason}; not cross-origin isolated, so 1 thread"
        self.engine = Engine(ep, reason, threads)
        return self.engine

    async def step(self, ids: Sequence[int]) -> tuple[list[float], list[int]]:
        try:
            result = await self.decoder.step(js.Int32Array.new(to_js(list(ids))))
        except JsException as error:
            if self.engine is None or self.engine.ep != ExecutionProvider.WEBGPU:
                raise EngineError(f"ONNX Runtime failed while generating: {error}") from None
            await self.decoder.release()
            self.on_fallback(
                await self._create(
                    ExecutionProvider.WASM, f"WebGPU failed mid-reply: {str(error)[:80]}"
                )
            )
            result = await self.decoder.step(js.Int32Array.new(to_js([*self.fed, *ids])))
        self.fed += ids
        return list(result.values.to_py()), list(result.ids.to_py())

    async def truncate(self, length: int) -> None:
        await self.decoder.truncate(length)
        del self.fed[length:]
