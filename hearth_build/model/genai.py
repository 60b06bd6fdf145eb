"""An ORT GenAI model folder's `genai_config.json`: written for the direct converter, and
read for the fields Hearth needs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyapp.config import ModelShape

TOKENIZER = "tokenizer.json"  # the Hugging Face tokenizer file every model folder has


def read_shape(folder: Path) -> ModelShape:
    """The decoding loop's view of an ORT GenAI folder, from its `genai_config.json`."""
    model = json.loads((folder / "genai_config.json").read_text())["model"]
    decoder = model["decoder"]
    eos = model["eos_token_id"]
    return ModelShape(
        layers=decoder["num_hidden_layers"],
        kv_heads=decoder["num_key_value_heads"],
        head_size=decoder["head_size"],
        eos=tuple(eos) if isinstance(eos, list) else (eos,),
        context_length=model["context_length"],
        vocab_size=model["vocab_size"],
    )


@dataclass(frozen=True)
class Decoder:
    """What `genai_config.json` says about a decoder-only model besides its `ModelShape`."""

    model_type: str
    hidden_size: int
    heads: int
    bos: int
    pad: int


def genai_config(shape: ModelShape, decoder: Decoder) -> str:
    """The config the ORT GenAI model builder writes for an fp32 CPU export: the graph's
    input/output names, the cache geometry, the special ids and greedy search defaults."""
    context = shape.context_length
    config: dict[str, Any] = {
        "model": {
            "bos_token_id": decoder.bos,
            "context_length": context,
            "decoder": {
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
                "filename": "model.onnx",
                "head_size": shape.head_size,
                "hidden_size": decoder.hidden_size,
                "inputs": {
                    "input_ids": "input_ids",
                    "attention_mask": "attention_mask",
                    "past_key_names": "past_key_values.%d.key",
                    "past_value_names": "past_key_values.%d.value",
                },
                "outputs": {
                    "logits": "logits",
                    "present_key_names": "present.%d.key",
                    "present_value_names": "present.%d.value",
                },
                "num_attention_heads": decoder.heads,
                "num_hidden_layers": shape.layers,
                "num_key_value_heads": shape.kv_heads,
            },
            "eos_token_id": shape.eos[0] if len(shape.eos) == 1 else list(shape.eos),
            "pad_token_id": decoder.pad,
            "type": decoder.model_type,
            "vocab_size": shape.vocab_size,
        },
        "search": {
            "diversity_penalty": 0.0,
            "do_sample": False,
            "early_stopping": True,
            "length_penalty": 1.0,
            "max_length": context,
            "min_length": 0,
            "no_repeat_ngram_size": 0,
            "num_beams": 1,
            "num_return_sequences": 1,
            "past_present_share_buffer": True,
            "repetition_penalty": 1.0,
            "temperature": 1.0,
            "top_k": 50,
            "top_p": 1.0,
        },
    }
    return json.dumps(config, indent=4)
