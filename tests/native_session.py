"""A `StepSession` over native onnxruntime and the page's own graph (model.page.onnx),
so CPython tests drive pyapp's generation loop with the real model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from hearth_build.model.genai import Shape


class NativeStepSession:
    def __init__(self, folder: Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.add_session_config_entry("session.disable_quant_qdq", "1")
        self.session = ort.InferenceSession(str(folder / "model.page.onnx"), options)
        self.shape = Shape.read(folder)
        self.names = [o.name for o in self.session.get_outputs()]
        self.steps: list[int] = []  # how many ids each step evaluated
        self.truncate_sync(0)

    def truncate_sync(self, length: int) -> None:
        if length == 0:
            empty = np.zeros((1, self.shape.kv_heads, 0, self.shape.head_size), np.float32)
            self.cache = {
                f"past_key_values.{i}.{k}": empty
                for i in range(self.shape.layers)
                for k in ("key", "value")
            }
        else:
            self.cache = {name: value[:, :, :length] for name, value in self.cache.items()}
        self.length = length

    async def truncate(self, length: int) -> None:
        self.truncate_sync(length)

    async def step(self, ids: Sequence[int]) -> tuple[list[float], list[int]]:
        total = self.length + len(ids)
        feeds = {
            "input_ids": np.array([list(ids)], np.int64),
            "attention_mask": np.ones((1, total), np.int64),
            **self.cache,
        }
        out = dict(zip(self.names, self.session.run(None, feeds), strict=True))
        self.cache = {
            n.replace("present", "past_key_values"): v
            for n, v in out.items()
            if n.startswith("present")
        }
        self.length = total
        self.steps.append(len(ids))
        return out["topk_values"][0].tolist(), out["topk_indices"][0].tolist()
