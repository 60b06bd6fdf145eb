"""The direct converter: a llama GGUF to an fp32 ORT GenAI folder with gguf, numpy and onnx.

It writes what the heavy path (transformers dequantising into a Hugging Face folder, then the
ORT GenAI model builder) writes for the same file: the builder's graph (`llama_graph`), its
`genai_config.json`, and the tokenizer files transformers would save (`tokenizer_json`).
The weights are the GGUF's own values, dequantised by `gguf`'s numpy code, so `blocks` finds
their blocks again bit for bit. With only these three packages, the build's virtual
environment is about 155 MB; the heavy path's is 1.7 GB.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from hearth_build.model.genai import TOKENIZER, Decoder, genai_config
from hearth_build.model.gguf_reader import GGUFModel
from hearth_build.model.llama_graph import llama_model
from hearth_build.model.tokenizer_json import tokenizer_config, tokenizer_json
from pyapp.config import ModelShape


def export_gguf(gguf: GGUFModel, out: Path) -> None:
    """Write `out/` (model.onnx + model.onnx.data, genai_config.json, the tokenizer files and
    chat_template.jinja) for a GGUF whose `gap()` is None."""
    llama = gguf.shape
    eos = gguf.value("tokenizer.ggml.eos_token_id")
    out.mkdir(parents=True)
    onnx.save_model(
        llama_model(llama, gguf.weight),
        str(out / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=0,
    )
    shape = ModelShape(
        layers=llama.layers,
        kv_heads=llama.kv_heads,
        head_size=llama.head_size,
        eos=(eos,),
        context_length=llama.context_length,
        vocab_size=llama.vocab_size,
    )
    bos = gguf.value("tokenizer.ggml.bos_token_id")
    pad = gguf.value("tokenizer.ggml.padding_token_id")
    decoder = Decoder(
        model_type="llama",
        hidden_size=llama.hidden_size,
        heads=llama.heads,
        bos=1 if bos is None else bos,
        pad=eos if pad is None else pad,
    )
    (out / "genai_config.json").write_text(genai_config(shape, decoder))
    tokenizer = json.dumps(tokenizer_json(gguf), indent=2, ensure_ascii=False)
    (out / TOKENIZER).write_text(tokenizer, encoding="utf-8")
    config = json.dumps(tokenizer_config(gguf), indent=2, sort_keys=True)
    (out / "tokenizer_config.json").write_text(config + "\n")
    template = gguf.value("tokenizer.chat_template")
    if template:
        (out / "chat_template.jinja").write_text(template)
