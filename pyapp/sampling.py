"""Choosing the next token from the model's top-k candidates.

The page's graph ends in a TopK (see hearth_build/model/head.py), so only the k best
logits cross from ONNX Runtime into Python each step; everything here works on those.
Greedy is exact (top-1 of the full vocabulary); with sampling, tokens outside the top k
are never chosen, as with any top-k sampler.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.9
    repetition_penalty: float = 1.0
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


def penalize(
    values: list[float], ids: Sequence[int], seen: set[int], penalty: float
) -> list[float]:
    """CTRL-style repetition penalty: shrink the logits of tokens already generated."""
    if penalty == 1.0 or not seen:
        return values
    return [
        (v / penalty if v > 0 else v * penalty) if token in seen else v
        for v, token in zip(values, ids, strict=True)
    ]


def sample(
    values: Sequence[float],
    ids: Sequence[int],
    options: SamplingOptions,
    rng: random.Random,
    seen: set[int] | None = None,
) -> int:
    """One token id from candidates `ids` with logits `values` (sorted best first)."""
    logits = penalize(list(values), ids, seen or set(), options.repetition_penalty)
    if options.greedy:
        return ids[max(range(len(logits)), key=logits.__getitem__)]
    order = sorted(range(len(logits)), key=logits.__getitem__, reverse=True)[: options.top_k]
    top = logits[order[0]]
    weights = [math.exp((logits[i] - top) / options.temperature) for i in order]
    total = sum(weights)
    kept, mass = [], 0.0
    for index, weight in zip(order, weights, strict=True):
        kept.append((index, weight))
        mass += weight / total
        if mass >= options.top_p:
            break
    pick = rng.random() * sum(w for _, w in kept)
    for index, weight in kept:
        pick -= weight
        if pick <= 0:
            return ids[index]
    return ids[kept[-1][0]]
