"""The benchmark's rows: which engine, in which setting, and how each is set up."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.engines import (
    Engine,
    GenaiInt4,
    HearthPage,
    IdsEngine,
    NativeOrt,
    OpenAIStream,
    PeerPage,
)
from bench.formats import int4_folder
from bench.harness import (
    CONTEXT_STEPS,
    CONTEXTS,
    DECODE_TOKENS,
    METRICS,
    STORY,
    WARMED_UP,
    Prompts,
    Row,
    chromium,
    measure,
)
from bench.loop_ab import measure_loop_ab
from bench.ort_loop import chromium_page, run_loop, run_prompts
from bench.server import ROOT, bench_server
from build import default_cache
from hearth_build.model.head import PAGE_GRAPH
from hearth_build.vendor import npm_install
from hearth_server.upstream import Upstream
from pyapp.templates import Message

PEERS = ROOT / "bench" / "peers"
ROW_KEYS = (
    "native",
    "genai",
    "foundry",
    "foundry-proxy",
    "hearth",
    "hearth-webgpu",
    "jsloop",
    "loop-ab",
    "transformers",
    "wllama",
)
HEARTH = "Hearth (Python in the page, ORT Web)"
FOUNDRY_4K = (
    "Foundry Local evaluates the whole prompt on every request (no prefix cache), so each run "
    "would add a 4k prefill; its runtime is the onnxruntime-genai row's, measured there"
)
NOT_A_PRODUCT = "the bare loop has no tokenizer or chat: decode only"


def threads_n() -> int:
    """What the page picks by default: one thread per core, at most 4."""
    return min(os.cpu_count() or 1, 4)


def transformers_js_folder(reference: Path, hf: Path, dest: Path) -> Path:
    """The fp32 reference export in transformers.js's layout (`onnx/model.onnx` + external
    data named `model.onnx_data`, the cache's head size spelled out): the same weights the
    page folds to at load."""
    import onnx

    model_dir = dest / "smollm2"
    graph = model_dir / "onnx" / "model.onnx"
    if graph.exists():
        return model_dir
    graph.parent.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "generation_config.json"):
        (model_dir / name).write_bytes((hf / name).read_bytes())
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (model_dir / name).write_bytes((reference / name).read_bytes())
    proto = onnx.load(str(reference / "model.onnx"), load_external_data=False)
    head_size = json.loads((hf / "config.json").read_text())["head_dim"]
    for value in proto.graph.input:  # transformers.js sizes the empty cache from these
        if value.name.startswith("past_key_values."):
            value.type.tensor_type.shape.dim[3].dim_value = head_size  # was 'kv_cache_dim'
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "model.onnx_data"
    data = graph.parent / "model.onnx_data"
    if not data.exists():
        # A copy, not a hard link: onnx.load refuses external data with more than one link
        # (it reads that as a hardlink attack), and the reference must stay loadable.
        shutil.copyfile(reference / "model.onnx.data", data)
    onnx.save(proto, str(graph))
    return model_dir


def webgpu_adapter(browser: Any, url: str) -> str | None:
    """The adapter's description, or None when Chromium offers none."""
    page = browser.new_page()
    page.goto(url + "bench/peers.html")
    info = page.evaluate(
        """async () => { const a = navigator.gpu && await navigator.gpu.requestAdapter();
           if (!a) return null;
           return [a.info.vendor, a.info.architecture, a.info.description]
             .filter(Boolean).join(' '); }"""
    )
    page.close()
    return str(info) if info else None


