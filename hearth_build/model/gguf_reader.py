"""A llama GGUF read with `gguf` and numpy, as the direct converter needs it.

The direct converter (`gguf_export`) covers what the default model is: the llama architecture
with a byte-level BPE tokenizer, tied embeddings and plain rotary embeddings. `gap()` names
the first thing a file has outside that, so the build can refuse it in one line or hand it
to the heavy converter, instead of writing a graph that silently ignores a tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

from hearth_build.console import BuildError
from pyapp.tokenizer import byte_to_unicode

ARCHITECTURE = "llama"
# Pre-tokenizers whose split is GPT-2's own regex in the tokenizer.json transformers writes
# for them (and so in the one `tokenizer_json` writes).
BYTE_LEVEL_PRE = ("gpt2", "smollm")
LAYER_TENSORS = (
    "attn_norm",
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_norm",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
)
MODEL_TENSORS = ("token_embd", "output_norm")


@dataclass(frozen=True)
class LlamaShape:
    """The hyperparameters the graph is written from."""

    layers: int
    hidden_size: int
    heads: int
    kv_heads: int
    head_size: int
    context_length: int
    vocab_size: int
    rms_epsilon: float
    rope_theta: float


class GGUFModel:
    """One GGUF file: metadata by llama.cpp's key names, weights as fp32 numpy arrays."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._reader = GGUFReader(path)
        except (ValueError, IndexError, OSError) as error:  # IndexError: a truncated file
            raise BuildError(
                f"--model {path}: not a readable GGUF file ({error}); check that it is "
                "complete, or download it again."
            ) from error
        self._tensors = {tensor.name: tensor for tensor in self._reader.tensors}

    def value(self, key: str) -> Any:
        """A metadata value (a list for arrays), or None when the file does not have it."""
        field = self._reader.get_field(key)
        return None if field is None else field.contents()

    @property
    def architecture(self) -> str:
        return str(self.value("general.architecture"))

    def gap(self) -> str | None:
        """What in this file the direct converter does not cover, or None when it covers it."""
        arch = self.architecture
        if arch != ARCHITECTURE:
            return f"architecture '{arch}'"
        tokenizer, pre = self.value("tokenizer.ggml.model"), self.value("tokenizer.ggml.pre")
        if tokenizer != "gpt2":
            return f"tokenizer '{tokenizer}'"
        if pre not in BYTE_LEVEL_PRE:
            return f"pre-tokenizer '{pre}'"
        if self.value("tokenizer.ggml.add_bos_token"):
            return "a BOS token added to every text"
        alphabet = set(byte_to_unicode().values())
        if not all(set(token) <= alphabet for token in self.tokens):
            return "tokens spelled outside the byte-level alphabet"
        scaling = self.value(f"{arch}.rope.scaling.type")
        if scaling not in (None, "none"):
            return f"rope scaling '{scaling}'"
        head_size = self.shape.head_size
        if self.value(f"{arch}.attention.key_length") not in (None, head_size):
            return "a head size other than embedding_length / head_count"
        if self.value(f"{arch}.rope.dimension_count") not in (None, head_size):
            return "partial rotary embeddings"
        expected = set(llama_tensors(self.shape.layers))
        if unknown := sorted(set(self._tensors) - expected):
            return f"tensors {', '.join(unknown[:3])}"
        if missing := sorted(expected - set(self._tensors)):
            return f"lack of tensors {', '.join(missing[:3])}"
        return None

    @cached_property
    def tokens(self) -> list[str]:
        return list(self.value("tokenizer.ggml.tokens"))

    @cached_property
    def shape(self) -> LlamaShape:
        arch = self.architecture
        hidden = self.value(f"{arch}.embedding_length")
        heads = self.value(f"{arch}.attention.head_count")
        return LlamaShape(
            layers=self.value(f"{arch}.block_count"),
            hidden_size=hidden,
            heads=heads,
            kv_heads=self.value(f"{arch}.attention.head_count_kv") or heads,
            head_size=hidden // heads,
            context_length=self.value(f"{arch}.context_length"),
            vocab_size=len(self.tokens),
            rms_epsilon=self.value(f"{arch}.attention.layer_norm_rms_epsilon"),
            rope_theta=self.value(f"{arch}.rope.freq_base") or 10000.0,
        )

    def weight(self, name: str) -> np.ndarray:
        """`name` in fp32, laid out as Hugging Face's [out, in], with the Q and K rows back in
        the order the model was trained with (see `unpermute_rotary`)."""
        tensor = self._tensors[name]
        values = dequantize(tensor.data, tensor.tensor_type)
        if ".attn_q." in name:
            return unpermute_rotary(values, self.shape.heads)
        if ".attn_k." in name:
            return unpermute_rotary(values, self.shape.kv_heads)
        return values


def llama_tensors(layers: int) -> list[str]:
    """Every tensor a tied-embedding llama GGUF holds, by llama.cpp's names."""
    per_layer = [f"blk.{i}.{name}.weight" for i in range(layers) for name in LAYER_TENSORS]
    return [f"{name}.weight" for name in MODEL_TENSORS] + per_layer


def unpermute_rotary(rows: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's Q/K row permutation.

    llama.cpp rotates adjacent pairs, so its converter interleaves each head's two halves:
    its row 2i + j is row j * half + i of the original head. Rotary embeddings over the
    halves (rotary_interleaved=0, as GroupQueryAttention runs them) need the original order.
    Whole rows move, so quantisation blocks (which run along a row) stay intact.
    """
    out, columns = rows.shape
    half = out // heads // 2
    return rows.reshape(heads, half, 2, columns).swapaxes(1, 2).reshape(out, columns)
