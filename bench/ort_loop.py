"""Run the minimal JS decoding loop (bench/site/ort_loop.html) on a model in real Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.server import ROOT, bench_server
from hearth_build.chromium import (
    CHROMIUM_ARGS,
    MISSING_BROWSER,
    WEBGPU_ARGS,
    find_chromium,
    is_local,
)
from hearth_build.model.genai import read_shape
from hearth_build.model.head import PAGE_GRAPH
from hearth_build.model.page_weights import RECIPE


@dataclass(frozen=True)
class LoopResult:
    decode_tok_s: float
    ttft_ms: float
    session_ms: float
    generated: list[int]


def data_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("model.onnx."))


@contextmanager
def chromium_page(models: dict[str, Path]) -> Iterator[Any]:
    """A page of the bench site in headless Chromium; fails if anything leaves loopback."""
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        raise SystemExit(MISSING_BROWSER)
    mounts = {
        "": ROOT / "bench" / "site",
        "vendor/": ROOT / "dist" / "vendor",
        "app/": ROOT / "dist",  # the built site: engine.js, weights.js and dequant.wasm
    }
    mounts.update({f"models/{name}/": folder for name, folder in models.items()})
    requests: list[str] = []
    with bench_server(mounts) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS + WEBGPU_ARGS
        )
        context = browser.new_context()
        context.on("request", lambda request: requests.append(request.url))
        try:
            yield loop_page(context, url, "ort_loop.html")
        finally:
            browser.close()
    leaked = [u for u in requests if not is_local(u)]
    if leaked:
        raise RuntimeError(f"benchmark requests left loopback: {leaked}")


def loop_page(context: Any, base: str, path: str) -> Any:
    """A new page of `context` on bench/site's ort_loop.html (at `base` + `path`); the
    runs find ORT under `base`vendor/, the built site under `base`app/ and the models
    under `base`models/<name>/."""
    page = context.new_page()
    page.goto(base + path)
    page.base_url = base
    return page


def run_loop(
    page: Any,
    name: str,
    folder: Path,
    prompt: list[int],
    max_new: int,
    threads: int,
    ep: str = "wasm",
    graph: str = "model.onnx",
    engine: bool = False,
) -> LoopResult:
    """One greedy run: through ORT Web's public API, or through site/engine.js's Decoder
    (`engine`, which needs the page graph: its outputs are the top-k)."""
    config = _config(page, name, folder, max_new, threads, ep, graph, engine)
    result = page.evaluate(f"runBench({json.dumps({**config, 'promptIds': prompt})})")
    return LoopResult(
        decode_tok_s=result["decodeTokPerS"],
        ttft_ms=result["ttftMs"],
        session_ms=result["sessionMs"],
        generated=result["generated"],
    )


def run_prompts(
    page: Any, name: str, folder: Path, prompts: list[list[int]], max_new: int, threads: int
) -> list[LoopResult]:
    """Greedy runs of `prompts` in turn on one site/engine.js Decoder (WASM, the page graph),
    each reusing the cached prefix it shares with the one before, as the page does."""
    config = _config(page, name, folder, max_new, threads, "wasm", PAGE_GRAPH, engine=True)
    result = page.evaluate(f"runBench({json.dumps({**config, 'prompts': prompts})})")
    return [
        LoopResult(
            decode_tok_s=run["decodeTokPerS"],
            ttft_ms=run["ttftMs"],
            session_ms=result["sessionMs"],
            generated=run["generated"],
        )
        for run in result["runs"]
    ]


def _config(
    page: Any,
    name: str,
    folder: Path,
    max_new: int,
    threads: int,
    ep: str,
    graph: str,
    engine: bool,
) -> dict[str, Any]:
    shape = read_shape(folder)
    (ort_dir,) = (ROOT / "dist" / "vendor").glob("ort-*")
    module = "ort.webgpu.min.mjs" if ep == "webgpu" else "ort.wasm.min.mjs"
    return {
        "ortUrl": f"{page.base_url}vendor/{ort_dir.name}/{module}",
        "modelUrl": f"{page.base_url}models/{name}/",
        "graph": graph,
        "engineUrl": f"{page.base_url}app/engine.js" if engine else None,
        "dataFiles": data_files(folder),
        "recipe": RECIPE if graph == PAGE_GRAPH and (folder / RECIPE).exists() else None,
        "weightsUrl": f"{page.base_url}app/weights.js",
        "threads": threads,
        "ep": ep,
        "shape": {"layers": shape.layers, "kvHeads": shape.kv_heads, "headSize": shape.head_size},
        "maxNew": max_new,
        "eos": list(shape.eos),
        "ignoreEos": True,
    }