def collect(
    args: argparse.Namespace,
    prompts: Prompts,
    page_folder: Path,
    reference: Path,
    gguf: Path,
    requests: list[str],
    skip: set[str],
    extras: dict[str, Any],
) -> list[Row]:
    """The selected rows; what is not a row (the loop A/B) goes into `extras`."""
    wanted = set(args.only) if args.only else None
    rows: list[Row] = []
    cache = default_cache()
    work = page_folder.parent / "bench"
    n = threads_n()
    one_thread = dict.fromkeys(
        CONTEXTS,
        f"measured at the page's default {n} threads only: on 1 thread the 4k prompt alone "
        "takes minutes to prefill",
    )

    def run(name: str, setting: str, engine: Engine, missing: dict[str, str] | None = None) -> Row:
        row = Row(name, setting, missing=dict(missing or {}))
        print(f"{name} [{setting}]", flush=True)
        measure(engine, prompts, args.runs, row, skip)
        rows.append(row)
        return row

    def selected(key: str) -> bool:
        return wanted is None or key in wanted

    # Native references first: they need no browser.
    if selected("native"):
        rates = {}
        for threads in (1, 2):
            engine = NativeOrt(page_folder, threads, prompts.tokenizer, prompts.template)
            engine.reply(Prompts.chat(STORY), 16)
            rates[threads] = statistics.median(
                engine.reply(Prompts.chat(STORY), DECODE_TOKENS).decode_tok_s for _ in range(3)
            )
        best = max(rates, key=lambda t: rates[t])
        probe = ", ".join(f"{t} thread{'s' * (t > 1)} {r:.1f}" for t, r in sorted(rates.items()))
        run(
            "onnxruntime (native CPU, same model file)",
            f"intra_op_num_threads={best}, the faster in a 3-reply probe (tok/s: {probe}); "
            "the KV cache passes in and out as numpy arrays every step",
            NativeOrt(page_folder, best, prompts.tokenizer, prompts.template),
        )
    if selected("genai"):
        int4 = int4_folder(gguf, work)
        run(
            "onnxruntime-genai (native CPU, int4 export)",
            "builder -p int4 -e cpu, default threads",
            GenaiInt4(int4, prompts.tokenizer, prompts.template),
        )
    if selected("foundry") or selected("foundry-proxy"):
        rows += foundry_rows(args, prompts, page_folder, gguf, cache, requests, skip, selected)

    mounts = {
        "": ROOT / "dist",
        "bench/": ROOT / "bench" / "site",
        "app/": ROOT / "dist",  # for bench/site/ort_loop.html, as bench.ort_loop mounts it
        "models/page/": page_folder,
    }
    if selected("transformers") or selected("wllama"):  # the peers' packages and models
        npm_install(PEERS)
        int4_folder(gguf, work)  # also leaves the dequantised HF folder transformers.js needs
        tjs = transformers_js_folder(reference, work / "hf", work / "transformers-js")
        mounts |= {
            "peers/": PEERS / "node_modules",
            "tjs-models/": tjs.parent,
            "gguf/": gguf.parent,
        }
    with bench_server(mounts) as url:
        if selected("hearth"):
            with chromium(webgpu=False) as browser:
                for threads in sorted({1, n}):
                    query = f"?temperature=0&threads={threads}"
                    page = HearthPage(browser, url, query, requests)
                    page.ready(cold=True)
                    setting = f"WASM, {threads} thread{'s' * (threads > 1)}"
                    assert setting in page.status(), page.status()
                    row = run(HEARTH, setting, page, None if threads == n else one_thread)
                    row.phases = page.phases
                    page.close()
        if selected("hearth-webgpu"):
            with chromium(webgpu=True) as browser:
                adapter = webgpu_adapter(browser, url)
                if adapter is None or "swiftshader" in adapter.lower():
                    why = (
                        f"no GPU here: Chromium offers only SwiftShader's software adapter "
                        f"({adapter}); the WebGPU path is tested for correctness, not timed"
                    )
                    rows.append(Row(HEARTH, "WebGPU", {}, all_missing(why)))
                else:
                    gpu = HearthPage(browser, url, "?temperature=0", requests)
                    run(HEARTH, f"WebGPU ({adapter})", gpu).phases = gpu.phases
        if selected("jsloop"):
            rows.append(js_loop_row(args, prompts, page_folder, n))
        if selected("loop-ab"):
            with chromium(webgpu=False) as browser:
                ab = measure_loop_ab(browser, url, page_folder, prompts, 2 * args.runs, n, requests)
                extras["loop_ab"] = vars(ab)
        if selected("transformers"):
            with chromium(webgpu=False) as browser:
                peer = PeerPage(
                    browser,
                    url + "bench/",
                    "transformers",
                    {"threads": n, "modelId": "smollm2"},
                    IdsEngine(prompts.tokenizer, prompts.template),
                    requests,
                )
                peer.ready(cold=True)
                run(
                    "transformers.js 4.3.1 (ORT Web)",
                    f"WASM, {n} threads, the fp32 export (the weights the page runs)",
                    peer,
                )
        if selected("wllama"):
            with chromium(webgpu=False) as browser:
                peer = PeerPage(
                    browser,
                    url + "bench/",
                    "wllama",
                    {"threads": n, "ggufUrl": f"{url}gguf/{gguf.name}"},
                    IdsEngine(prompts.tokenizer, prompts.template),
                    requests,
                )
                peer.ready(cold=True)
                run("wllama 3.13.0 (llama.cpp WASM)", f"WASM, {n} threads, the Q4_1 GGUF", peer)
    return rows


