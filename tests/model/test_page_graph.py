"""The page's graph (`model.page.onnx`): prompts go through plain attention, single tokens
through the original GroupQueryAttention, and both agree with `model.onnx`, run natively."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from hearth_build.model.attention import GQA, split_prompt_attention
from hearth_build.model.head import PAGE_GRAPH, TOP_K
from hearth_build.model.native import NativeModel
from pyapp.tokenizer import Tokenizer
from tests.conftest import ROOT
from tests.model.test_model import page_model


def test_page_graph_agrees_with_model_onnx_for_prompt_follow_up_and_decode(dist: Path) -> None:
    _, folder = page_model(dist)
    tokenizer = Tokenizer.from_json((folder / "tokenizer.json").read_text())
    text = (ROOT / "LICENSE").read_text()
    prompt, follow_up = tokenizer.encode(text)[:300], tokenizer.encode(" And then?")
    reference, page = NativeModel(folder), NativeModel(folder, graph=PAGE_GRAPH)

    # 300-token prompt (plain attention), a follow-up over the cache (plain attention with
    # past), then single tokens (GroupQueryAttention) continuing the plain branch's cache
    ref_cache, page_cache = reference.empty_cache(), reference.empty_cache()
    ids, past = prompt, 0
    for step in range(10):
        logits, ref_cache = reference.forward(ids, ref_cache, past)
        out, page_cache = page.run(ids, page_cache, past)
        values, indices = out["topk_values"][0], out["topk_indices"][0]
        assert indices[0] == np.argmax(logits[-1]), f"step {step}: top-1 differs"
        np.testing.assert_allclose(values, logits[-1][indices], atol=2e-3)
        assert np.all(np.diff(values) <= 0) and values[-1] >= np.sort(logits[-1])[-TOP_K] - 2e-3
        for name, value in ref_cache.items():
            np.testing.assert_allclose(page_cache[name], value, atol=2e-3, err_msg=name)
        past += len(ids)
        ids = follow_up if step == 0 else [int(indices[0])]


def test_page_graph_holds_both_attentions_once(dist: Path) -> None:
    entry, folder = page_model(dist)
    graph = onnx.load(str(folder / PAGE_GRAPH), load_external_data=False).graph
    (switch,) = [n for n in graph.node if n.op_type == "If"]
    branches = {a.name: a.g for a in switch.attribute}
    layers = entry["shape"]["layers"]
    assert sum(n.op_type == GQA for n in branches["then_branch"].node) == 0
    assert sum(n.op_type == GQA for n in branches["else_branch"].node) == layers
    assert not any(n.op_type == GQA for n in graph.node)
    # weights stay outside the branches, stored once
    assert sum(len(b.initializer) for b in branches.values()) == 0


def test_unfamiliar_attention_is_left_alone(dist: Path) -> None:
    _, folder = page_model(dist)
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    first = next(n for n in model.graph.node if n.op_type == GQA)
    first.attribute.append(onnx.helper.make_attribute("local_window_size", 128))
    before = model.SerializeToString()
    assert split_prompt_attention(model).SerializeToString() == before
