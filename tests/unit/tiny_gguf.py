"""Tiny GGUF files written with `gguf`'s own writer, for unit tests that must not need the
model cache: a random llama laid out as llama.cpp's converter lays it out (Q8_0 blocks, Q
and K rows permuted for its rotary), and the same header under other architectures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.quants import dequantize, quantize

from pyapp.tokenizer import byte_to_unicode

Q8_0 = GGMLQuantizationType.Q8_0
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CONTROL, NORMAL = 3, 1


@dataclass
class TinyLlama:
    """The hyperparameters and, in `weights`, every tensor as the GGUF will dequantise it,
    in Hugging Face's layout (Q and K rows in their original order)."""

    layers: int = 2
    hidden: int = 64
    heads: int = 4
    kv_heads: int = 2
    ffn: int = 96
    context: int = 32
    theta: float = 10000.0
    epsilon: float = 1e-5
    tokens: list[str] = field(
        default_factory=lambda: [*SPECIALS, *byte_to_unicode().values(), "Ġt"]
    )
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def head_size(self) -> int:
        return self.hidden // self.heads


def permute_rotary(rows: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's converter (`convert_hf_to_gguf.py`): each head's halves, interleaved."""
    out, columns = rows.shape
    return rows.reshape(heads, 2, out // heads // 2, columns).swapaxes(1, 2).reshape(out, columns)


def write_llama(
    path: Path, arch: str = "llama", tokenizer: str = "gpt2", extra: tuple[str, ...] = ()
) -> TinyLlama:
    """A random llama GGUF at `path`; another `arch` or `tokenizer` model, or `extra`
    tensors, make it something the direct converter does not cover."""
    model = TinyLlama()
    rng = np.random.default_rng(0)
    writer = GGUFWriter(path, arch)
    writer.add_block_count(model.layers)
    writer.add_context_length(model.context)
    writer.add_embedding_length(model.hidden)
    writer.add_feed_forward_length(model.ffn)
    writer.add_head_count(model.heads)
    writer.add_head_count_kv(model.kv_heads)
    writer.add_rope_freq_base(model.theta)
    writer.add_layer_norm_rms_eps(model.epsilon)
    writer.add_tokenizer_model(tokenizer)
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(model.tokens)
    writer.add_token_types([CONTROL if t in SPECIALS else NORMAL for t in model.tokens])
    writer.add_token_merges(["Ġ t"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")

    def matrix(name: str, rows: int, columns: int, permute_heads: int = 0) -> None:
        raw = quantize(rng.normal(0, 0.2, (rows, columns)).astype(np.float32), Q8_0)
        model.weights[name] = dequantize(raw, Q8_0)
        if permute_heads:
            raw = permute_rotary(raw, permute_heads)  # whole rows move, blocks stay intact
        writer.add_tensor(name, raw, raw_dtype=Q8_0)

    def norm(name: str) -> None:
        model.weights[name] = rng.uniform(0.5, 1.5, model.hidden).astype(np.float32)
        writer.add_tensor(name, model.weights[name])

    kv = model.kv_heads * model.head_size
    matrix("token_embd.weight", len(model.tokens), model.hidden)
    norm("output_norm.weight")
    for i in range(model.layers):
        norm(f"blk.{i}.attn_norm.weight")
        matrix(f"blk.{i}.attn_q.weight", model.hidden, model.hidden, model.heads)
        matrix(f"blk.{i}.attn_k.weight", kv, model.hidden, model.kv_heads)
        matrix(f"blk.{i}.attn_v.weight", kv, model.hidden)
        matrix(f"blk.{i}.attn_output.weight", model.hidden, model.hidden)
        norm(f"blk.{i}.ffn_norm.weight")
        matrix(f"blk.{i}.ffn_gate.weight", model.ffn, model.hidden)
        matrix(f"blk.{i}.ffn_up.weight", model.ffn, model.hidden)
        matrix(f"blk.{i}.ffn_down.weight", model.hidden, model.ffn)
    for name in extra:
        norm(name)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model
