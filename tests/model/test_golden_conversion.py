"""The direct converter against the path it replaced: for the default model, its folder equals
the one transformers + the ORT GenAI model builder make from the same GGUF (the test extras
still install them), run natively, node by node and token for token."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from build import default_cache
from hearth_build.model.convert import prepare_model
from hearth_build.model.native import NativeModel
from tests.conftest import ROOT
from tests.model.test_model import default_model_gguf

PROMPTS = (
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain recursion to a child, with an example in Python.",
)
STEPS = 32
TOLERANCE = 1e-3
ROTARY = ("cos_cache", "sin_cache")


@pytest.fixture(scope="module")
def folders() -> tuple[Path, Path]:
    """(direct, builder): the page folders of both converters (each cached by its own key)."""
    gguf = default_model_gguf()
    direct, info = prepare_model(gguf, default_cache(), rebuild=False)
    assert info["converter"] == "direct"
    builder, info = prepare_model(gguf, default_cache(), rebuild=False, force_builder=True)
    assert info["converter"] == "builder"
    return direct, builder


def test_direct_model_answers_as_the_builders(folders: tuple[Path, Path]) -> None:
    """3 chat prompts x 32 greedy steps, both fed the builder's tokens: the same top-1 at
    every position and every logit within 1e-3."""
    from tokenizers import Tokenizer

    direct, builder = (NativeModel(folder) for folder in folders)
    tokenizer = Tokenizer.from_file(str(folders[1] / "tokenizer.json"))
    worst = 0.0
    for prompt in PROMPTS:
        ids = tokenizer.encode(f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n").ids
        ours, theirs, past = direct.empty_cache(), builder.empty_cache(), 0
        for step in range(STEPS):
            logits, ours = direct.forward(ids, ours, past)
            expected, theirs = builder.forward(ids, theirs, past)
            assert np.array_equal(logits.argmax(-1), expected.argmax(-1)), (prompt, step)
            worst = max(worst, float(np.abs(logits - expected).max()))
            past += len(ids)
            ids = [int(expected[-1].argmax())]
    assert worst <= TOLERANCE, f"largest logit difference {worst:.2e}"


def _signature(node: onnx.NodeProto) -> tuple[object, ...]:
    attributes = sorted((a.name, helper.get_attribute_value(a)) for a in node.attribute)
    return node.op_type, node.domain, node.name, list(node.input), list(node.output), attributes


def test_direct_graph_is_the_builders_node_for_node(folders: tuple[Path, Path]) -> None:
    """What ORT GenAI, Foundry Local and the page's rewrites read: the same inputs, outputs,
    opsets and nodes, and weights stored as the same GGUF blocks, bit for bit (the rotary
    caches within a unit in the last place: torch's float32 cos/sin round differently)."""
    ours, theirs = (onnx.load(str(folder / "model.onnx")) for folder in folders)
    assert ours.ir_version == theirs.ir_version
    assert list(ours.opset_import) == list(theirs.opset_import)
    assert list(ours.graph.input) == list(theirs.graph.input)
    assert list(ours.graph.output) == list(theirs.graph.output)
    assert [_signature(n) for n in ours.graph.node] == [_signature(n) for n in theirs.graph.node]
    assert [i.name for i in ours.graph.initializer] == [i.name for i in theirs.graph.initializer]
    for mine, builders in zip(ours.graph.initializer, theirs.graph.initializer, strict=True):
        if mine.name in ROTARY:
            np.testing.assert_allclose(
                numpy_helper.to_array(mine), numpy_helper.to_array(builders), rtol=0, atol=1e-7
            )
        else:
            assert (mine.data_type, mine.dims, mine.raw_data) == (
                builders.data_type,
                builders.dims,
                builders.raw_data,
            ), mine.name


def test_direct_tokenizer_and_configs_are_the_builders(folders: tuple[Path, Path]) -> None:
    """tokenizer.json gives the same ids on a corpus (HF `tokenizers`), and the configs and
    the chat template say the same."""
    from tokenizers import Tokenizer

    direct, builder = folders
    ours, theirs = (Tokenizer.from_file(str(folder / "tokenizer.json")) for folder in folders)
    corpus = [
        *(ROOT / "README.md").read_text().splitlines(),
        (ROOT / "LICENSE").read_text(),
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nhi<|im_end|>",
        "Numbers 1234567 and 3.14159, dates 2026-11-25, emoji 🔥🦙, CJK 你好世界",
        "tabs\t\tand  double  spaces,\n\n\nnewlines and trailing space ",
        "<repo_name>hearth<file_sep>x = 1<|endoftext|>",
    ]
    for text in corpus:
        assert ours.encode(text).ids == theirs.encode(text).ids, text
    assert ours.get_vocab(with_added_tokens=True) == theirs.get_vocab(with_added_tokens=True)

    def config(folder: Path, name: str) -> dict[str, object]:
        data: dict[str, object] = json.loads((folder / name).read_text())
        return data

    assert config(direct, "genai_config.json") == config(builder, "genai_config.json")
    ours_special, theirs_special = (config(f, "tokenizer_config.json") for f in folders)
    for name in ("bos_token", "eos_token", "unk_token", "pad_token", "model_max_length"):
        assert ours_special[name] == theirs_special[name], name
    template = [(folder / "chat_template.jinja").read_text() for folder in folders]
    assert template[0] == template[1]
