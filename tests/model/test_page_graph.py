"""The page's graph (`model.page.onnx`): prompts go through plain attention, single tokens
through the original GroupQueryAttention, and both agree with `model.onnx`, run natively,
both with a cache that grows by concatenation and with capacity-sized buffers updated in
place (as site/engine.js runs it on WASM)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

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


class SharedCache:
    """The page graph run as engine.js runs it on WASM: one capacity-sized buffer per cache
    tensor, bound with IO binding as both `past_key_values.*` and `present.*`. Unused
    positions hold NaN, so reading one poisons the logits."""

    def __init__(self, model: NativeModel, capacity: int) -> None:
        self.session, self.shape = model.session, model.shape
        self.names = list(model.empty_cache())
        self.length = self.written = 0
        self.buffers = {n: self._empty(capacity) for n in self.names}
        self.values = {n: ort.OrtValue.ortvalue_from_numpy(b) for n, b in self.buffers.items()}

    def _empty(self, capacity: int) -> np.ndarray:
        return np.full((1, self.shape.kv_heads, capacity, self.shape.head_size), np.nan, np.float32)

    def grow(self, capacity: int) -> None:
        """Copy the cached positions into larger buffers, as engine.js does once per chunk."""
        for name in self.names:
            self.buffers[name] = grown = self._empty(capacity)
            grown[:, :, : self.length] = self.values[name].numpy()[:, :, : self.length]
            self.values[name] = ort.OrtValue.ortvalue_from_numpy(grown)

    def step(self, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        total = self.length + len(ids)
        binding = self.session.io_binding()
        binding.bind_cpu_input("input_ids", np.array([ids], np.int64))
        binding.bind_cpu_input("attention_mask", np.ones((1, total), np.int64))
        for name, value in self.values.items():
            binding.bind_ortvalue_input(name, value)
            binding.bind_ortvalue_output(name.replace("past_key_values", "present"), value)
        binding.bind_output("topk_values")
        binding.bind_output("topk_indices")
        self.session.run_with_iobinding(binding)
        for name, value in self.values.items():
            # written in place: the same memory, nothing past the furthest token touched
            assert value.data_ptr() == self.buffers[name].ctypes.data
            assert np.isnan(self.buffers[name][:, :, max(total, self.written) :]).all(), name
        self.length, self.written = total, max(total, self.written)
        values, indices = binding.get_outputs()[-2:]
        return values.numpy()[0], indices.numpy()[0]


def test_page_graph_updates_a_capacity_cache_in_place(dist: Path) -> None:
    _, folder = page_model(dist)
    tokenizer = Tokenizer.from_json((folder / "tokenizer.json").read_text())
    text = (ROOT / "LICENSE").read_text() * 4
    prompt, follow_up = tokenizer.encode(text)[:1500], tokenizer.encode(" And then?")
    reference, page = NativeModel(folder), NativeModel(folder, graph=PAGE_GRAPH)
    cache = SharedCache(page, capacity=1536)

    ref_cache, ids, past = reference.empty_cache(), prompt, 0
    tops = []
    for step in range(18):
        if step == 10:  # past the capacity's end mid-reply: grow, as engine.js does
            cache.grow(cache.length + 256)
        logits, ref_cache = reference.forward(ids, ref_cache, past)
        values, indices = cache.step(ids)
        assert indices[0] == np.argmax(logits[-1]), f"step {step}: top-1 differs"
        np.testing.assert_allclose(values, logits[-1][indices], atol=2e-3)
        past += len(ids)
        for name, value in ref_cache.items():
            np.testing.assert_allclose(cache.buffers[name][:, :, :past], value, atol=2e-3)
        tops.append(int(indices[0]))
        ids = follow_up if step == 0 else [tops[-1]]

    # truncating is moving the length: the follow-up over the prompt's cache again
    cache.length = len(prompt)
    _, indices = cache.step(follow_up)
    assert indices[0] == tops[1]


def test_a_prompt_chunk_copies_the_cache_only_when_it_has_no_room(
    dist: Path, tmp_path: Path
) -> None:
    """A prompt chunk into the page's capacity buffers pads nothing: Pad copies the whole
    cache, which the page paid on every chunk of a long prompt until 2026-12-06. A cache
    that grows by concatenation has no room and is padded, once per cache tensor."""
    _, folder = page_model(dist)
    page = NativeModel(folder, graph=PAGE_GRAPH, profile=tmp_path / "ort")
    prompt = list(range(100, 140))
    cache = SharedCache(page, capacity=512)
    cache.step(prompt[:32])
    cache.step(prompt[32:])  # a second chunk, after 32 cached positions
    page.run(prompt, page.empty_cache(), 0)
    events = json.loads(Path(page.session.end_profiling()).read_text())
    runs = [e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"]
    ops = Counter(
        e["args"]["op_name"]
        for e in events
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")
    )
    layers = page.shape.layers
    assert len(runs) == 3 and ops["ScatterElements"] == 3 * 2 * layers  # every run wrote
    assert ops["Pad"] == 2 * layers  # only the run without room


def test_page_graph_branches_only_attention_and_uses_each_weight_once(dist: Path) -> None:
    """One If per layer around its attention alone: ONNX Runtime packs a MatMul's constant
    weights per node, so a weight used by two MatMuls (one per branch) would be packed, and
    held, twice."""
    entry, folder = page_model(dist)
    graph = onnx.load(str(folder / PAGE_GRAPH), load_external_data=False).graph
    switches = [n for n in graph.node if n.op_type == "If"]
    assert len(switches) == entry["shape"]["layers"]
    for switch in switches:
        branches = {a.name: a.g for a in switch.attribute}
        assert not any(n.op_type == GQA for n in branches["then_branch"].node)
        assert [n.op_type for n in branches["else_branch"].node] == [GQA]
        assert sum(len(b.initializer) for b in branches.values()) == 0  # weights stay outside
    assert not any(n.op_type == GQA for n in graph.node)
    weights = {i.name for i in graph.initializer if len(i.dims) == 2 and min(i.dims) > 64}
    nodes = [*graph.node, *(n for s in switches for a in s.attribute for n in a.g.node)]
    uses = [i for n in nodes if n.op_type == "MatMul" for i in n.input if i in weights]
    assert len(uses) == len(set(uses)) > 0, "a weight is multiplied in two places"


def test_page_graph_leaves_onnx_runtime_no_head_weight_to_transpose_or_pack(dist: Path) -> None:
    """The tied embedding reads the LM head's weight itself (tied.py): a Transpose of a
    weight would be folded into a 113 MB copy each time the page opens the model. And the
    head's MatMul gets that weight at run time (`unpacked_head`), so it is not packed."""
    _, folder = page_model(dist)
    graph = onnx.load(str(folder / PAGE_GRAPH), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    assert not [n.name for n in graph.node if n.op_type == "Transpose" and n.input[0] in weights]
    (embedding,) = [n for n in graph.node if n.op_type == "Gather" and n.input[1] == "input_ids"]
    assert embedding.input[0] in weights
    (head,) = [n for n in graph.node if "hearth.last_logits" in n.output]
    assert head.op_type == "MatMul" and head.input[1] not in weights


def test_unfamiliar_attention_is_left_alone(dist: Path) -> None:
    _, folder = page_model(dist)
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    first = next(n for n in model.graph.node if n.op_type == GQA)
    first.attribute.append(onnx.helper.make_attribute("local_window_size", 128))
    before = model.SerializeToString()
    assert split_prompt_attention(model).SerializeToString() == before
