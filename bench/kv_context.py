"""Decode speed against context length: ORT Web's public API (every run copies the whole KV
cache into the WASM heap and out again) against site/engine.js (the cache stays in the heap,
updated in place), interleaved A/B in headless Chromium because the cores are shared.

    .venv/bin/python -m bench.kv_context [--runs 3] [--before FOLDER]

`--before` takes a model folder whose `model.page.onnx` is an older page graph (e.g. from
`git show`) to time the public API on it; by default both sides run the current page graph.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from bench.harness import document
from bench.ort_loop import LoopResult, chromium_page, run_loop
from bench.server import ROOT
from hearth_build.model.head import PAGE_GRAPH
from pyapp.tokenizer import Tokenizer

CONTEXTS = (100, 1000, 4000)


def prompt_of(tokenizer: Tokenizer, length: int) -> list[int]:
    ids = tokenizer.encode(document())
    return (ids * (length // len(ids) + 1))[:length]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=48, help="decoded tokens per run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--contexts", type=int, nargs="+", default=list(CONTEXTS))
    parser.add_argument("--before", type=Path, help="model folder with an older page graph")
    args = parser.parse_args()
    config = json.loads((ROOT / "dist" / "app-config.json").read_text())
    folder = ROOT / "dist" / config["models"][0]["path"]
    before = args.before or folder
    tokenizer = Tokenizer.from_json((folder / "tokenizer.json").read_text())
    results: dict[str, list[LoopResult]] = {}
    with chromium_page({"after": folder, "before": before}) as page:
        for run in range(args.runs):
            for length in args.contexts:
                prompt = prompt_of(tokenizer, length)
                for side, engine in (("before", False), ("after", True)):
                    result = run_loop(
                        page,
                        side,
                        before if side == "before" else folder,
                        prompt,
                        args.tokens + 1,
                        args.threads,
                        graph=PAGE_GRAPH,
                        engine=engine,
                    )
                    results.setdefault(f"{side} {length}", []).append(result)
                    print(
                        f"run {run} {side:6} {length:5} tokens: decode "
                        f"{result.decode_tok_s:5.1f} tok/s, TTFT {result.ttft_ms:7.0f} ms, "
                        f"session {result.session_ms:5.0f} ms",
                        flush=True,
                    )
    print("\n| side | context | decode tok/s (median) | TTFT ms | session ms |")
    print("| --- | --- | --- | --- | --- |")
    for key, runs in results.items():
        side, length = key.split()
        print(
            f"| {side} | {length} | {statistics.median(r.decode_tok_s for r in runs):.1f} "
            f"| {statistics.median(r.ttft_ms for r in runs):.0f} "
            f"| {statistics.median(r.session_ms for r in runs):.0f} |"
        )


if __name__ == "__main__":
    main()
