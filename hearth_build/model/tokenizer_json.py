"""`tokenizer.json` and `tokenizer_config.json` from a GGUF's byte-level BPE metadata.

A GGUF carries its tokenizer as llama.cpp's metadata: the vocabulary in id order, the merges
as "a b" strings, a type per token and the special token ids. For the byte-level ("gpt2")
vocabularies `gguf_reader` lets through, the tokenizer is GPT-2's: split by GPT-2's regex,
bytes spelled as printable characters, BPE over them. The files written here are what
transformers writes for the same GGUF (the ids `tokenizers` gives are tested equal on a
corpus): tokens the GGUF marks CONTROL become special added tokens, USER_DEFINED ones plain
added tokens, so text never cuts them into pieces.
"""

from __future__ import annotations

from typing import Any

from hearth_build.model.gguf_reader import GGUFModel

CONTROL, USER_DEFINED = 3, 4  # llama.cpp's token types
SPECIAL_IDS = {
    "bos_token": "bos_token_id",
    "eos_token": "eos_token_id",
    "unk_token": "unknown_token_id",
    "pad_token": "padding_token_id",
}


def tokenizer_json(gguf: GGUFModel) -> dict[str, Any]:
    tokens: list[str] = gguf.tokens
    types: list[int] = gguf.value("tokenizer.ggml.token_type") or [1] * len(tokens)
    added = [
        {
            "id": index,
            "content": token,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": kind == CONTROL,
        }
        for index, (token, kind) in enumerate(zip(tokens, types, strict=True))
        if kind in (CONTROL, USER_DEFINED)
    ]
    sequence = [{"Sequence": {"id": "A", "type_id": 0}}]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": _byte_level(add_prefix_space=False),
        "post_processor": {
            "type": "TemplateProcessing",
            "single": sequence,
            "pair": [*sequence, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {},
        },
        "decoder": _byte_level(add_prefix_space=True),
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {token: index for index, token in enumerate(tokens)},
            "merges": [merge.split(" ") for merge in gguf.value("tokenizer.ggml.merges")],
        },
    }


def _byte_level(add_prefix_space: bool) -> dict[str, Any]:
    """GPT-2's byte-level step: bytes as printable characters, split by GPT-2's regex."""
    return {
        "type": "ByteLevel",
        "add_prefix_space": add_prefix_space,
        "trim_offsets": True,
        "use_regex": True,
    }


def tokenizer_config(gguf: GGUFModel) -> dict[str, Any]:
    """The special tokens by name (the page's template renderer reads them) and the context."""
    config: dict[str, Any] = {
        "backend": "tokenizers",
        "model_max_length": gguf.shape.context_length,
        "tokenizer_class": "TokenizersBackend",
    }
    for name, key in SPECIAL_IDS.items():
        token_id = gguf.value(f"tokenizer.ggml.{key}")
        if token_id is not None:
            config[name] = gguf.tokens[token_id]
    return config
