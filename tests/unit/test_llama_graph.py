"""The direct converter's graph is a llama forward pass: a tiny random GGUF (Q8_0 blocks, Q/K
rows permuted as llama.cpp stores them), converted and run by onnxruntime, against the same
model written out in numpy from its Hugging Face-layout weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hearth_build.model.gguf_export import export_gguf
from hearth_build.model.gguf_reader import GGUFModel, unpermute_rotary
from hearth_build.model.native import NativeModel
from tests.unit.tiny_gguf import TinyLlama, permute_rotary, write_llama


def reference_logits(model: TinyLlama, ids: list[int]) -> np.ndarray:
    """transformers' LlamaForCausalLM, in float64 numpy."""
    w = {name: value.astype(np.float64) for name, value in model.weights.items()}
    n, size, half = len(ids), model.head_size, model.head_size // 2
    angles = np.outer(np.arange(n), model.theta ** (-np.arange(0, size, 2) / size))
    cos, sin = np.cos(angles), np.sin(angles)
    causal = np.triu(np.full((n, n), -np.inf), 1)

    def rms(x: np.ndarray, weight: str) -> np.ndarray:
        return x / np.sqrt((x**2).mean(-1, keepdims=True) + model.epsilon) * w[weight]

    def heads(x: np.ndarray, count: int) -> np.ndarray:
        return x.reshape(n, count, size).transpose(1, 0, 2)

    def rotate(x: np.ndarray) -> np.ndarray:
        x1, x2 = x[..., :half], x[..., half:]
        return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)

    x = w["token_embd.weight"][ids]
    group = model.heads // model.kv_heads
    for i in range(model.layers):
        h = rms(x, f"blk.{i}.attn_norm.weight")
        q = rotate(heads(h @ w[f"blk.{i}.attn_q.weight"].T, model.heads))
        k = rotate(heads(h @ w[f"blk.{i}.attn_k.weight"].T, model.kv_heads))
        v = heads(h @ w[f"blk.{i}.attn_v.weight"].T, model.kv_heads)
        k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(size) + causal
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        context = (probs / probs.sum(-1, keepdims=True)) @ v
        x = x + context.transpose(1, 0, 2).reshape(n, -1) @ w[f"blk.{i}.attn_output.weight"].T
        h = rms(x, f"blk.{i}.ffn_norm.weight")
        gate, up = h @ w[f"blk.{i}.ffn_gate.weight"].T, h @ w[f"blk.{i}.ffn_up.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[f"blk.{i}.ffn_down.weight"].T
    return rms(x, "output_norm.weight") @ w["token_embd.weight"].T


def test_converted_tiny_llama_computes_its_forward_pass(tmp_path: Path) -> None:
    tiny = write_llama(tmp_path / "tiny.gguf")
    gguf = GGUFModel(tmp_path / "tiny.gguf")
    assert gguf.gap() is None
    export_gguf(gguf, tmp_path / "fp32")
    model = NativeModel(tmp_path / "fp32")
    ids = [40, 3, 120, 77, 9, 250, 18]
    expected = reference_logits(tiny, ids)
    assert np.abs(expected).max() > 1  # logits that a wrong graph could not match by luck

    # a 5-token prompt, then two single tokens over the KV cache
    logits, cache = model.forward(ids[:5], model.empty_cache(), 0)
    np.testing.assert_allclose(logits, expected[:5], rtol=1e-4, atol=1e-4)
    for position in (5, 6):
        logits, cache = model.forward([ids[position]], cache, position)
        np.testing.assert_allclose(logits[0], expected[position], rtol=1e-4, atol=1e-4)


def test_unpermute_undoes_llama_cpp_rotary_permutation() -> None:
    rows = np.arange(12 * 3, dtype=np.float32).reshape(12, 3)  # 3 heads of 4 rows
    permuted = permute_rotary(rows, heads=3)
    assert not np.array_equal(permuted, rows)
    np.testing.assert_array_equal(unpermute_rotary(permuted, heads=3), rows)