def all_missing(why: str) -> dict[str, str]:
    return dict.fromkeys(METRICS, why)


def js_loop_row(args: argparse.Namespace, prompts: Prompts, folder: Path, n: int) -> Row:
    """The page's own decoder (site/engine.js on the page graph, its KV cache in the WASM
    heap) under a minimal JS greedy loop: what the Python loop costs is the gap between this
    row's decode rates and Hearth's. The context prompts run on one session, each reusing the
    cached prefix as the page does, so the 4k prompt is prefilled once."""
    row = Row(
        "ORT Web under a minimal JS loop (same model file)",
        f"WASM, {n} threads, site/engine.js on the page graph",
        {},
        all_missing(NOT_A_PRODUCT),
    )

    def ids(messages: list[Message]) -> list[int]:
        return prompts.tokenizer.encode(prompts.template.render(messages))

    story = ids(Prompts.chat(STORY))
    # (metric, timed): the warm-ups as measure() has them, the first run of the 4k prompt
    # being its prefill
    plan = [
        (metric, run >= 0)
        for metric in CONTEXTS
        for run in range(-int(metric in WARMED_UP), args.runs)
    ]
    with chromium_page({"page": folder}) as page:

        def short() -> float:
            result = run_loop(
                page, "page", folder, story, DECODE_TOKENS + 1, n, graph=PAGE_GRAPH, engine=True
            )
            return result.decode_tok_s

        short()  # warm-up
        row.values["decode_tok_s"] = [short() for _ in range(args.runs)]
        context = [ids(prompts.context[CONTEXTS[metric]]) for metric, _ in plan]
        results = run_prompts(page, "page", folder, context, CONTEXT_STEPS + 1, n)
    for (metric, timed), result in zip(plan, results, strict=True):
        if timed:
            row.values.setdefault(metric, []).append(result.decode_tok_s)
    for metric in row.values:
        del row.missing[metric]
        print(f"  JS loop {metric}: {statistics.median(row.values[metric]):.1f}", flush=True)
    return row


def foundry_rows(
    args: argparse.Namespace,
    prompts: Prompts,
    page_folder: Path,
    gguf: Path,
    cache: Path,
    requests: list[str],
    skip: set[str],
    selected: Any,
) -> list[Row]:
    """Foundry Local from the pinned SDK, called with the openai client directly and through
    Hearth's proxy (serve.py's handler in-process)."""
    from tests.foundry.local import MODEL_ID, foundry_python, start_foundry

    python = foundry_python(cache)
    data = cache / "bench-foundry"
    # What Foundry Local serves in practice: the ORT GenAI int4 export. (Given the page's
    # folder, ORT GenAI would dequantise its DequantizeLinear weights at every token.)
    model = int4_folder(gguf, page_folder.parent / "bench")
    running = [start_foundry(python, model, data)]

    def restart(cold: bool) -> float:
        """Cold: a new runtime process until it serves; warm: unload and load the model."""
        if cold:
            running[0].stop()
            started = time.perf_counter()
            running[0] = start_foundry(python, model, data)
            return time.perf_counter() - started
        base = running[0].base
        urllib.request.urlopen(f"{base}/models/unload/{running[0].alias}", timeout=60).read()
        started = time.perf_counter()
        urllib.request.urlopen(f"{base}/models/load/{running[0].alias}", timeout=600).read()
        return time.perf_counter() - started

    rows: list[Row] = []
    try:
        if selected("foundry"):
            row = Row(
                "Foundry Local 2.2.1 REST, openai client",
                "SDK runtime (ORT GenAI), the builder's int4 export",
                missing={"decode_4k_tok_s": FOUNDRY_4K},
            )
            print(f"{row.name} [{row.setting}]", flush=True)
            direct = OpenAIStream(lambda: running[0].base + "/v1", MODEL_ID, start=restart)
            measure(direct, prompts, args.runs, row, skip)
            rows.append(row)
        if selected("foundry-proxy"):
            upstream = Upstream(running[0].base, "bench")
            with bench_server({"": ROOT / "dist"}, upstream=upstream) as url:
                row = Row("Foundry Local through Hearth's proxy", "serve.py handler, openai client")
                print(f"{row.name} [{row.setting}]", flush=True)
                same = ("ready_cold_s", "ready_warm_s", *CONTEXTS)
                row.missing.update(dict.fromkeys(same, "same runtime as the row above"))
                proxied = OpenAIStream(lambda: url + "foundry/v1", MODEL_ID)
                measure(proxied, prompts, args.runs, row, skip)
                rows.append(row)
    finally:
        running[0].stop()
    return rows
