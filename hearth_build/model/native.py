"""Native (CPU) onnxruntime over an ORT GenAI model folder: the reference the page is held to.

Used by the quality gate, the smoke test, the page-graph tests, the benchmark and the
notebook (`NativeStepSession` runs pyapp's own generation loop over the page's graph). One
thread unless asked: the tests compare outputs, and the benchmark picks the faster thread
count itself (on the 2-core CI box that was 2: about 55 vs 36 tok/s).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from hearth_build.model.genai import read_shape
from hearth_build.model.head import PAGE_GRAPH
from hearth_build.model.page_weights import WeightsRecipe, unpack
from pyapp.generate import Step


class NativeModel:
    def __init__(
        self,
        folder: Path,
        threads: int = 1,
        graph: str = "model.onnx",
        profile: Path | None = None,
    ) -> None:
        """`profile`: where ORT writes its profile of every node run (`end_profiling()`), for
        tests that count the work a step does."""
        options = ort.SessionOptions()
        if profile is not None:
            options.enable_profiling = True
            options.profile_file_prefix = str(profile)
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # fold the blocks' DequantizeLinear weights into fp32 constants (model.onnx); the
        # page's graph instead reads them rebuilt, as the page rebuilds them
        options.add_session_config_entry("session.disable_quant_qdq", "1")
        recipe = WeightsRecipe.read(folder)
        if recipe is not None and graph == PAGE_GRAPH:
            # ORT then wants every external file from memory, the real one too
            source = (folder / recipe.source).read_bytes()
            files = {recipe.source: source, recipe.file: unpack(recipe, source)}
            options.add_external_initializers_from_files_in_memory(
                list(files), list(files.values()), [len(b) for b in files.values()]
            )
        self.session = ort.InferenceSession(
            str(folder / graph), options, providers=["CPUExecutionProvider"]
        )
        self.shape = read_shape(folder)

    def empty_cache(self) -> dict[str, np.ndarray]:
        empty = np.zeros((1, self.shape.kv_heads, 0, self.shape.head_size), np.float32)
        return {
            f"past_key_values.{i}.{kind}": empty
            for i in range(self.shape.layers)
            for kind in ("key", "value")
        }

    def run(
        self, ids: list[int], cache: dict[str, np.ndarray], past: int
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Every output for `ids` appended after `past` cached tokens, and the new cache."""
        feeds = {
            "input_ids": np.array([ids], np.int64),
            "attention_mask": np.ones((1, past + len(ids)), np.int64),
            **cache,
        }
        outputs = self.session.run(None, feeds)
        names = [o.name for o in self.session.get_outputs()]
        result = dict(zip(names, outputs, strict=True))
        new_cache = {
            name.replace("present", "past_key_values"): value
            for name, value in result.items()
            if name.startswith("present")
        }
        return result, new_cache

    def forward(
        self, ids: list[int], cache: dict[str, np.ndarray], past: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Logits for `ids` appended after `past` cached tokens, and the new cache."""
        result, new_cache = self.run(ids, cache, past)
        return result["logits"][0], new_cache

    def greedy(self, prompt: list[int], max_new: int) -> list[int]:
        """Greedy continuation, stopping at EOS."""
        logits, cache = self.forward(prompt, self.empty_cache(), 0)
        out: list[int] = []
        past = len(prompt)
        while len(out) < max_new:
            token = int(np.argmax(logits[-1]))
            if token in self.shape.eos:
                break
            out.append(token)
            logits, cache = self.forward([token], cache, past)
            past += 1
        return out

    def top1(self, ids: list[int]) -> np.ndarray:
        """Teacher-forced top-1 prediction at every position of `ids` (one prefill pass)."""
        logits, _ = self.forward(ids, self.empty_cache(), 0)
        return np.asarray(np.argmax(logits, axis=-1))

    def decode_rate(self, prompt: list[int], steps: int) -> float:
        """Decode tokens per second over `steps` greedy steps after the prefill (EOS ignored)."""
        logits, cache = self.forward(prompt, self.empty_cache(), 0)
        past = len(prompt)
        started = time.perf_counter()
        for _ in range(steps):
            token = int(np.argmax(logits[-1]))
            logits, cache = self.forward([token], cache, past)
            past += 1
        return steps / (time.perf_counter() - started)


class NativeStepSession:
    """pyapp's `StepSession` over the page's own graph (model.page.onnx), natively, so CPython
    drives exactly the generation loop the page runs, with the real model."""

    def __init__(self, folder: Path) -> None:
        self.model = NativeModel(folder, graph="model.page.onnx")
        self.steps: list[int] = []  # how many ids each step evaluated: tests count work with it
        self.truncate_sync(0)

    def truncate_sync(self, length: int) -> None:
        if length == 0:
            self.cache = self.model.empty_cache()
        else:
            self.cache = {name: value[:, :, :length] for name, value in self.cache.items()}
        self.length = length

    async def truncate(self, length: int) -> None:
        self.truncate_sync(length)

    def step(self, ids: Sequence[int]) -> Awaitable[Step]:
        """Runs at the call, as the page's model worker starts at once: a step the loop
        starts and then abandons has changed the cache here too."""
        out, self.cache = self.model.run(list(ids), self.cache, self.length)
        self.length += len(ids)
        self.steps.append(len(ids))
        return _ready((out["topk_values"][0].tolist(), out["topk_indices"][0].tolist()))


def agreement(reference: NativeModel, candidate: NativeModel, ids: list[int], window: int) -> float:
    """Teacher-forced top-1 agreement over every position of `ids`, in windows of `window`."""
    same = total = 0
    for start in range(0, len(ids) - 1, window):
        chunk = ids[start : start + window]
        same += int((reference.top1(chunk) == candidate.top1(chunk)).sum())
        total += len(chunk)
    return same / total


async def _ready(value: Step) -> Step:
    return value
